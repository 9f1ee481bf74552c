/**
 * ConvFormer for audio (DCLS-Audio's `convformer_audio_s18` and `convformer_dcls_audio_s18`): a MetaFormer whose token
 * mixer is an inverted separable convolution (pointwise ×2 → StarReLU → 7×7 depthwise → pointwise), with StarReLU
 * MLPs, bias-free LayerNorms, res-scales in the last two stages and an MLP head. The reference works channels-last
 * ([N, H, W, C]) between convolutions, and so does this code. The DCLS variant replaces every SepConv depthwise conv
 * (on the expanded widths) by a DCLS-Gauss layer sharing P/SIG within each stage.
 * @module
 */
import type { Tensor } from "../core/mod.ts";
import { add, conv2d, dropout, dropPath, layerNorm, linear, mean, mul, relu, square, transpose } from "../core/mod.ts";
import type { DclsLayerDesc } from "../dcls/replace.ts";
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

/** ConvFormer configuration. */
export interface ConvFormerConfig extends ModelConfig {
  /** Hidden width of each block's MLP, relative to its dim. */
  mlpRatio: number;
  /** SepConv's expansion of the channels around the depthwise conv. */
  expansionRatio: number;
  /** Per stage: initial res-scale value, or null for none (reference: [null, null, 1, 1]). */
  resScaleInit: readonly (number | null)[];
  /** Hidden width of the MLP head, relative to the last dim. */
  headMlpRatio: number;
  /** Dropout before the head's last linear layer. */
  headDropout: number;
  /** Kernel (= stride) of the audio stem convolution. */
  stemKernel: readonly [number, number];
}

/** `convformer_audio_s18` (or, with `dcls`, `convformer_dcls_audio_s18`): depths [3,3,9,3], dims [64,128,320,512]. */
export function convformerS18Config(opts: Partial<ConvFormerConfig> = {}): ConvFormerConfig {
  const dcls = opts.dcls ?? null;
  return {
    name: dcls ? "convformer_dcls_audio_s18" : "convformer_audio_s18",
    numClasses: 527,
    inChans: 1,
    depths: [3, 3, 9, 3],
    dims: [64, 128, 320, 512],
    dropPathRate: 0,
    dtype: "f32",
    mlpRatio: 4,
    expansionRatio: 2,
    resScaleInit: [null, null, 1, 1],
    headMlpRatio: 4,
    headDropout: 0,
    stemKernel: [2, 16],
    ...opts,
    dcls,
  };
}

function checkConfig(c: ConvFormerConfig): void {
  const n = c.depths.length;
  if (n === 0 || c.dims.length !== n || c.resScaleInit.length !== n) {
    throw new Error(
      `${c.name}: depths [${c.depths}], dims [${c.dims}] and resScaleInit [${c.resScaleInit}] need one entry per stage`,
    );
  }
}

const blockName = (i: number, j: number) => scope("stages", i, j);
const med = (c: ConvFormerConfig, i: number) => Math.trunc(c.expansionRatio * c.dims[i]);

/** Every SepConv depthwise conv, in module order (what DCLS replacement walks). */
export function convformerDepthwise(c: ConvFormerConfig): ConvDesc[] {
  checkConfig(c);
  return c.depths.flatMap((depth, i) =>
    Array.from({ length: depth }, (_, j): ConvDesc => ({
      name: blockName(i, j)("token_mixer.dwconv"),
      inChannels: med(c, i),
      outChannels: med(c, i),
      kernelSize: [7, 7],
      stride: [1, 1],
      padding: [3, 3],
      groups: med(c, i),
      bias: false,
    }))
  );
}

function replacements(c: ConvFormerConfig): Map<string, DclsLayerDesc> {
  if (!c.dcls) return new Map();
  return new Map(dclsPlan(convformerDepthwise(c), c.dcls).map((r) => [r.name, r]));
}

/** Every state_dict name, shape and initialiser (reference order), without allocating. */
export function convformerLayout(c: ConvFormerConfig): Layout {
  checkConfig(c);
  const b = new LayoutBuilder();
  const w = truncNormalInit(0.02);
  const weight = (name: string, shape: number[]) => b.param(`${name}.weight`, shape, w);
  const bias = (name: string, n: number) => b.param(`${name}.bias`, [n], zerosInit);
  const normW = (name: string, d: number) => b.param(`${name}.weight`, [d], onesInit);
  const starRelu = (name: string) => b.param(`${name}.scale`, [1], onesInit).param(`${name}.bias`, [1], zerosInit);
  const { dims } = c;
  weight("downsample_layers.0.conv", [dims[0], c.inChans, ...c.stemKernel]);
  normW("downsample_layers.0.post_norm", dims[0]);
  for (let i = 1; i < dims.length; i++) {
    normW(`downsample_layers.${i}.pre_norm`, dims[i - 1]);
    weight(`downsample_layers.${i}.conv`, [dims[i], dims[i - 1], 3, 3]);
    bias(`downsample_layers.${i}.conv`, dims[i]);
  }
  const reps = replacements(c);
  c.depths.forEach((depth, i) => {
    const d = dims[i], m = med(c, i), h = Math.trunc(c.mlpRatio * d), rs = c.resScaleInit[i];
    for (let j = 0; j < depth; j++) {
      const s = blockName(i, j);
      normW(s("norm1"), d);
      weight(s("token_mixer.pwconv1"), [m, d]);
      starRelu(s("token_mixer.act1"));
      const r = reps.get(s("token_mixer.dwconv"));
      if (r) addDclsLayer(b, r);
      else weight(s("token_mixer.dwconv"), [m, 1, 7, 7]);
      weight(s("token_mixer.pwconv2"), [d, m]);
      if (rs !== null) b.param(s("res_scale1.scale"), [d], constInit(rs));
      normW(s("norm2"), d);
      weight(s("mlp.fc1"), [h, d]);
      starRelu(s("mlp.act"));
      weight(s("mlp.fc2"), [d, h]);
      if (rs !== null) b.param(s("res_scale2.scale"), [d], constInit(rs));
    }
  });
  const last = dims[dims.length - 1], hh = Math.trunc(c.headMlpRatio * last);
  normW("norm", last);
  bias("norm", last);
  weight("head.fc1", [hh, last]);
  bias("head.fc1", hh);
  normW("head.norm", hh);
  bias("head.norm", hh);
  weight("head.fc2", [c.numClasses, hh]);
  bias("head.fc2", c.numClasses);
  return b.build();
}

