/**
 * A stride-1 depthwise convolution computed through a discrete Fourier transform along the height axis, for large
 * kernels (DCLS's 23×23). The same linear map as the direct convolution, composed of primitives (matrix products and
 * a complex 1-D correlation), so it is differentiable and runs on every backend.
 *
 * Why it is cheaper: along H the convolution becomes a per-frequency product, so each (frequency, column) pair needs
 * only a complex 1-D correlation along W. For a 23×23 kernel on a 64×62 plane the direct form costs 2·529 flops per
 * output; the transform (a product with a constant `[2F, H]` matrix each way) and the complex correlation cost about
 * 2.5 times less.
 *
 * How:
 * - `X̂_f(w) = Σ_h x[h, w] e^{−2πi f h / N}` for the F = (N + 1) / 2 non-negative frequencies of an odd length
 *   N ≥ H + max(top, bottom), long enough that the transform's circular correlation equals the zero-padded one;
 * - the kernel's transform along its rows, shifted by the top padding, `K̂_f(v) = Σ_u k[u, v] e^{+2πi f (u − top) / N}`;
 * - `Ŷ_f(w) = Σ_v K̂_f(v) X̂_f(w + v − left)`, a complex correlation along W per (channel, frequency): the
 *   `complexCorrelate` primitive (lib/core/prims/complex.ts);
 * - the inverse transform of the real signal, `y[i] = Σ_f c_f (Ŷr_f cos θ − Ŷi_f sin θ)`, θ = 2π f i / N, with
 *   c_0 = 1/N and c_f = 2/N otherwise (N odd: no Nyquist bin).
 *
 * @module
 */
import { bind } from "../core/bind.ts";
import type { DType } from "../core/dtype.ts";
import type { Padding2d } from "../core/primitive.ts";
import { fail, fmt } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { tensor } from "./create.ts";
import { matmul } from "./linalg.ts";
import { reshape } from "./movement.ts";

/** The transform length and frequency count for a plane of height `h` padded by `[top, bottom]` under a `kh` kernel. */
export function spectralLength(
  h: number,
  kh: number,
  [top, bottom]: readonly [number, number],
): { N: number; F: number } {
  const ho = h + top + bottom - kh + 1;
  let n = Math.max(h + Math.max(top, bottom), ho);
  if (n % 2 === 0) n++;
  return { N: n, F: (n + 1) / 2 };
}

/** A `[rows, cols]` constant whose interleaved row or column pairs are (cos, ±sin) of `2π·f·t/N`. */
function trig(
  rows: number,
  cols: number,
  at: (r: number, c: number) => number,
  dtype: DType,
): Tensor {
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = at(r, c);
  return tensor(data, { shape: [rows, cols], dtype });
}

/**
 * Depthwise 2-D convolution (groups = channels, stride 1, dilation 1) of x `[N, C, H, W]` with w `[C, 1, kh, kw]`,
 * computed through a Fourier transform along H. Equal to `conv2d(x, w, { padding, groups: C })` up to rounding.
 */
export function spectralDepthwiseConv2d(x: Tensor, w: Tensor, padding: Padding2d): Tensor {
  if (x.ndim !== 4 || w.ndim !== 4 || w.shape[0] !== x.shape[1] || w.shape[1] !== 1) {
    fail("spectralDepthwiseConv2d", `expects x [N,C,H,W] and w [C,1,kh,kw], got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  }
  const [b, c, h, wd] = x.shape;
  const [, , kh, kw] = w.shape;
  const [[top, bottom], [left, right]] = padding;
  const ho = h + top + bottom - kh + 1, wo = wd + left + right - kw + 1;
  if (ho < 1 || wo < 1) {
    fail("spectralDepthwiseConv2d", `kernel ${fmt(w.shape)} larger than padded input ${fmt(x.shape)}`);
  }
  const { N, F } = spectralLength(h, kh, [top, bottom]);
  const angle = (f: number, t: number) => 2 * Math.PI * ((f * t) % N) / N;
  // The kernel's transform [2F, kh], shifted by the top padding: rows (cos, +sin). A small product (one per channel),
  // kept as a matmul with a constant.
  const kern = trig(2 * F, kh, (r, u) => (r & 1 ? Math.sin : Math.cos)(angle(r >> 1, u - top + N)), x.dtype);
  const spectrum = reshape(bind("realDft", [x], { length: N, size: h, inverse: false, transpose: false }), [
    b,
    c * F,
    2,
    wd,
  ]);
  const kHat = reshape(matmul(kern, reshape(w, [c, kh, kw])), [c * F, 2, kw]);
  const product = bind("complexCorrelate", [spectrum, kHat], { padding: [left, right], adjoint: false });
  return bind("realDft", [reshape(product, [b, c, 2 * F, wo])], {
    length: N,
    size: ho,
    inverse: true,
    transpose: false,
  });
}
