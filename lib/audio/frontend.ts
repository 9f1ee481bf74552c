/**
 * The paper's log-mel front end as tensor ops, so it runs on every backend (and inside compiled GPU steps) with the
 * CPU reference as ground truth: reflect-padded STFT, power, optional random-erasing mask, HTK mel matmul, dB,
 * normalisation.
 *
 * The STFT has two forms. "dft" is one strided convolution with the windowed DFT basis: simple, but nFft·(nFft + 2)
 * multiply-adds per frame. "fft" (the default) is a two-stage Cooley–Tukey factorisation nFft = R1·R2 written as two
 * matrix products: with n = R2·n1 + n2 and k = k1 + R1·k2,
 *
 *     X[k] = Σ_{n2} e^{−2πi·n2·k2/R2} · Σ_{n1} w[n]·x[n]·e^{−2πi·n·k1/nFft}
 *
 * so stage 1 (a real R1-point DFT over n1 per n2, for k1 = 0…R1/2 only) has the window and the twiddle factors folded
 * into one constant matrix per n2, and stage 2 (a complex R2-point DFT over n2) is one matrix shared by every k1. The
 * layouts are chosen so both stages are single GEMMs that read their operands in place: frames are gathered
 * `[R2, R1, frames, B]` from the time-major padded waveform, stage 1 is a batch of R2 products `[2·(R1/2+1), R1] @
 * [R1, frames·B]`, whose output rows (n2, re/im) are exactly stage 2's contraction axis, and stage 2 is one product
 * `[2·R2, 2·R2] @ [2·R2, (R1/2+1)·frames·B]`. The missing bins k1 > R1/2 come from the conjugate symmetry of a real
 * signal's spectrum, and power and bin selection are one fused elementwise pass; mel is then one more GEMM.
 * @module
 */
import type { DType } from "../core/dtype.ts";
import type { Tensor } from "../core/tensor.ts";
import { fail, fmt } from "../core/shape.ts";
import {
  add,
  cast,
  div,
  ge,
  log,
  logicalAnd,
  logicalNot,
  logicalOr,
  lt,
  maximum,
  mul,
  square,
} from "../ops/elementwise.ts";
import { broadcastTo, concat, flip, pad, reshape, slice, take, transpose } from "../ops/movement.ts";
import { conv1d } from "../ops/conv.ts";
import { matmul } from "../ops/linalg.ts";
import { arange, ones, tensor } from "../ops/create.ts";
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
  /**
   * STFT algorithm: "fft", two matrix products (about a tenth of the arithmetic), or "dft", one convolution with the
   * full windowed DFT basis. Both give the same spectrogram. Default "fft" when nFft is a product of two even
   * factors, else "dft".
   */
  stft?: "fft" | "dft";
}

// Constants are built in float64 once per configuration and dtype, then reused by every call and every trace.
const cache = new Map<string, Tensor>();
const MAX_CACHED = 64;

function cached(key: string, build: () => Tensor): Tensor {
  let t = cache.get(key);
  if (!t) {
    // Frame indices depend on the waveform length: bound the cache for callers that vary it.
    if (cache.size >= MAX_CACHED) cache.clear();
    t = build();
    cache.set(key, t);
  }
  return t;
}

function melBank(dtype: DType, o: Required<FrontEndOptions>): Tensor {
  return cached(`mel|${dtype}|${o.nFft}|${o.nMels}|${o.sampleRate}|${o.fMin}|${o.fMax}`, () => {
    const bins = o.nFft / 2 + 1;
    const fb = melFilterbank({
      nFreqs: bins,
      nMels: o.nMels,
      sampleRate: o.sampleRate,
      fMin: o.fMin,
      fMax: o.fMax,
      scale: "htk",
      norm: null,
    });
    // Transposed to [nMels, bins] so the mel step is one matmul on bins-first power.
    const fbT = new Float64Array(o.nMels * bins);
    for (let k = 0; k < bins; k++) for (let m = 0; m < o.nMels; m++) fbT[m * bins + k] = fb[k * o.nMels + m];
    return tensor(fbT, { shape: [o.nMels, bins], dtype });
  });
}

function dftKernel(dtype: DType, nFft: number): Tensor {
  return cached(`dft|${dtype}|${nFft}`, () => {
    const bins = nFft / 2 + 1;
    const { cos, sin } = dftBasis(nFft, hannWindow(nFft, true));
    // Conv weight [2·bins, 1, nFft]: rows are the windowed cosines, then the windowed sines.
    const w = new Float64Array(2 * bins * nFft);
    for (let n = 0; n < nFft; n++) {
      for (let k = 0; k < bins; k++) {
        w[k * nFft + n] = cos[n * bins + k];
        w[(bins + k) * nFft + n] = sin[n * bins + k];
      }
    }
    return tensor(w, { shape: [2 * bins, 1, nFft], dtype });
  });
}

