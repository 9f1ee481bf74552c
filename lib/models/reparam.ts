/**
 * FastViT structural reparameterisation for inference, as the reference `reparameterize_model` does: every MobileOne
 * block's branches (BatchNorm skip, 1 × 1 scale, conv branches, each with its BatchNorm) fold into one conv
 * (`<block>.reparam_conv`), each patch embedding's large + small kernels into `lkb_reparam`, each RepMixer into one
 * depthwise conv (`token_mixer.reparam_conv`) and RepCPE's residual into its kernel (`network.<i>.reparam_conv`).
 * ConvFFN's conv + BatchNorm and the attention block's BatchNorm stay, as in the reference. In the DCLS variant the
 * DCLS kernels are constructed once here (ConvFFN's become dense `D × D` convs; RepCPE's folds as above), so the
 * inference pass runs plain convolutions only. The result gives the same evaluation logits up to rounding.
 *
 * @module
 */
import type { Tensor } from "../core/mod.ts";
import { add, conv2d, gelu, linear, mean, mul, pad, reshape, rsqrt, sub, tensor } from "../core/mod.ts";
import { construct, usesSigma } from "../dcls/construct.ts";
import { pruneRelative } from "../dcls/prune.ts";
import { param, type Params, type State } from "./common.ts";
import { FastVitContext, mhsa, squeezeExcite } from "./fastvit_blocks.ts";
import { type FastVitConfig, networkEntries } from "./fastvit_config.ts";
import {
  convExpOptions,
  fastvitLayoutInfo,
  hasScale,
  hasSkip,
  type MobileOneOptions,
  patchEmbedMobileOne,
  repMixerOptions,
} from "./fastvit_layout.ts";

/** BatchNorm epsilon of every FastViT BatchNorm (PyTorch default). */
const BN_EPS = 1e-5;

/** A folded convolution: kernel and bias. */
export interface KernelBias {
  /** Kernel `[C_out, C_in/groups, k, k]`. */
  weight: Tensor;
  /** Bias `[C_out]`. */
  bias: Tensor;
}

/** Folds an evaluation-mode BatchNorm (`<bn>.weight/bias/running_mean/running_var`) into the preceding kernel. */
export function fuseBatchNorm(kernel: Tensor, params: Params, state: State, bn: string, eps = BN_EPS): KernelBias {
  const gamma = param(params, `${bn}.weight`);
  const invStd = rsqrt(add(param(state, `${bn}.running_var`), eps));
  const t = mul(gamma, invStd);
  return {
    weight: mul(kernel, reshape(t, [t.size, 1, 1, 1])),
    bias: sub(param(params, `${bn}.bias`), mul(param(state, `${bn}.running_mean`), t)),
  };
}

/** The identity as a grouped conv kernel `[c, c/groups, k, k]` (1 at the centre tap of each channel's own input). */
export function identityKernel(c: number, groups: number, k: number, dtype: Tensor["dtype"]): Tensor {
  const perGroup = c / groups;
  const data = new Float64Array(c * perGroup * k * k);
  const mid = Math.floor(k / 2);
  for (let i = 0; i < c; i++) data[((i * perGroup + (i % perGroup)) * k + mid) * k + mid] = 1;
  return tensor(data, { shape: [c, perGroup, k, k], dtype });
}

/** Zero-pads a square kernel `[o, i, k, k]` to `[o, i, size, size]`, centred. */
export function padKernel(w: Tensor, size: number): Tensor {
  const p = (size - w.shape[2]) / 2;
  if (!Number.isInteger(p) || p < 0) throw new Error(`reparam: cannot centre a ${w.shape[2]}-kernel in ${size}`);
  return p === 0 ? w : pad(w, [[0, 0], [0, 0], [p, p], [p, p]]);
}

function addKb(a: KernelBias, b: KernelBias): KernelBias {
  return { weight: add(a.weight, b.weight), bias: add(a.bias, b.bias) };
}

