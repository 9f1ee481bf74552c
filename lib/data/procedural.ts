/**
 * An embedded, procedurally generated multi-label sound-event dataset: 14 synthetic event classes whose recognition
 * needs time–frequency patterns at several scales (steady vs. modulated tones, sweeps, harmonic structure, noise
 * bands, rhythms of clicks), mixed 0–3 at a time over coloured background noise.
 *
 * Item `i` is a pure function of `(seed, split, i)`: its key is `foldIn(foldIn(PRNGKey(seed), split), i)`, so any
 * index can be generated on its own, in any order, on any machine; the train and eval splits fold in different
 * constants and so are disjoint streams.
 *
 * @module
 */

import { foldIn, type Key, keyFromSeed } from "../random/threefry.ts";
import { uniform } from "../random/distributions.ts";
import type { AudioDataset, AudioItem } from "./dataset.ts";
import { checkIndex } from "./dataset.ts";
import { applyFades, bandpass, filterInPlace, harmonicTable, level, oscillate, retune, whiteNoise } from "./synth.ts";

/** What an event synthesiser gets: the segment to fill and its random parameters. */
interface EventContext {
  /** Samples per second. */
  readonly sr: number;
  /** Segment to add the event into (zeroed, the event's length). */
  readonly out: Float32Array;
  /** Eight uniforms in [0, 1) for the class's own parameters. */
  readonly u: Float32Array;
  /** Key for any noise the event needs. */
  readonly key: Key;
  /** Frequency range for tonal events (Hz), scaled to the sample rate. */
  readonly fLo: number;
  /** Upper end of tonal frequencies (Hz). */
  readonly fHi: number;
  /** Highest frequency any event uses (Hz), below Nyquist. */
  readonly fTop: number;
}

/** One event class: its name, duration range (seconds) and synthesiser. */
interface EventClass {
  readonly name: string;
  readonly seconds: readonly [number, number];
  /** Whether to fade the segment's ends (tonal events) or keep its attacks sharp (impulsive events). */
  readonly fade: boolean;
  /** Whether the level is set by peak rather than RMS (sparse, impulsive events). */
  readonly impulsive: boolean;
  readonly synth: (c: EventContext) => void;
}

const logUniform = (u: number, lo: number, hi: number) => lo * Math.pow(hi / lo, u);
const lerp = (u: number, lo: number, hi: number) => lo + u * (hi - lo);

/** A steady frequency function for {@link oscillate}. */
const constant = (f: number) => () => f;

/** An exponential sweep from f0 to f1 over n samples (stateful: call with j = 0, 1, 2, … in order). */
function sweep(f0: number, f1: number, n: number): (j: number) => number {
  const step = Math.pow(f1 / f0, 1 / Math.max(1, n - 1));
  let f = f0 / step;
  return () => (f *= step);
}

function chirp(c: EventContext, up: boolean): void {
  const ratio = Math.min(logUniform(c.u[1], 2, 8), c.fHi / c.fLo);
  const f0 = logUniform(c.u[0], c.fLo, c.fHi / ratio);
  const [a, b] = up ? [f0, f0 * ratio] : [f0 * ratio, f0];
  oscillate(c.out, 0, c.out.length, c.sr, sweep(a, b, c.out.length));
}

/** Adds decaying noise bursts of time constant `tau` seconds at the given onsets (samples). */
function clicks(c: EventContext, onsets: number[], tau: number): void {
  const noise = whiteNoise(c.key, c.out.length);
  const len = Math.min(c.out.length, Math.ceil(6 * tau * c.sr));
  const decay = Math.exp(-1 / (tau * c.sr));
  for (const t0 of onsets) {
    let g = 1;
    for (let j = 0; j < len && t0 + j < c.out.length; j++, g *= decay) c.out[t0 + j] += g * noise[t0 + j];
  }
}

/** Onsets every 1/rate seconds with ±10% jitter, from a phase offset, within n samples. */
function periodicOnsets(n: number, sr: number, rate: number, u0: number, u1: number): number[] {
  const period = sr / rate;
  const onsets: number[] = [];
  // A deterministic jitter pattern from two uniforms keeps the rhythm regular but not mechanical.
  for (let k = 0; k * period + u0 * period * 0.5 < n; k++) {
    const t = k * period + u0 * period * 0.5;
    const jitter = 0.1 * period * Math.sin(2 * Math.PI * (u1 + 0.618 * k));
    onsets.push(Math.max(0, Math.min(n - 1, Math.round(t + jitter))));
  }
  return onsets;
}

