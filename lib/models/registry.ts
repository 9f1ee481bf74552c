/**
 * The models by name: the paper's six configurations (names as in the reference repository) and nano variants
 * (depths 1,1,1,1, dims 8…64, same heads and 527 classes unless overridden) small enough for CPU runs and tests.
 * @module
 */
import { type Model, type ModelConfig, PAPER_DCLS } from "./common.ts";
import { convformer, convformerS18Config } from "./convformer.ts";
import { convnext, convnextTinyConfig } from "./convnext.ts";
import { fastvitModel, fastvitSa24Config } from "./fastvit.ts";

/** Configuration overrides: common fields, or a family's own (e.g. ConvFormer's `headDropout`). */
export type ModelOverrides = Partial<ModelConfig> & Record<string, unknown>;

/** Builds a model of one registry name from configuration overrides. */
type Builder = (overrides: ModelOverrides) => Model;

const NANO = { depths: [1, 1, 1, 1], dims: [8, 16, 32, 64] } as const;

/** Registry builders; `overrides` win over the named configuration except for the name and the DCLS switch. */
const BUILDERS: Record<string, Builder> = {
  convnext_audio_tiny: (o) => convnext(convnextTinyConfig({ ...o, name: "convnext_audio_tiny", dcls: null })),
  convnext_dcls_audio_tiny: (o) =>
    convnext(convnextTinyConfig({ ...o, name: "convnext_dcls_audio_tiny", dcls: o.dcls ?? PAPER_DCLS })),
  convnext_audio_nano: (o) => convnext(convnextTinyConfig({ ...NANO, ...o, name: "convnext_audio_nano", dcls: null })),
  convnext_dcls_audio_nano: (o) =>
    convnext(convnextTinyConfig({ ...NANO, ...o, name: "convnext_dcls_audio_nano", dcls: o.dcls ?? PAPER_DCLS })),
  convformer_audio_s18: (o) => convformer(convformerS18Config({ ...o, name: "convformer_audio_s18", dcls: null })),
  convformer_dcls_audio_s18: (o) =>
    convformer(convformerS18Config({ ...o, name: "convformer_dcls_audio_s18", dcls: o.dcls ?? PAPER_DCLS })),
  convformer_audio_nano: (o) =>
    convformer(convformerS18Config({ ...NANO, ...o, name: "convformer_audio_nano", dcls: null })),
  convformer_dcls_audio_nano: (o) =>
    convformer(convformerS18Config({ ...NANO, ...o, name: "convformer_dcls_audio_nano", dcls: o.dcls ?? PAPER_DCLS })),
  fastvit_audio_sa24: (o) => fastvitModel(fastvitSa24Config({ ...o, name: "fastvit_audio_sa24", dcls: null })),
  fastvit_dcls_audio_sa24: (o) =>
    fastvitModel(fastvitSa24Config({ ...o, name: "fastvit_dcls_audio_sa24", dcls: o.dcls ?? PAPER_DCLS })),
  fastvit_audio_nano: (o) => fastvitModel(fastvitSa24Config({ ...NANO, ...o, name: "fastvit_audio_nano", dcls: null })),
  fastvit_dcls_audio_nano: (o) =>
    fastvitModel(fastvitSa24Config({ ...NANO, ...o, name: "fastvit_dcls_audio_nano", dcls: o.dcls ?? PAPER_DCLS })),
};

/** Every registered model name. */
export function modelNames(): string[] {
  return Object.keys(BUILDERS);
}

/**
 * The model registered under `name`, its configuration adjusted by `overrides` (e.g. `{ dropPathRate: 0.4 }`,
 * `{ numClasses: 10, dtype: "f64" }`). Throws listing the known names for an unknown one.
 */
export function getModel(name: string, overrides: ModelOverrides = {}): Model {
  const build = Object.hasOwn(BUILDERS, name) ? BUILDERS[name] : undefined;
  if (!build) throw new Error(`unknown model "${name}" (known: ${modelNames().join(", ")})`);
  return build(overrides);
}
