/**
 * float32 arithmetic as PyTorch's CPU kernels do it, so that host code can reproduce PyTorch's float32 numbers bit for
 * bit (torchaudio's mel filterbank, for one, is built in float32 tensor ops and shipped as a buffer that checkpoints
 * and reference outputs depend on). Every value is a JavaScript number holding a float32.
 *
 * PyTorch dispatches its kernels for AVX2/AVX-512 on x86 (and NEON on ARM), builds that have fused multiply-add, which
 * shows in two places: the compiler contracts linspace's `start + step * i` into one FMA, and Sleef's vectorized powf
 * (torch.pow's float kernel) rests on FMA double-float arithmetic. Both are reproduced here.
 *
 * @module
 */

const f32 = Math.fround;
const bits64 = new DataView(new ArrayBuffer(8));

/**
 * float32 fused multiply-add `a·b + c` with a single rounding, as the FMA instruction computes it.
 *
 * @param a float32 factor
 * @param b float32 factor
 * @param c float32 addend
 * @returns the float32 nearest to the exact `a·b + c` (ties to even)
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b; // exact in a double: 24 + 24 significant bits
  const s = p + c;
  const v = s - p;
  const err = (p - (s - v)) + (c - v);
  if (err === 0 || !Number.isFinite(s)) return f32(s);
  // Rounding the double sum to odd before rounding to float32 avoids double rounding: the double has 29 bits to spare.
  bits64.setFloat64(0, s);
  const bits = bits64.getBigUint64(0);
  if ((bits & 1n) === 1n) return f32(s);
  bits64.setBigUint64(0, (err > 0) === (s > 0) ? bits + 1n : bits - 1n);
  return f32(bits64.getFloat64(0));
}

/**
 * torch.linspace in float32 on the CPU: the endpoints and step are rounded to float32, the first half counts up from
 * the start and the second half down from the end (each point one FMA), so both endpoints are exact.
 *
 * @param lo first point (rounded to float32)
 * @param hi last point (rounded to float32)
 * @param n number of points
 * @returns n float32 values held in a Float64Array
 */
