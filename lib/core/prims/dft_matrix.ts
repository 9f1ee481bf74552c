/**
 * The matrix of the `realDft` primitive (lib/core/prims/dft.ts), shared by its CPU reference and its GPU kernel
 * (kernels/real_dft.ts); a module of its own so the kernel does not import the primitive registry.
 *
 * @module
 */
import type { RealDftParams } from "../primitive.ts";
import { fail } from "../shape.ts";

/**
 * The shape of the matrix `realDft` applies, validating the parameters: `[2F, size]` forward, `[size, 2F]` inverse
 * (transposition swaps), F = (N + 1) / 2; `spectrumRows` when its rows index the spectrum.
 */
export function dftDims(p: RealDftParams): { rows: number; cols: number; spectrumRows: boolean } {
  const { length: N, size } = p;
  if (!Number.isInteger(N) || N < 1 || N % 2 === 0) fail("realDft", `length ${N} must be an odd positive integer`);
  if (!Number.isInteger(size) || size < 1 || size > N) fail("realDft", `size ${size} must be an integer in [1, ${N}]`);
  const spectrumRows = p.inverse === p.transpose;
  return { rows: spectrumRows ? N + 1 : size, cols: spectrumRows ? size : N + 1, spectrumRows };
}

/** The matrix `realDft` applies, row-major `[rows, cols]` in float64 (transposition included). */
export function dftMatrix(p: RealDftParams): { rows: number; cols: number; data: Float64Array } {
  const N = p.length, { rows, cols, spectrumRows } = dftDims(p);
  // Spectrum-side index r = 2f + (0: re, 1: im), signal-side index t.
  const at = (r: number, t: number) => {
    const f = r >> 1, theta = 2 * Math.PI * ((f * t) % N) / N, c = p.inverse ? (f === 0 ? 1 : 2) / N : 1;
    return r & 1 ? -c * Math.sin(theta) : c * Math.cos(theta);
  };
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) data[i * cols + j] = spectrumRows ? at(i, j) : at(j, i);
  }
  return { rows, cols, data };
}

/**
 * The spectral convolution's kernel transform (lib/ops/spectral_conv.ts) for a kernel of `rows` rows, row-major
 * `[length + 1, rows]` in float64: row r = 2f (cosine) or 2f + 1 (sine) of `e^{+2πi f (u − top) / N}` at kernel row u,
 * the angle reduced exactly in integers first. Validates the spectrum, naming `op`.
 */
export function kernelSpectrumMatrix(op: string, s: { length: number; top: number }, rows: number): Float64Array {
  const N = s.length, m = kernelSpectrumRows(op, s), data = new Float64Array(m * rows);
  for (let r = 0; r < m; r++) {
    for (let u = 0; u < rows; u++) {
      const theta = 2 * Math.PI * (((r >> 1) * (u - s.top + N)) % N) / N;
      data[r * rows + u] = r & 1 ? Math.sin(theta) : Math.cos(theta);
    }
  }
  return data;
}

/** Checks a kernel spectrum's length (odd) and shift; returns its row count `length + 1`. */
export function kernelSpectrumRows(op: string, s: { length: number; top: number }): number {
  if (!Number.isInteger(s.length) || s.length < 1 || s.length % 2 === 0) {
    fail(op, `spectrum length ${s.length} must be an odd positive integer`);
  }
  if (!Number.isInteger(s.top) || s.top < 0 || s.top >= s.length) {
    fail(op, `spectrum shift ${s.top} must be an integer in [0, ${s.length})`);
  }
  return s.length + 1;
}
