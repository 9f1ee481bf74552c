/**
 * FastViT's training-structure forward pass, block by block, reading parameters by state_dict name: MobileOne blocks
 * (BatchNorm skip + 1 × 1 scale + conv branches, optional squeeze-excite, GELU), RepMixer, ConvFFN, the RepLKNet-style
 * patch embedding, RepCPE and the attention block. BatchNorm runs on batch statistics in training and records the
 * updated running statistics in the context.
 *
 * @module
 */
import type { Tensor } from "../core/mod.ts";
import {
  add,
  batchNorm,
  conv2d,
  dropPath,
  gelu,
  linear,
  matmul,
  mean,
  mul,
  relu,
  reshape,
  sigmoid,
  slice,
  softmax,
  sub,
  transpose,
} from "../core/mod.ts";
import { type ConvDesc, dclsConv, param, type Params, type State } from "./common.ts";
import type { FastVitConfig } from "./fastvit_config.ts";
import {
  convDesc,
  type FastVitLayoutInfo,
  hasScale,
  hasSkip,
  type MobileOneOptions,
  patchEmbedMobileOne,
  repMixerOptions,
  seChannels,
} from "./fastvit_layout.ts";

/** Parameters, state and mode of one forward pass; collects the updated BatchNorm statistics. */
export class FastVitContext {
  /** Running statistics written by BatchNorm layers in training. */
  readonly newState: State = {};

  /** A context over parameters and state; `train` selects batch statistics. */
  constructor(
    readonly config: FastVitConfig,
    readonly info: FastVitLayoutInfo,
    readonly params: Params,
    readonly state: State,
    readonly train: boolean,
  ) {}

  /** A parameter by name. */
  p(name: string): Tensor {
    return param(this.params, name);
  }

  /** BatchNorm2d `<prefix>.{weight,bias}` with running statistics `<prefix>.running_{mean,var}`. */
  bn(prefix: string, x: Tensor): Tensor {
    const r = batchNorm(
      x,
      this.p(`${prefix}.weight`),
      this.p(`${prefix}.bias`),
      param(this.state, `${prefix}.running_mean`),
      param(this.state, `${prefix}.running_var`),
      { train: this.train },
    );
    if (this.train) {
      this.newState[`${prefix}.running_mean`] = r.runningMean;
      this.newState[`${prefix}.running_var`] = r.runningVar;
    }
    return r.y;
  }

  /** A convolution (DCLS when the configuration replaced it, its P/SIG read from the owner layer). */
  conv(d: ConvDesc, x: Tensor): Tensor {
    const r = this.info.dcls.get(d.name);
    if (r) return dclsConv(this.params, r, x, this.train);
    const bias = d.bias ? this.p(`${d.name}.bias`) : undefined;
    return conv2d(x, this.p(`${d.name}.weight`), { stride: d.stride, padding: d.padding, groups: d.groups }, bias);
  }

  /** Conv (no bias) + BatchNorm, `<prefix>.conv` / `<prefix>.bn`. */
  convBn(prefix: string, x: Tensor, cin: number, cout: number, k: number, stride: number, groups: number): Tensor {
    return this.bn(
      `${prefix}.bn`,
      this.conv(convDesc(`${prefix}.conv`, cin, cout, k, stride, Math.floor(k / 2), groups, false), x),
    );
  }
}

/** Squeeze-excite: channel gates from the spatial mean through a ReLU bottleneck and a sigmoid. */
export function squeezeExcite(ctx: FastVitContext, prefix: string, x: Tensor): Tensor {
  const c = x.shape[1];
  const r = seChannels(c);
  let s = mean(x, [2, 3], true);
  s = relu(ctx.conv(convDesc(`${prefix}.reduce`, c, r, 1, 1, 0, 1, true), s));
  s = sigmoid(ctx.conv(convDesc(`${prefix}.expand`, r, c, 1, 1, 0, 1, true), s));
  return mul(x, s);
}

/** A MobileOne block in its multi-branch training form. */
export function mobileOneBlock(
  ctx: FastVitContext,
  prefix: string,
  o: MobileOneOptions,
  x: Tensor,
  act: boolean,
): Tensor {
  // The reference sums scale + skip first, then each conv branch; the order is kept so float64 rounding agrees.
  const parts: Tensor[] = [];
  if (hasScale(o)) parts.push(ctx.convBn(`${prefix}.rbr_scale`, x, o.cin, o.cout, 1, o.stride, o.groups));
  if (hasSkip(o)) parts.push(ctx.bn(`${prefix}.rbr_skip`, x));
  for (let i = 0; i < o.numConvBranches; i++) {
    parts.push(ctx.convBn(`${prefix}.rbr_conv.${i}`, x, o.cin, o.cout, o.kernel, o.stride, o.groups));
  }
  if (parts.length === 0) throw new Error(`fastvit: MobileOne block "${prefix}" has no branch`);
  let y = parts.reduce((a, b) => add(a, b));
  if (o.useSe) y = squeezeExcite(ctx, `${prefix}.se`, y);
  return act ? gelu(y) : y;
}

