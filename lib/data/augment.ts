/**
 * Training augmentations of the DCLS audio recipe (spec §4–5), on the host, with explicit Threefry keys: waveform
 * roll and speed perturbation, mixup (λ ~ Beta(α, α), a batch permutation, label smoothing) and timm-style random
 * erasing boxes for the power spectrogram. Every function is pure: same key, same result.
 *
 * Order in the recipe: per item `randomRoll` → `speedPerturb` (see {@link augmentWaveform}); spectrogram; per item
 * random erasing on the power spectrogram; mel, dB, normalisation; per batch `smoothLabels` then `mixBatch` with
 * {@link mixupParams}.
 *
 * @module
 */

import { foldIn, type Key, splitKey } from "../random/threefry.ts";
import { beta, permutation, randint, uniform } from "../random/distributions.ts";

/**
 * Rolls `x` circularly by an integer shift drawn uniformly from [−maxShift, maxShift) (default: the length), as
 * `np.roll(x, shift)`: `out[i] = x[(i − shift) mod N]`.
 */
export function randomRoll(key: Key, x: Float32Array, maxShift: number = x.length): Float32Array<ArrayBuffer> {
  const n = x.length;
  if (n === 0) return new Float32Array(0);
  if (!Number.isInteger(maxShift) || maxShift < 0) throw new Error(`randomRoll: maxShift must be an integer ≥ 0`);
  const shift = maxShift === 0 ? 0 : randint(key, 1, -maxShift, maxShift)[0];
  const s = ((shift % n) + n) % n;
  const out = new Float32Array(n);
  out.set(x.subarray(n - s), 0);
  out.set(x.subarray(0, n - s), s);
  return out;
}

/** Options of {@link speedPerturb}. */
export interface SpeedPerturbOptions {
  /** Probability of perturbing at all, default 0.5. */
  readonly p?: number;
  /** Lowest rate, default 0.5. */
  readonly lo?: number;
  /** Highest rate, default 1.5. */
  readonly hi?: number;
}

/** Python's `round` / `torch.round`: halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Nearest-neighbour resampling by `rate`: the samples at indices round(k / rate) for k / rate < N (⌈N·rate⌉ of
 * them), clipped to N − 1 (spec §4; `torchoutil.resample_nearest_rates` with `torch.round`).
 */
export function resampleNearest(x: Float32Array, rate: number): Float32Array<ArrayBuffer> {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`resampleNearest: rate must be positive, got ${rate}`);
  const n = x.length;
  const step = 1 / rate;
  const m = Math.ceil(n / step);
  const out = new Float32Array(m);
  for (let k = 0; k < m; k++) out[k] = x[Math.min(n - 1, roundHalfEven(k * step))];
  return out;
}

/**
 * Speed perturbation (spec §4): with probability `p`, resample by a rate r ~ U(lo, hi) with {@link resampleNearest},
 * then zero-pad or crop back to the input length with a random alignment (offset uniform in [0, |M − N|]). Keys:
 * `split(key, 3)` = [apply?, rate, alignment]. Returns a copy of `x` when not applied.
 */
export function speedPerturb(key: Key, x: Float32Array, opts: SpeedPerturbOptions = {}): Float32Array<ArrayBuffer> {
  const { p = 0.5, lo = 0.5, hi = 1.5 } = opts;
  if (!(p >= 0 && p <= 1)) throw new Error(`speedPerturb: p must be in [0, 1], got ${p}`);
  if (!(lo > 0 && lo <= hi)) throw new Error(`speedPerturb: need 0 < lo ≤ hi, got lo ${lo}, hi ${hi}`);
  const [kApply, kRate, kAlign] = splitKey(key, 3);
  if (!(uniform(kApply, 1)[0] < p)) return Float32Array.from(x);
  const n = x.length;
  const y = resampleNearest(x, uniform(kRate, 1, { lo, hi })[0]);
  const offset = randint(kAlign, 1, 0, Math.abs(y.length - n) + 1)[0];
  const out = new Float32Array(n);
  if (y.length >= n) out.set(y.subarray(offset, offset + n));
  else out.set(y, offset);
  return out;
}

/** Options of {@link augmentWaveform}. */
export interface WaveformAugmentOptions {
  /** Roll range (default: the clip length). */
  readonly maxShift?: number;
  /** Speed perturbation settings. */
  readonly speed?: SpeedPerturbOptions;
}

