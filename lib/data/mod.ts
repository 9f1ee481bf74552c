/**
 * Data: the procedural sound-event dataset, file-backed datasets (AudioSet CSV folders, label lists, PANNs HDF5),
 * training augmentations and the streaming batch loader.
 *
 * @module
 */

export type { Key } from "../random/threefry.ts";
export { type AudioDataset, type AudioItem, checkIndex } from "./dataset.ts";
export {
  PROCEDURAL_CLASSES,
  type ProceduralDataset,
  proceduralDataset,
  type ProceduralEvent,
  type ProceduralItem,
  type ProceduralOptions,
} from "./procedural.ts";
export {
  augmentWaveform,
  type ErasingBox,
  erasingBoxArray,
  erasingMask,
  mixBatch,
  type MixupParams,
  mixupParams,
  randomErasingBoxes,
  type RandomErasingOptions,
  randomRoll,
  resampleNearest,
  smoothLabels,
  speedPerturb,
  type SpeedPerturbOptions,
  type WaveformAugmentOptions,
} from "./augment.ts";
export {
  type ClassIndex,
  type CsvOptions,
  type CsvRow,
  type LabelledPath,
  parseClassLabels,
  parseCsv,
  parseLabelList,
  parseSegments,
  type Segment,
} from "./csv.ts";
export {
  AUDIO_EXTENSIONS,
  audioSetFolder,
  type AudioSetFolderOptions,
  type ClipOptions,
  type FileDataset,
  labelListFolder,
  type LabelListOptions,
} from "./folder.ts";
export { type Hdf5Dataset, hdf5Dataset, type Hdf5DatasetOptions } from "./hdf5.ts";
export {
  type Augment,
  type BadItem,
  type Batch,
  batchStream,
  epochOrder,
  type EpochSummary,
  type LoaderOptions,
  LoadError,
  type LoaderSource,
  runEpoch,
} from "./loader.ts";
export { openWorkerPool, workerPool } from "./worker_pool.ts";
