/**
 * Building blocks of the paper's log-mel front end: window, mel filterbank (torchaudio semantics), DFT basis for an
 * STFT done as a matrix product, and the front-end constants.
 *
 * @module
 */

import { linspaceF32, torchPowF32 } from "./torch_f32.ts";

/** Constants of the paper's front end (spec §4): 32 kHz audio, 1024-point STFT every 10 ms, 128 HTK mels. */
export const FRONTEND = {
  sampleRate: 32000,
  nFft: 1024,
  hop: 320,
  nMels: 128,
  fMin: 50,
  fMax: 14000,
  /** Dataset mean of the dB mel spectrogram, subtracted before dividing by `std`. */
  mean: -18.2696,
  /** Dataset standard deviation of the dB mel spectrogram. */
  std: 30.5735,
  /** Floor applied to mel power before the log, so silence maps to −100 dB. */
  ampMin: 1e-10,
  /** Clip length in samples (10 s), the PadOrTruncate target. */
  clipSamples: 320000,
} as const;

/**
 * Hann window of length n, as torch.hann_window: periodic (the default, for spectral analysis) has period n, i.e. it is
 * the first n points of a symmetric window of length n + 1.
 */
export function hannWindow(n: number, periodic = true): Float64Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`hannWindow: length must be a non-negative integer, got ${n}`);
  const w = new Float64Array(n);
  if (n === 1) {
    w[0] = 1;
    return w;
  }
  const period = periodic ? n : n - 1;
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / period);
  return w;
}

/** Mel scale variants of torchaudio. */
export type MelScale = "htk" | "slaney";

/** Options of {@linkcode melFilterbank}, named as torchaudio.functional.melscale_fbanks. */
export interface MelFilterbankOptions {
  /** Number of frequency bins, nFft / 2 + 1. */
  readonly nFreqs: number;
  /** Number of mel filters. */
  readonly nMels: number;
  /** Sample rate in Hz. */
  readonly sampleRate: number;
  /** Lowest filter edge in Hz. */
  readonly fMin: number;
  /** Highest filter edge in Hz. */
  readonly fMax: number;
  /** Mel scale; the paper uses "htk". */
  readonly scale?: MelScale;
  /** "slaney" divides each filter by its width in Hz (constant area); null keeps peak 1 (the paper). */
  readonly norm?: "slaney" | null;
  /**
   * Arithmetic of the construction. "float32" (default) repeats torchaudio's float32 tensor steps, so the values are
   * the ones PyTorch users get (torchaudio builds the filterbank in the default dtype and ships it as MelSpectrogram's
   * `fb` buffer). "float64" evaluates the same formulas in double precision: a cleaner reference that differs from
   * torchaudio near filter edges by up to ~1e-5, where float32 rounding of the corner frequencies shifts the slopes.
   */
  readonly precision?: "float32" | "float64";
}

const SLANEY_F_SP = 200 / 3;
const SLANEY_MIN_LOG_HZ = 1000;
const SLANEY_MIN_LOG_MEL = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;
const SLANEY_LOGSTEP = Math.log(6.4) / 27;

/** Hertz to mels on the given scale (torchaudio `_hz_to_mel`). */
export function hzToMel(hz: number, scale: MelScale = "htk"): number {
  if (scale === "htk") return 2595 * Math.log10(1 + hz / 700);
  if (hz < SLANEY_MIN_LOG_HZ) return hz / SLANEY_F_SP;
  return SLANEY_MIN_LOG_MEL + Math.log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
}

/** Mels to hertz on the given scale (torchaudio `_mel_to_hz`). */
export function melToHz(mel: number, scale: MelScale = "htk"): number {
  if (scale === "htk") return 700 * (10 ** (mel / 2595) - 1);
  if (mel < SLANEY_MIN_LOG_MEL) return mel * SLANEY_F_SP;
  return SLANEY_MIN_LOG_HZ * Math.exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
}

function linspace(lo: number, hi: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = lo;
    return out;
  }
  const step = (hi - lo) / (n - 1);
  // torch.linspace fills the second half from the end so that both endpoints are exact.
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? lo + step * i : hi - step * (n - 1 - i);
  return out;
}