/** RepMixer: x + γ · (mixer(x) − norm(x)). */
export function repMixer(ctx: FastVitContext, prefix: string, x: Tensor): Tensor {
  const dim = x.shape[1];
  const o = repMixerOptions(dim, ctx.config.repmixerKernel);
  const m = mobileOneBlock(ctx, `${prefix}.mixer`, o.mixer, x, false);
  const n = mobileOneBlock(ctx, `${prefix}.norm`, o.norm, x, false);
  return add(x, mul(ctx.p(`${prefix}.layer_scale`), sub(m, n)));
}

/** ConvFFN: 7 × 7 depthwise conv + BatchNorm, then a 1 × 1 MLP with GELU. */
export function convFfn(ctx: FastVitContext, prefix: string, x: Tensor): Tensor {
  const dim = x.shape[1];
  const hidden = Math.floor(dim * ctx.config.mlpRatio);
  let y = ctx.bn(`${prefix}.conv.bn`, ctx.conv(convDesc(`${prefix}.conv.conv`, dim, dim, 7, 1, 3, dim, false), x));
  y = gelu(ctx.conv(convDesc(`${prefix}.fc1`, dim, hidden, 1, 1, 0, 1, true), y));
  return ctx.conv(convDesc(`${prefix}.fc2`, hidden, dim, 1, 1, 0, 1, true), y);
}

/** Multi-head self-attention over the H·W positions of an NCHW map (qkv without bias, as the reference). */
export function mhsa(ctx: FastVitContext, prefix: string, x: Tensor): Tensor {
  const [b, c, h, w] = x.shape;
  const n = h * w;
  const hd = ctx.config.headDim;
  const heads = c / hd;
  const tokens = transpose(reshape(x, [b, c, n]), [0, 2, 1]);
  const qkv = transpose(reshape(linear(tokens, ctx.p(`${prefix}.qkv.weight`)), [b, n, 3, heads, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = [0, 1, 2].map((i) => reshape(slice(qkv, [i], [i + 1]), [b, heads, n, hd]));
  const attn = softmax(matmul(mul(q, hd ** -0.5), transpose(k, [0, 1, 3, 2])), -1);
  const out = reshape(transpose(matmul(attn, v), [0, 2, 1, 3]), [b, n, c]);
  const y = linear(out, ctx.p(`${prefix}.proj.weight`), ctx.p(`${prefix}.proj.bias`));
  return reshape(transpose(y, [0, 2, 1]), [b, c, h, w]);
}

/** Stochastic depth of a residual branch (identity when no key is given). */
function branch(y: Tensor, rate: number, key: Tensor | undefined, train: boolean): Tensor {
  return key ? dropPath(key, y, rate, train) : y;
}

/** RepMixer block: x ← RepMixer(x); x ← x + γ · ConvFFN(x). */
export function repMixerBlock(
  ctx: FastVitContext,
  prefix: string,
  x: Tensor,
  rate: number,
  key: Tensor | undefined,
): Tensor {
  const t = repMixer(ctx, `${prefix}.token_mixer`, x);
  return add(
    t,
    branch(mul(ctx.p(`${prefix}.layer_scale`), convFfn(ctx, `${prefix}.convffn`, t)), rate, key, ctx.train),
  );
}

/** Attention block: x ← x + γ₁ · MHSA(BN(x)); x ← x + γ₂ · ConvFFN(x). */
export function attentionBlock(
  ctx: FastVitContext,
  prefix: string,
  x: Tensor,
  rate: number,
  keys: readonly (Tensor | undefined)[],
): Tensor {
  const a = mhsa(ctx, `${prefix}.token_mixer`, ctx.bn(`${prefix}.norm`, x));
  const y = add(x, branch(mul(ctx.p(`${prefix}.layer_scale_1`), a), rate, keys[0], ctx.train));
  const f = convFfn(ctx, `${prefix}.convffn`, y);
  return add(y, branch(mul(ctx.p(`${prefix}.layer_scale_2`), f), rate, keys[1], ctx.train));
}

/**
 * Patch embedding between stages: large-kernel grouped conv + small-kernel conv (each with BatchNorm, summed, no
 * activation in the DCLS-Audio code), then a 1 × 1 MobileOne block with GELU.
 */
export function patchEmbed(ctx: FastVitContext, prefix: string, x: Tensor, from: number, to: number): Tensor {
  const { downPatchSize: k, downStride: s } = ctx.config;
  const large = ctx.convBn(`${prefix}.proj.0.lkb_origin`, x, from, to, k, s, from);
  const small = ctx.convBn(`${prefix}.proj.0.small_conv`, x, from, to, 3, s, from);
  return mobileOneBlock(ctx, `${prefix}.proj.1`, patchEmbedMobileOne(to), add(large, small), true);
}

/** RepCPE: x + depthwise 7 × 7 conv(x) (with bias). */
export function repCpe(ctx: FastVitContext, prefix: string, x: Tensor): Tensor {
  const c = x.shape[1];
  return add(ctx.conv(convDesc(`${prefix}.pe`, c, c, 7, 1, 3, c, true), x), x);
}
