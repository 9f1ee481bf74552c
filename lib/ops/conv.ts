import { bind } from "../core/bind.ts";
import type { ConvParams, KernelSpectrum, Padding2d } from "../core/primitive.ts";
import { fail, fmt } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { add, mul } from "./elementwise.ts";
import { matmul } from "./linalg.ts";
import { reshape, slice, squeeze } from "./movement.ts";
import { spectralCorrelate2d, spectralDepthwiseConv2d, spectralKernelSpectrum } from "./spectral_conv.ts";
import { toeplitzDepthwiseConv2d } from "./toeplitz_conv.ts";

/** A size per spatial axis, or one for all. */
export type Pair = number | readonly [number, number];

/** Options of `conv2d` (PyTorch semantics). */
export interface Conv2dOptions {
  /** Step between windows (default 1). */
  stride?: Pair;
  /** Symmetric padding per axis, or `[[top, bottom], [left, right]]`. */
  padding?: Pair | Padding2d;
  /** Spacing between kernel taps (default 1). */
  dilation?: Pair;
  /** Channel groups; `groups = channels` is a depthwise convolution (default 1). */
  groups?: number;
  /**
   * How a depthwise stride-1 convolution is computed: `direct`, `spectral` (through a Fourier transform along H, see
   * `spectralDepthwiseConv2d`: the same map, cheaper for large kernels on planes of 16 rows or more), `toeplitz` (a
   * batched matrix product with the kernel's Toeplitz matrix, see `toeplitzDepthwiseConv2d`; slower on the H100 than
   * the direct kernels) or `auto` (default: spectral where {@link prefersSpectral} says so, else direct). Other
   * convolutions are always direct. Kernel taps that never meet the input are cut first, whatever the algorithm.
   */
  algorithm?: ConvAlgorithm;
  /**
   * A hint that the result will not be differentiated (inference): `auto` then picks the form whose forward alone is
   * fastest. Results are the same either way.
   */
  forwardOnly?: boolean;
}

/** How `conv2d` computes a depthwise convolution. */
export type ConvAlgorithm = "auto" | "direct" | "spectral" | "toeplitz";

/** Expands a size to one per spatial axis. */
export function pair(v: Pair): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

function padding2d(p: Pair | Padding2d | undefined): Padding2d {
  if (p === undefined) return [[0, 0], [0, 0]];
  if (typeof p === "number") return [[p, p], [p, p]];
  if (typeof p[0] === "number") {
    const [h, w] = p as readonly [number, number];
    return [[h, h], [w, w]];
  }
  const [[t, b], [l, r]] = p as Padding2d;
  return [[t, b], [l, r]];
}

/** The convolution primitive's parameters from `conv2d`'s options. */
function convParams(opts: Conv2dOptions): ConvParams {
  return {
    stride: pair(opts.stride ?? 1),
    padding: padding2d(opts.padding),
    dilation: pair(opts.dilation ?? 1),
    groups: opts.groups ?? 1,
  };
}

/** 2-D convolution over NCHW input with weight [O, C/groups, kh, kw] and optional bias [O]. */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}, bias?: Tensor): Tensor {
  const params = convParams(opts);
  const [o, cg] = w.shape, c = x.shape[1];
  let y: Tensor;
  if (isUnpadded1x1(x.shape, w.shape, params) && params.groups === c && o === c && cg === 1) {
    // A 1×1 depthwise convolution (MobileOne's scale branches) scales each channel: as a broadcast product the GPU
    // planner fuses it into its neighbours, and its weight gradient is a plain reduction.
    y = mul(x, reshape(w, [o, 1, 1]));
  } else if (isUnpadded1x1(x.shape, w.shape, params) && params.groups === 1 && cg === c) {
    // A dense 1×1 convolution is W·x[n] per sample: the matrix-product kernels run it and its gradients faster than
    // the implicit-GEMM convolution kernels.
    const [n, , h, wd] = x.shape;
    y = reshape(matmul(reshape(w, [o, c]), reshape(x, [n, c, h * wd])), [n, o, h, wd]);
  } else {
    const cropped = cropToReach(x, w, params);
    const algorithm = chooseAlgorithm(
      opts.algorithm ?? "auto",
      x.shape,
      cropped.w.shape,
      cropped.params,
      !opts.forwardOnly,
    );
    y = algorithm === "spectral"
      ? spectralDepthwiseConv2d(x, cropped.w, cropped.params.padding)
      : algorithm === "toeplitz"
      ? toeplitzDepthwiseConv2d(x, cropped.w, cropped.params.padding)
      : bind("conv2d", [x, cropped.w], cropped.params);
  }
  return withBias(y, o, bias);
}

