import { bind } from "../core/bind.ts";
import type { DType } from "../core/dtype.ts";
import { fail, fmt } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { keyFromSeed } from "../random/threefry.ts";
import { tensor } from "./create.ts";
import { add, cast, div, erf, lt, mul } from "./elementwise.ts";
import { reshape, slice } from "./movement.ts";
import { erfinv } from "./special.ts";

/**
 * Random numbers as tensor ops over u32 keys of shape [2]. They are built on the `randomBits` primitive, so they run
 * inside compiled steps (a new key per step is an input, not a recompilation) and give the same stream on every backend.
 */

/** A key from an integer seed (as `jax.random.PRNGKey`). */
export function randomKey(seed: number): Tensor {
  return tensor(keyFromSeed(seed), { dtype: "u32" });
}

function checkKey(op: string, key: Tensor) {
  if (key.dtype !== "u32" || key.ndim !== 1 || key.shape[0] !== 2) {
    fail(op, `key must be u32 [2], got ${key.dtype}${fmt(key.shape)}`);
  }
}

/** `n` independent keys derived from `key` (as `jax.random.split`). */
export function split(key: Tensor, n = 2): Tensor[] {
  checkKey("split", key);
  const bits = bind("randomBits", [key], { shape: [n, 2] });
  return Array.from({ length: n }, (_, i) => reshape(slice(bits, [i], [i + 1]), [2]));
}

/** Uniform bits of `shape`. */
export function randomBits(key: Tensor, shape: readonly number[]): Tensor {
  checkKey("randomBits", key);
  return bind("randomBits", [key], { shape });
}

/**
 * Uniform floats in [0, 1) from the top 23 bits of each draw: exactly representable in f32, so every backend produces the
 * same numbers.
 */
function unit(key: Tensor, shape: readonly number[], dtype: DType): Tensor {
  const bits = randomBits(key, shape);
  const top = cast(div(bits, tensor(512, { shape: [], dtype: "u32" })), dtype);
  return mul(top, 1 / 8388608);
}

/** Options of `uniform`. */
export interface UniformOptions {
  /** Lower bound (default 0). */
  lo?: number;
  /** Upper bound, excluded (default 1). */
  hi?: number;
  /** Float dtype of the result (default f32). */
  dtype?: DType;
}

/** Uniform in [lo, hi). */
export function uniform(key: Tensor, shape: readonly number[], opts: UniformOptions = {}): Tensor {
  const { lo = 0, hi = 1, dtype = "f32" } = opts;
  return add(mul(unit(key, shape, dtype), hi - lo), lo);
}

/** Standard normal, by the inverse CDF of a uniform in (−1, 1) (as JAX does). */
export function normal(key: Tensor, shape: readonly number[], opts: { dtype?: DType } = {}): Tensor {
  const dtype = opts.dtype ?? "f32";
  const eps = 1 / 16777216;
  const u = uniform(key, shape, { lo: -1 + eps, hi: 1, dtype });
  return mul(erfinv(u), Math.SQRT2);
}

/** Standard normal truncated to [lo, hi], scaled by `std` (inverse CDF of a uniform over the truncated mass). */
export function truncatedNormal(
  key: Tensor,
  shape: readonly number[],
  opts: { lo?: number; hi?: number; std?: number; dtype?: DType } = {},
): Tensor {
  const { lo = -2, hi = 2, std = 1, dtype = "f32" } = opts;
  const a = erfScalar(lo / Math.SQRT2), b = erfScalar(hi / Math.SQRT2);
  const u = uniform(key, shape, { lo: a, hi: b, dtype });
  return mul(erfinv(u), Math.SQRT2 * std);
}

function erfScalar(x: number): number {
  return erf(tensor(x, { shape: [], dtype: "f64" })).item();
}

/** 1 with probability `p`, as bool. */
export function bernoulli(key: Tensor, p: number, shape: readonly number[]): Tensor {
  return lt(unit(key, shape, "f32"), p);
}

/** A random permutation of 0…n−1 (i32), by sorting random keys on the host: permutations are drawn outside steps. */
export function permutation(key: Tensor, n: number): Tensor {
  const bits = randomBits(key, [n]).toArray();
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => bits[a] - bits[b] || a - b);
  return tensor(idx, { shape: [n], dtype: "i32" });
}
