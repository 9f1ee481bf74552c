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
import type { KernelSpectrum, Padding2d } from "../core/primitive.ts";
import { kernelSpectrumMatrix } from "../core/prims/dft_matrix.ts";
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

/** The spectrum the spectral form takes of a `kh`-row kernel over planes of height `h` padded by `[top, bottom]`. */
export function spectralKernelSpectrum(
  h: number,
  kh: number,
  padding: readonly [number, number],
): KernelSpectrum {
  return { length: spectralLength(h, kh, padding).N, top: padding[0] };
}

/**
 * A depthwise kernel `[C, 1, kh, kw]` transformed along its rows as the spectral form takes it: `[C, 1, N + 1, kw]`,
 * rows (re, im) of `K̂_f(v) = Σ_u k[u, v] e^{+2πi f (u − top) / N}`. One small product per channel, with a constant.
 */
export function kernelSpectrum(w: Tensor, s: KernelSpectrum): Tensor {
  if (w.ndim !== 4 || w.shape[1] !== 1) fail("kernelSpectrum", `expects w [C,1,kh,kw], got ${fmt(w.shape)}`);
  const [c, , kh, kw] = w.shape, m = s.length + 1;
  const t = tensor(kernelSpectrumMatrix("kernelSpectrum", s, kh), { shape: [m, kh], dtype: w.dtype });
  return reshape(matmul(t, reshape(w, [c, kh, kw])), [c, 1, m, kw]);
}

/**
 * Depthwise 2-D convolution (groups = channels, stride 1, dilation 1) of x `[N, C, H, W]` with w `[C, 1, kh, kw]`,
 * computed through a Fourier transform along H. Equal to `conv2d(x, w, { padding, groups: C })` up to rounding.
 */
export function spectralDepthwiseConv2d(x: Tensor, w: Tensor, padding: Padding2d): Tensor {
  if (x.ndim !== 4 || w.ndim !== 4 || w.shape[0] !== x.shape[1] || w.shape[1] !== 1) {
    fail("spectralDepthwiseConv2d", `expects x [N,C,H,W] and w [C,1,kh,kw], got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  }
  const kh = w.shape[2];
  checkOutput(x, kh, w.shape[3], padding);
  return spectralCorrelate2d(x, kernelSpectrum(w, spectralKernelSpectrum(x.shape[2], kh, padding[0])), kh, padding);
}

function checkOutput(x: Tensor, kh: number, kw: number, [[top, bottom], [left, right]]: Padding2d) {
  if (x.shape[2] + top + bottom - kh + 1 < 1 || x.shape[3] + left + right - kw + 1 < 1) {
    fail("spectralDepthwiseConv2d", `kernel ${kh}×${kw} larger than padded input ${fmt(x.shape)}`);
  }
}

/**
 * The spectral form's convolution of x `[N, C, H, W]` with a `kh`-row kernel given by its spectrum
 * `kHat` `[C, 1, N + 1, kw]` ({@link kernelSpectrum}, or a DCLS construction that outputs it directly).
 */
export function spectralCorrelate2d(x: Tensor, kHat: Tensor, kh: number, padding: Padding2d): Tensor {
  const [b, c, h, wd] = x.shape, kw = kHat.shape[3];
  const [[top, bottom], [left, right]] = padding;
  checkOutput(x, kh, kw, padding);
  const ho = h + top + bottom - kh + 1, wo = wd + left + right - kw + 1;
  const { N, F } = spectralLength(h, kh, [top, bottom]);
  if (kHat.ndim !== 4 || kHat.shape[0] !== c || kHat.shape[1] !== 1 || kHat.shape[2] !== 2 * F) {
    fail("spectralCorrelate2d", `kernel spectrum must be [${c},1,${2 * F},kw], got ${fmt(kHat.shape)}`);
  }
  const spectrum = reshape(bind("realDft", [x], { length: N, size: h, inverse: false, transpose: false }), [
    b,
    c * F,
    2,
    wd,
  ]);
  const product = bind("complexCorrelate", [spectrum, reshape(kHat, [c * F, 2, kw])], {
    padding: [left, right],
    adjoint: false,
  });
  return bind("realDft", [reshape(product, [b, c, 2 * F, wo])], {
    length: N,
    size: ho,
    inverse: true,
    transpose: false,
  });
}
