/**
 * Host-side samplers over Threefry keys, following `jax.random` (float32 results computed in float32 arithmetic, so
 * `uniform`, `bernoulli`, `randint` and `permutation` match JAX exactly and `normal`/`truncatedNormal` to a few ulp).
 * `gamma` and `beta` are our own (Marsaglia–Tsang), not JAX's streams.
 *
 * Sizes are element counts: JAX draws bits for the flattened shape, so `(key, count)` fixes the stream.
 *
 * @module
 */

import { assertKey, foldIn, type Key, type LayoutOptions, randomBits, splitKey } from "./threefry.ts";
import { erf, erfinvF32 } from "./special.ts";

const f = Math.fround;
const SQRT2_F32 = f(Math.SQRT2);

/** Options shared by the float samplers. */
export interface UniformOptions extends LayoutOptions {
  /** Lower bound (inclusive), default 0. */
  readonly lo?: number;
  /** Upper bound (exclusive), default 1. */
  readonly hi?: number;
}

/** Reinterprets `bits` (in place) as float32 numbers in [1, 2) built from their top 23 bits. */
function unitFloats(bits: Uint32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
  for (let i = 0; i < bits.length; i++) bits[i] = (bits[i] >>> 9) | 0x3f800000;
  return new Float32Array(bits.buffer, bits.byteOffset, bits.length);
}

/**
 * `count` float32 samples uniform in [lo, hi), as `jax.random.uniform(key, (count,), float32, lo, hi)`: the top 23
 * random bits become a mantissa of a float in [1, 2), minus 1, then `u·(hi − lo) + lo`, clamped below at `lo`.
 */
export function uniform(key: Key, count: number, opts: UniformOptions = {}): Float32Array<ArrayBuffer> {
  const lo = f(opts.lo ?? 0);
  const hi = f(opts.hi ?? 1);
  if (!(lo <= hi) || !Number.isFinite(hi - lo)) {
    throw new Error(`uniform: need finite bounds with lo ≤ hi, got lo ${opts.lo} and hi ${opts.hi}`);
  }
  const out = unitFloats(randomBits(key, count, opts));
  const span = f(hi - lo);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(lo, f(f((out[i] - 1) * span) + lo));
  return out;
}

/**
 * `count` standard normal float32 samples, as `jax.random.normal`: `u` uniform in (−1, 1) (the float after −1 up to
 * 1), then `√2 · erfinv(u)` with XLA's float32 erfinv.
 */
export function normal(key: Key, count: number, opts: LayoutOptions = {}): Float32Array<ArrayBuffer> {
  const out = uniform(key, count, { ...opts, lo: -1 + 2 ** -24, hi: 1 });
  for (let i = 0; i < out.length; i++) out[i] = SQRT2_F32 * erfinvF32(out[i]);
  return out;
}

/** Options of {@link truncatedNormal}. */
export interface TruncatedNormalOptions extends LayoutOptions {
  /** Lower truncation bound in standard deviations, default −2. */
  readonly lo?: number;
  /** Upper truncation bound in standard deviations, default 2. */
  readonly hi?: number;
  /** Scale applied after sampling (bounds stay in standard deviations, as flax's initializers use it), default 1. */
  readonly std?: number;
}

/**
 * `count` samples of a standard normal truncated to (lo, hi), times `std`, as
 * `std * jax.random.truncated_normal(key, lo, hi, (count,))`: inverse-CDF sampling between erf(lo/√2) and
 * erf(hi/√2), clipped into the open interval.
 */
export function truncatedNormal(key: Key, count: number, opts: TruncatedNormalOptions = {}): Float32Array<ArrayBuffer> {
  const lo = f(opts.lo ?? -2);
  const hi = f(opts.hi ?? 2);
  const std = opts.std ?? 1;
  if (!(lo < hi)) throw new Error(`truncatedNormal: lo (${lo}) must be below hi (${hi})`);
  const a = f(erf(f(lo / SQRT2_F32)));
  const b = f(erf(f(hi / SQRT2_F32)));
  const out = uniform(key, count, { ...opts, lo: a, hi: b });
  const min = nextFloat32(lo, 1);
  const max = nextFloat32(hi, -1);
  for (let i = 0; i < out.length; i++) {
    const z = Math.min(max, Math.max(min, f(SQRT2_F32 * erfinvF32(out[i]))));
    out[i] = std === 1 ? z : z * std;
  }
  return out;
}

/** The float32 neighbour of float32 `x` in direction `dir` (+1 up, −1 down). */
function nextFloat32(x: number, dir: 1 | -1): number {
  const buf = new Float32Array([x]);
  const bits = new Int32Array(buf.buffer);
  if (x === 0) return dir * 2 ** -149;
  bits[0] += (x > 0) === (dir > 0) ? 1 : -1;
  return buf[0];
}

/**
 * `count` Bernoulli(p) draws as 0/1 bytes, as `jax.random.bernoulli(key, p, (count,))`: `uniform < p` in float32.
 */
export function bernoulli(key: Key, p: number, count: number, opts: LayoutOptions = {}): Uint8Array<ArrayBuffer> {
  if (!(p >= 0 && p <= 1)) throw new Error(`bernoulli: p must be in [0, 1], got ${p}`);
  const u = uniform(key, count, opts);
  const pf = f(p);
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = u[i] < pf ? 1 : 0;
  return out;
}

function assertInt32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new Error(`${what} must be an int32, got ${v}`);
}

/**
 * `count` int32 samples uniform in [lo, hi), as `jax.random.randint(key, (count,), lo, hi, int32)`: two 32-bit
 * words per element from the halves of `split(key)`, combined as `(hi_bits mod span)·(2^32 mod span) + lo_bits mod
 * span` in wrapping uint32 arithmetic (JAX's exact recipe, modulo bias and all). `hi ≤ lo` returns `lo`.
 */
