/**
 * FastViT's layout: every state_dict name in the reference's order, with shapes and initialisers (PyTorch defaults for
 * MobileOne / RepLKNet / RepCPE convolutions, truncated normal 0.02 for ConvFFN convolutions and every Linear, BatchNorm
 * γ = 1, β = 0, layer scales 1e-5). The DCLS variant replaces each 7 × 7 depthwise convolution (ConvFFN and RepCPE) by
 * a DCLS layer whose P and SIG are shared per channel width, as the paper's `replace_depthwise_dcls` does.
 *
 * @module
 */
import { uniform } from "../core/mod.ts";
import type { DclsLayerDesc } from "../dcls/replace.ts";
import {
  addDclsLayer,
  constInit,
  type ConvDesc,
  dclsPlan,
  type Initializer,
  type Layout,
  LayoutBuilder,
  onesInit,
  scope,
  truncNormalInit,
  zerosInit,
} from "./common.ts";
import { type FastVitConfig, networkEntries } from "./fastvit_config.ts";

/** U(−1/√fan_in, 1/√fan_in): PyTorch's default for conv weights (Kaiming-uniform, a = √5) and biases. */
function fanInUniform(fanIn: number): Initializer {
  const bound = 1 / Math.sqrt(fanIn);
  return (key, shape, dtype) => uniform(key, shape, { lo: -bound, hi: bound, dtype });
}

const trunc02 = truncNormalInit(0.02);

/**
 * Emits the parameters of the architecture walk. Every convolution is recorded (in definition order, for the DCLS
 * replacement plan); a convolution the plan replaces is emitted as a DCLS layer (weight `[C, 1, K]`, P/SIG owned by
 * the first layer of its width and aliased by the others).
 */
class ConvEmitter {
  readonly b = new LayoutBuilder();
  readonly convs: ConvDesc[] = [];

  constructor(readonly plan: ReadonlyMap<string, DclsLayerDesc>) {}

  /** A conv whose weight init is PyTorch's default (bias too) or the given one (bias zero). */
  conv(desc: ConvDesc, weightInit?: Initializer): void {
    this.convs.push(desc);
    const r = this.plan.get(desc.name);
    if (r) return addDclsLayer(this.b, r);
    const name = scope(desc.name);
    const [kh, kw] = desc.kernelSize;
    const fanIn = (desc.inChannels / desc.groups) * kh * kw;
    const shape = [desc.outChannels, desc.inChannels / desc.groups, kh, kw];
    this.b.param(name("weight"), shape, weightInit ?? fanInUniform(fanIn));
    if (desc.bias) this.b.param(name("bias"), [desc.outChannels], weightInit ? zerosInit : fanInUniform(fanIn));
  }

  /** BatchNorm2d: γ, β and the running statistics. */
  bn(prefix: string, c: number): void {
    const n = scope(prefix);
    this.b.param(n("weight"), [c], onesInit).param(n("bias"), [c], zerosInit);
    this.b.buffer(n("running_mean"), [c], zerosInit).buffer(n("running_var"), [c], onesInit);
  }

  /** A bias-free conv followed by BatchNorm (`<prefix>.conv`, `<prefix>.bn`). */
  convBn(prefix: string, cin: number, cout: number, k: number, stride: number, groups: number): void {
    this.conv(convDesc(`${prefix}.conv`, cin, cout, k, stride, Math.floor(k / 2), groups, false));
    this.bn(`${prefix}.bn`, cout);
  }

  /** A linear layer (truncated normal 0.02, bias zero). */
  linear(prefix: string, cin: number, cout: number, bias: boolean): void {
    const n = scope(prefix);
    this.b.param(n("weight"), [cout, cin], trunc02);
    if (bias) this.b.param(n("bias"), [cout], zerosInit);
  }
}