/**
 * The factorisation nFft = r1·r2 used by the "fft" STFT: both factors even (the half spectrum of stage 1 and the bin
 * layout need it), r2 the largest such factor not above √nFft so both stages stay small. Null when there is none.
 */
export function fftRadices(nFft: number): { r1: number; r2: number } | null {
  if (!Number.isInteger(nFft)) return null;
  for (let r2 = Math.floor(Math.sqrt(nFft)); r2 >= 2; r2--) {
    if (r2 % 2 === 0 && nFft % r2 === 0 && (nFft / r2) % 2 === 0) return { r1: nFft / r2, r2 };
  }
  return null;
}

/** Stage 1 with window and twiddles: `[r2, 2·(r1/2+1), r1]`, row (re/im, k1) of matrix n2 at column n1. */
function stage1(dtype: DType, nFft: number, r1: number, r2: number): Tensor {
  return cached(`fft1|${dtype}|${nFft}|${r1}`, () => {
    const h1 = r1 / 2 + 1;
    const w = hannWindow(nFft, true);
    const m = new Float64Array(r2 * 2 * h1 * r1);
    for (let n2 = 0; n2 < r2; n2++) {
      for (let n1 = 0; n1 < r1; n1++) {
        const n = r2 * n1 + n2;
        for (let k1 = 0; k1 < h1; k1++) {
          // Reducing n·k1 modulo nFft first keeps the angle small, so large products lose no precision.
          const angle = (2 * Math.PI * ((n * k1) % nFft)) / nFft;
          m[(n2 * 2 * h1 + k1) * r1 + n1] = w[n] * Math.cos(angle);
          m[(n2 * 2 * h1 + h1 + k1) * r1 + n1] = -w[n] * Math.sin(angle);
        }
      }
    }
    return tensor(m, { shape: [r2, 2 * h1, r1], dtype });
  });
}

/** Stage 2, the complex r2-point DFT as a real `[2·r2, 2·r2]` matrix: rows (re/im, k2), columns (n2, re/im). */
function stage2(dtype: DType, r2: number): Tensor {
  return cached(`fft2|${dtype}|${r2}`, () => {
    const m = new Float64Array(4 * r2 * r2);
    const cols = 2 * r2;
    for (let k2 = 0; k2 < r2; k2++) {
      for (let n2 = 0; n2 < r2; n2++) {
        const angle = (2 * Math.PI * ((n2 * k2) % r2)) / r2;
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        // (yr + i·yi)·(c − i·s) = (yr·c + yi·s) + i·(yi·c − yr·s)
        m[k2 * cols + 2 * n2] = c;
        m[k2 * cols + 2 * n2 + 1] = s;
        m[(r2 + k2) * cols + 2 * n2] = -s;
        m[(r2 + k2) * cols + 2 * n2 + 1] = c;
      }
    }
    return tensor(m, { shape: [cols, cols], dtype });
  });
}

/** Gather indices `[r2, r1, frames]` into the padded waveform: frame f's sample n = r2·n1 + n2. */
function frameIndex(length: number, nFft: number, hop: number, r1: number, r2: number): Tensor {
  return cached(`idx|${length}|${nFft}|${hop}|${r1}`, () => {
    const frames = 1 + Math.floor((length - nFft) / hop);
    const idx = new Int32Array(r2 * r1 * frames);
    for (let n2 = 0; n2 < r2; n2++) {
      for (let n1 = 0; n1 < r1; n1++) {
        const row = (n2 * r1 + n1) * frames, n = r2 * n1 + n2;
        for (let f = 0; f < frames; f++) idx[row + f] = f * hop + n;
      }
    }
    return tensor(idx, { shape: [r2, r1, frames], dtype: "i32" });
  });
}

function resolve(opts: FrontEndOptions): Required<FrontEndOptions> {
  const nFft = opts.nFft ?? FRONTEND.nFft;
  if (!Number.isInteger(nFft) || nFft < 2 || nFft % 2 !== 0) {
    fail("powerSpectrogram", `nFft must be an even integer ≥ 2, got ${nFft}`);
  }
  const hop = opts.hop ?? FRONTEND.hop;
  if (!Number.isInteger(hop) || hop < 1) fail("powerSpectrogram", `hop must be a positive integer, got ${hop}`);
  const canFft = fftRadices(nFft) !== null;
  if (opts.stft === "fft" && !canFft) {
    fail("powerSpectrogram", `stft "fft" needs nFft to be a product of two even factors, got ${nFft}`);
  }
  if (opts.stft !== undefined && opts.stft !== "fft" && opts.stft !== "dft") {
    fail("powerSpectrogram", `stft must be "fft" or "dft", got ${JSON.stringify(opts.stft)}`);
  }
  return {
    nFft,
    hop,
    nMels: opts.nMels ?? FRONTEND.nMels,
    sampleRate: opts.sampleRate ?? FRONTEND.sampleRate,
    fMin: opts.fMin ?? FRONTEND.fMin,
    fMax: opts.fMax ?? FRONTEND.fMax,
    mean: opts.mean ?? FRONTEND.mean,
    std: opts.std ?? FRONTEND.std,
    stft: opts.stft ?? (canFft ? "fft" : "dft"),
  };
}