export function linspaceF32(lo: number, hi: number, n: number): Float64Array {
  const start = f32(lo);
  const end = f32(hi);
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = f32(f32(end - start) / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? fma32(step, i, start) : fma32(-step, n - 1 - i, end);
  return out;
}

/** Rounds half to even, as the vector float-to-int conversion (cvtps2dq) does. */
function rintEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// Double-float ("df") arithmetic of Sleef's FMA builds: a value is an unevaluated sum hi + lo of two float32s.
type Df = readonly [number, number];

function dfAdd2FF(x: number, y: number): Df {
  const s = f32(x + y);
  const v = f32(s - x);
  return [s, f32(f32(x - f32(s - v)) + f32(y - v))];
}

function dfAdd2DfF(x: Df, y: number): Df {
  const s = f32(x[0] + y);
  const v = f32(s - x[0]);
  return [s, f32(f32(f32(x[0] - f32(s - v)) + f32(y - v)) + x[1])];
}

function dfAdd2DfDf(x: Df, y: Df): Df {
  const s = f32(x[0] + y[0]);
  const v = f32(s - x[0]);
  return [s, f32(f32(f32(x[0] - f32(s - v)) + f32(y[0] - v)) + f32(x[1] + y[1]))];
}

function dfAddDfDf(x: Df, y: Df): Df {
  const s = f32(x[0] + y[0]);
  return [s, f32(f32(f32(f32(x[0] - s) + y[0]) + x[1]) + y[1])];
}

function dfAddFDf(x: number, y: Df): Df {
  const s = f32(x + y[0]);
  return [s, f32(f32(f32(x - s) + y[0]) + y[1])];
}

function dfNormalize(t: Df): Df {
  const s = f32(t[0] + t[1]);
  return [s, f32(f32(t[0] - s) + t[1])];
}

function dfMulDfF(x: Df, y: number): Df {
  const s = f32(x[0] * y);
  return [s, fma32(x[1], y, fma32(x[0], y, -s))];
}

function dfMulDfDf(x: Df, y: Df): Df {
  const s = f32(x[0] * y[0]);
  return [s, fma32(x[0], y[1], fma32(x[1], y[0], fma32(x[0], y[0], -s)))];
}

function dfSqu(x: Df): Df {
  const s = f32(x[0] * x[0]);
  return [s, fma32(f32(x[0] + x[0]), x[1], fma32(x[0], x[0], -s))];
}

function dfDiv(n: Df, d: Df): Df {
  const t = f32(1 / d[0]);
  const s = f32(n[0] * t);
  const u = fma32(t, n[0], -s);
  const v = fma32(-d[1], t, fma32(-d[0], t, 1));
  return [s, fma32(s, v, fma32(n[1], t, u))];
}

const LN2_DF: Df = [f32(0.69314718246459960938), f32(-1.904654323148236017e-09)];

/** Sleef's logkf: natural log of a positive normal float32 as a double-float. */
function sleefLogk(d: number): Df {
  bits64.setFloat32(0, f32(d * f32(1 / 0.75)));
  const e = ((bits64.getUint32(0) >>> 23) & 0xff) - 0x7f;
  const m = d * 2 ** -e;
  const x = dfDiv(dfAdd2FF(-1, m), dfAdd2FF(1, m));
  const x2 = dfSqu(x);
  let t = f32(0.240320354700088500976562);
  t = fma32(t, x2[0], f32(0.285112679004669189453125));
  t = fma32(t, x2[0], f32(0.400007992982864379882812));
  const c: Df = [f32(0.66666662693023681640625), f32(3.69183861259614332084311e-09)];
  let s = dfMulDfF(LN2_DF, e);
  s = dfAddDfDf(s, [f32(x[0] * 2), f32(x[1] * 2)]);
  return dfAddDfDf(s, dfMulDfDf(dfMulDfDf(x2, x), dfAdd2DfDf(dfMulDfF(x2, t), c)));
}

const R_LN2F = f32(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2UF = f32(0.693145751953125);
const L2LF = f32(1.428606765330187045e-06);

/** Sleef's expkf: exp of a double-float, rounded to float32. */
function sleefExpk(d: Df): number {
  const q = rintEven(f32(f32(d[0] + d[1]) * R_LN2F));
  let s = dfAdd2DfF(d, f32(q * -L2UF));
  s = dfAdd2DfF(s, f32(q * -L2LF));
  s = dfNormalize(s);
  let u = f32(0.00136324646882712841033936);
  u = fma32(u, s[0], f32(0.00836596917361021041870117));
  u = fma32(u, s[0], f32(0.0416710823774337768554688));
  u = fma32(u, s[0], f32(0.166665524244308471679688));
  u = fma32(u, s[0], f32(0.499999850988388061523438));
  const t = dfAddFDf(1, dfAddDfDf(s, dfMulDfF(dfSqu(s), u)));
  return d[0] < -104 ? 0 : f32(f32(t[0] + t[1]) * 2 ** q);
}

/**
 * torch.pow(base, exponent) for element i of a float32 vector of n exponents. The position matters: the vectorized
 * loop uses Sleef_powf_u10, and the n mod 16 elements left after the last AVX2 block of two 8-float vectors go to the C
 * library's powf (correctly rounded here). Sleef is faithful to 1 ulp, so about 2% of its results differ from correct
 * rounding. Finite positive base and results in the normal range only.
 *
 * @param base the (scalar) base, rounded to float32
 * @param y the float32 exponent at position i
 * @param i index of the element in the exponent vector
 * @param n length of the exponent vector
 * @returns the float32 PyTorch computes for that element
 */
export function torchPowF32(base: number, y: number, i: number, n: number): number {
  if (i >= n - (n % 16)) return f32(f32(base) ** y);
  if (y === 0) return 1;
  return sleefExpk(dfMulDfF(sleefLogk(f32(base)), y));
}
