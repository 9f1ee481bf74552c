/**
 * GPU acquisition: the plain request gets the adapter's real limits; the Effect resource destroys the device when its
 * scope closes (also through a Layer); a missing WebGPU gives a clear error naming what was tried; the memory counter
 * tracks buffers and bytes.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { acquireGpu, GpuLive, GpuService, requestGpu } from "../lib/gpu/device.ts";
import { gpu, gpuTest } from "./gpu_kernels_helpers.ts";

gpuTest("gpu device: requestGpu asks for the adapter's real limits and optional features", async () => {
  const adapter = (await navigator.gpu.requestAdapter({ powerPreference: "high-performance" }))!;
  const g = await requestGpu();
  try {
    assert.equal(g.limits.maxStorageBufferBindingSize, adapter.limits.maxStorageBufferBindingSize);
    assert.equal(g.limits.maxComputeWorkgroupStorageSize, adapter.limits.maxComputeWorkgroupStorageSize);
    assert.equal(g.features.timestampQuery, adapter.features.has("timestamp-query"));
    assert.equal(g.features.shaderF16, adapter.features.has("shader-f16"));
    assert.ok(g.description.length > 0);
  } finally {
    g.destroy();
  }
});

gpuTest("gpu device: the scoped resource destroys the device when the scope closes", async () => {
  let lost: Promise<GPUDeviceLostInfo> | undefined;
  const label = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const g = yield* acquireGpu();
    lost = g.lost;
    return g.description;
  })));
  assert.ok(label.length > 0);
  const info = await lost!;
  assert.equal(info.reason, "destroyed");
  // Through a layer, the same.
  const viaLayer = await Effect.runPromise(
    Effect.provide(
      Effect.gen(function* () {
        const g = yield* GpuService;
        lost = g.lost;
        return g.limits.maxComputeInvocationsPerWorkgroup;
      }),
      GpuLive(),
    ),
  );
  assert.ok(viaLayer >= 256);
  assert.equal((await lost!).reason, "destroyed");
});

gpuTest("gpu device: the memory counter tracks buffers and bytes", async () => {
  const g = await requestGpu();
  try {
    const a = g.memory.createBuffer(g.device, { size: 256, usage: GPUBufferUsage.STORAGE });
    const b = g.memory.createBuffer(g.device, { size: 1024, usage: GPUBufferUsage.STORAGE });
    assert.deepEqual(g.memory.stats(), {
      buffersCreated: 2,
      buffersDestroyed: 0,
      buffersLive: 2,
      bytesLive: 1280,
      bytesPeak: 1280,
    });
    g.memory.destroy(b);
    g.memory.destroy(b);
    assert.deepEqual(g.memory.stats(), {
      buffersCreated: 2,
      buffersDestroyed: 1,
      buffersLive: 1,
      bytesLive: 256,
      bytesPeak: 1280,
    });
    g.memory.resetPeak();
    assert.equal(g.memory.stats().bytesPeak, 256);
    g.memory.destroy(a);
    assert.equal(g.memory.stats().bytesLive, 0);
  } finally {
    g.destroy();
  }
});

Deno.test({
  name: "gpu device: without WebGPU the error names what was tried, and the Effect fails with GpuUnavailable",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const desc = Object.getOwnPropertyDescriptor(navigator, "gpu");
    Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
    try {
      await assert.rejects(requestGpu(), /navigator\.gpu is undefined/);
      const err = await Effect.runPromise(Effect.flip(Effect.scoped(acquireGpu())));
      assert.equal(err._tag, "GpuUnavailable");
      assert.match(err.message, /no WebGPU/);
    } finally {
      if (desc) Object.defineProperty(navigator, "gpu", desc);
      else delete (navigator as unknown as Record<string, unknown>).gpu;
    }
    if (gpu) assert.ok(navigator.gpu, "navigator.gpu restored");
  },
});
