/**
 * Linear programs (kernels/linear_program.ts) computing the matrices of `realDft` (lib/core/prims/dft_matrix.ts):
 * - `dense`: one fused multiply-add per matrix entry;
 * - `paired`: the forward transform taken about the centre of the signal, c = (size − 1)/2. Samples t and size − 1 − t
 *   sit at ±s from it, so `x_t e^{−iφs} + x_{t'} e^{iφs} = (x_t + x_{t'}) cos φs − i (x_t − x_{t'}) sin φs`: each
 *   frequency needs the sums and differences once each (size operations instead of 2·size), then a rotation by
 *   e^{−iφc}. About half the operations of the dense form.
 *
 * The other three matrices come from the forward one: the transposed forward by {@link transposeProgram}, the inverse
 * as the transposed forward times diag(c_f), its transpose as diag(c_f) times the forward.
 *
 * @module
 */
import type { RealDftParams } from "../lib/core/primitive.ts";
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";
import { LinearBuilder, type LinearProgram, scaleProgram, type Term, transposeProgram } from "./linear_program.ts";

/** How a `realDft` program is built. */
export type DftProgramForm = "dense" | "paired";

/** cos and sin of 2π·num/den, the integer angle reduced exactly first. */
function turn(num: number, den: number): [number, number] {
  const r = ((num % den) + den) % den, a = (2 * Math.PI * r) / den;
  return [Math.cos(a), Math.sin(a)];
}

/** The forward transform of `size` samples onto the interleaved (re, im) spectrum of F = (N + 1)/2 frequencies. */
function pairedForward(N: number, size: number): LinearProgram {
  const b = new LinearBuilder(size), F = (N + 1) / 2, half = Math.floor(size / 2);
  const sums: Term[] = [], diffs: Term[] = [];
  for (let t = 0; t < half; t++) {
    sums.push(b.combine(1, t, 1, size - 1 - t));
    diffs.push(b.combine(1, t, -1, size - 1 - t));
  }
  const middle: Term = size % 2 ? half : null;
  const outputs: Term[] = [];
  for (let f = 0; f < F; f++) {
    // φ·s_t = 2π f (2t − size + 1) / (2N); the rotation angle φ·c = 2π f (size − 1) / (2N).
    const R = b.sum([...sums.map((u, t) => [turn(f * (2 * t - size + 1), 2 * N)[0], u] as const), [1, middle]]);
    const I = b.sum(diffs.map((v, t) => [-turn(f * (2 * t - size + 1), 2 * N)[1], v] as const));
    const [cc, sc] = turn(f * (size - 1), 2 * N);
    outputs.push(b.combine(cc, R, sc, I), b.combine(cc, I, -sc, R));
  }
  return b.build(outputs);
}

/** One operation chain per row of a dense matrix. */
function denseProgram({ rows, cols, data }: { rows: number; cols: number; data: Float64Array }): LinearProgram {
  const b = new LinearBuilder(cols);
  const outputs = Array.from(
    { length: rows },
    (_, i) => b.sum(Array.from({ length: cols }, (_, j) => [Math.fround(data[i * cols + j]), j] as const)),
  );
  return b.build(outputs);
}

/** The program of `realDft` with parameters `p`. */
export function dftProgram(p: RealDftParams, form: DftProgramForm = "paired"): LinearProgram {
  if (form === "dense") return denseProgram(dftMatrix(p));
  const N = p.length, forward = pairedForward(N, p.size);
  const scale = Array.from({ length: N + 1 }, (_, r) => ((r >> 1) === 0 ? 1 : 2) / N);
  if (!p.inverse) return p.transpose ? transposeProgram(forward) : forward;
  return p.transpose
    ? scaleProgram(forward, "outputs", scale)
    : scaleProgram(transposeProgram(forward), "inputs", scale);
}