/** StarReLU: s · relu(x)² + b with learnable scalars. */
function starRelu(p: Params, name: string, x: Tensor): Tensor {
  return add(mul(square(relu(x)), param(p, `${name}.scale`)), param(p, `${name}.bias`));
}

/** LayerNorm over the channels-last axis without bias (eps 1e-6), as the reference's LayerNormWithoutBias. */
function normNoBias(p: Params, name: string, x: Tensor): Tensor {
  return layerNorm(x, param(p, `${name}.weight`), undefined, { eps: 1e-6 });
}

const toNchw = (x: Tensor) => transpose(x, [0, 3, 1, 2]);
const toNhwc = (x: Tensor) => transpose(x, [0, 2, 3, 1]);

/** Logits of a ConvFormer for input `[N, inChans, H, W]`; the state is empty and passes through. */
export function convformerApply(
  c: ConvFormerConfig,
  params: Params,
  state: State,
  x: Tensor,
  opts: ApplyOptions,
): { logits: Tensor; state: State } {
  checkConfig(c);
  // The stride-2 downsamplings pad by 1 and never shrink a map to nothing: the stem alone bounds the size.
  checkInput(c.name, x, c.inChans, c.stemKernel, param(params, "downsample_layers.0.conv.weight").dtype);
  const reps = replacements(c);
  const rates = dropPathRates(c.depths, c.dropPathRate);
  // Two drop-path sites per block (token mixer, MLP), then the head dropout.
  const keys = siteKeys(2 * rates.length + 1, opts, rates.some((r) => r > 0) || c.headDropout > 0, c.name);
  const p = (n: string) => param(params, n);
  const stem = conv2d(x, p("downsample_layers.0.conv.weight"), { stride: c.stemKernel });
  let h = normNoBias(params, "downsample_layers.0.post_norm", toNhwc(stem));
  let blk = 0;
  for (let i = 0; i < c.depths.length; i++) {
    if (i > 0) {
      const s = scope(`downsample_layers.${i}`);
      const y = toNchw(normNoBias(params, s("pre_norm"), h));
      h = toNhwc(conv2d(y, p(s("conv.weight")), { stride: 2, padding: 1 }, p(s("conv.bias"))));
    }
    const hasRes = c.resScaleInit[i] !== null;
    for (let j = 0; j < c.depths[i]; j++, blk++) {
      const s = blockName(i, j);
      const site = (y: Tensor, k: number) => {
        const key = keys[2 * blk + k];
        return key ? dropPath(key, y, rates[blk], opts.train) : y;
      };
      const res = (y: Tensor, k: number) => (hasRes ? mul(y, p(s(`res_scale${k}.scale`))) : y);
      let y = linear(normNoBias(params, s("norm1"), h), p(s("token_mixer.pwconv1.weight")));
      y = toNchw(starRelu(params, s("token_mixer.act1"), y));
      const r = reps.get(s("token_mixer.dwconv"));
      y = r
        ? dclsConv(params, r, y, opts.train)
        : conv2d(y, p(s("token_mixer.dwconv.weight")), { padding: 3, groups: y.shape[1] });
      y = linear(toNhwc(y), p(s("token_mixer.pwconv2.weight")));
      h = add(res(h, 1), site(y, 0));
      y = starRelu(params, s("mlp.act"), linear(normNoBias(params, s("norm2"), h), p(s("mlp.fc1.weight"))));
      y = linear(y, p(s("mlp.fc2.weight")));
      h = add(res(h, 2), site(y, 1));
    }
  }
  const pooled = layerNorm(mean(h, [1, 2]), p("norm.weight"), p("norm.bias"), { eps: 1e-6 });
  let z = square(relu(linear(pooled, p("head.fc1.weight"), p("head.fc1.bias"))));
  z = layerNorm(z, p("head.norm.weight"), p("head.norm.bias"), { eps: 1e-5 });
  const hk = keys[2 * rates.length];
  if (hk) z = dropout(hk, z, c.headDropout, opts.train);
  return { logits: linear(z, p("head.fc2.weight"), p("head.fc2.bias")), state };
}

/** A ConvFormer model over a configuration. */
export function convformer(config: ConvFormerConfig): Model<ConvFormerConfig> {
  return {
    name: config.name,
    config,
    layout: (c = config) => convformerLayout(c),
    init: (key, c = config) => initLayout(convformerLayout(c), key, c.dtype),
    apply: (params, state, x, opts) => convformerApply(config, params, state, x, opts),
  };
}
