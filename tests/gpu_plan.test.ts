/**
 * Static GPU plans: a whole training step (loss, gradients, AdamW update written with core ops, parameters and
 * optimizer state donated) compiled once and replayed 100 times with no new GPU buffer after the first call, whose loss
 * curve matches the CPU interpreter's; plus the planner's fusion, memory reuse and handle rules.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { buildPlan } from "../lib/gpu/plan.ts";
import type { GpuTensor } from "../lib/gpu/plan_tensor.ts";

const gpu = await requestGpu().catch(() => undefined);
const gpuTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !gpu, sanitizeOps: false, sanitizeResources: false, fn });

/** Deterministic values in [-scale, scale) (an LCG: the test must not depend on the PRNG under test). */
function rand(shape: number[], seed: number, scale = 1): T.Tensor {
  let s = (seed * 2654435761) >>> 0;
  const d = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < d.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 2 ** 32 * 2 - 1) * scale;
  }
  return T.tensor(d, { shape });
}

type Params = Record<string, T.Tensor>;
interface Opt {
  m: Params;
  v: Params;
  t: T.Tensor;
}

function mlpLoss(p: Params, x: T.Tensor, y: T.Tensor): T.Tensor {
  const h = T.gelu(T.linear(x, p["fc1.weight"], p["fc1.bias"]));
  const logits = T.linear(h, p["fc2.weight"], p["fc2.bias"]);
  return T.neg(T.mean(T.sum(T.mul(y, T.logSoftmax(logits, -1)), -1)));
}

/** One AdamW step, written with core ops so it compiles into the same plan as the gradients. */
function adamwStep(loss: (p: Params, x: T.Tensor, y: T.Tensor) => T.Tensor) {
  const [lr, b1, b2, eps, wd] = [0.01, 0.9, 0.999, 1e-8, 0.01];
  return (p: Params, opt: Opt, x: T.Tensor, y: T.Tensor) => {
    const [l, g] = T.valueAndGrad(loss)(p, x, y) as [T.Tensor, Params];
    const t = T.add(opt.t, 1);
    const c1 = T.sub(1, T.pow(T.full([], b1), t));
    const c2 = T.sub(1, T.pow(T.full([], b2), t));
    const m: Params = {}, v: Params = {}, np: Params = {};
    for (const k of Object.keys(p)) {
      m[k] = T.add(T.mul(opt.m[k], b1), T.mul(g[k], 1 - b1));
      v[k] = T.add(T.mul(opt.v[k], b2), T.mul(T.square(g[k]), 1 - b2));
      const update = T.div(T.div(m[k], c1), T.add(T.sqrt(T.div(v[k], c2)), eps));
      np[k] = T.sub(p[k], T.mul(T.add(update, T.mul(p[k], wd)), lr));
    }
    return { params: np, opt: { m, v, t }, loss: l };
  };
}

function mlpSetup() {
  const p: Params = {
    "fc1.weight": rand([16, 8], 1, 0.35),
    "fc1.bias": rand([16], 2, 0.1),
    "fc2.weight": rand([4, 16], 3, 0.25),
    "fc2.bias": rand([4], 4, 0.1),
  };
  const zeros = (q: Params) => Object.fromEntries(Object.entries(q).map(([k, t]) => [k, T.zeros(t.shape)]));
  const opt: Opt = { m: zeros(p), v: zeros(p), t: T.scalar(0) };
  const x = rand([32, 8], 5);
  // Labels from a fixed random teacher, so the loss can fall.
  const teacher = T.matmul(x, rand([8, 4], 6));
  const y = T.cast(T.eq(teacher, T.max(teacher, -1, true)), "f32");
  return { p, opt, x, y };
}

