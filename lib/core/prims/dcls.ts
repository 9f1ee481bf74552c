/**
 * The Gaussian DCLS construction as one primitive (and its backward as another), so the GPU builds each layer's kernel
 * in one dispatch and its gradients in one more, instead of the dozen small kernels the composed construction
 * (lib/dcls/construct.ts) traces into. The math is the composed construction's, element by element:
 *
 *   A[i,k] = exp(−½((i − p_r[k]) / σ_r[k])²), σ = |sig| + 0.27, p = P[axis.param] + axis.shift   (rows; B likewise)
 *   s[k]   = w[k] / (Σ_i A[i,k] · Σ_j B[j,k] + 1e−7)
 *   K[i,j] = Σ_k A[i,k] · s[k] · B[j,k]
 *
 * An axis may carry an output window (`start`, `count`): the primitive then outputs only those cells of the kernel,
 * the slice of the full one, while each element is still normalised over every cell of the grid. A convolution whose
 * kernel is larger than what meets its input (DCLS's 23×23 on 8×7 maps) so builds only the taps it uses, and the
 * backward reads only their cotangent. `dclsGaussGrad` takes the cotangent of the window.
 *
 * With `spectrum`, the output is the window's row transform as the spectral convolution takes it
 * (`[C_out, C_in/g, length + 1, cols]`, see `KernelSpectrum`), computed in the same dispatch instead of a product
 * after it; `dclsGaussGrad` then takes the cotangent of that.
 *
 * `dclsGaussGrad` returns the cotangents of weight, P and SIG packed as `[5, C_out, C_in/g, K]` (dw, dP[0], dP[1],
 * dSIG[0], dSIG[1]), which the VJP slices apart. The fused construction is differentiable once, as training needs:
 * differentiating `dclsGaussGrad` throws (a silent zero would be wrong), and `construct(…, { composed: true })` gives
 * higher derivatives.
 *
 * @module
 */
import { allocate } from "../dtype.ts";
import type { Aval } from "../graph.ts";
import type { CpuValue, DclsAxis, DclsGaussParams, PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt, sameShape } from "../shape.ts";
import { bind } from "../bind.ts";
import { DCLS_NORM_EPS, DCLS_SIGMA_FLOOR, dclsWindow } from "./dcls_constants.ts";
import { kernelSpectrumMatrix, kernelSpectrumRows } from "./dft_matrix.ts";

/** Checks weight `[Co, Ci, K]` against P and SIG `[2, Co, Ci, K]`; returns (channels, elements). */
function checkParams(op: string, [w, P, S]: readonly Aval[], { rows, cols }: DclsGaussParams): [number, number] {
  if (w.shape.length !== 3) fail(op, `weight must be [C_out, C_in/g, K], got ${fmt(w.shape)}`);
  const want = [2, ...w.shape];
  for (const [name, t] of [["P", P], ["SIG", S]] as const) {
    if (!sameShape(t.shape, want)) {
      fail(op, `${name} must be ${fmt(want)} for weight ${fmt(w.shape)}, got ${fmt(t.shape)}`);
    }
    if (t.dtype !== w.dtype) fail(op, `dtype of weight (${w.dtype}) and ${name} (${t.dtype}) differ`);
  }
  for (const a of [rows, cols]) {
    if (!Number.isInteger(a.size) || a.size < 1 || (a.param !== 0 && a.param !== 1)) {
      fail(op, `grid axis ${JSON.stringify(a)} needs a positive size and parameter row 0 or 1`);
    }
  }
  if (rows.param === cols.param) fail(op, `rows and columns must take different rows of P, both take ${rows.param}`);
  checkWindow(op, "rows", rows.size, dclsWindow(rows));
  checkWindow(op, "cols", cols.size, dclsWindow(cols));
  return [w.shape[0] * w.shape[1], w.shape[2]];
}

/** Throws a one-line error naming `op` unless `[start, count]` is a non-empty run of cells of an axis of `size`. */
export function checkWindow(op: string, axis: string, size: number, [start, count]: readonly [number, number]): void {
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > size) {
    fail(
      op,
      `${axis} window (start ${start}, count ${count}) must be integers with 0 ≤ start, count ≥ 1 and ` +
        `start + count ≤ ${size}, the grid's size`,
    );
  }
}

