/**
 * Threefry-2x32: the counter-based hash behind JAX's default PRNG, on the host.
 *
 * Keys are `Uint32Array(2)` values; every function here is pure: the same key and arguments always give the same
 * bits, and nothing is kept between calls. The stream layouts (`randomBits`, `splitKey`, `foldIn`) follow
 * `jax._src.prng` so that host streams can be compared bit for bit with JAX. JAX has two layouts:
 *
 * - the original one (`jax_threefry_partitionable=False`, JAX's default up to 0.4.x, the one this module uses by
 *   default): `randomBits(key, n)` hashes the counters `0..n-1` split into two halves, and `splitKey` takes its keys
 *   from `randomBits(key, 2n)`;
 * - the partitionable one (`{ partitionable: true }`, JAX's default from 0.5.0): element `i` hashes the 64-bit counter
 *   `(hi, lo) = (0, i)` alone, so any element can be computed without its neighbours (what a GPU kernel wants).
 *
 * @module
 */

/** A Threefry-2x32 key: two unsigned 32-bit words, as `jax.random.key_data` shows them. */
export type Key = Uint32Array;

/** Which of JAX's two Threefry stream layouts to follow (see the module comment). */
export interface LayoutOptions {
  /** Follow `jax_threefry_partitionable=True` (JAX ≥ 0.5.0 default) instead of the original layout. */
  readonly partitionable?: boolean;
}

/** Threefry's key-schedule parity constant (Skein's C240), XORed into the third schedule word. */
const PARITY = 0x1bd11bda;

/**
 * Rotation distances of the 20 mix rounds: groups 1, 3, 5 use the first four, groups 2, 4 the last four
 * (Random123's R_32x2 constants, as in JAX's `_threefry2x32_lowering`).
 */
const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

/** Word `i mod 3` of the key schedule `[k0, k1, k2]`. */
function schedule(i: number, k0: number, k1: number, k2: number): number {
  const m = i % 3;
  return m === 0 ? k0 : m === 1 ? k1 : k2;
}

/**
 * Hashes one counter pair with 20 rounds of Threefry-2x32 and writes the result into `out[i]`, `out[j]`.
 *
 * The 20 rounds are five groups of four "mix" steps (add, rotate left, xor). Before the first group and after each
 * group the key schedule `[k0, k1, k2 = k0 ^ k1 ^ 0x1BD11BDA]` is injected, shifted by one word per group, and the
 * group number is added to the second word. All arithmetic is modulo 2^32: `| 0` keeps intermediates int32, whose
 * bits are the uint32 bits.
 */
function hashPair(k0: number, k1: number, c0: number, c1: number, out: Uint32Array, i: number, j: number): void {
  const k2 = (k0 ^ k1 ^ PARITY) | 0;
  let x0 = (c0 + k0) | 0;
  let x1 = (c1 + k1) | 0;
  for (let group = 0; group < 5; group++) {
    const base = (group & 1) * 4;
    for (let r = 0; r < 4; r++) {
      const rot = ROTATIONS[base + r];
      x0 = (x0 + x1) | 0;
      x1 = ((x1 << rot) | (x1 >>> (32 - rot))) ^ x0;
    }
    x0 = (x0 + schedule(group + 1, k0, k1, k2)) | 0;
    x1 = (x1 + schedule(group + 2, k0, k1, k2) + group + 1) | 0;
  }
  out[i] = x0;
  out[j] = x1;
}

/** Throws unless `key` is a two-word Uint32Array. */
export function assertKey(key: Key, what = "key"): void {
  if (!(key instanceof Uint32Array) || key.length !== 2) {
    throw new Error(`${what} must be a Uint32Array of length 2 (a Threefry key), got ${describe(key)}`);
  }
}