/** A square-kernel convolution description. */
export function convDesc(
  name: string,
  cin: number,
  cout: number,
  k: number,
  stride: number,
  padding: number,
  groups: number,
  bias: boolean,
): ConvDesc {
  return {
    name,
    inChannels: cin,
    outChannels: cout,
    kernelSize: [k, k],
    stride: [stride, stride],
    padding: [padding, padding],
    groups,
    bias,
  };
}

/** Options of a MobileOne block (as the reference's MobileOneBlock constructor). */
export interface MobileOneOptions {
  /** Input channels. */
  cin: number;
  /** Output channels. */
  cout: number;
  /** Kernel size of the conv branches (square). */
  kernel: number;
  /** Stride of every branch. */
  stride: number;
  /** Convolution groups. */
  groups: number;
  /** Squeeze-excite after the branch sum. */
  useSe: boolean;
  /** Whether a 1 × 1 scale branch exists (when the kernel is larger than 1). */
  useScaleBranch: boolean;
  /** Number of `k × k` conv branches. */
  numConvBranches: number;
}

/** Whether a MobileOne block has its BatchNorm skip branch. */
export function hasSkip(o: MobileOneOptions): boolean {
  return o.cin === o.cout && o.stride === 1;
}

/** Whether a MobileOne block has its 1 × 1 scale branch. */
export function hasScale(o: MobileOneOptions): boolean {
  return o.kernel > 1 && o.useScaleBranch;
}

/** Channels of the squeeze-excite bottleneck (reference rd_ratio 0.0625). */
export function seChannels(c: number): number {
  return Math.floor(c * 0.0625);
}

function mobileOne(e: ConvEmitter, prefix: string, o: MobileOneOptions): void {
  const n = scope(prefix);
  if (o.useSe) {
    const r = seChannels(o.cout);
    e.conv(convDesc(n("se.reduce"), o.cout, r, 1, 1, 0, 1, true));
    e.conv(convDesc(n("se.expand"), r, o.cout, 1, 1, 0, 1, true));
  }
  if (hasSkip(o)) e.bn(n("rbr_skip"), o.cin);
  for (let i = 0; i < o.numConvBranches; i++) e.convBn(n(`rbr_conv.${i}`), o.cin, o.cout, o.kernel, o.stride, o.groups);
  if (hasScale(o)) e.convBn(n("rbr_scale"), o.cin, o.cout, 1, o.stride, o.groups);
}

/** RepMixer's two MobileOne blocks: `norm` (BatchNorm skip only) and `mixer` (skip + scale + one conv branch). */
export function repMixerOptions(dim: number, k: number): { norm: MobileOneOptions; mixer: MobileOneOptions } {
  const base = { cin: dim, cout: dim, kernel: k, stride: 1, groups: dim, useSe: false };
  return {
    norm: { ...base, useScaleBranch: false, numConvBranches: 0 },
    mixer: { ...base, useScaleBranch: true, numConvBranches: 1 },
  };
}

/** The 1 × 1 MobileOne block that ends each patch embedding. */
export function patchEmbedMobileOne(dim: number): MobileOneOptions {
  return {
    cin: dim,
    cout: dim,
    kernel: 1,
    stride: 1,
    groups: 1,
    useSe: false,
    useScaleBranch: true,
    numConvBranches: 1,
  };
}

/** The head's expansion block (3 × 3, grouped, with squeeze-excite). */
export function convExpOptions(config: FastVitConfig): MobileOneOptions {
  const c = config.dims[config.dims.length - 1];
  return {
    cin: c,
    cout: Math.floor(c * config.clsRatio),
    kernel: 3,
    stride: 1,
    groups: c,
    useSe: true,
    useScaleBranch: true,
    numConvBranches: 1,
  };
}

function convFfn(e: ConvEmitter, prefix: string, dim: number, hidden: number): void {
  const n = scope(prefix);
  e.conv(convDesc(n("conv.conv"), dim, dim, 7, 1, 3, dim, false), trunc02);
  e.bn(n("conv.bn"), dim);
  e.conv(convDesc(n("fc1"), dim, hidden, 1, 1, 0, 1, true), trunc02);
  e.conv(convDesc(n("fc2"), hidden, dim, 1, 1, 0, 1, true), trunc02);
}

