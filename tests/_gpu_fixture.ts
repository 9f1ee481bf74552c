/**
 * Test helpers for the GPU fixture tests: the GPU (or undefined when this runtime has no adapter), fixture tensors cast
 * to float32, read-back of compiled outputs and the norm-wise relative error the fixture manifest recommends.
 *
 * @module
 */
import * as T from "../lib/core/mod.ts";
import { type Gpu, requestGpu } from "../lib/gpu/device.ts";
import { GpuTensor } from "../lib/gpu/plan_tensor.ts";
import type { FixtureTensor } from "./_fixtures.ts";

/** The acquired GPU, or undefined where no WebGPU adapter exists (the tests are then ignored). */
export const gpu: Gpu | undefined = await requestGpu().catch(() => undefined);

/**
 * Deno.test options shared by the GPU tests: ignored without a GPU; the device and its buffers outlive each test
 * (one device per file), so the op and resource sanitizers would report them.
 */
export const GPU_TEST = { ignore: !gpu, sanitizeOps: false, sanitizeResources: false } as const;

/** A fixture tensor as a float32 host tensor (the GPU computes in float32; the fixtures are float64). */
export function f32(t: FixtureTensor): T.Tensor {
  return T.tensor(Float32Array.from(t.data), { shape: [...t.shape], dtype: "f32" });
}

/** Reads every GPU handle of a tree back to the host, keeping the tree's shape (objects, arrays). */
export async function readTree(tree: unknown): Promise<unknown> {
  if (tree instanceof GpuTensor) return await tree.read();
  if (Array.isArray(tree)) return await Promise.all(tree.map(readTree));
  if (tree && typeof tree === "object") {
    const entries = await Promise.all(Object.entries(tree).map(async ([k, v]) => [k, await readTree(v)] as const));
    return Object.fromEntries(entries);
  }
  return tree;
}

/** Norm-wise relative error ||a − b|| / max(||b||, floor), accumulated in float64. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  if (a.length !== b.length) throw new Error(`relErr: length ${a.length} vs ${b.length}`);
  let d = 0, r = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    r += b[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(r), floor);
}

/** Euclidean norm, accumulated in float64. */
export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}
