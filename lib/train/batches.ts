/**
 * Batches for training and evaluation as pure functions of (seed, step): which items a step sees (a fresh
 * permutation of the dataset per epoch), their waveform augmentations, the random-erasing boxes and the mixup λ and
 * permutation all come from keys folded from the run's base key, so a resumed run sees exactly the batches an
 * uninterrupted one would. The front end runs either here on the host (FFT, float64; cheap on a CPU) or in the
 * compiled step (tensor ops; the GPU path) — both give the network the same normalised log-mels.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { tensor, tensorOver } from "../ops/create.ts";
import { foldIn, type Key } from "../random/threefry.ts";
import { permutation } from "../random/distributions.ts";
import { augmentWaveform, erasingBoxArray, erasingMask, mixupParams, randomErasingBoxes } from "../data/augment.ts";
import type { AudioDataset, AudioItem } from "../data/dataset.ts";
import type { Batch, ItemMeta, LoaderSource } from "../data/loader.ts";
import { FRONTEND, melFilterbank } from "../audio/mel.ts";
import { powerSpectrogram } from "../audio/stft_reference.ts";
import type { FrontEndOptions } from "../audio/frontend.ts";
import type { StepBatch } from "./step.ts";

/** How clips become network inputs. */
export interface InputSettings {
  /** Samples per clip after pad/truncate. */
  readonly clipSamples: number;
  /** Front-end settings (sample rate, FFT, hop, mels; defaults: the paper's). */
  readonly frontEnd: FrontEndOptions;
  /** Where the front end runs: on the host, or inside the compiled step. */
  readonly frontEndOn: "host" | "step";
}

/** Training-time randomness of the recipe; each switch can be turned off for ablations and tests. */
export interface AugmentSettings {
  /** Random roll and speed perturbation of the waveform. */
  readonly waveform: boolean;
  /** Random erasing on the power spectrogram (p = 0.25). */
  readonly erasing: boolean;
  /** Mixup α (0.8 in the recipe; 0 disables mixup). */
  readonly mixupAlpha: number;
}

/**
 * Zero-pads at the end or keeps the first `n` samples (the dataset's PadOrTruncate). Local rather than
 * audio/waveform.ts's, which brings the file decoders along: the training path stays free of them, so it bundles
 * into a single file for a bare GPU machine.
 */
function fitLength(x: Float32Array, n: number): Float32Array {
  if (x.length === n) return x;
  const out = new Float32Array(n);
  out.set(x.subarray(0, Math.min(n, x.length)));
  return out;
}

/** Streams folded into the base key (steps, epoch orders, item augmentations, initialisation), then per-step choices. */
const ROOT = { step: 0, order: 1, item: 2, init: 3 } as const;
const TAG = { erasing: 0, mixup: 1, model: 2 } as const;

/** The key that initialises the model's parameters, as a tensor. */
export function initKey(key: Key): Tensor {
  return tensor(foldIn(key, ROOT.init), { dtype: "u32" });
}

/** The key of step `step` of a run with base key `key`. */
export function stepKey(key: Key, step: number): Key {
  return foldIn(foldIn(key, ROOT.step), step);
}

/** The drop-path key of a step, as a tensor for the compiled step. */
export function modelKey(key: Key, step: number): Tensor {
  return tensor(foldIn(stepKey(key, step), TAG.model), { dtype: "u32" });
}

/** Optimizer steps per epoch: the last partial batch of an epoch is dropped. */
export function stepsPerEpoch(length: number, batch: number): number {
  const n = Math.floor(length / batch);
  if (n < 1) throw new Error(`training data has ${length} items, fewer than one batch of ${batch}`);
  return n;
}

/** The order of epoch `epoch`: a permutation of the dataset drawn from the base key and the epoch number. */
export function epochOrder(key: Key, epoch: number, length: number): Int32Array {
  return permutation(foldIn(foldIn(key, ROOT.order), epoch), length);
}

function resolved(fe: FrontEndOptions) {
  return {
    sampleRate: fe.sampleRate ?? FRONTEND.sampleRate,
    nFft: fe.nFft ?? FRONTEND.nFft,
    hop: fe.hop ?? FRONTEND.hop,
    nMels: fe.nMels ?? FRONTEND.nMels,
    fMin: fe.fMin ?? FRONTEND.fMin,
    fMax: fe.fMax ?? FRONTEND.fMax,
    mean: fe.mean ?? FRONTEND.mean,
    std: fe.std ?? FRONTEND.std,
  };
}

