/**
 * Fixed-length mono clips for classifiers: decode, mix down, resample, pad or truncate.
 *
 * @module
 */

import { decodeAudioFile, mixdown } from "./decode.ts";
import { resample } from "./resample.ts";

/**
 * Zero-pads at the end, or keeps the first `n` samples, so the result has exactly `n` samples.
 *
 * @param x input samples
 * @param n target length (non-negative integer); default 320000 = 10 s at 32 kHz
 * @returns a new array of length `n`
 * @throws Error if `n` is not a non-negative integer
 */
export function padOrTruncate(x: ArrayLike<number>, n = 320000): Float32Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`padOrTruncate: length must be a non-negative integer, got ${n}`);
  const out = new Float32Array(n);
  const m = Math.min(n, x.length);
  if (x instanceof Float32Array) out.set(x.subarray(0, m));
  else for (let i = 0; i < m; i++) out[i] = x[i];
  return out;
}

/** Options for {@linkcode loadClip}. */
export interface LoadClipOptions {
  /** Output sample rate; default 32000. */
  readonly sampleRate?: number;
  /** Clip length in seconds; default 10. The clip has round(sampleRate · seconds) samples. */
  readonly seconds?: number;
}

/**
 * Loads an audio file as a fixed-length mono clip: decode → mean over channels → resample → pad/truncate.
 *
 * @param path file path or file URL
 * @param options output sample rate and clip length
 * @returns round(sampleRate · seconds) samples at `sampleRate`
 * @throws Error `"<path>: <problem>"` if the file cannot be read or decoded
 */
export async function loadClip(path: string | URL, options: LoadClipOptions = {}): Promise<Float32Array> {
  const sampleRate = options.sampleRate ?? 32000;
  const seconds = options.seconds ?? 10;
  if (!(sampleRate > 0) || !(seconds >= 0)) {
    throw new Error(
      `loadClip: need a positive sample rate and non-negative length, got ${sampleRate} Hz, ${seconds} s`,
    );
  }
  const audio = await decodeAudioFile(path);
  const mono = mixdown(audio.channels);
  return padOrTruncate(resample(mono, audio.sampleRate, sampleRate), Math.round(sampleRate * seconds));
}
