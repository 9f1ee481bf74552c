/**
 * What every model shares: configuration and parameter-tree types, the `Model` interface, the layout (every
 * state_dict name with its shape and initialiser, built without allocating), initialisers as timm's, naming and
 * parameter lookup helpers, and the description of convolutions that DCLS replacement walks.
 *
 * Parameters are a flat object keyed by the reference PyTorch state_dict names; buffers live in a separate `state`
 * object keyed the same way. A tensor shared by several layers (DCLS P/SIG) lives once, under its owner's name; the
 * layout records the other names as aliases of it.
 * @module
 */
import type { DType, Tensor } from "../core/mod.ts";
import { clamp, full, mul, normal, ones, split, truncatedNormal, zeros } from "../core/mod.ts";
import { usesSigma } from "../dcls/construct.ts";
import { dcls2d } from "../dcls/layer.ts";
import { type DclsLayerDesc, replaceDepthwise } from "../dcls/replace.ts";

/** Flat parameters keyed by state_dict name. */
export type Params = Record<string, Tensor>;
/** Flat buffers (BatchNorm running statistics) keyed by state_dict name; `num_batches_tracked` is not kept. */
export type State = Record<string, Tensor>;

/** DCLS settings used when a model's depthwise convolutions are replaced (paper appendix B). */
export interface DclsConfig {
  /** Number of kernel elements per channel (paper: 26). */
  kernelCount: number;
  /** Side of the dilated grid (paper: 23, padding 11). */
  dilatedKernelSize: number;
  /** Interpolation version (paper: "gauss"). */
  version: "gauss" | "v1" | "max" | "v0";
  /**
   * Inference only: relative threshold below which constructed kernel cells are dropped (`pruneRelative`; absent:
   * none). Set by `prunedDclsModel`, which refuses training; it changes no parameter, so the layout is unchanged.
   */
  prune?: number;
}

/** The paper's DCLS settings: DCLS-Gauss, 26 elements on a 23 × 23 grid (padding 11). */
export const PAPER_DCLS: DclsConfig = { kernelCount: 26, dilatedKernelSize: 23, version: "gauss" };

/** Configuration shared by the models (each model adds its own fields). */
export interface ModelConfig {
  /** Registry name, e.g. `convnext_audio_tiny`. */
  name: string;
  /** Output classes (527 for AudioSet). */
  numClasses: number;
  /** Input channels (1: a log-mel spectrogram). */
  inChans: number;
  /** Blocks per stage. */
  depths: readonly number[];
  /** Channels per stage. */
  dims: readonly number[];
  /** Final stochastic-depth rate; block i of n gets `dropPathRate · i / (n − 1)` (timm). */
  dropPathRate: number;
  /** DCLS replacement of the depthwise convolutions, or null for the plain model. */
  dcls: DclsConfig | null;
  /** Floating dtype of initialised parameters. */
  dtype: "f32" | "f64";
}

/** Options of `Model.apply`. */
export interface ApplyOptions {
  /** Training mode: drop path and dropout active, BatchNorm on batch statistics. */
  train: boolean;
  /** Random key for drop path / dropout; required when training with a nonzero rate. */
  key?: Tensor;
}

/** Creates an initial tensor of a shape and dtype from a key. */
export type Initializer = (key: Tensor, shape: readonly number[], dtype: DType) => Tensor;

/** One entry of a layout, in state_dict order. */
export type LayoutEntry =
  | { kind: "param"; name: string; shape: readonly number[]; init: Initializer }
  | { kind: "buffer"; name: string; shape: readonly number[]; init: Initializer }
  /** A state_dict name that repeats the parameter `owner` (a shared DCLS P/SIG). */
  | { kind: "alias"; name: string; shape: readonly number[]; owner: string };

/** Every state_dict name of a model with its shape, in state_dict order, without allocating any tensor. */
export interface Layout {
  /** Parameters, buffers and aliases in state_dict order. */
  readonly entries: readonly LayoutEntry[];
}

/** A model: pure functions over flat parameter and state objects. */
export interface Model<C extends ModelConfig = ModelConfig> {
  /** Registry name. */
  readonly name: string;
  /** The configuration `init`, `layout` and `apply` use by default. */
  readonly config: C;
  /** Names, shapes and initialisers of every parameter and buffer (cheap: nothing is allocated). */
  layout(config?: C): Layout;
  /** Fresh parameters and state. */
  init(key: Tensor, config?: C): { params: Params; state: State };
  /** Logits `[N, numClasses]` and the updated state (BatchNorm running statistics in training). */
  apply(params: Params, state: State, x: Tensor, opts: ApplyOptions): { logits: Tensor; state: State };
}