/** The layout of a FastViT configuration and, for DCLS, the replacement plan. */
export interface FastVitLayoutInfo {
  /** Every state_dict name, shape and initialiser. */
  layout: Layout;
  /** The DCLS layers by module name (empty for the plain model), each with the owner of its P and SIG. */
  dcls: ReadonlyMap<string, DclsLayerDesc>;
}

/** Walks the architecture in definition order, emitting every parameter and buffer. */
function walk(config: FastVitConfig, e: ConvEmitter): void {
  const b = e.b;
  const { dims, depths } = config;
  const [sh, sw] = config.stemKernel;
  b.param("patch_embed.weight", [dims[0], config.inChans, sh, sw], trunc02);
  for (const entry of networkEntries(config)) {
    const net = scope("network", entry.index);
    if (entry.kind === "repcpe") {
      e.conv(convDesc(net("pe"), entry.dim, entry.dim, 7, 1, 3, entry.dim, true));
    } else if (entry.kind === "patchEmbed") {
      const k = config.downPatchSize, s = config.downStride;
      e.convBn(net("proj.0.lkb_origin"), entry.from, entry.to, k, s, entry.from);
      e.convBn(net("proj.0.small_conv"), entry.from, entry.to, 3, s, entry.from);
      mobileOne(e, net("proj.1"), patchEmbedMobileOne(entry.to));
    } else {
      const dim = dims[entry.stage];
      const hidden = Math.floor(dim * config.mlpRatio);
      for (let j = 0; j < depths[entry.stage]; j++) {
        const blk = scope("network", entry.index, j);
        if (config.tokenMixers[entry.stage] === "repmixer") {
          b.param(blk("layer_scale"), [dim, 1, 1], constInit(config.layerScaleInit));
          b.param(blk("token_mixer.layer_scale"), [dim, 1, 1], constInit(config.layerScaleInit));
          const rm = repMixerOptions(dim, config.repmixerKernel);
          mobileOne(e, blk("token_mixer.norm"), rm.norm);
          mobileOne(e, blk("token_mixer.mixer"), rm.mixer);
        } else {
          b.param(blk("layer_scale_1"), [dim, 1, 1], constInit(config.layerScaleInit));
          b.param(blk("layer_scale_2"), [dim, 1, 1], constInit(config.layerScaleInit));
          e.bn(blk("norm"), dim);
          if (dim % config.headDim !== 0) {
            throw new Error(`fastvit: dim ${dim} is not a multiple of headDim ${config.headDim}`);
          }
          e.linear(blk("token_mixer.qkv"), dim, 3 * dim, false);
          e.linear(blk("token_mixer.proj"), dim, dim, true);
        }
        convFfn(e, blk("convffn"), dim, hidden);
      }
    }
  }
  const exp = convExpOptions(config);
  mobileOne(e, "conv_exp", exp);
  e.linear("head", exp.cout, config.numClasses, true);
}

const cache = new WeakMap<FastVitConfig, FastVitLayoutInfo>();

/**
 * Builds (and caches per config object) the layout of a FastViT. For DCLS, a first walk lists the convolutions in
 * definition order so the shared replacement plan (`dclsPlan`) decides which become DCLS and who owns P/SIG.
 */
export function fastvitLayoutInfo(config: FastVitConfig): FastVitLayoutInfo {
  const hit = cache.get(config);
  if (hit) return hit;
  let dcls = new Map<string, DclsLayerDesc>();
  if (config.dcls) {
    const scout = new ConvEmitter(dcls);
    walk(config, scout);
    dcls = new Map(dclsPlan(scout.convs, config.dcls).map((r) => [r.name, r]));
  }
  const e = new ConvEmitter(dcls);
  walk(config, e);
  const info = { layout: e.b.build(), dcls };
  cache.set(config, info);
  return info;
}