/** The recipe's training waveform augmentation: {@link randomRoll} then {@link speedPerturb}, keys from `split(key)`. */
export function augmentWaveform(
  key: Key,
  x: Float32Array,
  opts: WaveformAugmentOptions = {},
): Float32Array<ArrayBuffer> {
  const [kRoll, kSpeed] = splitKey(key, 2);
  return speedPerturb(kSpeed, randomRoll(kRoll, x, opts.maxShift ?? x.length), opts.speed);
}

/** Mixup's per-batch randomness. */
export interface MixupParams {
  /** Weight of each item itself, λ ~ Beta(α, α). */
  readonly lambda: number;
  /** The partner of item i is item perm[i]. */
  readonly perm: Int32Array;
}

/** λ ~ Beta(α, α) (two Gamma draws, Marsaglia–Tsang) and a random permutation of the batch; keys `split(key)`. */
export function mixupParams(key: Key, batch: number, alpha = 0.8): MixupParams {
  if (!(alpha > 0)) throw new Error(`mixupParams: alpha must be positive, got ${alpha}`);
  const [kLambda, kPerm] = splitKey(key, 2);
  return { lambda: beta(kLambda, alpha, alpha, 1)[0], perm: permutation(kPerm, batch) };
}

/**
 * Label smoothing as the recipe applies it before mixup: `t·(1 − eps) + eps / classes`. `t` may hold a whole
 * [B, C] batch; `classes` defaults to `t.length` (one row), so pass it for batches.
 */
export function smoothLabels(t: Float32Array, eps = 0.1, classes: number = t.length): Float32Array<ArrayBuffer> {
  if (!(eps >= 0 && eps <= 1)) throw new Error(`smoothLabels: eps must be in [0, 1], got ${eps}`);
  if (!Number.isInteger(classes) || classes <= 0 || t.length % classes !== 0) {
    throw new Error(`smoothLabels: classes (${classes}) must divide the target length ${t.length}`);
  }
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = t[i] * (1 - eps) + eps / classes;
  return out;
}

/**
 * Mixup of a batch: `x_i ← λ·x_i + (1 − λ)·x_perm[i]`, and the same for the targets. `x` and `targets` are flat
 * row-major [B, …] arrays with B = perm.length.
 */
export function mixBatch(
  x: Float32Array,
  targets: Float32Array,
  lambda: number,
  perm: ArrayLike<number>,
): { x: Float32Array<ArrayBuffer>; targets: Float32Array<ArrayBuffer> } {
  const b = perm.length;
  const mix = (a: Float32Array, what: string) => {
    if (b === 0 || a.length % b !== 0) {
      throw new Error(`mixBatch: ${what} length ${a.length} is not a multiple of ${b}`);
    }
    const row = a.length / b;
    const out = new Float32Array(a.length);
    for (let i = 0; i < b; i++) {
      const j = perm[i];
      if (!(j >= 0 && j < b)) throw new Error(`mixBatch: perm[${i}] = ${j} is out of range`);
      for (let k = 0; k < row; k++) out[i * row + k] = lambda * a[i * row + k] + (1 - lambda) * a[j * row + k];
    }
    return out;
  };
  return { x: mix(x, "x"), targets: mix(targets, "targets") };
}

/** A rectangle to zero on one spectrogram of a batch: rows [top, top + height) × columns [left, left + width). */
export interface ErasingBox {
  /** Batch index. */
  readonly index: number;
  /** First frequency bin. */
  readonly top: number;
  /** First time frame. */
  readonly left: number;
  /** Number of frequency bins. */
  readonly height: number;
  /** Number of time frames. */
  readonly width: number;
}

/** Options of {@link randomErasingBoxes}; defaults are the recipe's (spec §4). */
export interface RandomErasingOptions {
  /** Probability of erasing a given sample, default 0.25. */
  readonly p?: number;
  /** Smallest erased fraction of the image, default 0.02. */
  readonly minArea?: number;
  /** Largest erased fraction, default 1/3. */
  readonly maxArea?: number;
  /** Smallest aspect ratio height/width, default 0.3 (largest is its inverse). */
  readonly minAspect?: number;
  /** Boxes per erased sample, default 1. */
  readonly count?: number;
}

