/**
 * The two profiles of the Table 1 experiment. `smoke`: nano models (depths 1,1,1,1), 2 s clips at 16 kHz
 * (64 × 129 log-mels), the embedded procedural dataset, steps sized from a timing of every configuration so the
 * whole run fits a time budget on a CPU. `paper`: the full models at 128 × 1001 on AudioSet, the paper's recipe.
 * @module
 */

/** One of the paper's model families, with its plain (depthwise 7×7) and DCLS-Gauss model names. */
export interface Family {
  /** Display name. */
  readonly label: string;
  /** Registry name with depthwise 7×7 convolutions. */
  readonly dsc: string;
  /** Registry name with DCLS-Gauss convolutions. */
  readonly dcls: string;
}

/** A profile: models, data, input and training recipe. */
export interface Profile {
  /** Profile name. */
  readonly name: "smoke" | "paper";
  /** The three model families. */
  readonly families: readonly Family[];
  /** Seeds of the repeated runs. */
  readonly seeds: readonly number[];
  /** `--input` preset of the train task. */
  readonly input: "small" | "paper";
  /** Clips per step. */
  readonly batchSize: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Stochastic depth. */
  readonly dropPath: number;
  /** Fraction of the run spent warming up. */
  readonly warmupFraction: number;
  /** Training runs at once (one process each). */
  readonly jobs: number;
  /** Clips per throughput batch. */
  readonly throughputBatch: number;
  /** Whether training uses the recipe's augmentations (waveform, random erasing, mixup). */
  readonly augment: boolean;
  /** Extra arguments of the train task (data selection). */
  readonly dataArgs: readonly string[];
}

const SMOKE_FAMILIES: readonly Family[] = [
  { label: "ConvNeXt-nano", dsc: "convnext_audio_nano", dcls: "convnext_dcls_audio_nano" },
  { label: "ConvFormer-nano", dsc: "convformer_audio_nano", dcls: "convformer_dcls_audio_nano" },
  { label: "FastViT-nano", dsc: "fastvit_audio_nano", dcls: "fastvit_dcls_audio_nano" },
];

const PAPER_FAMILIES: readonly Family[] = [
  { label: "ConvNeXt-T", dsc: "convnext_audio_tiny", dcls: "convnext_dcls_audio_tiny" },
  { label: "ConvFormer-S18", dsc: "convformer_audio_s18", dcls: "convformer_dcls_audio_s18" },
  { label: "FastViT-SA24", dsc: "fastvit_audio_sa24", dcls: "fastvit_dcls_audio_sa24" },
];

/**
 * Sizes of the procedural splits in the smoke profile: the training split is large enough that every batch is new
 * (items are generated on demand, so its size costs nothing), which keeps a short run from memorising clips.
 */
export const SMOKE_DATA = { trainSize: 100_000, evalSize: 128 } as const;

/**
 * The smoke profile (CPU, procedural data, a few minutes). Augmentation is off and the learning rate higher than
 * the paper's, since a run of a few dozen steps must show learning rather than regularisation.
 */
export function smokeProfile(): Profile {
  return {
    name: "smoke",
    families: SMOKE_FAMILIES,
    seeds: [0, 1, 2],
    input: "small",
    batchSize: 8,
    lr: 5e-3,
    dropPath: 0.1,
    warmupFraction: 0.1,
    jobs: 2,
    throughputBatch: 16,
    augment: false,
    dataArgs: [
      "--data",
      "procedural",
      "--train-size",
      String(SMOKE_DATA.trainSize),
      "--eval-size",
      String(SMOKE_DATA.evalSize),
    ],
  };
}

/**
 * The paper profile: full models, 128 × 1001 inputs, AudioSet. The learning rate follows the linear scaling rule
 * from the paper's 4e-3 at an effective batch (micro-batch × `accum` micro-batches per step) of 4096.
 */
export function paperProfile(batchSize: number, dataArgs: readonly string[], accum = 1): Profile {
  return {
    name: "paper",
    families: PAPER_FAMILIES,
    seeds: [0, 1, 2],
    input: "paper",
    batchSize,
    lr: (4e-3 * batchSize * accum) / 4096,
    dropPath: 0.4,
    warmupFraction: 20 / 60,
    jobs: 1,
    throughputBatch: 64,
    augment: true,
    dataArgs,
  };
}
