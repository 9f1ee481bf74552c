/**
 * DCLS convolution layers as parameter-tree functions: `initDcls2d` / `initDcls1d` build the parameters with the DCLS
 * package's initialisation (or the paper's re-initialisation), `dcls2d` / `dcls1d` construct the dense kernel and run
 * an ordinary grouped convolution, and `clampPositions` is the package's optional position clamp.
 *
 * @module
 */

import type { ConvAlgorithm, DType, KernelSpectrum, Tensor } from "../core/mod.ts";
import {
  clamp,
  concat,
  conv1d,
  conv2d,
  conv2dBuilt,
  full,
  kernelWindow,
  maximum,
  minimum,
  mul,
  neg,
  normal,
  split,
  tensor,
  uniform,
  zeros,
} from "../core/mod.ts";
import { construct, construct1d, type DclsVersion, gridSize, usesSigma } from "./construct.ts";
import { pruneRelative } from "./prune.ts";

/** Parameters of one DCLS layer. `P` and `SIG` may be shared with other layers (see `replaceDepthwise`). */
export interface DclsParams {
  /** Element weights `[C_out, C_in/g, K]`. */
  weight: Tensor;
  /** Positions `[axes, C_out, C_in/g, K]`, centred on the grid. */
  P: Tensor;
  /** Widths `[axes, C_out, C_in/g, K]` (gauss and max only). */
  SIG?: Tensor;
  /** Bias `[C_out]`. */
  bias?: Tensor;
}

/** Options of `initDcls2d` and `initDcls1d`. */
export interface InitDclsOptions<D> {
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  outChannels: number;
  /** Convolution groups (default 1; depthwise: the channel count). */
  groups?: number;
  /** Elements per kernel, K. */
  kernelCount: number;
  /** Grid size. */
  dilatedKernelSize: D;
  /** Default "gauss". */
  version?: DclsVersion;
  /** Whether the layer has a bias (default true, as PyTorch). */
  bias?: boolean;
  /**
   * "reference" (default): the DCLS package's own (Kaiming-uniform a = √5 weight, uniform ±1/√fan_in bias). "paper":
   * the re-initialisation the paper's models apply after replacing convs (weight N(0, 0.02²), bias 0). Positions and
   * widths are initialised the same way by both.
   */
  init?: "reference" | "paper";
  /** Default "f32". */
  dtype?: DType;
}

/** Initial width parameter: the package starts gauss at 0.23 and max at 0 (so both start at a width near 0.5 / 1). */
const SIG_INIT: Record<"gauss" | "max", number> = { gauss: 0.23, max: 0 };