/** The rows the primitive outputs: the window's, or its spectrum's. */
function outRows(op: string, p: DclsGaussParams): number {
  return p.spectrum ? kernelSpectrumRows(op, p.spectrum) : dclsWindow(p.rows)[1];
}

/**
 * Applies the spectrum's transform (or its transpose) to `C` row-major `[rows, n1]` blocks: `[n0, n1]` kernel windows
 * to `[2F, n1]` spectra, or back.
 */
function spectrumTransform(
  src: ArrayLike<number>,
  C: number,
  n0: number,
  n1: number,
  s: { length: number; top: number },
  transpose: boolean,
): Float64Array {
  const m = s.length + 1, [ni, no] = transpose ? [m, n0] : [n0, m];
  const T = kernelSpectrumMatrix("dclsGauss", s, n0), out = new Float64Array(C * no * n1);
  for (let c = 0; c < C; c++) {
    for (let r = 0; r < m; r++) {
      for (let u = 0; u < n0; u++) {
        const t = T[r * n0 + u], [i, o] = transpose ? [r, u] : [u, r];
        for (let j = 0; j < n1; j++) out[(c * no + o) * n1 + j] += t * src[(c * ni + i) * n1 + j];
      }
    }
  }
  return out;
}

/** One channel's profile along an axis, `[size, K]` row-major, with each element's position and width. */
function profile(P: CpuValue, S: CpuValue, axis: DclsAxis, c: number, C: number, K: number) {
  const a = new Float64Array(axis.size * K), p = new Float64Array(K), sg = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const at = (axis.param * C + c) * K + k;
    p[k] = P.data[at] + axis.shift;
    sg[k] = Math.abs(S.data[at]) + DCLS_SIGMA_FLOOR;
    for (let i = 0; i < axis.size; i++) {
      const u = (i - p[k]) / sg[k];
      a[i * K + k] = Math.exp(-0.5 * u * u);
    }
  }
  return { a, p, sg };
}

const massOf = (a: Float64Array, n: number, K: number, k: number) => {
  let m = 0;
  for (let i = 0; i < n; i++) m += a[i * K + k];
  return m;
};

/** Gradients to one axis's positions and raw widths from the gradient `dA` of its profile. */
function axisGrads(
  axis: DclsAxis,
  prof: ReturnType<typeof profile>,
  dA: Float64Array,
  sig: number,
  K: number,
  k: number,
) {
  let dp = 0, ds = 0;
  for (let i = 0; i < axis.size; i++) {
    const u = (i - prof.p[k]) / prof.sg[k], g = dA[i * K + k] * prof.a[i * K + k] * u;
    dp += g;
    ds += g * u;
  }
  return [dp / prof.sg[k], (ds / prof.sg[k]) * Math.sign(sig)];
}

