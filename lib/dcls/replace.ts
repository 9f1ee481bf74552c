/**
 * The paper's replacement of a model's depthwise convolutions by DCLS convolutions (appendix B), as a pure function
 * over a description of the model's convolutions: it decides which layers become DCLS, their settings, and which layer
 * owns the P and SIG each of them uses.
 *
 * @module
 */

import type { DclsVersion } from "./construct.ts";

/** A convolution of a model as the replacement walk sees it, listed in definition order. */
export interface DepthwiseLayerDesc {
  /** Module path in state_dict naming, e.g. `stages.0.0.dwconv`. */
  readonly name: string;
  /** Input channels. */
  readonly inChannels: number;
  /** Output channels. */
  readonly outChannels: number;
  /** Convolution groups. */
  readonly groups: number;
  /** Kernel (height, width). */
  readonly kernelSize: readonly [number, number];
  /** Stride, carried over to the DCLS layer. */
  readonly stride: number | readonly [number, number];
  /** Whether the conv has a bias (the DCLS layer has one iff it did). */
  readonly bias: boolean;
}

/** Options of `replaceDepthwise` (defaults: the paper's settings). */
export interface ReplaceOptions {
  /** Grid side (default 23; padding is floor(D/2) = 11). */
  dilatedKernelSize?: number;
  /** Elements per kernel (default 26). */
  kernelCount?: number;
  /** Default "gauss". */
  version?: DclsVersion;
  /** Inference only: relative kernel-pruning threshold carried to every layer (see `pruneRelative`). */
  prune?: number;
}

/** One replaced convolution. */
export interface DclsLayerDesc {
  /** Module path of the replaced convolution. */
  readonly name: string;
  /** Channels (in = out = groups). */
  readonly channels: number;
  /** Module path of the layer whose P and SIG this one uses (its own name for an owner). */
  readonly owner: string;
  /** Stride of the replaced conv. */
  readonly stride: readonly [number, number];
  /** floor(D/2) per axis (11 for the paper's 23-grid). */
  readonly padding: readonly [number, number];
  /** Whether the layer has a bias. */
  readonly bias: boolean;
  /** Elements per kernel, K. */
  readonly kernelCount: number;
  /** Grid (D, D). */
  readonly dilatedKernelSize: readonly [number, number];
  /** Kernel construction. */
  readonly version: DclsVersion;
  /** Inference only: relative threshold below which constructed kernel cells are dropped (absent: none). */
  readonly prune?: number;
}

/** Whether a convolution is replaced: depthwise (`groups == in == out`) with a 7 × 7 kernel, the reference's test. */
export function isReplaceable(d: DepthwiseLayerDesc): boolean {
  return d.groups === d.inChannels && d.inChannels === d.outChannels && d.kernelSize[0] === 7 && d.kernelSize[1] === 7;
}

/**
 * Walks the convolutions in definition order and returns one description per replaced (7 × 7 depthwise) layer. Sharing
 * follows the reference exactly: the widest channel count seen so far is remembered; a replaced layer with more
 * channels than that becomes the owner (its P and SIG are remembered), and every replaced layer, the owner included,
 * uses the remembered P and SIG. A layer narrower than the remembered owner would get P/SIG of the wrong shape (the
 * reference fails at its first forward); that is reported here as an error naming both layers.
 */
export function replaceDepthwise(layers: readonly DepthwiseLayerDesc[], opts: ReplaceOptions = {}): DclsLayerDesc[] {
  const { dilatedKernelSize: d = 23, kernelCount = 26, version = "gauss", prune } = opts;
  if (!Number.isInteger(d) || d < 1) {
    throw new Error(`replaceDepthwise: dilatedKernelSize must be a positive integer, got ${d}`);
  }
  if (!Number.isInteger(kernelCount) || kernelCount < 1) {
    throw new Error(`replaceDepthwise: kernelCount must be a positive integer, got ${kernelCount}`);
  }
  let widest = 0;
  let owner = "";
  const out: DclsLayerDesc[] = [];
  for (const layer of layers) {
    if (!isReplaceable(layer)) continue;
    const channels = layer.inChannels;
    if (channels > widest) {
      widest = channels;
      owner = layer.name;
    } else if (channels < widest) {
      throw new Error(
        `replaceDepthwise: layer "${layer.name}" (${channels} channels) would share P/SIG of "${owner}" (${widest} channels)`,
      );
    }
    const stride = typeof layer.stride === "number" ? [layer.stride, layer.stride] as const : layer.stride;
    out.push({
      name: layer.name,
      channels,
      owner,
      stride: [stride[0], stride[1]],
      padding: [Math.floor(d / 2), Math.floor(d / 2)],
      bias: layer.bias,
      kernelCount,
      dilatedKernelSize: [d, d],
      version,
      // Absent rather than undefined when not pruning, so unpruned descriptions compare equal to earlier ones.
      ...(prune === undefined ? {} : { prune }),
    });
  }
  return out;
}

/** Names of the owner layers (one per stage width), in definition order. */
export function ownerNames(replaced: readonly DclsLayerDesc[]): string[] {
  return replaced.filter((r) => r.owner === r.name).map((r) => r.name);
}
