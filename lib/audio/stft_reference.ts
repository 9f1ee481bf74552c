/**
 * Float64 host reference of the paper's whole front end: pad or truncate to 10 s, centred reflect-padded STFT with a
 * periodic Hann window, power spectrum, HTK mel, dB, normalisation. Slow-path ground truth for the tensor version.
 *
 * @module
 */

import { FRONTEND, hannWindow, melFilterbank } from "./mel.ts";

/** A float64 matrix, row-major. */
export interface Matrix {
  /** Row-major values. */
  readonly data: Float64Array;
  /** `[rows, cols]`. */
  readonly shape: readonly [number, number];
}

/** Options of the front end; every field defaults to {@linkcode FRONTEND}. */
export interface FrontendOptions {
  /** Sample rate in Hz. */
  readonly sampleRate?: number;
  /** FFT size, a power of two (also the window length). */
  readonly nFft?: number;
  /** Hop between frames in samples. */
  readonly hop?: number;
  /** Number of mel filters. */
  readonly nMels?: number;
  /** Lowest mel edge in Hz. */
  readonly fMin?: number;
  /** Highest mel edge in Hz. */
  readonly fMax?: number;
  /** Normalisation mean (dB). */
  readonly mean?: number;
  /** Normalisation standard deviation (dB). */
  readonly std?: number;
  /** Floor on mel power before the log. */
  readonly ampMin?: number;
}

/** Zero-pads at the end or keeps the first `length` samples (the dataset's PadOrTruncate). */
export function padOrTruncate(wave: ArrayLike<number>, length: number = FRONTEND.clipSamples): Float64Array {
  if (!Number.isInteger(length) || length < 0) throw new Error(`padOrTruncate: length must be a non-negative integer`);
  const out = new Float64Array(length);
  const n = Math.min(length, wave.length);
  for (let i = 0; i < n; i++) out[i] = wave[i];
  return out;
}

/** Mirrors `pad` samples at each end without repeating the edge sample (numpy/torch "reflect"). */
export function reflectPad(x: ArrayLike<number>, pad: number): Float64Array {
  if (pad >= x.length) throw new Error(`reflectPad: padding ${pad} needs a signal longer than ${pad}, got ${x.length}`);
  const n = x.length;
  const out = new Float64Array(n + 2 * pad);
  for (let i = 0; i < pad; i++) {
    out[i] = x[pad - i];
    out[pad + n + i] = x[n - 2 - i];
  }
  for (let i = 0; i < n; i++) out[pad + i] = x[i];
  return out;
}

/**
 * A planned radix-2 FFT of a real signal of length n (a power of two): the n real samples are packed into n/2 complex
 * ones, transformed by an iterative complex FFT, then split into the n/2 + 1 one-sided bins.
 */
export interface RealFft {
  /** Signal length. */
  readonly n: number;
  /** Transforms `input` (length n) into `re`, `im` (length n/2 + 1 each). */
  forward(input: ArrayLike<number>, re: Float64Array, im: Float64Array): void;
}

/** Plans a real FFT of length n (a power of two ≥ 2). */
export function planRealFft(n: number): RealFft {
  if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0) {
    throw new Error(`planRealFft: length must be a power of two ≥ 2, got ${n}`);
  }
  const m = n / 2;
  const bits = Math.log2(m);
  const rev = new Uint32Array(m);
  for (let i = 0; i < m; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  // Twiddles e^{-2πik/n} for k < n/2 serve both the half-size complex FFT (even k) and the final split (all k).
  const twRe = new Float64Array(m);
  const twIm = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    twRe[k] = Math.cos((2 * Math.PI * k) / n);
    twIm[k] = -Math.sin((2 * Math.PI * k) / n);
  }
  const zr = new Float64Array(m);
  const zi = new Float64Array(m);

  function forward(input: ArrayLike<number>, re: Float64Array, im: Float64Array): void {
    if (input.length !== n) throw new Error(`RealFft.forward: expected ${n} samples, got ${input.length}`);
    for (let i = 0; i < m; i++) {
      zr[rev[i]] = input[2 * i];
      zi[rev[i]] = input[2 * i + 1];
    }
    for (let size = 2; size <= m; size *= 2) {
      const half = size / 2;
      const stride = n / size; // twiddle step in units of e^{-2πi/n}
      for (let start = 0; start < m; start += size) {
        for (let j = 0; j < half; j++) {
          const wr = twRe[j * stride];
          const wi = twIm[j * stride];
          const a = start + j;
          const b = a + half;
          const tr = zr[b] * wr - zi[b] * wi;
          const ti = zr[b] * wi + zi[b] * wr;
          zr[b] = zr[a] - tr;
          zi[b] = zi[a] - ti;
          zr[a] += tr;
          zi[a] += ti;
        }
      }
    }
    // Split: E_k = (Z_k + conj Z_{m-k}) / 2 is the FFT of even samples, O_k = (Z_k - conj Z_{m-k}) / 2i of odd ones.
    re[0] = zr[0] + zi[0];
    im[0] = 0;
    re[m] = zr[0] - zi[0];
    im[m] = 0;
    for (let k = 1; k < m; k++) {
      const ar = zr[k];
      const ai = zi[k];
      const br = zr[m - k];
      const bi = -zi[m - k];
      const er = (ar + br) / 2;
      const ei = (ai + bi) / 2;
      const or = (ai - bi) / 2;
      const oi = -(ar - br) / 2;
      re[k] = er + or * twRe[k] - oi * twIm[k];
      im[k] = ei + or * twIm[k] + oi * twRe[k];
    }
  }
  return { n, forward };
}

