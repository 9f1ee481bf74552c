/**
 * The matrix of the `realDft` primitive (lib/core/prims/dft.ts), shared by its CPU reference and its GPU kernel
 * (kernels/real_dft.ts); a module of its own so the kernel does not import the primitive registry.
 *
 * @module
 */
import type { RealDftParams } from "../primitive.ts";
import { fail } from "../shape.ts";

/**
 * The matrix `realDft` applies, row-major `[rows, cols]` in float64 (transposition included): forward entries
 * (cos θ, σ sin θ), inverse entries c_f·(cos θ, σ sin θ), θ = 2π·f·(t − shift)/N, σ = +1 when `conjugate`, else −1.
 */
export function dftMatrix(p: RealDftParams): { rows: number; cols: number; data: Float64Array } {
  const { length: N, size } = p;
  if (!Number.isInteger(N) || N < 1 || N % 2 === 0) fail("realDft", `length ${N} must be an odd positive integer`);
  // A size beyond N is allowed: a kernel taller than the transform wraps around (its taps alias modulo N).
  if (!Number.isInteger(size) || size < 1) fail("realDft", `size ${size} must be a positive integer`);
  const shift = p.shift ?? 0, sign = p.conjugate ? 1 : -1;
  if (!Number.isInteger(shift)) fail("realDft", `shift ${shift} must be an integer`);
  const F2 = N + 1;
  // Spectrum-side index r = 2f + (0: re, 1: im), signal-side index t; the angle's integer part reduced exactly.
  const at = (r: number, t: number) => {
    const f = r >> 1, m = (((f * (t - shift)) % N) + N) % N;
    const theta = (2 * Math.PI * m) / N, c = p.inverse ? (f === 0 ? 1 : 2) / N : 1;
    return r & 1 ? sign * c * Math.sin(theta) : c * Math.cos(theta);
  };
  // Forward maps t → r ([2F, size]); inverse maps r → t ([size, 2F]); transposition swaps.
  const spectrumRows = p.inverse === p.transpose;
  const rows = spectrumRows ? F2 : size, cols = spectrumRows ? size : F2;
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) data[i * cols + j] = spectrumRows ? at(i, j) : at(j, i);
  }
  return { rows, cols, data };
}