// Each float32 tensor op in torchaudio rounds its result; f32 marks those roundings (float32 kernels in ./torch_f32.ts).
const f32 = Math.fround;

// torchaudio's Python float constants become float32 scalars in tensor arithmetic.
const F_SP_F32 = f32(SLANEY_F_SP);
const MIN_LOG_MEL_F32 = f32(SLANEY_MIN_LOG_MEL);
const LOGSTEP_F32 = f32(SLANEY_LOGSTEP);

/** torchaudio `_mel_to_hz` on a float32 tensor of mels (element i of n). */
function melToHzF32(mel: number, scale: MelScale, i: number, n: number): number {
  if (scale === "htk") return f32(700 * f32(torchPowF32(10, f32(mel / 2595), i, n) - 1));
  if (mel < MIN_LOG_MEL_F32) return f32(F_SP_F32 * mel);
  // torch.exp runs through MKL or Sleef (faithful to 1 ulp); the correctly rounded value is the closest stand-in.
  return f32(SLANEY_MIN_LOG_HZ * f32(Math.exp(f32(LOGSTEP_F32 * f32(mel - MIN_LOG_MEL_F32)))));
}

function validate(opts: MelFilterbankOptions): void {
  const { nFreqs, nMels, sampleRate, fMin, fMax, scale = "htk", norm = null, precision = "float32" } = opts;
  if (!(sampleRate > 0)) throw new Error(`melFilterbank: sampleRate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(nFreqs) || nFreqs < 2) throw new Error(`melFilterbank: nFreqs must be an integer ≥ 2`);
  if (!Number.isInteger(nMels) || nMels < 1) throw new Error(`melFilterbank: nMels must be a positive integer`);
  if (!(fMin >= 0 && fMin < fMax)) throw new Error(`melFilterbank: need 0 ≤ fMin < fMax, got ${fMin}, ${fMax}`);
  if (scale !== "htk" && scale !== "slaney") throw new Error(`melFilterbank: scale must be "htk" or "slaney"`);
  if (norm !== null && norm !== "slaney") throw new Error(`melFilterbank: norm must be "slaney" or null`);
  if (precision !== "float32" && precision !== "float64") {
    throw new Error(`melFilterbank: precision must be "float32" or "float64", got ${precision}`);
  }
}

/**
 * Corner frequencies in Hz of the triangular filters: nMels + 2 points equally spaced in mels from fMin to fMax;
 * filter m rises from edge m to a peak at edge m + 1 and falls to edge m + 2. With precision "float32" (default)
 * these are torchaudio's float32 `f_pts`, the corners {@linkcode melFilterbank} builds on.
 */
export function melFilterEdges(opts: MelFilterbankOptions): Float64Array {
  validate(opts);
  const { nMels, fMin, fMax, scale = "htk", precision = "float32" } = opts;
  // torchaudio converts fMin and fMax to mels in Python (float64) and only then makes float32 tensors.
  const mMin = hzToMel(fMin, scale);
  const mMax = hzToMel(fMax, scale);
  const n = nMels + 2;
  if (precision === "float64") return linspace(mMin, mMax, n).map((m) => melToHz(m, scale));
  return linspaceF32(mMin, mMax, n).map((m, i) => melToHzF32(m, scale, i, n));
}

/**
 * Triangular mel filterbank of torchaudio.functional.melscale_fbanks. The default, precision "float32", repeats
 * torchaudio's float32 computation step by step (torch.linspace, torch.pow, the slope divisions), so the values equal
 * torchaudio's on CPUs with FMA (x86 AVX2/AVX-512, ARM), bit for bit for the paper's configuration; they are
 * float32 numbers held in a Float64Array. "float64" is the exact-arithmetic value of the same formulas.
 *
 * @returns row-major `[nFreqs, nMels]` matrix, so `power[T, nFreqs] @ fb` gives mel power `[T, nMels]`
 */
export function melFilterbank(opts: MelFilterbankOptions): Float64Array {
  const { nFreqs, nMels, sampleRate, norm = null, precision = "float32" } = opts;
  const fPts = melFilterEdges(opts);
  const fb = new Float64Array(nFreqs * nMels);
  // torchaudio takes the Nyquist frequency with integer division.
  const nyquist = Math.floor(sampleRate / 2);
  if (precision === "float64") {
    const freqs = linspace(0, nyquist, nFreqs);
    for (let m = 0; m < nMels; m++) {
      const lower = fPts[m + 1] - fPts[m];
      const upper = fPts[m + 2] - fPts[m + 1];
      const enorm = norm === "slaney" ? 2 / (fPts[m + 2] - fPts[m]) : 1;
      for (let f = 0; f < nFreqs; f++) {
        const down = (freqs[f] - fPts[m]) / lower;
        const up = (fPts[m + 2] - freqs[f]) / upper;
        fb[f * nMels + m] = Math.max(0, Math.min(down, up)) * enorm;
      }
    }
    return fb;
  }
  // _create_triangular_filterbank: slopes = f_pts - all_freqs; down = (-1 · slopes[:, :-2]) / f_diff[:-1];
  // up = slopes[:, 2:] / f_diff[1:]; fb = max(0, min(down, up)), each tensor op rounded to float32.
  const freqs = linspaceF32(0, nyquist, nFreqs);
  for (let m = 0; m < nMels; m++) {
    const lower = f32(fPts[m + 1] - fPts[m]);
    const upper = f32(fPts[m + 2] - fPts[m + 1]);
    // 2.0 / t is t.reciprocal() * 2.0 in PyTorch: the same float32 number, since doubling is exact.
    const enorm = norm === "slaney" ? f32(2 / f32(fPts[m + 2] - fPts[m])) : 1;
    for (let f = 0; f < nFreqs; f++) {
      const down = f32(-f32(fPts[m] - freqs[f]) / lower);
      const up = f32(f32(fPts[m + 2] - freqs[f]) / upper);
      fb[f * nMels + m] = f32(Math.max(0, Math.min(down, up)) * enorm);
    }
  }
  return fb;
}

/** Real DFT basis of {@linkcode dftBasis}: `x[T, nFft] @ cos` and `x @ sin` give the real and imaginary parts. */
export interface DftBasis {
  /** `cos[n, k] = w[n] · cos(2πnk / nFft)`, row-major `[nFft, nFft / 2 + 1]`. */
  readonly cos: Float64Array;
  /** `sin[n, k] = −w[n] · sin(2πnk / nFft)` (sign of the forward DFT), row-major `[nFft, nFft / 2 + 1]`. */
  readonly sin: Float64Array;
  /** `[nFft, nFft / 2 + 1]`. */
  readonly shape: readonly [number, number];
}

/**
 * Basis matrices of the one-sided DFT, so an STFT becomes two matrix products on any backend:
 * power = (frames @ cos)² + (frames @ sin)². Passing the analysis window folds it into the basis.
 */
export function dftBasis(nFft: number, window?: ArrayLike<number>): DftBasis {
  if (!Number.isInteger(nFft) || nFft < 1) throw new Error(`dftBasis: nFft must be a positive integer, got ${nFft}`);
  if (window && window.length !== nFft) throw new Error(`dftBasis: window has ${window.length} points, nFft ${nFft}`);
  const bins = Math.floor(nFft / 2) + 1;
  const cos = new Float64Array(nFft * bins);
  const sin = new Float64Array(nFft * bins);
  for (let n = 0; n < nFft; n++) {
    const w = window ? window[n] : 1;
    for (let k = 0; k < bins; k++) {
      // Reducing n·k modulo nFft first keeps the angle small, so large n·k lose no precision.
      const angle = (2 * Math.PI * ((n * k) % nFft)) / nFft;
      cos[n * bins + k] = w * Math.cos(angle);
      sin[n * bins + k] = -w * Math.sin(angle);
    }
  }
  return { cos, sin, shape: [nFft, bins] };
}