/** A convolution as the DCLS replacement walk sees it (module path, channels, kernel, stride, padding, groups). */
export interface ConvDesc {
  /** Module path in state_dict naming, e.g. `stages.0.0.dwconv`. */
  name: string;
  /** Input channels. */
  inChannels: number;
  /** Output channels. */
  outChannels: number;
  /** Kernel (rows, columns). */
  kernelSize: readonly [number, number];
  /** Stride (rows, columns). */
  stride: readonly [number, number];
  /** Symmetric padding (rows, columns). */
  padding: readonly [number, number];
  /** Convolution groups (= channels for a depthwise conv). */
  groups: number;
  /** Whether the conv has a bias. */
  bias: boolean;
}

/** Builds layouts in state_dict order. */
export class LayoutBuilder {
  readonly #entries: LayoutEntry[] = [];
  readonly #names = new Set<string>();

  #add(e: LayoutEntry): this {
    if (this.#names.has(e.name)) throw new Error(`layout: duplicate name "${e.name}"`);
    this.#names.add(e.name);
    this.#entries.push(e);
    return this;
  }

  /** A trainable parameter. */
  param(name: string, shape: readonly number[], init: Initializer): this {
    return this.#add({ kind: "param", name, shape: [...shape], init });
  }

  /** A buffer (lives in `state`). */
  buffer(name: string, shape: readonly number[], init: Initializer): this {
    return this.#add({ kind: "buffer", name, shape: [...shape], init });
  }

  /**
   * A state_dict name repeating the parameter `owner`, which must already be in the layout (and have `shape`, when
   * given).
   */
  alias(name: string, owner: string, shape?: readonly number[]): this {
    const o = this.#entries.find((e) => e.name === owner && e.kind === "param");
    if (!o) throw new Error(`layout: alias "${name}" names unknown owner "${owner}"`);
    if (shape && shape.join() !== o.shape.join()) {
      throw new Error(`layout: "${name}" needs shape [${shape}] but its owner "${owner}" has [${o.shape}]`);
    }
    return this.#add({ kind: "alias", name, shape: o.shape, owner });
  }

  /** The finished layout. */
  build(): Layout {
    return { entries: [...this.#entries] };
  }
}

/** Joins module-path parts with dots, skipping empty ones: `scope("stages", 0)("dwconv.weight")`. */
export function scope(...parts: (string | number)[]): (name: string | number) => string {
  const prefix = parts.filter((p) => p !== "").join(".");
  return (name) => (prefix === "" ? String(name) : name === "" ? prefix : `${prefix}.${name}`);
}

/** The parameter entries of a layout. */
export function paramEntries(layout: Layout): { name: string; shape: readonly number[]; init: Initializer }[] {
  return layout.entries.filter((e) => e.kind === "param");
}

/** Number of trainable scalars (shared tensors once), as PyTorch's `sum(p.numel() for p in model.parameters())`. */
export function countParams(layout: Layout): number {
  return paramEntries(layout).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
}

/** Fresh parameters and state from a layout: each entry gets its own key split from `key`. */
export function initLayout(layout: Layout, key: Tensor, dtype: DType): { params: Params; state: State } {
  const made = layout.entries.filter((e): e is Exclude<LayoutEntry, { kind: "alias" }> => e.kind !== "alias");
  const keys = made.length > 0 ? split(key, made.length) : [];
  const params: Params = {};
  const state: State = {};
  made.forEach((e, i) => {
    (e.kind === "param" ? params : state)[e.name] = e.init(keys[i], e.shape, dtype);
  });
  return { params, state };
}

/** Zeros (biases). */
export const zerosInit: Initializer = (_key, shape, dtype): Tensor => zeros(shape, dtype);
/** Ones (norm weights, res-scale). */
export const onesInit: Initializer = (_key, shape, dtype): Tensor => ones(shape, dtype);
/** A constant (layer-scale γ, StarReLU scale/bias, DCLS SIG). */
export function constInit(value: number): Initializer {
  return (_key, shape, dtype) => full(shape, value, dtype);
}
/** N(0, std²). */
export function normalInit(std: number): Initializer {
  return (key, shape, dtype) => mul(normal(key, shape, { dtype }), std);
}

/**
 * timm's `trunc_normal_(t, std, a, b)`: N(0, std²) truncated to the absolute bounds [a, b]. With the default bounds
 * ±2 and std 0.02 the cut sits at ±100 σ, where an inverse-CDF draw would overflow, so far cuts clamp a plain normal
 * draw instead (the mass beyond 6 σ is below 2e-9).
 */
export function truncNormalInit(std = 0.02, a = -2, b = 2): Initializer {
  return (key, shape, dtype) => {
    const lo = a / std, hi = b / std;
    if (lo <= -6 && hi >= 6) return mul(clamp(normal(key, shape, { dtype }), lo, hi), std);
    return truncatedNormal(key, shape, { lo, hi, std, dtype });
  };
}

/** A parameter by state_dict name, with a clear error when it is missing. */
export function param(params: Params | State, name: string): Tensor {
  const t = params[name];
  if (t === undefined) throw new Error(`model: missing parameter "${name}"`);
  return t;
}

/** Per-block drop-path rates rising linearly from 0 to `rate` over all blocks (timm's `torch.linspace(0, rate, n)`). */
export function dropPathRates(depths: readonly number[], rate: number): number[] {
  const n = depths.reduce((a, b) => a + b, 0);
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : (rate * i) / (n - 1)));
}