gpuTest(
  "gpu plan: an MLP AdamW step replays 100 times without new buffers and matches the CPU loss curve",
  async () => {
    const { p, opt, x, y } = mlpSetup();
    const step = adamwStep(mlpLoss);
    const steps = 100;

    const cpuStep = T.compile(step);
    const cpuLoss: number[] = [];
    let [cp, co] = [p, opt];
    for (let i = 0; i < steps; i++) {
      const r = cpuStep(cp, co, x, y);
      [cp, co] = [r.params, r.opt];
      cpuLoss.push(r.loss.item());
    }

    const gpuStep = compileGpu(step, { device: gpu!, donate: [0, 1], readback: (path) => path[0] === "loss" });
    const gpuLoss: number[] = [];
    let [gp, go]: unknown[] = [p, opt];
    let after1 = gpuStep.stats();
    let firstBuffers: GPUBuffer[] = [];
    for (let i = 0; i < steps; i++) {
      const r = await gpuStep(gp as Params, go as Opt, x, y);
      gpuLoss.push((await r.loss.read())[0]);
      const buffers = Object.values(r.params as Record<string, GpuTensor>).map((h) => h.buffer);
      if (i === 0) {
        after1 = gpuStep.stats();
        firstBuffers = buffers;
      } else {
        // Donated parameters come back in the very buffers they were passed in: zero copies.
        assert.deepEqual(buffers, firstBuffers);
      }
      [gp, go] = [r.params, r.opt];
    }
    const end = gpuStep.stats();
    if (Deno.env.get("GPU_PLAN_VERBOSE")) {
      const worst = Math.max(...gpuLoss.map((l, i) => Math.abs(l - cpuLoss[i]) / Math.abs(cpuLoss[i])));
      console.log({ first: cpuLoss[0], last: cpuLoss[steps - 1], worstRel: worst, stats: end });
    }
    assert.equal(end.traces, 1);
    assert.equal(end.buffersCreated, after1.buffersCreated, "buffers created after the first call");
    assert.equal(end.memory.buffersCreated, after1.memory.buffersCreated);
    assert.equal(end.pipelinesCompiled, after1.pipelinesCompiled);
    assert.equal(end.bindGroupsCreated, after1.bindGroupsCreated);
    assert.equal(end.plans[0].inPlace, 13, "parameters, moments and step count updated in place");

    assert.ok(cpuLoss[steps - 1] < 0.5 * cpuLoss[0], `the CPU loss falls (${cpuLoss[0]} → ${cpuLoss[steps - 1]})`);
    for (let i = 0; i < steps; i++) {
      assert.ok(
        Math.abs(gpuLoss[i] - cpuLoss[i]) <= 1e-3 * Math.abs(cpuLoss[i]) + 1e-5,
        `step ${i}: gpu loss ${gpuLoss[i]} vs cpu ${cpuLoss[i]}`,
      );
    }
    gpuStep.dispose();
  },
);

function cnnLoss(p: Params, x: T.Tensor, y: T.Tensor): T.Tensor {
  let h = T.relu(T.conv2d(x, p["conv1.weight"], { padding: 1 }, p["conv1.bias"]));
  h = T.gelu(T.conv2d(h, p["dw.weight"], { padding: 1, stride: 2, groups: 4 }));
  const logits = T.linear(T.mean(h, [2, 3]), p["fc.weight"], p["fc.bias"]);
  return T.neg(T.mean(T.sum(T.mul(y, T.logSoftmax(logits, -1)), -1)));
}

/** SGD with momentum, written with core ops. */
function sgdStep(p: Params, mom: Params, x: T.Tensor, y: T.Tensor) {
  const [l, g] = T.valueAndGrad(cnnLoss)(p, x, y) as [T.Tensor, Params];
  const m: Params = {}, np: Params = {};
  for (const k of Object.keys(p)) {
    m[k] = T.add(T.mul(mom[k], 0.9), g[k]);
    np[k] = T.sub(p[k], T.mul(m[k], 0.1));
  }
  return { params: np, mom: m, loss: l };
}