/** Frequency bins and frames of the power spectrogram of a clip. */
export function spectrogramShape(s: InputSettings): { bins: number; frames: number; mels: number } {
  const o = resolved(s.frontEnd);
  return { bins: o.nFft / 2 + 1, frames: 1 + Math.floor(s.clipSamples / o.hop), mels: o.nMels };
}

const fbanks = new Map<string, Float64Array>();

/**
 * The front end on the host for one clip: power spectrogram, optional erasing mask (`[bins, frames]`, 0 = erased),
 * HTK mel, dB, normalisation → `[mels · frames]` in row-major order.
 */
export function hostLogMel(wave: Float32Array, fe: FrontEndOptions, mask?: Float32Array): Float32Array {
  const o = resolved(fe);
  const bins = o.nFft / 2 + 1;
  const fkey = `${bins}|${o.nMels}|${o.sampleRate}|${o.fMin}|${o.fMax}`;
  let fb = fbanks.get(fkey);
  if (!fb) {
    fb = melFilterbank({ nFreqs: bins, nMels: o.nMels, sampleRate: o.sampleRate, fMin: o.fMin, fMax: o.fMax });
    fbanks.set(fkey, fb);
  }
  const power = powerSpectrogram(wave, { nFft: o.nFft, hop: o.hop });
  const frames = power.shape[1];
  const p = power.data;
  if (mask) { for (let i = 0; i < p.length; i++) p[i] *= mask[i]; }
  const mel = new Float64Array(o.nMels * frames);
  for (let f = 0; f < bins; f++) {
    for (let m = 0; m < o.nMels; m++) {
      const w = fb[f * o.nMels + m];
      if (w === 0) continue;
      for (let t = 0; t < frames; t++) mel[m * frames + t] += w * p[f * frames + t];
    }
  }
  const out = new Float32Array(mel.length);
  const scale = 10 / Math.LN10;
  for (let i = 0; i < mel.length; i++) out[i] = (scale * Math.log(Math.max(mel[i], FRONTEND.ampMin)) - o.mean) / o.std;
  return out;
}

/** Network inputs for clips: waveforms `[B, N]` (front end in the step) or log-mels `[B, 1, M, T]` (host). */
export function inputsOf(waves: readonly Float32Array[], s: InputSettings, masks?: Float32Array): Tensor {
  const b = waves.length, n = s.clipSamples;
  if (s.frontEndOn === "step") {
    const x = new Float32Array(b * n);
    waves.forEach((w, i) => x.set(w, i * n));
    return tensor(x, { shape: [b, n] });
  }
  const { bins, frames, mels } = spectrogramShape(s);
  const x = new Float32Array(b * mels * frames);
  waves.forEach((w, i) => {
    const mask = masks?.subarray(i * bins * frames, (i + 1) * bins * frames);
    x.set(hostLogMel(w, s.frontEnd, mask), i * mels * frames);
  });
  return tensor(x, { shape: [b, 1, mels, frames] });
}

/** A training batch for the step from a collated loader batch of (augmented) waveforms: erasing and mixup. */
export function trainInputs(
  batch: Batch,
  key: Key,
  step: number,
  input: InputSettings,
  augment: AugmentSettings,
): StepBatch {
  const [b, n] = batch.shape;
  if (n !== input.clipSamples) throw new Error(`batch clips have ${n} samples, expected ${input.clipSamples}`);
  const sk = stepKey(key, step);
  const waves = Array.from({ length: b }, (_, i) => batch.x.subarray(i * n, (i + 1) * n));
  const { bins, frames } = spectrogramShape(input);
  const boxes = augment.erasing ? randomErasingBoxes(foldIn(sk, TAG.erasing), b, bins, frames) : undefined;
  // On the host the mask multiplies each clip's spectrogram; in the step only the boxes travel (16 bytes a clip).
  const masks = boxes && input.frontEndOn === "host" ? erasingMask(boxes, b, bins, frames) : undefined;
  const mixup = augment.mixupAlpha > 0
    ? mixupParams(foldIn(sk, TAG.mixup), b, augment.mixupAlpha)
    : { lambda: 1, perm: Int32Array.from({ length: b }, (_, i) => i) };
  const out: StepBatch = {
    // Waveforms for the step are the collated batch itself: no copy of tens of MB on the host.
    x: input.frontEndOn === "step" ? tensorOver(batch.x, [b, n]) : inputsOf(waves, input, masks),
    targets: tensor(batch.targets, { shape: [b, batch.classes] }),
    lambda: tensor(mixup.lambda, { dtype: "f32" }),
    perm: tensor(mixup.perm, { dtype: "i32" }),
  };
  if (!boxes || input.frontEndOn !== "step") return out;
  return { ...out, erasingBoxes: tensor(erasingBoxArray(boxes, b), { shape: [b, 1, 4] }) };
}