/**
 * Keys for `n` stochastic sites (one per block), or undefined entries when none are needed (evaluation, or all rates
 * zero). Throws when training with a nonzero rate and no key.
 */
export function siteKeys(n: number, opts: ApplyOptions, needed: boolean, model: string): (Tensor | undefined)[] {
  if (!opts.train || !needed || n === 0) return Array.from({ length: n }, () => undefined);
  if (!opts.key) throw new Error(`${model}: training with drop path needs opts.key`);
  return split(opts.key, n);
}

/** DCLS positions: N(0, 0.5²) clamped to the grid half-width (the DCLS package's reset_parameters). */
function positionInit(half: number): Initializer {
  return (key, shape, dtype) => clamp(mul(normal(key, shape, { dtype }), 0.5), -half, half);
}

/**
 * The DCLS layers replacing a model's depthwise convolutions (listed in definition order), with the owner of each
 * shared P/SIG: lib/dcls's `replaceDepthwise` with the model's DCLS settings.
 */
export function dclsPlan(convs: readonly ConvDesc[], dcls: DclsConfig): DclsLayerDesc[] {
  return replaceDepthwise(convs, dcls);
}

/**
 * Adds the parameters of a DCLS layer to a layout, in the reference's state_dict order (weight, P, SIG, bias). The
 * owner creates P and SIG; the other layers list them as aliases of the owner's. Initialisation as the paper's
 * replacement: weight N(0, 0.02²), bias 0, P as the DCLS package, SIG 0.23 (gauss) or 0 (max).
 */
export function addDclsLayer(b: LayoutBuilder, r: DclsLayerDesc): void {
  const s = scope(r.name);
  const shape = [r.channels, 1, r.kernelCount];
  b.param(s("weight"), shape, normalInit(0.02));
  for (const n of usesSigma(r.version) ? ["P", "SIG"] : ["P"]) {
    if (r.owner !== r.name) b.alias(s(n), scope(r.owner)(n), [2, ...shape]);
    else {
      const half = Math.floor(r.dilatedKernelSize[0] / 2);
      b.param(s(n), [2, ...shape], n === "P" ? positionInit(half) : constInit(r.version === "gauss" ? 0.23 : 0));
    }
  }
  if (r.bias) b.param(s("bias"), [r.channels], zerosInit);
}

/**
 * Applies a DCLS layer (NCHW) with its owner's P/SIG: lib/dcls's `dcls2d`. `train` says the layer will be
 * differentiated, which decides the convolution's form (see `conv2d`'s `forwardOnly`).
 */
export function dclsConv(params: Params, r: DclsLayerDesc, x: Tensor, train: boolean): Tensor {
  const s = scope(r.name), o = scope(r.owner);
  return dcls2d(
    {
      weight: param(params, s("weight")),
      P: param(params, o("P")),
      SIG: usesSigma(r.version) ? param(params, o("SIG")) : undefined,
      bias: r.bias ? param(params, s("bias")) : undefined,
    },
    x,
    {
      version: r.version,
      dilatedKernelSize: r.dilatedKernelSize,
      stride: r.stride,
      padding: r.padding,
      groups: r.channels,
      prune: r.prune,
      forwardOnly: !train,
    },
  );
}

/**
 * Checks a model input: `[N, inChans, H, W]` in the parameters' dtype, at least `minSize` (what the model's strided
 * layers need to leave one position).
 */
export function checkInput(
  model: string,
  x: Tensor,
  inChans: number,
  minSize: readonly [number, number],
  dtype: DType,
): void {
  const [mh, mw] = minSize;
  if (x.ndim !== 4 || x.shape[1] !== inChans || x.shape[2] < mh || x.shape[3] < mw) {
    throw new Error(`${model}: input must be [N, ${inChans}, H ≥ ${mh}, W ≥ ${mw}], got [${x.shape.join(", ")}]`);
  }
  if (x.dtype !== dtype) throw new Error(`${model}: input dtype ${x.dtype} differs from the parameters' ${dtype}`);
}