/** Band-passed noise (two cascaded biquads) at centre fc, quality q. */
function bandNoise(c: EventContext, fc: number, q: number): void {
  const noise = whiteNoise(c.key, c.out.length);
  filterInPlace(bandpass(fc, q, c.sr), noise);
  filterInPlace(bandpass(fc, q, c.sr), noise);
  c.out.set(noise);
}

/** The classes, in target order. */
const CLASSES: readonly EventClass[] = [
  {
    name: "steady_tone",
    seconds: [0.5, 3],
    fade: true,
    impulsive: false,
    synth: (c) => void oscillate(c.out, 0, c.out.length, c.sr, constant(logUniform(c.u[0], c.fLo, c.fHi))),
  },
  { name: "up_chirp", seconds: [0.4, 2], fade: true, impulsive: false, synth: (c) => chirp(c, true) },
  { name: "down_chirp", seconds: [0.4, 2], fade: true, impulsive: false, synth: (c) => chirp(c, false) },
  {
    name: "harmonic_stack",
    seconds: [0.5, 3],
    fade: true,
    impulsive: false,
    synth: (c) => {
      const f0 = logUniform(c.u[0], 100, c.fHi / 3);
      const count = Math.max(3, Math.min(10, Math.floor(c.fTop / f0)));
      const rolloff = lerp(c.u[1], 0.3, 1.2);
      const amps = Array.from({ length: count }, (_, h) => Math.pow(h + 1, -rolloff));
      oscillate(c.out, 0, c.out.length, c.sr, constant(f0), harmonicTable(amps));
    },
  },
  {
    name: "am_tone",
    seconds: [0.6, 3],
    fade: true,
    impulsive: false,
    synth: (c) => {
      oscillate(c.out, 0, c.out.length, c.sr, constant(logUniform(c.u[0], c.fLo, c.fHi)));
      const rate = logUniform(c.u[1], 3, 12);
      const depth = lerp(c.u[2], 0.7, 1);
      const w = (2 * Math.PI * rate) / c.sr;
      for (let j = 0; j < c.out.length; j++) c.out[j] *= 1 - depth * (0.5 + 0.5 * Math.sin(w * j));
    },
  },
  {
    name: "vibrato_tone",
    seconds: [0.6, 3],
    fade: true,
    impulsive: false,
    synth: (c) => {
      const f = logUniform(c.u[0], c.fLo, c.fHi / 1.1);
      const rate = lerp(c.u[1], 4, 8);
      const depth = lerp(c.u[2], 0.02, 0.06);
      const w = (2 * Math.PI * rate) / c.sr;
      oscillate(c.out, 0, c.out.length, c.sr, (j) => f * (1 + depth * Math.sin(w * j)));
    },
  },
  {
    name: "warble",
    seconds: [0.5, 2.5],
    fade: true,
    impulsive: false,
    synth: (c) => {
      const ratio = lerp(c.u[1], 1.15, 1.5);
      const f = logUniform(c.u[0], c.fLo, c.fHi / ratio);
      const half = c.sr / logUniform(c.u[2], 5, 15) / 2;
      oscillate(c.out, 0, c.out.length, c.sr, (j) => (Math.floor(j / half) % 2 === 0 ? f : f * ratio));
    },
  },
  {
    name: "beeps",
    seconds: [0.8, 3],
    fade: true,
    impulsive: false,
    synth: (c) => {
      oscillate(c.out, 0, c.out.length, c.sr, constant(logUniform(c.u[0], c.fLo * 2, c.fHi)));
      const period = Math.round(c.sr / logUniform(c.u[1], 1.5, 5));
      const on = Math.round(period * lerp(c.u[2], 0.3, 0.6));
      const fade = Math.round(0.005 * c.sr);
      for (let t0 = 0; t0 < c.out.length; t0 += period) {
        applyFades(c.out, t0, Math.min(on, c.out.length - t0), fade);
        c.out.fill(0, Math.min(t0 + on, c.out.length), Math.min(t0 + period, c.out.length));
      }
    },
  },
  {
    name: "low_noise_burst",
    seconds: [0.2, 1.5],
    fade: true,
    impulsive: false,
    synth: (c) => bandNoise(c, logUniform(c.u[0], 80, Math.min(500, c.fTop / 4)), lerp(c.u[1], 0.7, 1.5)),
  },
  {
    name: "high_noise_burst",
    seconds: [0.2, 1.5],
    fade: true,
    impulsive: false,
    synth: (c) => bandNoise(c, logUniform(c.u[0], 0.45 * c.fTop, 0.8 * c.fTop), lerp(c.u[1], 1, 2)),
  },
  {
    name: "slow_click_train",
    seconds: [1, 3],
    fade: false,
    impulsive: true,
    synth: (c) =>
      clicks(
        c,
        periodicOnsets(c.out.length, c.sr, logUniform(c.u[0], 1.5, 5), c.u[1], c.u[2]),
        lerp(c.u[3], 5e-4, 1.5e-3),
      ),
  },
  {
    name: "fast_click_train",
    seconds: [0.8, 2.5],
    fade: false,
    impulsive: true,
    synth: (c) =>
      clicks(
        c,
        periodicOnsets(c.out.length, c.sr, logUniform(c.u[0], 12, 35), c.u[1], c.u[2]),
        lerp(c.u[3], 5e-4, 1.5e-3),
      ),
  },
  {
    name: "knock",
    seconds: [0.25, 0.8],
    fade: false,
    impulsive: true,
    synth: (c) => {
      const count = 1 + Math.floor(c.u[0] * 3);
      const gap = Math.round(lerp(c.u[1], 0.08, 0.2) * c.sr);
      const f = logUniform(c.u[2], 150, Math.min(1200, c.fHi));
      const tau = lerp(c.u[3], 0.01, 0.04);
      const decay = Math.exp(-1 / (tau * c.sr));
      const w = (2 * Math.PI * f) / c.sr;
      const len = Math.ceil(6 * tau * c.sr);
      for (let k = 0; k < count; k++) {
        let g = 1;
        for (let j = 0, t = k * gap; j < len && t < c.out.length; j++, t++, g *= decay) c.out[t] += g * Math.sin(w * j);
      }
    },
  },
  {
    name: "noise_sweep",
    seconds: [0.8, 3],
    fade: true,
    impulsive: false,
    synth: (c) => {
      const n = c.out.length;
      const f0 = logUniform(c.u[0], 200, Math.min(600, c.fTop / 8));
      const f1 = Math.min(0.7 * c.fTop, f0 * logUniform(c.u[1], 4, 16));
      const q = lerp(c.u[2], 2.5, 5);
      const noise = whiteNoise(c.key, n);
      const bq = bandpass(f0, q, c.sr);
      // Retuning every 32 samples is smooth at these sweep rates and keeps the cosine/sine out of the inner loop.
      for (let t0 = 0; t0 < n; t0 += 32) {
        retune(bq, f0 * Math.pow(f1 / f0, t0 / n), q, c.sr);
        filterInPlace(bq, noise, t0, Math.min(32, n - t0));
      }
      c.out.set(noise);
    },
  },
];