gpuTest("gpu plan: a small CNN SGD step replays without new buffers and matches the CPU loss curve", async () => {
  const p: Params = {
    "conv1.weight": rand([4, 2, 3, 3], 1, 0.4),
    "conv1.bias": rand([4], 2, 0.1),
    "dw.weight": rand([4, 1, 3, 3], 3, 0.5),
    "fc.weight": rand([3, 4], 4, 0.5),
    "fc.bias": rand([3], 5, 0.1),
  };
  const mom = Object.fromEntries(Object.entries(p).map(([k, t]) => [k, T.zeros(t.shape)]));
  const x = rand([8, 2, 6, 6], 6);
  const logits = T.matmul(T.mean(x, [2, 3]), rand([2, 3], 7));
  const y = T.cast(T.eq(logits, T.max(logits, -1, true)), "f32");
  const steps = 40;
  const cpuStep = T.compile(sgdStep);
  const cpuLoss: number[] = [];
  let [cp, cm] = [p, mom];
  for (let i = 0; i < steps; i++) {
    const r = cpuStep(cp, cm, x, y);
    [cp, cm] = [r.params, r.mom];
    cpuLoss.push(r.loss.item());
  }
  const gpuStep = compileGpu(sgdStep, { device: gpu!, donate: [0, 1], readback: (path) => path[0] === "loss" });
  const losses: Promise<Float32Array | unknown>[] = [];
  let [gp, gm]: unknown[] = [p, mom];
  let after1 = gpuStep.stats();
  for (let i = 0; i < steps; i++) {
    const r = await gpuStep(gp as Params, gm as Params, x, y);
    losses.push(r.loss.read());
    if (i === 0) after1 = gpuStep.stats();
    [gp, gm] = [r.params, r.mom];
  }
  const gpuLoss = (await Promise.all(losses)).map((l) => (l as Float32Array)[0]);
  const end = gpuStep.stats();
  assert.equal(end.buffersCreated, after1.buffersCreated, "buffers created after the first call");
  assert.equal(end.plans[0].inPlace, 10, "parameters and momenta updated in place");
  assert.ok(cpuLoss[steps - 1] < 0.8 * cpuLoss[0], `the CPU loss falls (${cpuLoss[0]} → ${cpuLoss[steps - 1]})`);
  for (let i = 0; i < steps; i++) {
    assert.ok(
      Math.abs(gpuLoss[i] - cpuLoss[i]) <= 1e-3 * Math.abs(cpuLoss[i]) + 1e-5,
      `step ${i}: gpu loss ${gpuLoss[i]} vs cpu ${cpuLoss[i]}`,
    );
  }
  gpuStep.dispose();
});

gpuTest("gpu plan: donated inputs go stale and handles feed back", async () => {
  const f = compileGpu((w: T.Tensor, x: T.Tensor) => ({ w: T.sub(w, T.mul(x, 0.5)), s: T.sum(w) }), {
    device: gpu!,
    donate: [0],
  });
  const r1 = await f(T.tensor([1, 2, 3]), T.tensor([2, 2, 2]));
  const r2 = await f(r1.w, T.tensor([2, 2, 2]));
  assert.equal(r2.w.buffer, r1.w.buffer, "the donated buffer is reused");
  assert.ok(r1.w.stale);
  await assert.rejects(() => r1.w.read(), /overwritten/);
  await assert.rejects(() => f(r1.w, T.tensor([1, 1, 1])), /overwritten/);
  assert.deepEqual([...await r2.w.read()], [-1, 0, 1]);
  assert.deepEqual([...await r2.s.read()], [3]);
  assert.equal((await r2.s.toTensor()).shape.length, 0);
  f.dispose();
});

Deno.test("gpu plan: elementwise chains fuse into one kernel, reductions absorb producer and consumer", () => {
  const x = rand([4, 8], 1);
  const chain = T.traceGraph((a: T.Tensor) => T.tanh(T.add(T.mul(T.exp(T.neg(a)), 2), T.transpose(T.transpose(a)))), [
    x,
  ]);
  assert.equal(buildPlan(chain.graph, { maxBindings: 8 }).stats.kernels, 1);
  const mean = T.traceGraph((a: T.Tensor) => T.mean(T.square(T.sub(a, 1)), -1), [x]);
  assert.equal(buildPlan(mean.graph, { maxBindings: 8 }).stats.kernels, 1);
  const lin = T.traceGraph((a: T.Tensor, w: T.Tensor, b: T.Tensor) => T.gelu(T.linear(a, w, b)), [
    x,
    rand([3, 8], 2),
    rand([3], 3),
  ]);
  assert.equal(buildPlan(lin.graph, { maxBindings: 8 }).stats.kernels, 1);
});

