/**
 * Batches for training and evaluation as pure functions of (seed, step): which items a step sees (a fresh
 * permutation of the dataset per epoch), their waveform augmentations, the random-erasing boxes and the mixup λ and
 * permutation all come from keys folded from the run's base key, so a resumed run sees exactly the batches an
 * uninterrupted one would. The front end runs either here on the host (FFT, float64; cheap on a CPU) or in the
 * compiled step (tensor ops; the GPU path) — both give the network the same normalised log-mels.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { tensor } from "../ops/create.ts";
import { foldIn, type Key } from "../random/threefry.ts";
import { permutation } from "../random/distributions.ts";
import { augmentWaveform, erasingMask, mixupParams, randomErasingBoxes } from "../data/augment.ts";
import type { AudioDataset, AudioItem } from "../data/dataset.ts";
import { padOrTruncate } from "../audio/waveform.ts";
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

/** Key tags folded into a step's key, one per random choice. */
const TAG = { order: 0x0d, item: 1, erasing: 2, mixup: 3, model: 4 } as const;

/** The key of step `step` of a run with base key `key`. */
export function stepKey(key: Key, step: number): Key {
  return foldIn(key, step);
}

/** The drop-path key of a step, as a tensor for the compiled step. */
export function modelKey(key: Key, step: number): Tensor {
  return tensor(foldIn(stepKey(key, step), TAG.model), { dtype: "u32" });
}

/**
 * Item indices of step `step`: epochs are consecutive blocks of ⌊length / batch⌋ steps (the last partial batch of
 * an epoch is dropped), each epoch a permutation drawn from the base key and the epoch number.
 */
export function batchIndices(key: Key, step: number, length: number, batch: number): Int32Array {
  const perEpoch = Math.floor(length / batch);
  if (perEpoch < 1) throw new Error(`training data has ${length} items, fewer than one batch of ${batch}`);
  const epoch = Math.floor(step / perEpoch), pos = step % perEpoch;
  return permutation(foldIn(foldIn(key, TAG.order), epoch), length).slice(pos * batch, (pos + 1) * batch);
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
  if (mask) for (let i = 0; i < p.length; i++) p[i] *= mask[i];
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

async function itemsOf(ds: AudioDataset, indices: ArrayLike<number>): Promise<AudioItem[]> {
  return await Promise.all(Array.from(indices, (i) => ds.get(i)));
}

function targetsOf(items: readonly AudioItem[], classes: number): Tensor {
  const t = new Float32Array(items.length * classes);
  items.forEach((it, i) => {
    if (it.target.length !== classes) {
      throw new Error(`${it.name}: target has ${it.target.length} classes, expected ${classes}`);
    }
    t.set(it.target, i * classes);
  });
  return tensor(t, { shape: [items.length, classes] });
}

/** The training batch of step `step`: items, augmentations, erasing and mixup, all from the base key and the step. */
export async function trainBatch(
  ds: AudioDataset,
  key: Key,
  step: number,
  batch: number,
  input: InputSettings,
  augment: AugmentSettings,
): Promise<StepBatch> {
  const items = await itemsOf(ds, batchIndices(key, step, ds.length, batch));
  const sk = stepKey(key, step);
  const waves = items.map((it, i) => {
    const w = padOrTruncate(it.waveform, input.clipSamples);
    return augment.waveform ? augmentWaveform(foldIn(foldIn(sk, TAG.item), i), w) : w;
  });
  let masks: Float32Array | undefined;
  if (augment.erasing) {
    const { bins, frames } = spectrogramShape(input);
    const boxes = randomErasingBoxes(foldIn(sk, TAG.erasing), batch, bins, frames);
    masks = erasingMask(boxes, batch, bins, frames);
  }
  const x = inputsOf(waves, input, masks);
  const mixup = augment.mixupAlpha > 0
    ? mixupParams(foldIn(sk, TAG.mixup), batch, augment.mixupAlpha)
    : { lambda: 1, perm: Int32Array.from({ length: batch }, (_, i) => i) };
  const out: StepBatch = {
    x,
    targets: targetsOf(items, ds.classNames.length),
    lambda: tensor(mixup.lambda, { dtype: "f32" }),
    perm: tensor(mixup.perm, { dtype: "i32" }),
  };
  if (!masks || input.frontEndOn !== "step") return out;
  const { bins, frames } = spectrogramShape(input);
  return { ...out, erasing: tensor(masks, { shape: [batch, bins, frames] }) };
}

/** One evaluation batch: inputs without augmentation and the targets; the last batch is padded by repeating item 0. */
export async function evalBatch(
  ds: AudioDataset,
  start: number,
  batch: number,
  input: InputSettings,
): Promise<{ x: Tensor; targets: Float32Array; count: number }> {
  const count = Math.min(batch, ds.length - start);
  const indices = Array.from({ length: batch }, (_, i) => (i < count ? start + i : start));
  const items = await itemsOf(ds, indices);
  const x = inputsOf(items.map((it) => padOrTruncate(it.waveform, input.clipSamples)), input);
  const classes = ds.classNames.length;
  const targets = new Float32Array(count * classes);
  for (let i = 0; i < count; i++) targets.set(items[i].target, i * classes);
  return { x, targets, count };
}
