/** Test helpers: float64 finite-difference gradient checks through the core's `vjp`. */
import * as T from "../lib/core/mod.ts";

/** Deterministic pseudo-random float64 values in [lo, hi) (a small LCG: tests must not depend on the PRNG under test). */
export function randArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = (seed * 2654435761 + 12345) >>> 0;
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = lo + (hi - lo) * (s / 2 ** 32);
  }
  return a;
}

/** A float64 tensor of random values. */
export function rand(shape: number[], seed: number, lo = -1, hi = 1): T.Tensor {
  return T.tensor(randArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi), { shape, dtype: "f64" });
}

/**
 * Checks the VJP of `f` (tensors → tensor) at `args` against central finite differences in float64, coordinate by
 * coordinate, projecting the output on a random cotangent. Returns the worst relative error (norm-wise per argument).
 */
export function gradError(
  f: (...xs: T.Tensor[]) => T.Tensor,
  args: T.Tensor[],
  opts: { h?: number; seed?: number } = {},
) {
  const h = opts.h ?? 1e-6;
  const [out, pull] = T.vjp(f as never, ...args);
  const y = out as T.Tensor;
  const ct = rand([...y.shape], opts.seed ?? 99);
  const grads = pull(ct as never) as T.Tensor[];
  const ctd = ct.toArray();
  const scalar = (xs: T.Tensor[]) => {
    const v = f(...xs).toArray();
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] * ctd[i];
    return s;
  };
  let worst = 0;
  args.forEach((a, k) => {
    if (a.dtype !== "f64") return;
    const base = a.toArray() as Float64Array;
    const num = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base), minus = Float64Array.from(base);
      plus[i] += h;
      minus[i] -= h;
      const xs = (d: Float64Array) =>
        args.map((b, j) => j === k ? T.tensor(d, { shape: [...a.shape], dtype: "f64" }) : b);
      num[i] = (scalar(xs(plus)) - scalar(xs(minus))) / (2 * h);
    }
    const g = grads[k].toArray();
    let diff = 0, ref = 0;
    for (let i = 0; i < num.length; i++) {
      diff += (g[i] - num[i]) ** 2;
      ref += num[i] ** 2;
    }
    worst = Math.max(worst, Math.sqrt(diff) / Math.max(Math.sqrt(ref), 1e-12));
  });
  return worst;
}

/** Relative norm error ||a − b|| / max(||b||, floor). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0, r = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    r += b[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(r), floor);
}

/**
 * Asserts `a` matches the reference `want` within `tol` both as a relative norm error and elementwise against
 * `tol` · max|want| (so one large entry cannot hide a wrong small one).
 */
export function assertNormAndMax(a: ArrayLike<number>, want: ArrayLike<number>, tol: number, name: string): void {
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  const rel = relError(a, want);
  if (!(rel <= tol)) throw new Error(`${name}: relative norm error ${rel}`);
  if (!(maxDiff <= tol * Math.max(maxRef, 1e-12))) {
    throw new Error(`${name}: max abs error ${maxDiff} (max |ref| ${maxRef})`);
  }
}
