/**
 * Test helpers: read the shared reference fixtures (../shared/fixtures beside the repository).
 *
 * @module
 */

import { readSafetensors } from "../lib/io/safetensors.ts";

/** One tensor read from a fixture file. */
export interface FixtureTensor {
  /** Safetensors dtype string, e.g. "F32". */
  readonly dtype: string;
  /** Row-major shape. */
  readonly shape: readonly number[];
  /** Values, widened to float64 so comparisons never depend on the stored precision. */
  readonly data: Float64Array;
}

/** Directory of the shared fixtures, resolved from this file so tests run from any working directory. */
export const FIXTURES_DIR: URL = new URL("../../shared/fixtures/", import.meta.url);

const cache = new Map<string, Map<string, FixtureTensor>>();

/** Reads `<name>.safetensors` from the shared fixtures (cached per process), every tensor widened to float64. */
export function loadFixture(name: string): Map<string, FixtureTensor> {
  const hit = cache.get(name);
  if (hit) return hit;
  const url = new URL(`${name}.safetensors`, FIXTURES_DIR);
  const file = readSafetensors(Deno.readFileSync(url), { name: decodeURIComponent(url.pathname) });
  const tensors = new Map<string, FixtureTensor>();
  for (const [key, t] of file.tensors) {
    if (t.data instanceof BigInt64Array) throw new Error(`${url.pathname}: tensor "${key}" is int64, not numeric here`);
    tensors.set(key, { dtype: t.dtype, shape: t.shape, data: Float64Array.from(t.data) });
  }
  cache.set(name, tensors);
  return tensors;
}

/** Reads the fixtures manifest. */
export function loadManifest(): Record<string, unknown> {
  return JSON.parse(Deno.readTextFileSync(new URL("manifest.json", FIXTURES_DIR)));
}

/** Returns a tensor of a fixture map or throws naming what is missing. */
export function fixtureTensor(map: Map<string, FixtureTensor>, name: string): FixtureTensor {
  const t = map.get(name);
  if (!t) throw new Error(`fixture tensor "${name}" not found (have: ${[...map.keys()].join(", ")})`);
  return t;
}