/**
 * Power spectrogram |STFT|² as torchaudio.transforms.Spectrogram(n_fft, hop_length=hop, power=2) computes it: centred
 * frames (reflect padding of nFft/2), periodic Hann window, no normalisation.
 *
 * @returns `[nFft/2 + 1, frames]` with frames = 1 + floor(length / hop)
 */
export function powerSpectrogram(wave: ArrayLike<number>, opts: { nFft?: number; hop?: number } = {}): Matrix {
  const nFft = opts.nFft ?? FRONTEND.nFft;
  const hop = opts.hop ?? FRONTEND.hop;
  if (!Number.isInteger(hop) || hop < 1) throw new Error(`powerSpectrogram: hop must be a positive integer`);
  const fft = planRealFft(nFft);
  const padded = reflectPad(wave, nFft / 2);
  const frames = 1 + Math.floor((padded.length - nFft) / hop);
  const bins = nFft / 2 + 1;
  const window = hannWindow(nFft);
  const frame = new Float64Array(nFft);
  const re = new Float64Array(bins);
  const im = new Float64Array(bins);
  const out = new Float64Array(bins * frames);
  for (let t = 0; t < frames; t++) {
    for (let i = 0; i < nFft; i++) frame[i] = padded[t * hop + i] * window[i];
    fft.forward(frame, re, im);
    for (let k = 0; k < bins; k++) out[k * frames + t] = re[k] * re[k] + im[k] * im[k];
  }
  return { data: out, shape: [bins, frames] };
}

/** Applies a `[nFreqs, nMels]` filterbank to a `[nFreqs, T]` spectrogram, giving `[nMels, T]`. */
export function applyFilterbank(spec: Matrix, fbank: Float64Array, nMels: number): Matrix {
  const [nFreqs, frames] = spec.shape;
  if (fbank.length !== nFreqs * nMels) {
    throw new Error(`applyFilterbank: filterbank has ${fbank.length} values, expected ${nFreqs}×${nMels}`);
  }
  const out = new Float64Array(nMels * frames);
  for (let f = 0; f < nFreqs; f++) {
    for (let m = 0; m < nMels; m++) {
      const w = fbank[f * nMels + m];
      if (w === 0) continue;
      for (let t = 0; t < frames; t++) out[m * frames + t] += w * spec.data[f * frames + t];
    }
  }
  return { data: out, shape: [nMels, frames] };
}

/** 10·log10(max(x, ampMin)) elementwise (torchaudio AmplitudeToDB, power, ref 1, no top_db). */
export function powerToDb(x: Matrix, ampMin: number = FRONTEND.ampMin): Matrix {
  return { data: x.data.map((v) => 10 * Math.log10(Math.max(v, ampMin))), shape: x.shape };
}

/** (x − mean) / std elementwise. */
export function normalizeDb(x: Matrix, mean: number = FRONTEND.mean, std: number = FRONTEND.std): Matrix {
  return { data: x.data.map((v) => (v - mean) / std), shape: x.shape };
}

/** Every stage of the front end, for comparing a fast implementation stage by stage. */
export interface FrontendStages {
  /** `[nFft/2 + 1, T]` power spectrogram. */
  readonly power: Matrix;
  /** `[nMels, T]` mel power. */
  readonly mel: Matrix;
  /** `[nMels, T]` dB. */
  readonly db: Matrix;
  /** `[nMels, T]` normalised network input. */
  readonly normalized: Matrix;
}

/**
 * Runs the front end on a waveform as given (call {@linkcode padOrTruncate} first for the 10 s network input).
 */
export function frontendReference(wave: ArrayLike<number>, opts: FrontendOptions = {}): FrontendStages {
  const o = { ...FRONTEND, ...opts };
  const power = powerSpectrogram(wave, o);
  const fbank = melFilterbank({
    nFreqs: o.nFft / 2 + 1,
    nMels: o.nMels,
    sampleRate: o.sampleRate,
    fMin: o.fMin,
    fMax: o.fMax,
  });
  const mel = applyFilterbank(power, fbank, o.nMels);
  const db = powerToDb(mel, o.ampMin);
  return { power, mel, db, normalized: normalizeDb(db, o.mean, o.std) };
}
