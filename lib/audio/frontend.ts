/**
 * The paper's log-mel front end as tensor ops, so it runs on every backend (and inside compiled GPU steps) with the
 * CPU reference as ground truth: reflect-padded STFT as one strided convolution with the windowed DFT basis (no frame
 * tensor is materialised), power, optional random-erasing mask, HTK mel matmul, dB, normalisation.
 * @module
 */
import type { DType } from "../core/dtype.ts";
import type { Tensor } from "../core/tensor.ts";
import { fail, fmt } from "../core/shape.ts";
import { add, div, log, maximum, mul, square } from "../ops/elementwise.ts";
import { concat, flip, reshape, slice } from "../ops/movement.ts";
import { conv1d } from "../ops/conv.ts";
import { matmul } from "../ops/linalg.ts";
import { tensor } from "../ops/create.ts";
import { dftBasis, FRONTEND, hannWindow, melFilterbank } from "./mel.ts";

/** Options of the front end (defaults: the paper's). */
export interface FrontEndOptions {
  /** STFT size (default 1024). */
  nFft?: number;
  /** Hop between frames (default 320). */
  hop?: number;
  /** Number of mel bands (default 128). */
  nMels?: number;
  /** Sample rate (default 32000). */
  sampleRate?: number;
  /** Lowest mel edge in Hz (default 50). */
  fMin?: number;
  /** Highest mel edge in Hz (default 14000). */
  fMax?: number;
  /** Normalisation mean and std (defaults: the paper's AudioSet statistics). */
  mean?: number;
  /** See `mean`. */
  std?: number;
}

const constants = new Map<string, { basis: Tensor; fbank: Tensor }>();

function constantsFor(dtype: DType, o: Required<FrontEndOptions>) {
  const key = `${dtype}|${o.nFft}|${o.nMels}|${o.sampleRate}|${o.fMin}|${o.fMax}`;
  let c = constants.get(key);
  if (!c) {
    const bins = o.nFft / 2 + 1;
    const { cos, sin } = dftBasis(o.nFft, hannWindow(o.nFft, true));
    // Conv weight [2·bins, 1, nFft]: rows are the windowed cosines, then the windowed sines.
    const w = new Float64Array(2 * bins * o.nFft);
    for (let n = 0; n < o.nFft; n++) {
      for (let k = 0; k < bins; k++) {
        w[k * o.nFft + n] = cos[n * bins + k];
        w[(bins + k) * o.nFft + n] = sin[n * bins + k];
      }
    }
    const fb = melFilterbank({
      nFreqs: bins,
      nMels: o.nMels,
      sampleRate: o.sampleRate,
      fMin: o.fMin,
      fMax: o.fMax,
      scale: "htk",
      norm: null,
    });
    // Transposed to [nMels, bins] so the mel step is one matmul on [B, bins, T].
    const fbT = new Float64Array(o.nMels * bins);
    for (let k = 0; k < bins; k++) for (let m = 0; m < o.nMels; m++) fbT[m * bins + k] = fb[k * o.nMels + m];
    c = {
      basis: tensor(w, { shape: [2 * bins, 1, o.nFft], dtype }),
      fbank: tensor(fbT, { shape: [o.nMels, bins], dtype }),
    };
    constants.set(key, c);
  }
  return c;
}

function resolve(opts: FrontEndOptions): Required<FrontEndOptions> {
  return {
    nFft: opts.nFft ?? FRONTEND.nFft,
    hop: opts.hop ?? FRONTEND.hop,
    nMels: opts.nMels ?? FRONTEND.nMels,
    sampleRate: opts.sampleRate ?? FRONTEND.sampleRate,
    fMin: opts.fMin ?? FRONTEND.fMin,
    fMax: opts.fMax ?? FRONTEND.fMax,
    mean: opts.mean ?? FRONTEND.mean,
    std: opts.std ?? FRONTEND.std,
  };
}

/** Power spectrogram |STFT|² of waveforms [B, N] → [B, nFft/2+1, frames] (centred, reflect padding, periodic Hann). */
export function powerSpectrogram(wave: Tensor, opts: FrontEndOptions = {}): Tensor {
  const o = resolve(opts);
  if (wave.ndim !== 2) fail("powerSpectrogram", `expects waveforms [B, N], got ${fmt(wave.shape)}`);
  const [b, n] = wave.shape;
  const half = o.nFft / 2;
  if (n <= half) fail("powerSpectrogram", `waveform of ${n} samples is too short for reflect padding of ${half}`);
  const left = flip(slice(wave, [0, 1], [b, half + 1]), 1);
  const right = flip(slice(wave, [0, n - half - 1], [b, n - 1]), 1);
  const padded = reshape(concat([left, wave, right], 1), [b, 1, n + 2 * half]);
  const { basis } = constantsFor(wave.dtype, o);
  const spec = conv1d(padded, basis, { stride: o.hop });
  const bins = half + 1;
  const frames = spec.shape[2];
  const re = slice(spec, [0, 0], [b, bins]), im = slice(spec, [0, bins], [b, 2 * bins]);
  return reshape(add(square(re), square(im)), [b, bins, frames]);
}

/** Mel power → dB, 10·log10(max(x, 1e-10)), without top-dB clipping. */
export function powerToDb(x: Tensor): Tensor {
  return mul(log(maximum(x, FRONTEND.ampMin)), 10 / Math.LN10);
}

/**
 * The whole front end: waveforms [B, N] → normalised log-mel [B, 1, nMels, frames]. `erasing`, a 0/1 mask
 * [B, bins, frames], zeroes boxes of the power spectrogram before the mel scale (training-time random erasing).
 */
export function logMel(wave: Tensor, opts: FrontEndOptions & { erasing?: Tensor } = {}): Tensor {
  const o = resolve(opts);
  let power = powerSpectrogram(wave, o);
  if (opts.erasing) power = mul(power, opts.erasing);
  const { fbank } = constantsFor(wave.dtype, o);
  const mel = matmul(fbank, power);
  const db = powerToDb(mel);
  const [b, m, t] = db.shape;
  return reshape(div(add(db, -o.mean), o.std), [b, 1, m, t]);
}
