/**
 * Building blocks of the paper's log-mel front end: window, mel filterbank (torchaudio semantics), DFT basis for an
 * STFT done as a matrix product, and the front-end constants.
 *
 * @module
 */

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

/**
 * Corner frequencies in Hz of the triangular filters: nMels + 2 points equally spaced in mels from fMin to fMax;
 * filter m rises from edge m to a peak at edge m + 1 and falls to edge m + 2.
 */
export function melFilterEdges(opts: MelFilterbankOptions): Float64Array {
  const { nFreqs, nMels, sampleRate, fMin, fMax, scale = "htk" } = opts;
  if (!(sampleRate > 0)) throw new Error(`melFilterbank: sampleRate must be positive, got ${sampleRate}`);
  if (!Number.isInteger(nFreqs) || nFreqs < 2) throw new Error(`melFilterbank: nFreqs must be an integer ≥ 2`);
  if (!Number.isInteger(nMels) || nMels < 1) throw new Error(`melFilterbank: nMels must be a positive integer`);
  if (!(fMin >= 0 && fMin < fMax)) throw new Error(`melFilterbank: need 0 ≤ fMin < fMax, got ${fMin}, ${fMax}`);
  return linspace(hzToMel(fMin, scale), hzToMel(fMax, scale), nMels + 2).map((m) => melToHz(m, scale));
}

/**
 * Triangular mel filterbank, identical in definition to torchaudio.functional.melscale_fbanks, evaluated in float64.
 * torchaudio evaluates it in float32, where rounding of the high corner frequencies (a few float32 ulps, ~1e-3 Hz)
 * moves filter values near edges by up to ~1.2e-5; this version is the exact-arithmetic value of the same formulas.
 *
 * @returns row-major `[nFreqs, nMels]` matrix, so `power[T, nFreqs] @ fb` gives mel power `[T, nMels]`
 */
export function melFilterbank(opts: MelFilterbankOptions): Float64Array {
  const { nFreqs, nMels, sampleRate, norm = null } = opts;
  const fPts = melFilterEdges(opts);
  // torchaudio takes the Nyquist frequency with integer division.
  const freqs = linspace(0, Math.floor(sampleRate / 2), nFreqs);
  const fb = new Float64Array(nFreqs * nMels);
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