/**
 * Boxes of timm's `RandomErasing(mode="const")` for a batch of [freq, time] images (height = frequency): per sample
 * with probability p, `count` boxes, each from up to 10 attempts of target area U(minArea, maxArea)·F·T / count and
 * aspect exp(U(log minAspect, −log minAspect)), h = round(√(area·aspect)), w = round(√(area/aspect)), accepted when
 * h < F and w < T, placed at top ~ U{0..F−h}, left ~ U{0..T−w}. Sample b draws from `foldIn(key, b)`.
 */
export function randomErasingBoxes(
  key: Key,
  batch: number,
  freq: number,
  time: number,
  opts: RandomErasingOptions = {},
): ErasingBox[] {
  const { p = 0.25, minArea = 0.02, maxArea = 1 / 3, minAspect = 0.3, count = 1 } = opts;
  if (!(p >= 0 && p <= 1)) throw new Error(`randomErasingBoxes: p must be in [0, 1], got ${p}`);
  if (!(minArea > 0 && minArea <= maxArea)) throw new Error(`randomErasingBoxes: need 0 < minArea ≤ maxArea`);
  if (!(minAspect > 0)) throw new Error(`randomErasingBoxes: minAspect must be positive`);
  if (!Number.isInteger(count) || count < 1) throw new Error(`randomErasingBoxes: count must be an integer ≥ 1`);
  for (const [name, v] of [["batch", batch], ["freq", freq], ["time", time]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`randomErasingBoxes: ${name} must be an integer ≥ 0, got ${v}`);
  }
  const logLo = Math.log(minAspect);
  const logHi = -logLo;
  const area = freq * time;
  const boxes: ErasingBox[] = [];
  for (let b = 0; b < batch; b++) {
    // One apply draw, then four draws (area, aspect, top, left) for each of up to 10 attempts per box.
    const u = uniform(foldIn(key, b), 1 + 40 * count);
    if (u[0] >= p) continue;
    for (let c = 0; c < count; c++) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const at = 1 + 40 * c + 4 * attempt;
        const target = ((minArea + u[at] * (maxArea - minArea)) * area) / count;
        const aspect = Math.exp(logLo + u[at + 1] * (logHi - logLo));
        const h = roundHalfEven(Math.sqrt(target * aspect));
        const w = roundHalfEven(Math.sqrt(target / aspect));
        if (w < time && h < freq) {
          // random.randint(0, F − h) includes both ends; a box rounded to zero size erases nothing, as in timm.
          const top = Math.floor(u[at + 2] * (freq - h + 1));
          const left = Math.floor(u[at + 3] * (time - w + 1));
          if (h > 0 && w > 0) boxes.push({ index: b, top, left, height: h, width: w });
          break;
        }
      }
    }
  }
  return boxes;
}

/** A [batch, freq, time] mask, 0 inside the boxes and 1 elsewhere, to multiply the power spectrogram by. */
export function erasingMask(
  boxes: readonly ErasingBox[],
  batch: number,
  freq: number,
  time: number,
): Float32Array<ArrayBuffer> {
  const mask = new Float32Array(batch * freq * time).fill(1);
  for (const { index, top, left, height, width } of boxes) {
    if (index < 0 || index >= batch || top < 0 || left < 0 || top + height > freq || left + width > time) {
      throw new Error(
        `erasingMask: box ${JSON.stringify({ index, top, left, height, width })} outside [${batch}, ${freq}, ${time}]`,
      );
    }
    for (let f = top; f < top + height; f++) {
      mask.fill(0, (index * freq + f) * time + left, (index * freq + f) * time + left + width);
    }
  }
  return mask;
}

/**
 * Boxes as a `[batch, count, 4]` array of (top, bottom, left, right), end exclusive, for
 * `erasingMaskFromBoxes` (lib/audio/frontend.ts); a clip's unused slots stay (0, 0, 0, 0), which erases nothing.
 */
export function erasingBoxArray(boxes: readonly ErasingBox[], batch: number, count = 1): Float32Array<ArrayBuffer> {
  const out = new Float32Array(batch * count * 4);
  const used = new Int32Array(batch);
  for (const { index, top, left, height, width } of boxes) {
    if (index < 0 || index >= batch) {
      throw new Error(`erasingBoxArray: box for clip ${index} outside a batch of ${batch}`);
    }
    if (used[index] >= count) throw new Error(`erasingBoxArray: more than ${count} boxes for clip ${index}`);
    out.set([top, top + height, left, left + width], (index * count + used[index]++) * 4);
  }
  return out;
}