/** Names of the procedural event classes, in target order. */
export const PROCEDURAL_CLASSES: readonly string[] = CLASSES.map((c) => c.name);

/** One placed event of a generated clip. */
export interface ProceduralEvent {
  /** Class index. */
  readonly label: number;
  /** Start (seconds). */
  readonly onset: number;
  /** Length (seconds). */
  readonly duration: number;
  /** Level relative to the background (dB). */
  readonly snrDb: number;
}

/** A generated clip, with the events that make up its target. */
export interface ProceduralItem extends AudioItem {
  /** The events mixed into the clip. */
  readonly events: readonly ProceduralEvent[];
}

/** Options of {@link proceduralDataset}. */
export interface ProceduralOptions {
  /** Seed of the whole dataset. */
  readonly seed: number;
  /** Which stream: train and eval never share an item. */
  readonly split: "train" | "eval";
  /** Number of items. */
  readonly size: number;
  /** Samples per second, default 32000. */
  readonly sampleRate?: number;
  /** Clip length in seconds, default 10. */
  readonly seconds?: number;
}

/** A procedural dataset: an {@link AudioDataset} whose items also list their events. */
export interface ProceduralDataset extends AudioDataset {
  /** Generates item `i` (pure: the same arguments always give the same clip). */
  get(i: number): ProceduralItem;
}

/** Split identifiers folded into the dataset key. */
const SPLIT_TAG = { train: 0, eval: 1 } as const;

/**
 * A procedurally generated multi-label dataset; see the module comment for the classes and the determinism
 * contract. Generating a 10 s clip at 32 kHz takes a few milliseconds.
 */
