/**
 * @dcls/audio — a functional tensor DSL for audio classification with Dilated Convolution with Learnable Spacings
 * (DCLS), running on any GPU through WebGPU, with a float64-capable CPU reference.
 *
 * The surface, by area:
 * - core and ops: {@link Tensor}, creation, elementwise, reductions, movement, linear algebra, convolution, pooling,
 *   nn layers, counter-based tensor randomness (`randomKey`, `split`, `uniform`, …), autodiff (`grad`,
 *   `valueAndGrad`, `vjp`), parameter trees and `compile`;
 * - DCLS: kernel construction (`construct`, `construct1d`), layers (`initDcls2d`, `dcls2d`, `initDcls1d`, `dcls1d`),
 *   the paper's depthwise replacement (`replaceDepthwise`), `learnedPositions`, `pruneKernel`;
 * - models: the registry (`getModel`, `modelNames`), the ConvNeXt / ConvFormer / FastViT families, checkpoints
 *   (`saveCheckpoint`, `loadCheckpoint`, `toStateDict`, `fromStateDict`), FastViT reparameterisation;
 * - audio: decoding, mixdown, resampling, fixed-length clips, WAV encoding and the log-mel front end (`logMel`,
 *   `FRONTEND`); the float64 host reference of the front end is the `stftReference` namespace;
 * - data: the procedural dataset, AudioSet CSV folders, label-list folders, PANNs HDF5, augmentations, `runEpoch`;
 * - metrics: `evaluate` (mAP, ROC AUC, d′), `averagePrecision`, `rocAuc`, `dPrime`;
 * - plots: line, bar and scatter-panel charts as PNG or SVG;
 * - io: safetensors and audio-container checks;
 * - `hostRandom`: the host-side (plain array) Threefry PRNG, whose names would clash with the tensor-level ones.
 *
 * ```ts
 * import { grad, sum, tanh, Tensor, tensor } from "./mod.ts";
 * const g = grad((x: Tensor) => sum(tanh(x)))(tensor([0, 1, 2])) as Tensor; // 1 − tanh²(x)
 * ```
 * @module
 */
export type { DType, TypedArray } from "./lib/core/dtype.ts";
export { Tensor } from "./lib/core/tensor.ts";
export { stopGradient } from "./lib/core/bind.ts";
export { grad, type GradOptions, valueAndGrad, vjp } from "./lib/core/autodiff.ts";
export { compile, type Traced } from "./lib/core/compile.ts";
export type { Aval, Const, Eqn, Graph, Var } from "./lib/core/graph.ts";
export type { KernelSpectrum, Padding2d } from "./lib/core/primitive.ts";
export {
  sameDef,
  type Tree,
  treeCount,
  type TreeDef,
  treeFlatten,
  treeLeaves,
  treeMap,
  treeUnflatten,
  treeZip,
} from "./lib/core/tree.ts";
export * from "./lib/ops/mod.ts";

export * from "./lib/dcls/mod.ts";
export * from "./lib/models/mod.ts";
export * from "./lib/audio/mod.ts";
// Listed rather than `export *`: the data module also exports `batchStream`, whose Effect `Stream` return type is a
// third-party type this package does not re-export (import it from lib/data/loader.ts when needed).
export {
  AUDIO_EXTENSIONS,
  type AudioDataset,
  type AudioItem,
  audioSetFolder,
  type AudioSetFolderOptions,
  type Augment,
  augmentWaveform,
  type BadItem,
  type Batch,
  checkIndex,
  type ClassIndex,
  type ClipOptions,
  type CsvOptions,
  type CsvRow,
  epochOrder,
  type EpochSummary,
  type ErasingBox,
  erasingMask,
  type FileDataset,
  type Hdf5Dataset,
  hdf5Dataset,
  type Hdf5DatasetOptions,
  type Key,
  type LabelledPath,
  labelListFolder,
  type LabelListOptions,
  type LoaderOptions,
  LoadError,
  type LoaderSource,
  mixBatch,
  type MixupParams,
  mixupParams,
  parseClassLabels,
  parseCsv,
  parseLabelList,
  parseSegments,
  PROCEDURAL_CLASSES,
  type ProceduralDataset,
  proceduralDataset,
  type ProceduralEvent,
  type ProceduralItem,
  type ProceduralOptions,
  randomErasingBoxes,
  type RandomErasingOptions,
  randomRoll,
  resampleNearest,
  runEpoch,
  type Segment,
  smoothLabels,
  speedPerturb,
  type SpeedPerturbOptions,
  type WaveformAugmentOptions,
} from "./lib/data/mod.ts";
export * from "./lib/metrics/mod.ts";
// The charts and what they are drawn from; the raster, font and PNG internals stay in lib/plot/mod.ts.
export {
  barChart,
  type BarChartOptions,
  barChartScene,
  barChartSvg,
  type BarSeries,
  type CircleShape,
  lineChart,
  type LineChartOptions,
  lineChartScene,
  lineChartSvg,
  type LineSeries,
  type LineShape,
  PALETTE,
  type RectShape,
  renderPng,
  renderSvg,
  type Rgba,
  type ScatterPanel,
  scatterPanels,
  type ScatterPanelsOptions,
  scatterPanelsScene,
  scatterPanelsSvg,
  type Scene,
  type Shape,
  type TextShape,
} from "./lib/plot/mod.ts";
export * from "./lib/io/mod.ts";
export * as hostRandom from "./lib/random/mod.ts";
