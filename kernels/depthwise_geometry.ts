/**
 * The index math shared by the direct depthwise kernels: a depthwise (or channel-multiplier, `groups == C`,
 * `O = M·C`) convolution seen as a per-channel correlation, and the window of kernel taps that can touch the plane.
 *
 * Forward: output channel `o` correlates input channel `⌊o / M⌋` with kernel `o`. The stride-1 input gradient is the
 * same correlation with the kernel flipped and padding `(k − 1)·d − p`, run "transposed": input-gradient channel `c`
 * sums the correlations of the M dy channels `c·M + s` with kernels `c·M + s`.
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import { type KernelProgram, ref } from "./program.ts";
import { shaderSource, u32 } from "./wgsl.ts";

/** A per-channel 2-D correlation `out[n, o] = Σ_s corr(in[n, inChannel(o, s)], kernel[kernelSlot(o, s)])`. */
export interface Correlation {
  /** Batch. */
  readonly N: number;
  /** Channels of the input tensor. */
  readonly Cin: number;
  /** Channels of the output tensor. */
  readonly Cout: number;
  /** Channel multiplier (1 for a plain depthwise convolution). */
  readonly M: number;
  /** Whether each output channel sums M input channels (input gradient) instead of reading channel `⌊o / M⌋`. */
  readonly transpose: boolean;
  /** Whether the kernel is read flipped in both axes (input gradient). */
  readonly flip: boolean;
  /** Input plane height. */
  readonly Hin: number;
  /** Input plane width. */
  readonly Win: number;
  /** Output plane height. */
  readonly Hout: number;
  /** Output plane width. */
  readonly Wout: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Vertical stride. */
  readonly sh: number;
  /** Horizontal stride. */
  readonly sw: number;
  /** Vertical dilation. */
  readonly dh: number;
  /** Horizontal dilation. */
  readonly dw: number;
  /** Top padding. */
  readonly pt: number;
  /** Left padding. */
  readonly pl: number;
}

/** Whether a geometry is one the direct kernels take: one input channel per group (depthwise, any multiplier). */
export function isChannelwise(g: ConvGeometry): boolean {
  return g.G === g.C && g.Cg === 1;
}

/** The forward convolution as a correlation. */
export function forwardCorrelation(g: ConvGeometry): Correlation {
  return {
    N: g.N,
    Cin: g.C,
    Cout: g.O,
    M: g.Og,
    transpose: false,
    flip: false,
    Hin: g.H,
    Win: g.W,
    Hout: g.Ho,
    Wout: g.Wo,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    dh: g.dh,
    dw: g.dw,
    pt: g.pt,
    pl: g.pl,
  };
}

/** The stride-1 input gradient as a correlation of dy with the flipped kernel, or null when it is not one. */
export function inputGradCorrelation(g: ConvGeometry): Correlation | null {
  const pt = (g.kh - 1) * g.dh - g.pt, pl = (g.kw - 1) * g.dw - g.pl;
  if (g.sh !== 1 || g.sw !== 1 || pt < 0 || pl < 0) return null;
  return {
    N: g.N,
    Cin: g.O,
    Cout: g.C,
    M: g.Og,
    transpose: true,
    flip: true,
    Hin: g.Ho,
    Win: g.Wo,
    Hout: g.H,
    Wout: g.W,
    kh: g.kh,
    kw: g.kw,
    sh: 1,
    sw: 1,
    dh: g.dh,
    dw: g.dw,
    pt,
    pl,
  };
}

/** Input channels summed into each output channel. */
export function summed(c: Correlation): number {
  return c.transpose ? c.M : 1;
}

/** Number of kernels (`[kernels, kh, kw]`). */
export function kernelCount(c: Correlation): number {
  return c.transpose ? c.Cout * c.M : c.Cout;
}

/**
 * The program of a direct correlation kernel (the plane and the tiled forms): inputs x and kernels, output y, one
 * dispatch. Its flops are nominal (every tap, as a dense implementation counts them), so throughput figures stay
 * comparable between the forms.
 */
export function correlationProgram(
  c: Correlation,
  label: string,
  decls: readonly string[],
  body: readonly string[],
  workgroupSize: number,
  workgroups: readonly [number, number, number],
): KernelProgram {
  const inSize = c.N * c.Cin * c.Hin * c.Win, outSize = c.N * c.Cout * c.Hout * c.Wout;
  const wSize = kernelCount(c) * c.kh * c.kw;
  return {
    inputs: [{ dtype: "f32", size: inSize }, { dtype: "f32", size: wSize }],
    outputs: [{ dtype: "f32", size: outSize }],
    scratch: [],
    flops: 2 * outSize * summed(c) * c.kh * c.kw,
    bytes: 4 * (inSize + outSize + wSize),
    dispatches: [{
      label,
      code: shaderSource({ decls: [...decls], workgroupSize, body: [...body] }),
      bindings: [ref.input(0), ref.input(1), ref.output(0)],
      workgroups,
    }],
  };
}

/** WGSL expression of the input channel read for output channel `oc` and summand `s` (both u32 expressions). */
export function inChannel(c: Correlation, oc: string, s: string): string {
  if (c.M === 1) return oc;
  return c.transpose ? `(${oc} * ${u32(c.M)} + ${s})` : `(${oc} / ${u32(c.M)})`;
}

/** WGSL expression of the kernel used for output channel `oc` and summand `s`. */
export function kernelSlot(c: Correlation, oc: string, s: string): string {
  if (!c.transpose || c.M === 1) return oc;
  return `(${oc} * ${u32(c.M)} + ${s})`;
}

/**
 * The smallest range `[lo, hi]` of taps `t ∈ [0, k)` holding every tap that reads inside the input along one axis,
 * i.e. for which some output `o ∈ [0, nOut)` has `0 ≤ o·s + t·d − p < nIn`. Taps outside contribute nothing (forward,
 * input gradient) or are exactly zero (weight gradient). A range of one tap when none reads inside.
 */
export function tapWindow(nOut: number, nIn: number, s: number, d: number, k: number, p: number): [number, number] {
  let lo = k, hi = -1;
  for (let t = 0; t < k; t++) {
    // The smallest output whose input index is ≥ 0, then whether it is still < nIn.
    const o = Math.max(0, Math.ceil((p - t * d) / s));
    if (o < nOut && o * s + t * d - p < nIn) {
      lo = Math.min(lo, t);
      hi = Math.max(hi, t);
    }
  }
  return hi < 0 ? [0, 0] : [lo, hi];
}

/** Whether output `o` and tap `t` read inside the input (`0 ≤ o·s + t·d − p < nIn`), evaluated at generation time. */
export function tapHits(o: number, t: number, s: number, d: number, p: number, nIn: number): boolean {
  const i = o * s + t * d - p;
  return i >= 0 && i < nIn;
}

/** Label suffix shared by the depthwise kernels: `NxCxHxW_kKHxKW` (plus `_oO` for a channel multiplier). */
export function geometryTag(g: ConvGeometry): string {
  return `${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}${g.O === g.C ? "" : `_o${g.O}`}`;
}