/** MobileOne `_get_kernel_bias`: every branch folded into one `k × k` kernel and bias. */
export function foldMobileOne(params: Params, state: State, prefix: string, o: MobileOneOptions): KernelBias {
  const parts: KernelBias[] = [];
  if (hasScale(o)) {
    const s = fuseBatchNorm(param(params, `${prefix}.rbr_scale.conv.weight`), params, state, `${prefix}.rbr_scale.bn`);
    parts.push({ weight: padKernel(s.weight, o.kernel), bias: s.bias });
  }
  if (hasSkip(o)) {
    const dtype = param(params, `${prefix}.rbr_skip.weight`).dtype;
    parts.push(fuseBatchNorm(identityKernel(o.cin, o.groups, o.kernel, dtype), params, state, `${prefix}.rbr_skip`));
  }
  for (let i = 0; i < o.numConvBranches; i++) {
    const p = `${prefix}.rbr_conv.${i}`;
    parts.push(fuseBatchNorm(param(params, `${p}.conv.weight`), params, state, `${p}.bn`));
  }
  if (parts.length === 0) throw new Error(`reparam: MobileOne block "${prefix}" has no branch`);
  return parts.reduce(addKb);
}

/** The dense kernel of a conv: the stored weight, or the constructed DCLS kernel when the config replaced it. */
function denseKernel(config: FastVitConfig, params: Params, name: string): Tensor {
  const w = param(params, `${name}.weight`);
  const r = fastvitLayoutInfo(config).dcls.get(name);
  if (!r) return w;
  const sig = usesSigma(r.version) ? param(params, `${r.owner}.SIG`) : undefined;
  const kernel = construct(w, param(params, `${r.owner}.P`), sig, {
    version: r.version,
    dilatedKernelSize: r.dilatedKernelSize,
  });
  // A pruned model (prunedDclsModel) drops the same cells here as on its ordinary path.
  const prune = config.dcls?.prune;
  return prune === undefined ? kernel : pruneRelative(kernel, prune);
}

function put(out: Params, prefix: string, kb: KernelBias): void {
  out[`${prefix}.weight`] = kb.weight;
  out[`${prefix}.bias`] = kb.bias;
}

function copyPrefixed(from: Params | State, to: Params | State, prefix: string): void {
  for (const k of Object.keys(from)) if (k.startsWith(prefix)) to[k] = from[k];
}

/**
 * Reparameterises trained FastViT parameters and state (training structure, reference names) into the inference
 * structure, named as the reference's reparameterised state_dict (`reparam_conv`, `lkb_reparam`). Only evaluation-mode
 * BatchNorm statistics are used, so this is for inference, not further training.
 */
export function fastvitReparameterize(
  config: FastVitConfig,
  params: Params,
  state: State,
): { params: Params; state: State } {
  const out: Params = {}, st: State = {};
  out["patch_embed.weight"] = param(params, "patch_embed.weight");
  for (const e of networkEntries(config)) {
    const net = `network.${e.index}`;
    if (e.kind === "repcpe") {
      const w = denseKernel(config, params, `${net}.pe`);
      const id = identityKernel(e.dim, e.dim, w.shape[2], w.dtype);
      put(out, `${net}.reparam_conv`, { weight: add(id, w), bias: param(params, `${net}.pe.bias`) });
    } else if (e.kind === "patchEmbed") {
      const large = fuseBatchNorm(
        param(params, `${net}.proj.0.lkb_origin.conv.weight`),
        params,
        state,
        `${net}.proj.0.lkb_origin.bn`,
      );
      const small = fuseBatchNorm(
        param(params, `${net}.proj.0.small_conv.conv.weight`),
        params,
        state,
        `${net}.proj.0.small_conv.bn`,
      );
      const k = large.weight.shape[2];
      put(out, `${net}.proj.0.lkb_reparam`, addKb(large, { weight: padKernel(small.weight, k), bias: small.bias }));
      put(out, `${net}.proj.1.reparam_conv`, foldMobileOne(params, state, `${net}.proj.1`, patchEmbedMobileOne(e.to)));
    } else {
      const dim = config.dims[e.stage];
      for (let j = 0; j < config.depths[e.stage]; j++) {
        const blk = `${net}.${j}`;
        if (config.tokenMixers[e.stage] === "repmixer") {
          const o = repMixerOptions(dim, config.repmixerKernel);
          const tm = `${blk}.token_mixer`;
          const m = foldMobileOne(params, state, `${tm}.mixer`, o.mixer);
          const n = foldMobileOne(params, state, `${tm}.norm`, o.norm);
          const ls = param(params, `${tm}.layer_scale`);
          const id = identityKernel(dim, dim, config.repmixerKernel, m.weight.dtype);
          put(out, `${tm}.reparam_conv`, {
            weight: add(id, mul(reshape(ls, [dim, 1, 1, 1]), sub(m.weight, n.weight))),
            bias: mul(reshape(ls, [dim]), sub(m.bias, n.bias)),
          });
          out[`${blk}.layer_scale`] = param(params, `${blk}.layer_scale`);
        } else {
          for (const k of ["layer_scale_1", "layer_scale_2"]) out[`${blk}.${k}`] = param(params, `${blk}.${k}`);
          copyPrefixed(params, out, `${blk}.norm.`);
          copyPrefixed(state, st, `${blk}.norm.`);
          copyPrefixed(params, out, `${blk}.token_mixer.`);
        }
        const ffn = `${blk}.convffn`;
        out[`${ffn}.conv.conv.weight`] = denseKernel(config, params, `${ffn}.conv.conv`);
        copyPrefixed(params, out, `${ffn}.conv.bn.`);
        copyPrefixed(state, st, `${ffn}.conv.bn.`);
        for (const k of ["fc1", "fc2"]) copyPrefixed(params, out, `${ffn}.${k}.`);
      }
    }
  }
  put(out, "conv_exp.reparam_conv", foldMobileOne(params, state, "conv_exp", convExpOptions(config)));
  copyPrefixed(params, out, "conv_exp.se.");
  copyPrefixed(params, out, "head.");
  return { params: out, state: st };
}