function initDcls(key: Tensor, opts: InitDclsOptions<unknown>, grid: readonly number[]): DclsParams {
  const { inChannels, outChannels, kernelCount: k, groups = 1, version = "gauss", bias = true } = opts;
  const dtype = opts.dtype ?? "f32";
  for (
    const [name, v] of [["inChannels", inChannels], ["outChannels", outChannels], ["kernelCount", k], [
      "groups",
      groups,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`initDcls: ${name} must be a positive integer, got ${v}`);
  }
  if (inChannels % groups || outChannels % groups) {
    throw new Error(`initDcls: groups ${groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
  }
  const ci = inChannels / groups;
  const shape = [outChannels, ci, k];
  const [kw, kp, kb] = split(key, 3);
  // PyTorch's fan_in of a [C_out, C_in/g, K] weight is C_in/g · K; Kaiming-uniform with a = √5 then has bound 1/√fan_in.
  const bound = 1 / Math.sqrt(ci * k);
  const paper = opts.init === "paper";
  if (opts.init !== undefined && opts.init !== "reference" && !paper) {
    throw new Error(`initDcls: init must be "reference" or "paper", got "${opts.init}"`);
  }
  const weight = paper ? mul(normal(kw, shape, { dtype }), 0.02) : uniform(kw, shape, { lo: -bound, hi: bound, dtype });
  const rows = split(kp, grid.length).map((kr, a) => {
    const lim = Math.floor(grid[a] / 2);
    return clamp(mul(normal(kr, [1, ...shape], { dtype }), 0.5), -lim, lim);
  });
  const params: DclsParams = { weight, P: concat(rows, 0) };
  if (usesSigma(version)) params.SIG = full([grid.length, ...shape], SIG_INIT[version as "gauss" | "max"], dtype);
  if (bias) {
    params.bias = paper ? zeros([outChannels], dtype) : uniform(kb, [outChannels], { lo: -bound, hi: bound, dtype });
  }
  return params;
}

/** A 2-D DCLS layer's parameters: `weight` `[C_out, C_in/g, K]`, `P` (and `SIG` for gauss/max) `[2, C_out, C_in/g, K]`, `bias`. */
export function initDcls2d(key: Tensor, opts: InitDclsOptions<number | readonly [number, number]>): DclsParams {
  return initDcls(key, opts, gridSize(opts.dilatedKernelSize));
}

/** A 1-D DCLS layer's parameters: as `initDcls2d` with `P` (and `SIG`) `[1, C_out, C_in/g, K]`. */
export function initDcls1d(key: Tensor, opts: InitDclsOptions<number>): DclsParams {
  return initDcls(key, opts, [gridSize(opts.dilatedKernelSize)[0]]);
}

/** Options of `dcls2d`. */
export interface Dcls2dOptions {
  /** Default "gauss". */
  version?: DclsVersion;
  /** Grid size (D0, D1), or one number for a square grid. */
  dilatedKernelSize: number | readonly [number, number];
  /** Default 1. */
  stride?: number | readonly [number, number];
  /** Default floor(D/2) per axis, which keeps the size at stride 1 (the paper's 23-grid uses 11). */
  padding?: number | readonly [number, number];
  /** Default 1. */
  groups?: number;
  /** Inference only: relative threshold of `pruneRelative` applied to the constructed kernel (default: none). */
  prune?: number;
  /** How a depthwise layer convolves (see `conv2d`'s `algorithm`; default "auto"). */
  algorithm?: ConvAlgorithm;
  /** The layer will not be differentiated (inference): see `conv2d`'s `forwardOnly`. */
  forwardOnly?: boolean;
}

/**
 * A 2-D DCLS convolution over NCHW input: construct the dense kernel, then an ordinary grouped convolution. Where the
 * grid is larger than what meets the input (a 23×23 grid on an 8×7 map), only the taps that do are constructed.
 */
export function dcls2d(params: DclsParams, x: Tensor, opts: Dcls2dOptions): Tensor {
  const version = opts.version ?? "gauss";
  const [d0, d1] = gridSize(opts.dilatedKernelSize);
  const padding = opts.padding ?? [Math.floor(d0 / 2), Math.floor(d1 / 2)];
  const conv = {
    stride: opts.stride ?? 1,
    padding,
    groups: opts.groups ?? 1,
    algorithm: opts.algorithm,
    forwardOnly: opts.forwardOnly,
  };
  // Pruning compares each cell with its slice's largest, which may lie outside the window: there the whole kernel
  // is built and conv2d cuts it.
  const cut = opts.prune === undefined ? kernelWindow(x.shape, [1, 1, d0, d1], conv) : null;
  const window = cut ? { rows: [cut[0].start, cut[0].count], cols: [cut[1].start, cut[1].count] } as const : undefined;
  const build = (spectrum?: KernelSpectrum) =>
    construct(params.weight, params.P, params.SIG, { version, dilatedKernelSize: [d0, d1], window, spectrum });
  if (opts.prune !== undefined) return conv2d(x, pruneRelative(build(), opts.prune), conv, params.bias);
  // Where the convolution goes spectral, the construction outputs the kernel's transform itself (one dispatch less
  // each way for the fused Gaussian construction).
  const [co, ci] = params.weight.shape;
  const shape = [co, ci, cut ? cut[0].count : d0, cut ? cut[1].count : d1];
  return conv2dBuilt(x, shape, build, cut ? { ...conv, padding: [cut[0].padding, cut[1].padding] } : conv, params.bias);
}

/** Options of `dcls1d`. */
export interface Dcls1dOptions {
  /** Default "gauss". */
  version?: DclsVersion;
  /** Grid length D. */
  dilatedKernelSize: number;
  /** Default 1. */
  stride?: number;
  /** Default floor(D/2). */
  padding?: number | readonly [number, number];
  /** Default 1. */
  groups?: number;
  /** Inference only: relative threshold of `pruneRelative` applied to the constructed kernel (default: none). */
  prune?: number;
}

/** A 1-D DCLS convolution over [N, C, L]. */
export function dcls1d(params: DclsParams, x: Tensor, opts: Dcls1dOptions): Tensor {
  const version = opts.version ?? "gauss";
  const d = opts.dilatedKernelSize;
  let kernel = construct1d(params.weight, params.P, params.SIG, { version, dilatedKernelSize: d });
  if (opts.prune !== undefined) kernel = pruneRelative(kernel, opts.prune);
  const padding = opts.padding ?? Math.floor(d / 2);
  return conv1d(x, kernel, { stride: opts.stride ?? 1, padding, groups: opts.groups ?? 1 }, params.bias);
}

/**
 * The DCLS package's `clamp_parameters`: P[a] clamped to [−floor(D_a/2), floor(D_a/2)] (P[a] paired with grid size
 * D_a as the package pairs them). Off by default: the audio training code never calls it.
 */
export function clampPositions(P: Tensor, dilatedKernelSize: number | readonly [number, number]): Tensor {
  const grid = P.shape[0] === 1 ? [gridSize(dilatedKernelSize)[0]] : gridSize(dilatedKernelSize);
  if (P.ndim < 1 || P.shape[0] !== grid.length) {
    throw new Error(
      `clampPositions: P must be [${grid.length}, …] for grid ${JSON.stringify(dilatedKernelSize)}, got [${
        P.shape.join(",")
      }]`,
    );
  }
  const lim = tensor(grid.map((d) => Math.floor(d / 2)), {
    shape: [grid.length, ...P.shape.slice(1).map(() => 1)],
    dtype: P.dtype,
  });
  return minimum(maximum(P, neg(lim)), lim);
}
