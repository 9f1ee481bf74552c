/**
 * Test helpers for the GPU fixture tests: the GPU (or undefined when this runtime has no adapter), fixture tensors cast
 * to float32 and read-back of compiled outputs.
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