function withBias(y: Tensor, outputs: number, bias?: Tensor): Tensor {
  if (!bias) return y;
  if (bias.ndim !== 1 || bias.shape[0] !== outputs) fail("conv2d", `bias ${fmt(bias.shape)} for ${outputs} outputs`);
  return add(y, reshape(bias, [outputs, 1, 1]));
}

/**
 * `conv2d` with a kernel `[O, C/groups, kh, kw]` of shape `kernelShape` that the caller builds on demand: where the
 * convolution takes the spectral form, `build` receives the spectrum that form applies to the kernel and returns
 * the kernel's transform (`kernelSpectrum` in lib/ops/spectral_conv.ts, `[C, 1, N + 1, kw]`) instead of the kernel,
 * so a construction that can output it directly (DCLS's `dclsGauss`) saves the product; elsewhere it receives nothing
 * and returns the kernel. The result is `conv2d`'s.
 */
export function conv2dBuilt(
  x: Tensor,
  kernelShape: readonly number[],
  build: (spectrum?: KernelSpectrum) => Tensor,
  opts: Conv2dOptions = {},
  bias?: Tensor,
): Tensor {
  const params = convParams(opts);
  // conv2d's own choice: not its 1×1 shortcuts, nothing to cut, then its algorithm.
  const spectral = kernelShape.length === 4 && !isUnpadded1x1(x.shape, kernelShape, params) &&
    !kernelWindow(x.shape, kernelShape, params) &&
    chooseAlgorithm(opts.algorithm ?? "auto", x.shape, kernelShape, params, !opts.forwardOnly) === "spectral";
  if (!spectral) return conv2d(x, build(), opts, bias);
  const kh = kernelShape[2];
  const y = spectralCorrelate2d(
    x,
    build(spectralKernelSpectrum(x.shape[2], kh, params.padding[0])),
    kh,
    params.padding,
  );
  return withBias(y, kernelShape[0], bias);
}

/**
 * The kernel rows `[lo, hi]` (or columns) that meet the input at some output position: a kernel larger than the
 * padded plane it slides over (DCLS's 23×23 on 8×7 maps) has taps that only ever multiply padding.
 */
function reach(
  size: number,
  k: number,
  stride: number,
  [before, after]: readonly [number, number],
  dilation: number,
): [number, number] {
  const out = Math.floor((size + before + after - dilation * (k - 1) - 1) / stride) + 1;
  const touches = (a: number) => {
    // The first output row whose input row for tap a is ≥ 0, then whether that row is < size.
    const i = Math.max(0, Math.ceil((before - a * dilation) / stride));
    return i < out && i * stride - before + a * dilation < size;
  };
  let lo = 0, hi = k - 1;
  while (lo < hi && !touches(lo)) lo++;
  while (hi > lo && !touches(hi)) hi--;
  return [lo, hi];
}

/** One spatial axis of a {@link kernelWindow}. */
export interface KernelAxisWindow {
  /** The first kernel tap that meets the input. */
  readonly start: number;
  /** How many consecutive taps from `start` are kept. */
  readonly count: number;
  /** The padding `[before, after]` that keeps the output when the kernel is cut to those taps. */
  readonly padding: [number, number];
}