/** BatchNorm's backward statistics: Σdy and Σdy·x per channel, siblings over one domain. */
const bnSums = (dy: T.Tensor, x: T.Tensor) => ({ s1: T.sum(dy, [0, 2, 3]), s2: T.sum(T.mul(dy, x), [0, 2, 3]) });

Deno.test("gpu plan: sibling reductions share one kernel; a reduction reading another's result does not", () => {
  const [dy, x] = [rand([2, 3, 4, 5], 1), rand([2, 3, 4, 5], 2)];
  assert.equal(buildPlan(T.traceGraph(bnSums, [dy, x]).graph, { maxBindings: 8 }).stats.kernels, 1);
  // Two-pass variance: the second sum reads the first one's mean, so they stay apart.
  const variance = T.traceGraph((a: T.Tensor) => {
    const m = T.mean(a, [0, 2, 3], true);
    return { m, v: T.mean(T.square(T.sub(a, m)), [0, 2, 3]) };
  }, [x]);
  assert.equal(buildPlan(variance.graph, { maxBindings: 8 }).stats.kernels, 2);
});

gpuTest("gpu plan: merged sibling reductions give each sum (large enough to split into partials)", async () => {
  const [dy, x] = [rand([8, 3, 64, 62], 3), rand([8, 3, 64, 62], 4)];
  const f = compileGpu(bnSums, { device: gpu!, readback: "all" });
  const got = await f(dy, x);
  const want = bnSums(dy, x);
  for (const k of ["s1", "s2"] as const) {
    const [g, w] = [await got[k].read(), want[k].toArray()];
    w.forEach((v, i) => assert.ok(Math.abs(g[i] - v) <= 1e-4 * (1 + Math.abs(v)), `${k}[${i}]: ${g[i]} vs ${v}`));
  }
  f.dispose();
});

Deno.test("gpu plan: intermediates share pooled buffers once their last reader has run", () => {
  const x = rand([64, 64], 1);
  const deep = T.traceGraph((a: T.Tensor) => {
    let h = a;
    for (let i = 0; i < 12; i++) h = T.tanh(T.matmul(h, a));
    return h;
  }, [x]);
  const plan = buildPlan(deep.graph, { maxBindings: 8 });
  assert.equal(plan.stats.kernels, 12);
  assert.ok(plan.stats.poolBuffers <= 2, `pool buffers ${plan.stats.poolBuffers}`);
  assert.ok(plan.stats.poolBytes * 5 <= plan.stats.unpooledBytes, JSON.stringify(plan.stats));
});

gpuTest(
  "gpu plan: outputs that are inputs, constants or repeated; wide concats; foreign and swapped handles",
  async () => {
    const c = T.tensor([7, 8, 9]);
    const f = compileGpu((a: T.Tensor, b: T.Tensor) => {
      const s = T.add(a, b);
      return {
        a,
        c,
        s,
        s2: s,
        r: T.reshape(s, [3, 1]),
        w: T.concat(Array.from({ length: 11 }, (_, i) => T.mul(a, i)), 0),
      };
    }, { device: gpu!, readback: "all" });
    const a = T.tensor([1, 2, 3]), b = T.tensor([10, 20, 30]);
    const r = await f(a, b);
    assert.deepEqual([...await r.a.read()], [1, 2, 3]);
    assert.deepEqual([...await r.c.read()], [7, 8, 9]);
    assert.deepEqual([...await r.s.read()], [11, 22, 33]);
    assert.deepEqual([...await r.s2.read()], [11, 22, 33]);
    assert.deepEqual(r.r.shape, [3, 1]);
    assert.deepEqual([...await r.r.read()], [11, 22, 33]);
    assert.deepEqual([...await r.w.read()], Array.from({ length: 33 }, (_, i) => Math.floor(i / 3) * (1 + (i % 3))));

    // Handles from another function are copied in; swapped donated handles are staged, not clobbered.
    const g = compileGpu((x: T.Tensor, y: T.Tensor) => ({ x: T.add(x, 1), y: T.mul(y, 2) }), {
      device: gpu!,
      donate: [0, 1],
    });
    const r1 = await g(r.s, r.a);
    const r2 = await g(r1.y, r1.x);
    assert.deepEqual([...await r2.x.read()], [3, 5, 7]);
    assert.deepEqual([...await r2.y.read()], [24, 46, 68]);
    f.dispose();
    g.dispose();
  },
);

