/**
 * A stride-1 depthwise convolution as a batched matrix product, for planes smaller than the kernel's reach (DCLS's
 * 23×23 on the 8×7 maps of the last stage): per channel, `Y = T·X` with T the `[Ho·Wo, H·W]` Toeplitz matrix of the
 * kernel (lib/core/prims/toeplitz.ts) and X the channel's planes of the whole batch as columns. Every output meets
 * at most H·W inputs, so this costs 2·H·W flops per output (56 taps for the cropped 23×23 kernel on 8×7, as many as
 * the direct whole-plane kernels compute) and runs on the matrix-product kernels; its gradients are products too, and
 * the kernel's gradient sums T's gradient along its diagonals. `conv2d` takes it only when asked: the transposes
 * around the products made it slower than the direct kernels on the H100 (bench/RESULTS.md run 9).
 *
 * @module
 */
import { bind } from "../core/bind.ts";
import type { Padding2d } from "../core/primitive.ts";
import { fail, fmt } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { matmul } from "./linalg.ts";
import { reshape, transpose } from "./movement.ts";

/**
 * Depthwise 2-D convolution (groups = channels, stride 1, dilation 1) of x `[N, C, H, W]` with w `[C, 1, kh, kw]`,
 * as a product with each channel's Toeplitz matrix. Equal to `conv2d(x, w, { padding, groups: C })` up to rounding.
 */
export function toeplitzDepthwiseConv2d(x: Tensor, w: Tensor, padding: Padding2d): Tensor {
  if (x.ndim !== 4 || w.ndim !== 4 || w.shape[0] !== x.shape[1] || w.shape[1] !== 1) {
    fail("toeplitzDepthwiseConv2d", `expects x [N,C,H,W] and w [C,1,kh,kw], got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  }
  const [b, c, h, wd] = x.shape, [, , kh, kw] = w.shape;
  const [[top, bottom], [left, right]] = padding;
  const ho = h + top + bottom - kh + 1, wo = wd + left + right - kw + 1;
  if (ho < 1 || wo < 1) {
    fail("toeplitzDepthwiseConv2d", `kernel ${fmt(w.shape)} larger than padded input ${fmt(x.shape)}`);
  }
  // The matrices hold C·Ho·Wo·H·W values: meant for small planes (an H100 binding holds at most 2^28 floats).
  if (c * ho * wo * h * wd > 2 ** 28) {
    fail(
      "toeplitzDepthwiseConv2d",
      `the Toeplitz matrices of ${fmt(x.shape)} take ${
        c * ho * wo * h * wd
      } values; use algorithm "direct" or "spectral"`,
    );
  }
  const t = bind("toeplitz", [reshape(w, [c, kh, kw])], { plane: [h, wd], out: [ho, wo], padding: [top, left] });
  const columns = transpose(reshape(x, [b, c, h * wd]), [1, 2, 0]);
  return reshape(transpose(matmul(t, columns), [2, 0, 1]), [b, c, ho, wo]);
}
