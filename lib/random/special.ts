/**
 * The special functions the samplers need: XLA's float32 `erf_inv` (so host normals follow JAX's) and a
 * double-precision `erf`.
 *
 * @module
 */

const f = Math.fround;

/** Giles' single-precision erfinv coefficients, central branch (w < 5), highest degree first. */
const CENTRAL = [
  2.81022636e-08,
  3.43273939e-07,
  -3.5233877e-06,
  -4.39150654e-06,
  0.00021858087,
  -0.00125372503,
  -0.00417768164,
  0.246640727,
  1.50140941,
].map(f);

/** Giles' single-precision erfinv coefficients, tail branch (w ≥ 5), highest degree first. */
const TAIL = [
  -0.000200214257,
  0.000100950558,
  0.00134934322,
  -0.00367342844,
  0.00573950773,
  -0.0076224613,
  0.00943887047,
  1.00167406,
  2.83297682,
].map(f);

/**
 * Inverse error function in float32 arithmetic, the polynomial XLA lowers `lax.erf_inv` to for f32 (M. Giles,
 * "Approximating the erfinv function", 2010): `w = -log1p(-x²)`, a degree-8 polynomial in `w - 2.5` or
 * `√w - 3`, times `x`; ±1 map to ±∞. Each step is rounded to float32 so results track JAX's to a few ulp
 * (the only difference being the `log1p` rounding).
 */
export function erfinvF32(x: number): number {
  x = f(x);
  if (Math.abs(x) === 1) return x * Infinity;
  let w = f(-f(Math.log1p(f(-f(x * x)))));
  const central = w < 5;
  const c = central ? CENTRAL : TAIL;
  w = central ? f(w - 2.5) : f(f(Math.sqrt(w)) - 3);
  let p = c[0];
  for (let i = 1; i < c.length; i++) p = f(c[i] + f(p * w));
  return f(p * x);
}

/**
 * The error function in double precision (about 1e-15 relative): a Taylor series for |x| < 2.5 and the continued
 * fraction of erfc beyond.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf(x) = 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax > 6) return Math.sign(x);
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated bottom-up.
  let frac = ax;
  for (let k = 60; k >= 1; k--) frac = ax + k / 2 / frac;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / frac;
  return Math.sign(x) * (1 - erfc);
}