gpuTest(
  "gpu plan: contiguous runs of a computed value are outputs in its buffer, with no copy; handles feed on",
  async () => {
    const a = rand([4, 5], 2), b = rand([5, 3], 3);
    const parts = (a: T.Tensor, b: T.Tensor) => {
      const m = T.matmul(a, b);
      return { head: T.reshape(T.slice(m, [0], [1]), [3]), tail: T.slice(m, [1], [4]) };
    };
    // The product alone: head and tail are views of its buffer, the tail at an offset.
    const plan = buildPlan(T.traceGraph(parts, [a, b]).graph, { maxBindings: 8 });
    assert.equal(plan.dispatches.length, 1, plan.dispatches.map((d) => d.label).join(" "));
    assert.equal(plan.buffers[plan.outputs[0].buffer].bytes, 4 * 4 * 3);
    assert.equal(plan.outputs[1].buffer, plan.outputs[0].buffer);
    assert.deepEqual([plan.outputs[0].offset, plan.outputs[1].offset], [undefined, 3]);
    const want = T.matmul(a, b).toArray() as Float32Array;
    const close = (got: Float32Array, w: ArrayLike<number>, what: string) =>
      got.forEach((v, i) => assert.ok(Math.abs(v - w[i]) < 1e-5, `${what}[${i}]: ${v} vs ${w[i]}`));
    const f = compileGpu(parts, { device: gpu!, readback: "all" });
    const both = compileGpu((a: T.Tensor, b: T.Tensor) => ({ m: T.matmul(a, b), ...parts(a, b) }), {
      device: gpu!,
      readback: "all",
    });
    const twice = compileGpu((x: T.Tensor) => T.mul(x, 2), { device: gpu!, readback: "all" });
    const late = compileGpu(parts, { device: gpu! });
    const donating = compileGpu((x: T.Tensor) => T.add(x, 1), { device: gpu!, donate: [0] });
    try {
      const r = await f(a, b);
      assert.deepEqual(r.head.shape, [3]);
      close(await r.head.read() as Float32Array, want.slice(0, 3), "head");
      close(await r.tail.read() as Float32Array, want.slice(3), "tail");
      // Handles whose buffer is longer than their tensor, or that start past its beginning, feed another plan.
      close(await (await twice(r.head)).read() as Float32Array, Array.from(want.slice(0, 3), (v) => 2 * v), "2·head");
      close(await (await twice(r.tail)).read() as Float32Array, Array.from(want.slice(3), (v) => 2 * v), "2·tail");
      const s = await both(a, b);
      close(await s.m.read() as Float32Array, want, "m");
      close(await s.head.read() as Float32Array, want.slice(0, 3), "head beside m");
      close(await s.tail.read() as Float32Array, want.slice(3), "tail beside m");
      // Read back without the plan's own readback, after a donating plan copied the view in.
      const h = await late(a, b);
      close(await (await donating(h.tail)).read() as Float32Array, Array.from(want.slice(3), (v) => v + 1), "tail + 1");
      close(await h.tail.read() as Float32Array, want.slice(3), "tail, read late");
    } finally {
      for (const g of [f, both, twice, late, donating]) g.dispose();
    }
  },
);