/** Inputs of an evaluation batch, padded to `size` rows by repeating its first clip (so one trace serves all). */
export function evalInputs(batch: Batch, input: InputSettings, size: number): Tensor {
  const [b, n] = batch.shape;
  const waves = Array.from({ length: size }, (_, i) => {
    const r = i < b ? i : 0;
    return fitLength(batch.x.subarray(r * n, (r + 1) * n), input.clipSamples);
  });
  return inputsOf(waves, input);
}

/**
 * An item as training sees it: padded or truncated to `clipSamples`, then waveform-augmented when `key` is given.
 * The one definition used on the main thread and in data workers, so both give identical clips.
 */
export function prepareItem(item: AudioItem, clipSamples: number, key?: Key): AudioItem {
  const w = fitLength(item.waveform, clipSamples);
  return { ...item, waveform: key ? augmentWaveform(key, w) : w };
}

/**
 * Loads and prepares (as {@link prepareItem}) dataset item `index` elsewhere, e.g. in a data worker pool.
 * `key` is the item's augmentation key, absent when augmentation is off.
 */
export type PrepareRemote = (index: number, key: Key | undefined, clipSamples: number) => Promise<AudioItem>;

/**
 * Remote preparation that may also write the waveform in place: `prepareInto` prepares as {@link PrepareRemote}
 * with `dest.length` samples into `dest` (a view on a `SharedArrayBuffer`) and returns the rest of the item.
 */
export interface RemotePreparer {
  /** The whole item. */
  readonly prepare: PrepareRemote;
  /** The item's waveform written into `dest`, the rest returned. */
  readonly prepareInto?: (index: number, key: Key | undefined, dest: Float32Array) => Promise<ItemMeta>;
}

/**
 * The loader's view of the rest of an epoch from `position` (in batches): items in the epoch's order, each padded
 * or truncated to the clip length and, when enabled, augmented with a key from (base key, epoch, item index).
 * With `remote` the items are loaded and prepared there (a worker pool) with the same keys. The view offers
 * `getInto` (every clip has `clipSamples` samples), so a recycling loader has waveforms written straight into its
 * batches: by the remote's `prepareInto` into shared memory, else prepared here and copied in.
 */
export function epochView(
  ds: AudioDataset & { pathOf?(i: number): string },
  key: Key,
  epoch: number,
  position: number,
  batch: number,
  input: InputSettings,
  augment: AugmentSettings,
  remote?: PrepareRemote | RemotePreparer,
): LoaderSource {
  const order = epochOrder(key, epoch, ds.length).subarray(position * batch, stepsPerEpoch(ds.length, batch) * batch);
  const itemKey = foldIn(foldIn(key, ROOT.item), epoch);
  const clipSamples = input.clipSamples;
  const far = typeof remote === "function" ? { prepare: remote } : remote;
  const keyOf = (index: number) => (augment.waveform ? foldIn(itemKey, index) : undefined);
  const get = async (j: number): Promise<AudioItem> => {
    const index = order[j];
    if (far) return await far.prepare(index, keyOf(index), clipSamples);
    return prepareItem(await ds.get(index), clipSamples, keyOf(index));
  };
  return {
    length: order.length,
    get,
    samples: clipSamples,
    async getInto(j: number, dest: Float32Array): Promise<ItemMeta> {
      if (dest.length !== clipSamples) throw new Error(`getInto: dest has ${dest.length} samples, not ${clipSamples}`);
      if (far?.prepareInto && dest.buffer instanceof SharedArrayBuffer) {
        return await far.prepareInto(order[j], keyOf(order[j]), dest);
      }
      const { waveform, ...meta } = await get(j);
      dest.set(waveform);
      return meta;
    },
    pathOf: ds.pathOf ? (j: number) => ds.pathOf!(order[j]) : undefined,
  };
}