function checkWave(wave: Tensor, o: Required<FrontEndOptions>): void {
  if (wave.ndim !== 2) fail("powerSpectrogram", `expects waveforms [B, N], got ${fmt(wave.shape)}`);
  const n = wave.shape[1], half = o.nFft / 2;
  if (n <= half) fail("powerSpectrogram", `waveform of ${n} samples is too short for reflect padding of ${half}`);
}

/** "dft": [B, bins, frames] from one strided convolution with the windowed basis (no frame tensor). */
function dftPower(wave: Tensor, o: Required<FrontEndOptions>): Tensor {
  const [b, n] = wave.shape;
  const half = o.nFft / 2;
  const left = flip(slice(wave, [0, 1], [b, half + 1]), 1);
  const right = flip(slice(wave, [0, n - half - 1], [b, n - 1]), 1);
  const padded = reshape(concat([left, wave, right], 1), [b, 1, n + 2 * half]);
  const spec = conv1d(padded, dftKernel(wave.dtype, o.nFft), { stride: o.hop });
  const bins = half + 1;
  const frames = spec.shape[2];
  const re = slice(spec, [0, 0], [b, bins]), im = slice(spec, [0, bins], [b, 2 * bins]);
  return reshape(add(square(re), square(im)), [b, bins, frames]);
}

/** "fft": bins-first power [bins, frames, B] (the layout every stage reads in place; see the module comment). */
function fftPowerBinsFirst(wave: Tensor, o: Required<FrontEndOptions>): Tensor {
  const { r1, r2 } = fftRadices(o.nFft)!;
  const [b, n] = wave.shape;
  const half = o.nFft / 2, h1 = r1 / 2 + 1, dtype = wave.dtype;
  // Time-major, so the gather reads all B clips of one sample as one contiguous row.
  const t = transpose(wave);
  const padded = concat([flip(slice(t, [1], [half + 1]), 0), t, flip(slice(t, [n - half - 1], [n - 1]), 0)], 0);
  const idx = frameIndex(n + 2 * half, o.nFft, o.hop, r1, r2);
  const frames = idx.shape[2];
  const x = reshape(take(padded, idx, 0), [r2, r1, frames * b]);
  const y = matmul(stage1(dtype, o.nFft, r1, r2), x); // [n2, (re/im, k1), (f, b)]
  const z = matmul(stage2(dtype, r2), reshape(y, [2 * r2, h1 * frames * b])); // [(re/im, k2), (k1, f, b)]
  const spec = reshape(z, [2, r2, h1, frames, b]);
  // Bins k = r1·q + j for q < r2/2: j ≤ r1/2 is (k1 = j, k2 = q) directly; j > r1/2 is the conjugate of
  // (k1 = r1 − j, k2 = r2 − 1 − q), and conjugation does not change power. Both are masked views of `spec`, so
  // selection, power and the last bin (k1 = 0, k2 = r2/2) are one elementwise pass.
  const qn = r2 / 2;
  const none: [number, number] = [0, 0];
  const direct = pad(slice(spec, [0, 0], [2, qn]), [none, none, [0, r1 - h1], none, none]);
  const mirrored = pad(slice(flip(spec, [1, 2]), [0, 0, 1], [2, qn, h1 - 1]), [none, none, [h1, 0], none, none]);
  const both = add(direct, mirrored);
  const power = (c: Tensor) => add(square(slice(c, [0], [1])), square(slice(c, [1], [2])));
  const body = reshape(power(both), [qn * r1, frames, b]);
  const last = reshape(power(slice(spec, [0, qn, 0], [2, qn + 1, 1])), [1, frames, b]);
  return concat([body, last], 0);
}

/** Power spectrogram |STFT|² of waveforms [B, N] → [B, nFft/2+1, frames] (centred, reflect padding, periodic Hann). */
export function powerSpectrogram(wave: Tensor, opts: FrontEndOptions = {}): Tensor {
  const o = resolve(opts);
  checkWave(wave, o);
  return o.stft === "fft" ? transpose(fftPowerBinsFirst(wave, o), [2, 0, 1]) : dftPower(wave, o);
}

/** Mel power → dB, 10·log10(max(x, 1e-10)), without top-dB clipping. */
export function powerToDb(x: Tensor): Tensor {
  return mul(log(maximum(x, FRONTEND.ampMin)), 10 / Math.LN10);
}