/** The fused Gaussian construction and its backward. */
export const dclsPrims = {
  dclsGauss: {
    shape: (inputs, p) => {
      checkParams("dclsGauss", inputs, p);
      const [co, ci] = inputs[0].shape;
      return { shape: [co, ci, outRows("dclsGauss", p), dclsWindow(p.cols)[1]], dtype: inputs[0].dtype };
    },
    cpu: ([w, P, S], par, out) => {
      const [co, ci, K] = w.shape, C = co * ci, D0 = par.rows.size, D1 = par.cols.size;
      const [r0, n0] = dclsWindow(par.rows), [c0, n1] = dclsWindow(par.cols);
      const r = new Float64Array(C * n0 * n1);
      const row = new Float64Array(n1);
      for (let c = 0; c < C; c++) {
        const A = profile(P, S, par.rows, c, C, K).a, B = profile(P, S, par.cols, c, C, K).a;
        const s = Array.from(
          { length: K },
          (_, k) => w.data[c * K + k] / (massOf(A, D0, K, k) * massOf(B, D1, K, k) + DCLS_NORM_EPS),
        );
        for (let i = 0; i < n0; i++) {
          row.fill(0);
          for (let k = 0; k < K; k++) {
            const as = A[(r0 + i) * K + k] * s[k];
            for (let j = 0; j < n1; j++) row[j] += as * B[(c0 + j) * K + k];
          }
          r.set(row, (c * n0 + i) * n1);
        }
      }
      const res = allocate(out.dtype, out.shape.reduce((a, b) => a * b, 1));
      res.set(par.spectrum ? spectrumTransform(r, C, n0, n1, par.spectrum, false) : r);
      return res;
    },
    vjp: (g, [w, P, S], _o, params) => {
      const r = bind("dclsGaussGrad", [g, w, P, S], params);
      const [co, ci, K] = w.shape;
      const part = (lo: number, hi: number) =>
        bind("slice", [r], { starts: [lo, 0, 0, 0], stops: [hi, co, ci, K], steps: [1, 1, 1, 1] });
      return [bind("reshape", [part(0, 1)], { shape: w.shape }), part(1, 3), part(3, 5)];
    },
  },
  dclsGaussGrad: {
    shape: ([g, ...rest], p) => {
      checkParams("dclsGaussGrad", rest, p);
      const [co, ci, K] = rest[0].shape;
      const want = [co, ci, outRows("dclsGaussGrad", p), dclsWindow(p.cols)[1]];
      if (!sameShape(g.shape, want)) {
        fail(
          "dclsGaussGrad",
          `cotangent ${fmt(g.shape)} is not the ${p.spectrum ? "spectrum" : "kernel"} shape ${fmt(want)}`,
        );
      }
      return { shape: [5, co, ci, K], dtype: rest[0].dtype };
    },
    vjp: () => {
      throw new Error(
        "dclsGaussGrad: the fused DCLS construction is differentiable once; for higher derivatives build the kernel " +
          "with construct(…, { composed: true })",
      );
    },
    cpu: ([g, w, P, S], par, out) => {
      const [co, ci, K] = w.shape, C = co * ci, D0 = par.rows.size, D1 = par.cols.size;
      const [r0, n0] = dclsWindow(par.rows), [c0, n1] = dclsWindow(par.cols);
      const r = allocate(out.dtype, 5 * C * K);
      const gk = par.spectrum ? spectrumTransform(g.data, C, n0, n1, par.spectrum, true) : g.data;
      const put = (slot: number, c: number, k: number, v: number) => r[(slot * C + c) * K + k] = v;
      for (let c = 0; c < C; c++) {
        const pa = profile(P, S, par.rows, c, C, K), pb = profile(P, S, par.cols, c, C, K);
        const A = pa.a, B = pb.a;
        // GA[i,k] = Σ_j g[i,j] B[j,k], GB[j,k] = Σ_i g[i,j] A[i,k]: the gradients of A·diag(s) and B. Outside the
        // window g is zero, and so are GA and GB; the masses still take every line, so dA and dB do not vanish there.
        const GA = new Float64Array(D0 * K), GB = new Float64Array(D1 * K);
        for (let i = r0; i < r0 + n0; i++) {
          for (let j = c0; j < c0 + n1; j++) {
            const gij = gk[(c * n0 + i - r0) * n1 + j - c0];
            for (let k = 0; k < K; k++) {
              GA[i * K + k] += gij * B[j * K + k];
              GB[j * K + k] += gij * A[i * K + k];
            }
          }
        }
        const dA = new Float64Array(D0 * K), dB = new Float64Array(D1 * K);
        for (let k = 0; k < K; k++) {
          const mA = massOf(A, D0, K, k), mB = massOf(B, D1, K, k), den = mA * mB + DCLS_NORM_EPS;
          const wk = w.data[c * K + k], s = wk / den;
          let dS = 0;
          for (let i = 0; i < D0; i++) dS += A[i * K + k] * GA[i * K + k];
          const dDen = -dS * wk / (den * den);
          for (let i = 0; i < D0; i++) dA[i * K + k] = s * GA[i * K + k] + dDen * mB;
          for (let j = 0; j < D1; j++) dB[j * K + k] = s * GB[j * K + k] + dDen * mA;
          put(0, c, k, dS / den);
          const sigAt = (a: DclsAxis) => S.data[(a.param * C + c) * K + k];
          const [dpa, dsa] = axisGrads(par.rows, pa, dA, sigAt(par.rows), K, k);
          const [dpb, dsb] = axisGrads(par.cols, pb, dB, sigAt(par.cols), K, k);
          put(1 + par.rows.param, c, k, dpa);
          put(1 + par.cols.param, c, k, dpb);
          put(3 + par.rows.param, c, k, dsa);
          put(3 + par.cols.param, c, k, dsb);
        }
      }
      return r;
    },
  },
} satisfies { [K in keyof PrimParams]?: PrimitiveDef<PrimParams[K]> };