/** A stride-1 "same" conv whose padding follows the (odd, square) kernel, as every reparameterised conv here is. */
function sameConv(x: Tensor, w: Tensor, bias: Tensor | undefined, groups: number, stride = 1): Tensor {
  return conv2d(x, w, { stride, padding: Math.floor(w.shape[2] / 2), groups }, bias);
}

/** Evaluation logits of a reparameterised FastViT (parameters and state from `fastvitReparameterize`). */
export function fastvitInferenceApply(config: FastVitConfig, params: Params, state: State, x: Tensor): Tensor {
  const p = (n: string) => param(params, n);
  // The context serves the unchanged modules (attention, squeeze-excite, BatchNorm) in evaluation mode.
  const plain = { ...config, dcls: null };
  const ctx = new FastVitContext(plain, fastvitLayoutInfo(plain), params, state, false);
  let y = conv2d(x, p("patch_embed.weight"), { stride: config.stemKernel });
  const convFfn = (ffn: string, z: Tensor) => {
    const c = z.shape[1];
    let h = ctx.bn(`${ffn}.conv.bn`, sameConv(z, p(`${ffn}.conv.conv.weight`), undefined, c));
    h = gelu(conv2d(h, p(`${ffn}.fc1.weight`), {}, p(`${ffn}.fc1.bias`)));
    return conv2d(h, p(`${ffn}.fc2.weight`), {}, p(`${ffn}.fc2.bias`));
  };
  for (const e of networkEntries(config)) {
    const net = `network.${e.index}`;
    if (e.kind === "repcpe") y = sameConv(y, p(`${net}.reparam_conv.weight`), p(`${net}.reparam_conv.bias`), e.dim);
    else if (e.kind === "patchEmbed") {
      const lk = `${net}.proj.0.lkb_reparam`;
      y = sameConv(y, p(`${lk}.weight`), p(`${lk}.bias`), e.from, config.downStride);
      y = gelu(sameConv(y, p(`${net}.proj.1.reparam_conv.weight`), p(`${net}.proj.1.reparam_conv.bias`), 1));
    } else {
      for (let j = 0; j < config.depths[e.stage]; j++) {
        const blk = `${net}.${j}`;
        if (config.tokenMixers[e.stage] === "repmixer") {
          const rc = `${blk}.token_mixer.reparam_conv`;
          y = sameConv(y, p(`${rc}.weight`), p(`${rc}.bias`), y.shape[1]);
          y = add(y, mul(p(`${blk}.layer_scale`), convFfn(`${blk}.convffn`, y)));
        } else {
          y = add(y, mul(p(`${blk}.layer_scale_1`), mhsa(ctx, `${blk}.token_mixer`, ctx.bn(`${blk}.norm`, y))));
          y = add(y, mul(p(`${blk}.layer_scale_2`), convFfn(`${blk}.convffn`, y)));
        }
      }
    }
  }
  const exp = convExpOptions(config);
  y = sameConv(y, p("conv_exp.reparam_conv.weight"), p("conv_exp.reparam_conv.bias"), exp.groups);
  y = gelu(squeezeExcite(ctx, "conv_exp.se", y));
  return linear(mean(y, [2, 3]), p("head.weight"), p("head.bias"));
}
