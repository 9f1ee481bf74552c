/**
 * Host-side counter-based randomness: JAX-compatible Threefry-2x32 keys and bit streams, and samplers over them.
 *
 * @module
 */

export {
  assertKey,
  foldIn,
  type Key,
  keyFromSeed,
  type LayoutOptions,
  randomBits,
  splitKey,
  threefry2x32,
} from "./threefry.ts";
export {
  bernoulli,
  beta,
  gamma,
  normal,
  permutation,
  randint,
  truncatedNormal,
  type TruncatedNormalOptions,
  uniform,
  type UniformOptions,
} from "./distributions.ts";
export { erf, erfinvF32 } from "./special.ts";