/**
 * The kernel taps of a 2-D convolution (NCHW input, `[O, C/groups, kh, kw]` kernel, PyTorch semantics) that meet the
 * input at some output position, per spatial axis (rows, then columns), with the padding that keeps the output when
 * the kernel is cut to them; null where nothing is cut (every tap meets the input, the shapes are not 4-D or the output
 * is empty). `conv2d` cuts kernels by it; a caller that builds the kernel (DCLS) can build just the window.
 */
export function kernelWindow(
  inputShape: readonly number[],
  kernelShape: readonly number[],
  opts: Pick<Conv2dOptions, "stride" | "padding" | "dilation"> = {},
): [KernelAxisWindow, KernelAxisWindow] | null {
  const p = { stride: pair(opts.stride ?? 1), padding: padding2d(opts.padding), dilation: pair(opts.dilation ?? 1) };
  if (!hasOutput(inputShape, kernelShape, p)) return null;
  const cut = [0, 1].map((ax): KernelAxisWindow => {
    const [before, after] = p.padding[ax], d = p.dilation[ax], k = kernelShape[2 + ax];
    const [lo, hi] = reach(inputShape[2 + ax], k, p.stride[ax], p.padding[ax], d);
    return { start: lo, count: hi - lo + 1, padding: [before - lo * d, after - (k - 1 - hi) * d] };
  });
  const same = cut.every((c, ax) => c.count === kernelShape[2 + ax]);
  if (same || cut.some((c) => c.padding[0] < 0 || c.padding[1] < 0)) return null;
  return [cut[0], cut[1]];
}

/**
 * The same convolution with the kernel cut to the taps that meet the input and the padding reduced to match: the
 * output and the gradients of the kept taps are unchanged, the cut taps' gradients are zero (they only multiply
 * padding), and the direct kernels do 2.7 times less work for 23×23 on 8×7 planes.
 */
function cropToReach<P extends { stride: [number, number]; dilation: [number, number]; padding: Padding2d }>(
  x: Tensor,
  w: Tensor,
  params: P,
): { w: Tensor; params: P } {
  const cut = kernelWindow(x.shape, w.shape, params);
  if (!cut) return { w, params };
  const [rows, cols] = cut;
  return {
    w: slice(w, [0, 0, rows.start, cols.start], [
      w.shape[0],
      w.shape[1],
      rows.start + rows.count,
      cols.start + cols.count,
    ]),
    params: { ...params, padding: [rows.padding, cols.padding] },
  };
}

/**
 * Whether the spectral form of a depthwise stride-1 convolution is the faster one: a kernel of at least 11×11 on a
 * plane of at least 16 rows when the convolution is also differentiated (`backward`, the default), of at least 32
 * rows when only its forward runs. On the H100 (bench/RESULTS.md run 9; batch 64, 23×23) forward and backward took
 * 1.05 ms against 2.99 direct at 64×62, 0.59 against 1.23 at 32×31 and 0.39 against 0.43 at 16×15, but 0.23 against
 * 0.13 at 8×7: the transforms cost a fixed amount per input element whatever the kernel, which only large kernels on
 * planes of some height repay. Inference alone was 2–3 % slower with 16-row planes spectral (ConvFormer-S18 and
 * FastViT-SA24 with DCLS): the backward shares the forward's transform, a forward alone does not.
 */
export function prefersSpectral(h: number, kh: number, kw: number, backward = true): boolean {
  return kh >= 11 && kw >= 11 && h >= (backward ? 16 : 32);
}

