/**
 * ConvNeXt for audio (DCLS-Audio's `convnext_audio_tiny` and `convnext_dcls_audio_tiny`): a (2, 16)-strided patch stem
 * on the mel spectrogram, four stages of ConvNeXt blocks, global average pooling, LayerNorm and a linear head. The
 * DCLS variant replaces every block's 7×7 depthwise conv by a DCLS-Gauss layer sharing P/SIG within each stage.
 * @module
 */
import type { Tensor } from "../core/mod.ts";
import type { DclsLayerDesc } from "../dcls/replace.ts";
import { add, conv2d, gelu, layerNorm, linear, mean, mul, transpose } from "../core/mod.ts";
import { dropPath } from "../core/mod.ts";
import {
  addDclsLayer,
  type ApplyOptions,
  checkInput,
  constInit,
  type ConvDesc,
  dclsConv,
  dclsPlan,
  dropPathRates,
  initLayout,
  type Layout,
  LayoutBuilder,
  type Model,
  type ModelConfig,
  onesInit,
  param,
  type Params,
  scope,
  siteKeys,
  type State,
  truncNormalInit,
  zerosInit,
} from "./common.ts";

/** ConvNeXt configuration. */
export interface ConvNextConfig extends ModelConfig {
  /** Initial value of every block's layer scale γ. */
  layerScaleInit: number;
  /** Factor on the initial head weight and bias. */
  headInitScale: number;
  /** Kernel (= stride) of the audio stem convolution. */
  stemKernel: readonly [number, number];
}

/** `convnext_audio_tiny` (or, with `dcls`, `convnext_dcls_audio_tiny`): depths [3,3,9,3], dims [96,192,384,768]. */
export function convnextTinyConfig(opts: Partial<ConvNextConfig> = {}): ConvNextConfig {
  const dcls = opts.dcls ?? null;
  return {
    name: dcls ? "convnext_dcls_audio_tiny" : "convnext_audio_tiny",
    numClasses: 527,
    inChans: 1,
    depths: [3, 3, 9, 3],
    dims: [96, 192, 384, 768],
    dropPathRate: 0,
    dtype: "f32",
    layerScaleInit: 1e-6,
    headInitScale: 1,
    stemKernel: [2, 16],
    ...opts,
    dcls,
  };
}

function checkConfig(c: ConvNextConfig): void {
  if (c.depths.length !== 4 || c.dims.length !== 4) {
    throw new Error(`${c.name}: ConvNeXt needs 4 stages, got depths [${c.depths}] and dims [${c.dims}]`);
  }
}

const blockName = (i: number, j: number) => scope("stages", i, j);

/** Every block's depthwise conv, in module order (what DCLS replacement walks). */
export function convnextDepthwise(c: ConvNextConfig): ConvDesc[] {
  checkConfig(c);
  return c.depths.flatMap((depth, i) =>
    Array.from({ length: depth }, (_, j): ConvDesc => ({
      name: blockName(i, j)("dwconv"),
      inChannels: c.dims[i],
      outChannels: c.dims[i],
      kernelSize: [7, 7],
      stride: [1, 1],
      padding: [3, 3],
      groups: c.dims[i],
      bias: true,
    }))
  );
}

/** DCLS replacements by module path (empty for the plain model). */
function replacements(c: ConvNextConfig): Map<string, DclsLayerDesc> {
  if (!c.dcls) return new Map();
  return new Map(dclsPlan(convnextDepthwise(c), c.dcls).map((r) => [r.name, r]));
}