/**
 * The 0/1 random-erasing mask of `boxes` (`[B, C, 4]`: per clip, C boxes of (first bin, end bin, first frame, end
 * frame), end exclusive; an empty box such as (0, 0, 0, 0) erases nothing), built by comparisons inside the step so
 * a training batch uploads 16·C bytes per clip instead of a bins × frames mask. Layout `[B, bins, frames]`, or
 * `[bins, frames, B]` with `binsFirst`.
 */
export function erasingMaskFromBoxes(
  boxes: Tensor,
  bins: number,
  frames: number,
  binsFirst = false,
  dtype: DType = "f32",
): Tensor {
  if (boxes.ndim !== 3 || boxes.shape[2] !== 4) {
    fail("erasingMaskFromBoxes", `boxes must be [B, C, 4] (top, bottom, left, right), got ${fmt(boxes.shape)}`);
  }
  const [b, c] = boxes.shape;
  const f = reshape(arange(bins, "f32"), binsFirst ? [bins, 1, 1] : [1, bins, 1]);
  const t = reshape(arange(frames, "f32"), binsFirst ? [1, frames, 1] : [1, 1, frames]);
  const edges = cast(boxes, "f32");
  const edge = (box: number, k: number) =>
    reshape(slice(edges, [0, box, k], [b, box + 1, k + 1]), binsFirst ? [1, 1, b] : [b, 1, 1]);
  let erased: Tensor | undefined;
  for (let box = 0; box < c; box++) {
    const rows = logicalAnd(ge(f, edge(box, 0)), lt(f, edge(box, 1)));
    const cols = logicalAnd(ge(t, edge(box, 2)), lt(t, edge(box, 3)));
    const inside = logicalAnd(rows, cols);
    erased = erased ? logicalOr(erased, inside) : inside;
  }
  const shape = binsFirst ? [bins, frames, b] : [b, bins, frames];
  return erased ? broadcastTo(cast(logicalNot(erased), dtype), shape) : ones(shape, dtype);
}

/** Training-time random erasing for {@link logMel}: a 0/1 mask, or boxes for {@link erasingMaskFromBoxes}. */
export interface ErasingInput {
  /** A 0/1 mask [B, bins, frames] (0 = erased). */
  erasing?: Tensor;
  /** Boxes [B, C, 4] (top, bottom, left, right), turned into the mask inside the computation. */
  erasingBoxes?: Tensor;
}

/**
 * The whole front end: waveforms [B, N] → normalised log-mel [B, 1, nMels, frames]. Random erasing (a 0/1 mask
 * [B, bins, frames], or boxes) zeroes boxes of the power spectrogram before the mel scale.
 */
export function logMel(wave: Tensor, opts: FrontEndOptions & ErasingInput = {}): Tensor {
  const o = resolve(opts);
  checkWave(wave, o);
  const fbank = melBank(wave.dtype, o);
  const normalise = (mel: Tensor) => div(add(powerToDb(mel), -o.mean), o.std);
  if (o.stft === "dft") {
    let power = dftPower(wave, o);
    if (opts.erasing) power = mul(power, opts.erasing);
    if (opts.erasingBoxes) {
      power = mul(power, erasingMaskFromBoxes(opts.erasingBoxes, power.shape[1], power.shape[2], false, power.dtype));
    }
    const db = normalise(matmul(fbank, power));
    const [b, m, t] = db.shape;
    return reshape(db, [b, 1, m, t]);
  }
  // Bins-first power makes the mel step one 2-D GEMM over every frame of every clip; only the small mel output is
  // transposed back to the batch-first layout.
  let power = fftPowerBinsFirst(wave, o);
  const [bins, frames, b] = power.shape;
  if (opts.erasing) {
    if (opts.erasing.ndim !== 3 || opts.erasing.shape.some((d, i) => d !== [b, bins, frames][i])) {
      fail("logMel", `erasing mask ${fmt(opts.erasing.shape)} does not match power ${fmt([b, bins, frames])}`);
    }
    power = mul(power, transpose(opts.erasing, [1, 2, 0]));
  }
  if (opts.erasingBoxes) {
    if (opts.erasingBoxes.shape[0] !== b) {
      fail("logMel", `erasing boxes ${fmt(opts.erasingBoxes.shape)} do not match a batch of ${b}`);
    }
    power = mul(power, erasingMaskFromBoxes(opts.erasingBoxes, bins, frames, true, power.dtype));
  }
  const mel = normalise(matmul(fbank, reshape(power, [bins, frames * b])));
  return reshape(transpose(reshape(mel, [o.nMels, frames, b]), [2, 0, 1]), [b, 1, o.nMels, frames]);
}
