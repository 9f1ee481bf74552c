/**
 * The real discrete Fourier transform along the second-to-last axis, the transform step of the spectral convolution
 * (lib/ops/spectral_conv.ts), as a primitive whose matrix is a parameter rather than a tensor: its GPU kernel bakes
 * the matrix into the shader as constants, so a thread streams one column through registers with no operand loads.
 *
 * For an odd length N with F = (N + 1) / 2 non-negative frequencies and θ = 2π·f·t / N:
 * - forward: `[…, size, W] → […, 2F, W]`, rows (cos θ, −sin θ) per frequency f over samples t < size;
 * - inverse: `[…, 2F, W] → […, size, W]`, columns (c_f cos θ, −c_f sin θ) over outputs t < size, c_0 = 1/N,
 *   c_f = 2/N (N odd: no Nyquist bin), the inverse of a real signal's transform;
 * - `transpose` applies the matrix transposed, which is the VJP of either.
 *
 * @module
 */
import { allocate } from "../dtype.ts";
import type { PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt } from "../shape.ts";
import { bind } from "../bind.ts";
import { dftDims, dftMatrix } from "./dft_matrix.ts";

/** The real DFT primitive. */
export const dftPrims = {
  realDft: {
    shape: ([x], p) => {
      const { rows, cols } = dftDims(p);
      if (x.shape.length < 2 || x.shape[x.shape.length - 2] !== cols) {
        fail("realDft", `input ${fmt(x.shape)} must have ${cols} rows on its second-to-last axis`);
      }
      const shape = x.shape.slice();
      shape[shape.length - 2] = rows;
      return { shape, dtype: x.dtype };
    },
    cpu: ([x], p, out) => {
      const { rows, cols, data } = dftMatrix(p);
      const W = x.shape[x.shape.length - 1], planes = x.data.length / (cols * W);
      const acc = new Float64Array(planes * rows * W);
      for (let b = 0; b < planes; b++) {
        for (let i = 0; i < rows; i++) {
          const yb = (b * rows + i) * W;
          for (let j = 0; j < cols; j++) {
            const c = data[i * cols + j], xb = (b * cols + j) * W;
            if (c !== 0) { for (let w = 0; w < W; w++) acc[yb + w] += c * Number(x.data[xb + w]); }
          }
        }
      }
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: (g, _inputs, _out, p) => [bind("realDft", [g], { ...p, transpose: !p.transpose })],
  },
} satisfies { [K in keyof PrimParams]?: PrimitiveDef<PrimParams[K]> };