export function proceduralDataset(opts: ProceduralOptions): ProceduralDataset {
  const { seed, split, size } = opts;
  const sampleRate = opts.sampleRate ?? 32000;
  const seconds = opts.seconds ?? 10;
  if (!(split in SPLIT_TAG)) throw new Error(`proceduralDataset: split must be "train" or "eval", got ${split}`);
  if (!Number.isInteger(size) || size < 0) {
    throw new Error(`proceduralDataset: size must be an integer ≥ 0, got ${size}`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 4000) {
    throw new Error(`proceduralDataset: sampleRate must be an integer ≥ 4000, got ${sampleRate}`);
  }
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new Error(`proceduralDataset: seconds must be positive, got ${seconds}`);
  }
  const splitKey = foldIn(keyFromSeed(seed), SPLIT_TAG[split]);
  const n = Math.round(sampleRate * seconds);
  return {
    classNames: PROCEDURAL_CLASSES,
    length: size,
    get(i: number): ProceduralItem {
      checkIndex(i, size, "proceduralDataset.get");
      return generate(foldIn(splitKey, i), `procedural-${seed}-${split}-${i}`, n, sampleRate);
    },
  };
}

/** Event-count probabilities for 0, 1, 2, 3 events (cumulative thresholds). */
const COUNT_THRESHOLDS = [0.1, 0.5, 0.8];

function generate(key: Key, name: string, n: number, sr: number): ProceduralItem {
  const p = uniform(foldIn(key, 0), 8);
  const waveform = background(foldIn(key, 1), n, sr, logUniform(p[0], 0.002, 0.02), p[1]);
  const bgRms = level(waveform).rms;
  const count = COUNT_THRESHOLDS.filter((t) => p[2] >= t).length;
  const labels = pickDistinct(count, CLASSES.length, p.subarray(3, 6));
  const target = new Float32Array(CLASSES.length);
  const events: ProceduralEvent[] = [];
  const fTop = Math.min(12000, 0.45 * sr);
  const range = { fLo: 150, fHi: Math.min(5000, 0.4 * sr), fTop };
  for (let e = 0; e < labels.length; e++) {
    const cls = CLASSES[labels[e]];
    const ek = foldIn(key, 100 + e);
    const u = uniform(ek, 12);
    const len = Math.max(1, Math.min(n, Math.round(lerp(u[1], cls.seconds[0], cls.seconds[1]) * sr)));
    const start = Math.floor(u[0] * (n - len + 1));
    const snrDb = lerp(u[2], 0, 20);
    const seg = new Float32Array(len);
    cls.synth({ sr, out: seg, u: u.subarray(4), key: foldIn(ek, 1), ...range });
    if (cls.fade) applyFades(seg, 0, len, Math.round(0.01 * sr));
    const { rms, peak } = level(seg);
    const loudness = cls.impulsive ? peak / 4 : rms;
    const gain = loudness > 0 ? (bgRms * Math.pow(10, snrDb / 20)) / loudness : 0;
    for (let j = 0; j < len; j++) waveform[start + j] += gain * seg[j];
    target[labels[e]] = 1;
    events.push({ label: labels[e], onset: start / sr, duration: len / sr, snrDb });
  }
  const { peak } = level(waveform);
  if (peak > 0.99) {
    const g = 0.99 / peak;
    for (let j = 0; j < n; j++) waveform[j] *= g;
  }
  return { name, waveform, target, events };
}

/** `count` distinct indices below `n` from a partial Fisher–Yates shuffle driven by uniforms `u`. */
function pickDistinct(count: number, n: number, u: Float32Array): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < count; k++) {
    const j = k + Math.floor(u[k] * (n - k));
    [pool[k], pool[j]] = [pool[j], pool[k]];
  }
  return pool.slice(0, count);
}

/**
 * Background noise of RMS `rms`: white noise blended with its one-pole low-passed version (weight `tilt`), so the
 * spectrum runs from flat to strongly sloped.
 */
function background(key: Key, n: number, sr: number, rms: number, tilt: number): Float32Array {
  const x = whiteNoise(key, n);
  const a = Math.exp((-2 * Math.PI * 500) / sr);
  let y = 0;
  // The low-passed branch has a much smaller variance; boost it so the tilt changes colour, not level.
  const boost = Math.sqrt((1 + a) / (1 - a));
  for (let i = 0; i < n; i++) {
    y = a * y + (1 - a) * x[i];
    x[i] = (1 - tilt) * x[i] + tilt * boost * y;
  }
  const current = level(x).rms;
  const g = current > 0 ? rms / current : 0;
  for (let i = 0; i < n; i++) x[i] *= g;
  return x;
}
