/**
 * Fast signal-building blocks for generated audio: table sine oscillators, RBJ band-pass biquads, white noise from
 * Threefry bits and raised-cosine fades. All write into caller-provided Float32Arrays.
 *
 * @module
 */

import { type Key, randomBits } from "../random/threefry.ts";

const TABLE_BITS = 12;
const TABLE_SIZE = 1 << TABLE_BITS;

/** One cycle of a sine, with a guard sample so linear interpolation never wraps. */
const SINE: Float32Array = Float32Array.from(
  { length: TABLE_SIZE + 1 },
  (_, k) => Math.sin((2 * Math.PI * k) / TABLE_SIZE),
);

/** One cycle of a waveform sampled at `TABLE_SIZE` points (plus a guard point), read by {@link oscillate}. */
export type Wavetable = Float32Array;

/**
 * A wavetable holding Σ amps[h]·sin(2π(h+1)t): harmonic h+1 with amplitude amps[h]. Built from the sine table by
 * index multiplication, so it costs one pass per harmonic and no trigonometry.
 */
export function harmonicTable(amps: readonly number[]): Wavetable {
  const t = new Float32Array(TABLE_SIZE + 1);
  for (let h = 0; h < amps.length; h++) {
    const a = amps[h];
    for (let k = 0; k < TABLE_SIZE; k++) t[k] += a * SINE[(k * (h + 1)) & (TABLE_SIZE - 1)];
  }
  t[TABLE_SIZE] = t[0];
  return t;
}

/**
 * Adds `gain · table(phase)` to `out[start .. start + n)` with the phase advancing by `freq(j) / sampleRate` cycles
 * per sample (`freq` gives the instantaneous frequency in Hz at sample `j` of the segment). Returns the final phase
 * so segments can continue each other.
 */
export function oscillate(
  out: Float32Array,
  start: number,
  n: number,
  sampleRate: number,
  freq: (j: number) => number,
  table: Wavetable = SINE,
  phase = 0,
): number {
  const inv = 1 / sampleRate;
  for (let j = 0; j < n; j++) {
    const idx = phase * TABLE_SIZE;
    const i = idx | 0;
    const frac = idx - i;
    out[start + j] += table[i] + frac * (table[i + 1] - table[i]);
    phase += freq(j) * inv;
    phase -= Math.floor(phase);
  }
  return phase;
}

/**
 * `n` samples of white noise uniform in [−1, 1) from `key`: xoshiro128** seeded with four Threefry words of the key,
 * read as int32 / 2^31. Threefry for every sample cost more than the rest of a clip's synthesis together (10 s at
 * 32 kHz is 320,000 draws); the stream stays a pure function of the key.
 */
export function whiteNoise(key: Key, n: number): Float32Array {
  const seed = randomBits(key, 4);
  let a = seed[0] | 0, b = seed[1] | 0, c = seed[2] | 0, d = seed[3] | 0;
  // xoshiro128** must not start from the all-zero state.
  if ((a | b | c | d) === 0) a = 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9);
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    out[i] = (r | 0) * 4.656612873077393e-10;
  }
  return out;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Direct-form-I state and coefficients of a biquad (a0 normalised to 1); mutable, owned by one filter run. */
export interface Biquad {
  /** Feed-forward coefficients. */
  b0: number;
  /** Feed-forward coefficients. */
  b1: number;
  /** Feed-forward coefficients. */
  b2: number;
  /** Feedback coefficients. */
  a1: number;
  /** Feedback coefficients. */
  a2: number;
  /** Previous inputs. */
  x1: number;
  /** Previous inputs. */
  x2: number;
  /** Previous outputs. */
  y1: number;
  /** Previous outputs. */
  y2: number;
}

/** An RBJ-cookbook band-pass biquad (0 dB peak gain) centred at `fc` Hz with quality `q`. */
export function bandpass(fc: number, q: number, sampleRate: number): Biquad {
  const bq: Biquad = { b0: 0, b1: 0, b2: 0, a1: 0, a2: 0, x1: 0, x2: 0, y1: 0, y2: 0 };
  retune(bq, fc, q, sampleRate);
  return bq;
}

/** Moves a band-pass biquad to a new centre frequency, keeping its state (for sweeps). */
export function retune(bq: Biquad, fc: number, q: number, sampleRate: number): void {
  const w0 = (2 * Math.PI * Math.min(fc, 0.49 * sampleRate)) / sampleRate;
  const alpha = Math.sin(w0) / (2 * q);
  const a0 = 1 + alpha;
  bq.b0 = alpha / a0;
  bq.b1 = 0;
  bq.b2 = -alpha / a0;
  bq.a1 = (-2 * Math.cos(w0)) / a0;
  bq.a2 = (1 - alpha) / a0;
}

/** Filters `x[start .. start + n)` in place through `bq`. */
export function filterInPlace(bq: Biquad, x: Float32Array, start = 0, n = x.length - start): void {
  let { x1, x2, y1, y2 } = bq;
  const { b0, b1, b2, a1, a2 } = bq;
  for (let i = start; i < start + n; i++) {
    const x0 = x[i];
    const y0 = b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1;
    x1 = x0;
    y2 = y1;
    y1 = y0;
    x[i] = y0;
  }
  Object.assign(bq, { x1, x2, y1, y2 });
}

/** Multiplies the first and last `fade` samples of `x[start .. start + n)` by raised-cosine ramps. */
export function applyFades(x: Float32Array, start: number, n: number, fade: number): void {
  const m = Math.min(fade, Math.floor(n / 2));
  for (let j = 0; j < m; j++) {
    const g = 0.5 - 0.5 * Math.cos((Math.PI * (j + 0.5)) / m);
    x[start + j] *= g;
    x[start + n - 1 - j] *= g;
  }
}

/** Root mean square and peak magnitude of `x[start .. start + n)`. */
export function level(x: Float32Array, start = 0, n = x.length - start): { rms: number; peak: number } {
  let s = 0;
  let peak = 0;
  for (let i = start; i < start + n; i++) {
    const v = x[i];
    s += v * v;
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  return { rms: n > 0 ? Math.sqrt(s / n) : 0, peak };
}
