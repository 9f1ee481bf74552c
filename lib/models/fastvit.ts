/**
 * FastViT-SA24 for audio (`fastvit_audio_sa24`) and its DCLS variant (`fastvit_dcls_audio_sa24`), as in the
 * DCLS-Audio repository: Apple's FastViT with the MobileOne stem replaced by one Conv2d(1, 64, (2, 16), stride (2, 16)),
 * three RepMixer stages, RepCPE then an attention stage, and the conv_exp + GAP + Linear head. Parameters and state are
 * flat objects keyed by the reference state_dict names.
 *
 * @module
 */
import type { Tensor } from "../core/mod.ts";
import { conv2d, linear, mean, split } from "../core/mod.ts";
import {
  type ApplyOptions,
  checkInput,
  dropPathRates,
  initLayout,
  type Layout,
  type Model,
  PAPER_DCLS,
  param,
  type Params,
  siteKeys,
  type State,
} from "./common.ts";
import { attentionBlock, FastVitContext, mobileOneBlock, patchEmbed, repCpe, repMixerBlock } from "./fastvit_blocks.ts";
import {
  type FastVitConfig,
  fastvitSa24Config,
  fastvitTinyConfig,
  networkEntries,
  type TinyOptions,
} from "./fastvit_config.ts";
import { convExpOptions, fastvitLayoutInfo } from "./fastvit_layout.ts";

export { type FastVitConfig, fastvitSa24Config, fastvitTinyConfig, type TinyOptions } from "./fastvit_config.ts";
export { fastvitLayoutInfo } from "./fastvit_layout.ts";

/** The pooled features before the classifier (`[N, dims[-1] · clsRatio]`), and the context holding new state. */
function features(
  config: FastVitConfig,
  params: Params,
  state: State,
  x: Tensor,
  opts: ApplyOptions,
): { feats: Tensor; ctx: FastVitContext } {
  // The stem floors like PyTorch (1001 frames give 62 columns); the stride-2 stages then keep at least one position.
  checkInput(config.name, x, config.inChans, config.stemKernel, param(params, "patch_embed.weight").dtype);
  const ctx = new FastVitContext(config, fastvitLayoutInfo(config), params, state, opts.train);
  const rates = dropPathRates(config.depths, config.dropPathRate);
  const keys = siteKeys(rates.length, opts, config.dropPathRate > 0, config.name);
  let y = conv2d(x, param(params, "patch_embed.weight"), { stride: config.stemKernel });
  let block = 0;
  for (const e of networkEntries(config)) {
    const net = `network.${e.index}`;
    if (e.kind === "repcpe") y = repCpe(ctx, net, y);
    else if (e.kind === "patchEmbed") y = patchEmbed(ctx, net, y, e.from, e.to);
    else {
      for (let j = 0; j < config.depths[e.stage]; j++, block++) {
        const prefix = `${net}.${j}`;
        const key = keys[block];
        y = config.tokenMixers[e.stage] === "repmixer"
          ? repMixerBlock(ctx, prefix, y, rates[block], key)
          : attentionBlock(ctx, prefix, y, rates[block], key ? split(key, 2) : [undefined, undefined]);
      }
    }
  }
  y = mobileOneBlock(ctx, "conv_exp", convExpOptions(config), y, true);
  return { feats: mean(y, [2, 3]), ctx };
}

/** FastViT forward pass: logits `[N, numClasses]` and the state (running statistics updated in training). */
export function fastvitApply(
  config: FastVitConfig,
  params: Params,
  state: State,
  x: Tensor,
  opts: ApplyOptions,
): { logits: Tensor; state: State } {
  const { feats, ctx } = features(config, params, state, x, opts);
  const logits = linear(feats, param(params, "head.weight"), param(params, "head.bias"));
  return { logits, state: opts.train ? { ...state, ...ctx.newState } : state };
}

/** The FastViT layout (every state_dict name, shape and initialiser). */
export function fastvitLayout(config: FastVitConfig): Layout {
  return fastvitLayoutInfo(config).layout;
}

/** A FastViT `Model` for a configuration. */
export function fastvitModel(config: FastVitConfig): Model<FastVitConfig> {
  return {
    name: config.name,
    config,
    layout: (c = config) => fastvitLayout(c),
    init: (key, c = config) => initLayout(fastvitLayout(c), key, c.dtype),
    apply: (params, state, x, opts) => fastvitApply(config, params, state, x, opts),
  };
}

/** `fastvit_audio_sa24`: FastViT-SA24 with the audio stem (21,064,015 parameters at 527 classes). */
export const fastvitAudioSa24: Model<FastVitConfig> = fastvitModel(fastvitSa24Config());

/** `fastvit_dcls_audio_sa24`: the same with its 25 7 × 7 depthwise convs as DCLS-Gauss 23 × 23 / 26 (21,016,655). */
export const fastvitDclsAudioSa24: Model<FastVitConfig> = fastvitModel(fastvitSa24Config({ dcls: PAPER_DCLS }));

/** The tiny fixture configuration as a model (depths 1, dims 8…64, 10 classes, float64). */
export function fastvitTiny(opts: TinyOptions = {}): Model<FastVitConfig> {
  return fastvitModel(fastvitTinyConfig(opts));
}
