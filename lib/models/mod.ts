/**
 * The audio classifiers of the DCLS paper as pure functions over flat parameter trees keyed by the reference PyTorch
 * state_dict names: the registry (`getModel`, `modelNames`), the three families (ConvNeXt, ConvFormer, FastViT) and
 * their DCLS variants, checkpoints as safetensors state dicts, and FastViT's inference-time reparameterisation.
 *
 * ```ts
 * import { getModel, randomKey, zeros } from "../../mod.ts";
 * const model = getModel("convnext_dcls_audio_nano", { numClasses: 10 });
 * const { params, state } = model.init(randomKey(0));
 * const { logits } = model.apply(params, state, zeros([1, 1, 128, 1001]), { train: false });
 * ```
 * @module
 */
// Re-exported so this module's documentation is self-contained (its signatures use them).
export type { DType, Tensor, TypedArray } from "../core/mod.ts";
export {
  type ApplyOptions,
  type ConvDesc,
  countParams,
  type DclsConfig,
  type Initializer,
  initLayout,
  type Layout,
  LayoutBuilder,
  type LayoutEntry,
  type Model,
  type ModelConfig,
  PAPER_DCLS,
  paramEntries,
  type Params,
  type State,
} from "./common.ts";
export { getModel, modelNames, type ModelOverrides } from "./registry.ts";
export {
  type Checkpoint,
  type CheckpointMetadata,
  fromStateDict,
  type FromStateDictOptions,
  loadCheckpoint,
  saveCheckpoint,
  type StateDictValue,
  toStateDict,
} from "./checkpoint.ts";
export {
  convnext,
  convnextApply,
  type ConvNextConfig,
  convnextDepthwise,
  convnextLayout,
  convnextTinyConfig,
} from "./convnext.ts";
export {
  convformer,
  convformerApply,
  type ConvFormerConfig,
  convformerDepthwise,
  convformerLayout,
  convformerS18Config,
} from "./convformer.ts";
export {
  fastvitApply,
  fastvitAudioSa24,
  type FastVitConfig,
  fastvitDclsAudioSa24,
  fastvitLayout,
  fastvitModel,
  fastvitSa24Config,
  fastvitTiny,
  fastvitTinyConfig,
  type TinyOptions,
} from "./fastvit.ts";
export type { FastVitMixer } from "./fastvit_config.ts";
export { fastvitInferenceApply, fastvitReparameterize } from "./reparam.ts";
export { type EvaluationForm, evaluationForm } from "./evaluation.ts";
export { dclsKeptCells, type KeptCells, prunedDclsModel } from "./dcls_prune.ts";