/** Every state_dict name, shape and initialiser (reference order), without allocating. */
export function convnextLayout(c: ConvNextConfig): Layout {
  checkConfig(c);
  const b = new LayoutBuilder();
  const w = truncNormalInit(0.02);
  const conv = (name: string, shape: number[]) =>
    b.param(`${name}.weight`, shape, w).param(`${name}.bias`, [shape[0]], zerosInit);
  const norm = (name: string, dim: number) =>
    b.param(`${name}.weight`, [dim], onesInit).param(`${name}.bias`, [dim], zerosInit);
  const { dims } = c;
  conv("downsample_layers.0.0", [dims[0], c.inChans, ...c.stemKernel]);
  norm("downsample_layers.0.1", dims[0]);
  for (let i = 1; i < 4; i++) {
    norm(`downsample_layers.${i}.0`, dims[i - 1]);
    conv(`downsample_layers.${i}.1`, [dims[i], dims[i - 1], 2, 2]);
  }
  const reps = replacements(c);
  c.depths.forEach((depth, i) => {
    for (let j = 0; j < depth; j++) {
      const s = blockName(i, j), d = dims[i];
      b.param(s("gamma"), [d], constInit(c.layerScaleInit));
      const r = reps.get(s("dwconv"));
      if (r) addDclsLayer(b, r);
      else conv(s("dwconv"), [d, 1, 7, 7]);
      norm(s("norm"), d);
      conv(s("pwconv1"), [4 * d, d]);
      conv(s("pwconv2"), [d, 4 * d]);
    }
  });
  norm("norm", dims[3]);
  const hs = c.headInitScale;
  b.param("head.weight", [c.numClasses, dims[3]], (k, sh, dt) => mul(w(k, sh, dt), hs));
  b.param("head.bias", [c.numClasses], zerosInit);
  return b.build();
}

/** Channels-first LayerNorm (eps 1e-6) of a downsampling layer or the stem. */
function normCf(p: Params, name: string, x: Tensor): Tensor {
  return layerNorm(x, param(p, `${name}.weight`), param(p, `${name}.bias`), { axis: 1, eps: 1e-6 });
}

function convAt(
  p: Params,
  name: string,
  x: Tensor,
  stride: readonly [number, number],
  padding = 0,
  groups = 1,
): Tensor {
  return conv2d(x, param(p, `${name}.weight`), { stride, padding, groups }, param(p, `${name}.bias`));
}

/** Logits of a ConvNeXt for input `[N, inChans, H, W]`; the state is empty and passes through. */
export function convnextApply(
  c: ConvNextConfig,
  params: Params,
  state: State,
  x: Tensor,
  opts: ApplyOptions,
): { logits: Tensor; state: State } {
  checkConfig(c);
  // Three 2×2 stride-2 downsamplings after the stem each halve (floor) the maps.
  const [sh, sw] = c.stemKernel;
  checkInput(c.name, x, c.inChans, [sh * 8, sw * 8], param(params, "downsample_layers.0.0.weight").dtype);
  const reps = replacements(c);
  const rates = dropPathRates(c.depths, c.dropPathRate);
  const keys = siteKeys(rates.length, opts, rates.some((r) => r > 0), c.name);
  let h = normCf(params, "downsample_layers.0.1", convAt(params, "downsample_layers.0.0", x, c.stemKernel));
  let blk = 0;
  for (let i = 0; i < 4; i++) {
    if (i > 0) {
      h = convAt(params, `downsample_layers.${i}.1`, normCf(params, `downsample_layers.${i}.0`, h), [2, 2]);
    }
    for (let j = 0; j < c.depths[i]; j++, blk++) {
      const s = blockName(i, j);
      const r = reps.get(s("dwconv"));
      let y = r ? dclsConv(params, r, h, opts.train) : convAt(params, s("dwconv"), h, [1, 1], 3, c.dims[i]);
      y = transpose(y, [0, 2, 3, 1]);
      y = layerNorm(y, param(params, s("norm.weight")), param(params, s("norm.bias")), { eps: 1e-6 });
      y = gelu(linear(y, param(params, s("pwconv1.weight")), param(params, s("pwconv1.bias"))));
      y = linear(y, param(params, s("pwconv2.weight")), param(params, s("pwconv2.bias")));
      y = transpose(mul(y, param(params, s("gamma"))), [0, 3, 1, 2]);
      const key = keys[blk];
      if (key) y = dropPath(key, y, rates[blk], opts.train);
      h = add(h, y);
    }
  }
  const pooled = layerNorm(mean(h, [2, 3]), param(params, "norm.weight"), param(params, "norm.bias"), { eps: 1e-6 });
  return { logits: linear(pooled, param(params, "head.weight"), param(params, "head.bias")), state };
}

/** A ConvNeXt model over a configuration. */
export function convnext(config: ConvNextConfig): Model<ConvNextConfig> {
  return {
    name: config.name,
    config,
    layout: (c = config) => convnextLayout(c),
    init: (key, c = config) => initLayout(convnextLayout(c), key, c.dtype),
    apply: (params, state, x, opts) => convnextApply(config, params, state, x, opts),
  };
}