function describe(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as Uint8Array).length})`;
  return typeof v;
}

function assertCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) {
    throw new Error(`${what} must be an integer in [0, 2^32), got ${n}`);
  }
}

/**
 * The Threefry-2x32 block function (20 rounds), elementwise over counter pairs: returns `[y0, y1]` with
 * `(y0[i], y1[i]) = threefry(key, (x0[i], x1[i]))`. This is `threefry2x32_p` of JAX and the function the Random123
 * known-answer vectors test.
 */
export function threefry2x32(
  key: Key,
  x0: Uint32Array,
  x1: Uint32Array,
): [Uint32Array<ArrayBuffer>, Uint32Array<ArrayBuffer>] {
  assertKey(key);
  if (x0.length !== x1.length) {
    throw new Error(`threefry2x32: counter halves differ in length (${x0.length} vs ${x1.length})`);
  }
  const n = x0.length;
  const y0 = new Uint32Array(n);
  const y1 = new Uint32Array(n);
  const pair = new Uint32Array(2);
  for (let i = 0; i < n; i++) {
    hashPair(key[0], key[1], x0[i], x1[i], pair, 0, 1);
    y0[i] = pair[0];
    y1[i] = pair[1];
  }
  return [y0, y1];
}

/**
 * JAX's `threefry_2x32(key, count)` over the counters `0..n-1`: the flat counter array (padded with one 0 when `n`
 * is odd) is cut into two halves that are hashed pairwise, and the two output halves are concatenated.
 */
function hashIota(key: Key, n: number): Uint32Array<ArrayBuffer> {
  const half = Math.ceil(n / 2);
  const out = new Uint32Array(2 * half);
  for (let i = 0; i < half; i++) {
    const hi = half + i < n ? half + i : 0;
    hashPair(key[0], key[1], i, hi, out, i, half + i);
  }
  return n % 2 === 0 ? out : out.subarray(0, n).slice();
}

/** The partitionable layout: element `i` is the XOR of the two words of `threefry(key, (0, i))`. */
function hashIndependent(key: Key, n: number): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(n);
  const pair = new Uint32Array(2);
  for (let i = 0; i < n; i++) {
    hashPair(key[0], key[1], 0, i, pair, 0, 1);
    out[i] = pair[0] ^ pair[1];
  }
  return out;
}

/**
 * A key from an integer seed, as `jax.random.PRNGKey(seed)`: `[0, seed]` for seeds in [0, 2^32); negative int32
 * seeds wrap to `[0, seed mod 2^32]` (JAX with 64-bit mode off); seeds in [2^32, 2^53) give `[hi, lo]` words
 * (JAX with 64-bit mode on).
 */
export function keyFromSeed(seed: number): Key {
  if (!Number.isSafeInteger(seed) || seed < -(2 ** 31)) {
    throw new Error(`seed must be an integer in [-2^31, 2^53), got ${seed}`);
  }
  if (seed < 0) return Uint32Array.of(0, seed >>> 0);
  return Uint32Array.of(Math.floor(seed / 2 ** 32), seed % 2 ** 32);
}

/** `count` random 32-bit words from `key`, as `jax.random.bits(key, (count,), uint32)`. */
export function randomBits(key: Key, count: number, opts: LayoutOptions = {}): Uint32Array<ArrayBuffer> {
  assertKey(key);
  assertCount(count, "randomBits count");
  return opts.partitionable ? hashIndependent(key, count) : hashIota(key, count);
}

/** `n` new keys derived from `key`, as `jax.random.split(key, n)`. */
export function splitKey(key: Key, n = 2, opts: LayoutOptions = {}): Key[] {
  assertKey(key);
  assertCount(n, "splitKey n");
  const keys: Key[] = [];
  if (opts.partitionable) {
    for (let i = 0; i < n; i++) {
      const k = new Uint32Array(2);
      hashPair(key[0], key[1], 0, i, k, 0, 1);
      keys.push(k);
    }
    return keys;
  }
  const bits = hashIota(key, 2 * n);
  for (let i = 0; i < n; i++) keys.push(bits.slice(2 * i, 2 * i + 2));
  return keys;
}

/**
 * A new key that mixes the 32-bit integer `data` into `key`, as `jax.random.fold_in(key, data)`: the hash of the
 * counter pair `(0, data)` (the same in both layouts). Negative `data` wraps modulo 2^32 as `jnp.uint32` does.
 */
export function foldIn(key: Key, data: number): Key {
  assertKey(key);
  if (!Number.isInteger(data) || data < -(2 ** 31) || data >= 2 ** 32) {
    throw new Error(`foldIn data must be a 32-bit integer, got ${data}`);
  }
  const out = new Uint32Array(2);
  hashPair(key[0], key[1], 0, data >>> 0, out, 0, 1);
  return out;
}
