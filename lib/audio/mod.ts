/**
 * Audio in: decoding files to float samples, mixdown, band-limited resampling, fixed-length clips, WAV encoding, and
 * the paper's log-mel front end (as tensor ops for every backend, plus its building blocks and constants). The
 * float64 host reference of the front end is the `stftReference` namespace, whose names (`padOrTruncate`,
 * `powerSpectrogram`, `powerToDb`) would otherwise clash with the tensor versions.
 *
 * ```ts
 * import { FRONTEND, logMel, tensor } from "../../mod.ts";
 * const wave = tensor(new Float32Array(FRONTEND.clipSamples), { shape: [1, FRONTEND.clipSamples] });
 * const mel = logMel(wave); // [1, 1, 128, 1001]
 * ```
 * @module
 */
// Re-exported so this module's documentation is self-contained (its signatures use them).
export type { DType, Tensor, TypedArray } from "../core/mod.ts";
export { decodeAudio, decodeAudioFile, type DecodedAudio, mixdown } from "./decode.ts";
export { resample, type ResampleOptions } from "./resample.ts";
export { loadClip, type LoadClipOptions, padOrTruncate } from "./waveform.ts";
export {
  encodeWav,
  readWavHeader,
  WAVE_FORMAT,
  type WavEncodeOptions,
  type WavHeader,
  type WavSampleFormat,
} from "./wav.ts";
export {
  type ErasingInput,
  erasingMaskFromBoxes,
  type FrontEndOptions,
  logMel,
  powerSpectrogram,
  powerToDb,
} from "./frontend.ts";
export {
  type DftBasis,
  dftBasis,
  FRONTEND,
  hannWindow,
  hzToMel,
  melFilterbank,
  type MelFilterbankOptions,
  melFilterEdges,
  type MelScale,
  melToHz,
} from "./mel.ts";
export * as stftReference from "./stft_reference.ts";