function chooseAlgorithm(
  algorithm: ConvAlgorithm,
  x: readonly number[],
  w: readonly number[],
  p: { stride: [number, number]; dilation: [number, number]; groups: number; padding: Padding2d },
  backward: boolean,
): "direct" | "spectral" | "toeplitz" {
  if (algorithm === "direct") return "direct";
  const depthwise = x.length === 4 && w.length === 4 && p.groups === x[1] && w[0] === p.groups &&
    w[1] === 1 && p.stride.every((s) => s === 1) && p.dilation.every((d) => d === 1);
  if (algorithm === "spectral" || algorithm === "toeplitz") {
    if (!depthwise) fail("conv2d", `algorithm "${algorithm}" needs a depthwise, stride-1, undilated convolution`);
    if (algorithm === "spectral" && p.padding[1].some((v) => v >= w[3])) {
      fail("conv2d", `algorithm "spectral" pads W by at most kw − 1`);
    }
    return algorithm;
  }
  if (algorithm !== "auto") {
    fail("conv2d", `algorithm must be "auto", "direct", "spectral" or "toeplitz", got "${algorithm}"`);
  }
  // An empty output is the primitive's error to report, naming conv2d.
  if (!depthwise || !hasOutput(x, w, p)) return "direct";
  // Not the Toeplitz form: on small planes the whole-plane direct kernels, which also do work proportional to the
  // taps that meet the input, ran DCLS's 23×23 on 8×7 in 0.138 ms forward and backward against its 0.174 once their
  // tiles were retuned (bench/RESULTS.md run 9): the products need transposes around them.
  // The complex correlation pads by at most kw − 1 (wider padding only adds zero columns).
  const fits = p.padding[1][0] < w[3] && p.padding[1][1] < w[3];
  return fits && prefersSpectral(x[2], w[2], w[3], backward) ? "spectral" : "direct";
}

/** Whether a 4-D convolution's output has at least one position on each spatial axis. */
function hasOutput(
  x: readonly number[],
  w: readonly number[],
  p: { stride: [number, number]; dilation: [number, number]; padding: Padding2d },
): boolean {
  if (x.length !== 4 || w.length !== 4) return false;
  return [0, 1].every((ax) => x[2 + ax] + p.padding[ax][0] + p.padding[ax][1] >= p.dilation[ax] * (w[2 + ax] - 1) + 1);
}

/** Whether a convolution over NCHW has a 1×1 kernel, stride 1 and no padding (groups decide what it computes). */
function isUnpadded1x1(
  x: readonly number[],
  w: readonly number[],
  p: { stride: readonly [number, number]; padding: Padding2d },
): boolean {
  return x.length === 4 && w.length === 4 && w[2] === 1 && w[3] === 1 && p.stride[0] === 1 &&
    p.stride[1] === 1 && p.padding.every(([a, b]) => a === 0 && b === 0);
}

/** Options of `conv1d`. */
export interface Conv1dOptions {
  /** Step between windows (default 1). */
  stride?: number;
  /** Symmetric padding, or `[left, right]`. */
  padding?: number | readonly [number, number];
  /** Spacing between kernel taps (default 1). */
  dilation?: number;
  /** Channel groups (default 1). */
  groups?: number;
}

/** 1-D convolution over [N, C, L] with weight [O, C/groups, k], as a 2-D convolution of height 1. */
export function conv1d(x: Tensor, w: Tensor, opts: Conv1dOptions = {}, bias?: Tensor): Tensor {
  if (x.ndim !== 3 || w.ndim !== 3) {
    fail("conv1d", `expects x [N,C,L] and w [O,C/g,k], got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  }
  const p = opts.padding ?? 0;
  const [l, r] = typeof p === "number" ? [p, p] : p;
  const y = conv2d(
    reshape(x, [x.shape[0], x.shape[1], 1, x.shape[2]]),
    reshape(w, [w.shape[0], w.shape[1], 1, w.shape[2]]),
    {
      stride: [1, opts.stride ?? 1],
      padding: [[0, 0], [l, r]],
      dilation: [1, opts.dilation ?? 1],
      groups: opts.groups,
    },
    bias,
  );
  return squeeze(y, 2);
}
