/**
 * The form a model is evaluated in: FastViT models fold their training-time branches (MobileOne, RepMixer, RepCPE,
 * the patch embeddings' large and small kernels) into single convolutions first, as timm's `reparameterize_model`
 * does before inference; every other model evaluates as it trains, in evaluation mode.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import type { Model, Params, State } from "./common.ts";
import type { FastVitConfig } from "./fastvit_config.ts";
import { fastvitInferenceApply, fastvitReparameterize } from "./reparam.ts";

/** Parameters and state in the evaluation form, and the logits as a pure function of them. */
export interface EvaluationForm {
  /** Parameters of the evaluation form (reparameterised names for FastViT). */
  readonly params: Params;
  /** Buffers of the evaluation form. */
  readonly state: State;
  /** Evaluation-mode logits `[N, classes]` of log-mels `[N, 1, M, T]`. */
  readonly logits: (params: Params, state: State, x: Tensor) => Tensor;
  /** Whether the training-time branches were folded. */
  readonly reparameterized: boolean;
}

function isFastVit(config: unknown): config is FastVitConfig {
  return typeof config === "object" && config !== null && "tokenMixers" in config && "repmixerKernel" in config;
}

/** The evaluation form of trained weights (folded once, on the host, when the model is a FastViT). */
export function evaluationForm(model: Model, params: Params, state: State): EvaluationForm {
  const config = model.config;
  if (isFastVit(config)) {
    const r = fastvitReparameterize(config, params, state);
    return {
      ...r,
      logits: (p, s, x) => fastvitInferenceApply(config, p, s, x),
      reparameterized: true,
    };
  }
  return { params, state, logits: (p, s, x) => model.apply(p, s, x, { train: false }).logits, reparameterized: false };
}
