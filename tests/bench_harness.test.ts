import assert from "node:assert/strict";
import type { Tensor } from "../lib/core/tensor.ts";
import { add, mul, sum, tensor } from "../lib/core/mod.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import type { GpuTensor } from "../lib/gpu/plan_tensor.ts";
import { checked, leafRange, measureFn, median, planInputs, prepareGpu, timeReplays } from "../bench/harness.ts";
import { timeDispatches } from "../bench/dispatch_timer.ts";

const gpu = await requestGpu().catch(() => undefined);

/** A GPU test (ignored without a GPU; WebGPU keeps resources the sanitizers would flag). */
function gpuTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !gpu, sanitizeOps: false, sanitizeResources: false, fn });
}

Deno.test("median: middle value, mean of the two middle ones, undefined for none", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});

Deno.test("leafRange and planInputs follow tree flattening (object keys sorted)", () => {
  const a = { z: tensor([1]), a: tensor([2, 3]) };
  const args = [a, tensor([4]), [tensor([5]), tensor([6])]];
  assert.deepEqual(leafRange(args, [0]), [0, 1]);
  assert.deepEqual(leafRange(args, [2, 1]), [3, 4, 2]);
  assert.deepEqual(planInputs(args).map((x) => Array.from(x as Float32Array)), [[2, 3], [1], [4], [5], [6]]);
  assert.throws(() => leafRange(args, [3]), /argument index 3 out of range for 3 arguments/);
});

gpuTest("timeReplays: donated outputs fed back make every call count once", async () => {
  const step = (p: { w: Tensor }, x: Tensor) => [{ w: add(p.w, x) }, sum(mul(p.w, x))];
  const w0 = tensor([1, 2, 3, 4]), x = tensor([0.5, 0.5, 0.5, 0.5]);
  const prepared = await prepareGpu(gpu!, step as never, [{ w: w0 }, x], { donate: [0] });
  try {
    assert.equal(prepared.plan.outputs[0].donor, 0, "the update lands in the parameter's own buffer");
    const t = await timeReplays(gpu!, prepared, (prev) => [prev ? (prev as [{ w: GpuTensor }])[0] : { w: w0 }, x], {
      iters: 4,
      warmup: 1,
      timed: 2,
    });
    assert.equal(t.iters, 4);
    assert.ok(t.clockWarmCalls >= 1, "the clocks are warmed before timing");
    // At least one untimed call in front of each of the two timed calls.
    assert.ok(gpu!.features.timestampQuery ? t.fillCalls >= 2 : t.fillCalls === 0, `${t.fillCalls} fill calls`);
    assert.equal(t.calls, 1 + 1 + t.clockWarmCalls + t.fillCalls + (gpu!.features.timestampQuery ? 2 : 0) + 4);
    assert.ok(t.wallMs > 0 && t.firstMs > 0);
    if (gpu!.features.timestampQuery) {
      assert.equal(t.gpuSamplesMs.length, 2);
      assert.ok(t.gpuMs! >= 0);
    }
    const w = await (t.last as [{ w: GpuTensor }])[0].w.read();
    assert.deepEqual(Array.from(w), [1, 2, 3, 4].map((v) => v + 0.5 * t.calls));
  } finally {
    prepared.destroy();
  }
});

gpuTest("timeReplays: a time budget shortens the loop but keeps at least three calls", async () => {
  const x = tensor([1, 2]);
  const prepared = await prepareGpu(gpu!, ((x: Tensor) => mul(x, 2)) as never, [x]);
  try {
    const t = await timeReplays(gpu!, prepared, () => [x], { iters: 1000, budgetMs: 1e-3, warmup: 1, timed: 0 });
    assert.equal(t.iters, 3);
    assert.deepEqual(Array.from(await (t.last as GpuTensor).read()), [2, 4]);
  } finally {
    prepared.destroy();
  }
});

gpuTest("measureFn: times a function and reports its plan", async () => {
  const t = await measureFn(gpu!, ((x: Tensor) => mul(x, 2)) as never, [tensor([1, 2, 3])], { iters: 3 });
  assert.ok(t.ms >= 0 && t.wallMs > 0);
  assert.equal(t.clock, gpu!.features.timestampQuery ? "gpu" : "wall");
  assert.deepEqual(t.outputShapes, [[3]]);
  assert.equal(t.dispatches, 1);
});

gpuTest("timeDispatches: one time per dispatch, and the plan as one pass", async () => {
  if (!gpu!.features.timestampQuery) return;
  const f = (x: Tensor) => sum(mul(add(x, 1), x));
  const prepared = await prepareGpu(gpu!, f as never, [tensor(new Float32Array(4096))]);
  try {
    const t = await timeDispatches(gpu!, prepared.plan, 2);
    assert.equal(t.ns.length, prepared.plan.dispatches.length);
    assert.ok(t.ns.every((x) => Number.isFinite(x) && x >= 0));
    assert.ok(t.onePassNs >= 0);
    assert.equal(t.reps, 2);
  } finally {
    prepared.destroy();
  }
});

gpuTest("checked: a WebGPU validation error becomes a thrown Error", async () => {
  await assert.rejects(
    checked(gpu!, () => {
      gpu!.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      return Promise.resolve();
    }),
    /WebGPU/,
  );
  assert.equal(await checked(gpu!, () => Promise.resolve(7)), 7);
});