export function randint(
  key: Key,
  count: number,
  lo: number,
  hi: number,
  opts: LayoutOptions = {},
): Int32Array<ArrayBuffer> {
  assertInt32(lo, "randint lo");
  assertInt32(hi, "randint hi");
  const [k1, k2] = splitKey(key, 2, opts);
  const higher = randomBits(k1, count, opts);
  const lower = randomBits(k2, count, opts);
  const span = hi <= lo ? 1 : (hi - lo) >>> 0;
  // 2^16 mod span squared in uint32: wraps to 0 for span > 2^16, exactly as lax.mul does in JAX.
  const m16 = 65536 % span;
  const multiplier = (Math.imul(m16, m16) >>> 0) % span;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const offset = ((Math.imul(higher[i] % span, multiplier) >>> 0) + (lower[i] % span)) >>> 0;
    out[i] = (lo + (offset % span)) | 0;
  }
  return out;
}

/**
 * Indices `0..n-1` sorted by the values of `sortKeys` (stable: equal keys keep index order); an LSD radix sort on
 * 16-bit digits, which stays linear for the millions of items of an AudioSet epoch.
 */
function stableArgsortU32(sortKeys: Uint32Array, values: Int32Array): Int32Array<ArrayBuffer> {
  const n = values.length;
  let vals = Int32Array.from(values);
  let keys = Uint32Array.from(sortKeys);
  let tmpVals = new Int32Array(n);
  let tmpKeys = new Uint32Array(n);
  for (const shift of [0, 16]) {
    const counts = new Uint32Array(65537);
    for (let i = 0; i < n; i++) counts[((keys[i] >>> shift) & 0xffff) + 1]++;
    for (let d = 0; d < 65536; d++) counts[d + 1] += counts[d];
    for (let i = 0; i < n; i++) {
      const pos = counts[(keys[i] >>> shift) & 0xffff]++;
      tmpVals[pos] = vals[i];
      tmpKeys[pos] = keys[i];
    }
    [vals, tmpVals] = [tmpVals, vals];
    [keys, tmpKeys] = [tmpKeys, keys];
  }
  return vals;
}

/**
 * A random permutation of `0..n-1`, as `jax.random.permutation(key, n)`: ⌈3·ln n / ln(2^32 − 1)⌉ rounds (one for
 * n ≤ 1625, two up to ~2.6M) of a stable sort by 32-bit random keys, each round from a fresh `split`.
 */
export function permutation(key: Key, n: number, opts: LayoutOptions = {}): Int32Array<ArrayBuffer> {
  assertKey(key);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 31) throw new Error(`permutation: n must be an int32 ≥ 0, got ${n}`);
  let x = new Int32Array(n);
  for (let i = 0; i < n; i++) x[i] = i;
  const rounds = Math.ceil((3 * Math.log(Math.max(1, n))) / Math.log(2 ** 32 - 1));
  let k = key;
  for (let r = 0; r < rounds; r++) {
    const [next, sub] = splitKey(k, 2, opts);
    k = next;
    x = stableArgsortU32(randomBits(sub, n, opts), x);
  }
  return x;
}

/**
 * An endless source of doubles uniform in (0, 1) from one key: 53 random bits per value, drawn in blocks from
 * `foldIn(key, block)`. Rejection samplers use it since they need an unknown number of draws.
 */
function uniformSource(key: Key): () => number {
  let block = -1;
  let bits: Uint32Array = new Uint32Array(0);
  let pos = 0;
  return () => {
    if (pos >= bits.length) {
      bits = randomBits(foldIn(key, ++block), 64);
      pos = 0;
    }
    const hi = bits[pos++] >>> 5;
    const lo = bits[pos++] >>> 6;
    // (hi·2^26 + lo + 0.5) / 2^53 lies strictly inside (0, 1).
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  };
}

/** One Gamma(a, 1) draw by Marsaglia & Tsang (2000), with the `U^(1/a)` boost for a < 1. */
function gammaOne(a: number, u: () => number): number {
  const boost = a < 1 ? Math.pow(u(), 1 / a) : 1;
  const d = (a < 1 ? a + 1 : a) - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      // Box–Muller normal; the second value is dropped to keep the draw order simple.
      x = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const w = u();
    if (w < 1 - 0.0331 * x ** 4 || Math.log(w) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * boost;
  }
}

/**
 * `count` Gamma(a, 1) samples (float64) by Marsaglia–Tsang; element `i` uses its own key `foldIn(key, i)`, so any
 * element is reproducible alone. Not JAX's gamma stream.
 */
export function gamma(key: Key, a: number, count: number): Float64Array<ArrayBuffer> {
  assertKey(key);
  if (!(a > 0) || !Number.isFinite(a)) throw new Error(`gamma: shape a must be a positive number, got ${a}`);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = gammaOne(a, uniformSource(foldIn(key, i)));
  return out;
}

/**
 * `count` Beta(a, b) samples (float64) as `X / (X + Y)` with X ~ Gamma(a), Y ~ Gamma(b) from the two halves of
 * `split(key)`.
 */
export function beta(key: Key, a: number, b: number, count: number): Float64Array<ArrayBuffer> {
  const [ka, kb] = splitKey(key, 2);
  const x = gamma(ka, a, count);
  const y = gamma(kb, b, count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    // Both draws underflow to 0 only for shapes far below any mixup α; the symmetric answer is then 1/2.
    out[i] = x[i] + y[i] > 0 ? x[i] / (x[i] + y[i]) : 0.5;
  }
  return out;
}
