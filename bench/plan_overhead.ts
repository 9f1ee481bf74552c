/**
 * Overhead of replaying static GPU plans.
 *
 * 1. Per-dispatch cost: plans made of a chain of N tiny dependent dispatches (64-element `x + 1`, ping-ponging between
 *    two buffers), replayed many times. Reported: host time to record and submit one replay, wall time until the GPU
 *    is done, and GPU time of the compute pass from timestamp queries when the device has them; the slope over N is
 *    the per-dispatch overhead.
 * 2. Host-side costs of compiling a real step (an MLP AdamW training step): tracing, planning (fusion, code
 *    generation, memory planning), instantiation with cold and warm pipeline caches, and one replay.
 *
 * Usage: `deno run -A bench/plan_overhead.ts [--small]`. Prints markdown; writes $OUT/plan_overhead.json when OUT is set.
 *
 * @module
 */
import * as T from "../lib/core/mod.ts";
import { kernelLimits, requestGpu } from "../lib/gpu/device.ts";
import { buildPlan, type PlanBuffer, type PlanDispatch, type StaticPlan } from "../lib/gpu/plan.ts";
import { GpuPlan, planCounters } from "../lib/gpu/plan_gpu.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { elementwiseKernel } from "../kernels/elementwise.ts";
import { contiguousView } from "../kernels/view.ts";

const small = Deno.args.includes("--small");
const gpu = await requestGpu();
const device = gpu.device;

/** A plan of `n` dependent 64-element `x + 1` dispatches between two pool buffers (input in buffer 0). */
function chainPlan(n: number): StaticPlan {
  const prog = elementwiseKernel({
    shape: [64],
    expr: {
      inputs: ["f32"],
      nodes: [{ op: "load", input: 0, view: contiguousView([64]) }, { op: "const", value: 1, dtype: "f32" }, {
        op: "add",
        args: [0, 1],
      }],
      outputs: [2],
    },
    label: "chain_add",
  });
  const d = prog.dispatches[0];
  const buffers: PlanBuffer[] = [
    { id: 0, bytes: 256, role: "input" },
    { id: 1, bytes: 256, role: "pool" },
    { id: 2, bytes: 256, role: "output" },
  ];
  const dispatches: PlanDispatch[] = Array.from({ length: n }, (_, i) => ({
    label: d.label,
    code: d.code,
    workgroups: d.workgroups,
    bindings: [
      { buffer: i === 0 ? 0 : (n - i) % 2 === 0 ? 2 : 1, write: false },
      { buffer: (n - 1 - i) % 2 === 0 ? 2 : 1, write: true },
    ],
  }));
  return {
    buffers,
    inputs: [{ buffer: 0, aval: { shape: [64], dtype: "f32" } }],
    outputs: [{ buffer: 2, aval: { shape: [64], dtype: "f32" } }],
    consts: [],
    begin: [],
    dispatches,
    end: [],
    stats: { kernels: n, dispatches: n, eqns: n, poolBuffers: 1, poolBytes: 256, unpooledBytes: 256 * n, inPlace: 0 },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface ChainRow {
  dispatches: number;
  recordSubmitUs: number;
  wallUs: number;
  gpuUs: number | null;
  wallPerDispatchUs: number;
  gpuPerDispatchUs: number | null;
}

async function chainRow(n: number, reps: number): Promise<ChainRow> {
  const plan = await GpuPlan.create(gpu, chainPlan(n));
  const x = new Float32Array(64);
  const check = await plan.replay([x]);
  const got = (await check[0].read())[0];
  if (got !== n) throw new Error(`chain of ${n}: expected ${n}, got ${got}`);
  const record: number[] = [], wall: number[] = [], gpuTimes: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const p = plan.replay([x]);
    await p;
    const t1 = performance.now();
    await device.queue.onSubmittedWorkDone();
    const t2 = performance.now();
    record.push((t1 - t0) * 1e3);
    wall.push((t2 - t0) * 1e3);
  }
  if (gpu.features.timestampQuery) {
    for (let r = 0; r < Math.max(3, reps / 4); r++) {
      await plan.replay([x], { timing: true });
      if (plan.lastGpuTimeNs !== undefined) gpuTimes.push(plan.lastGpuTimeNs / 1e3);
    }
  }
  plan.destroy();
  const gpuUs = gpuTimes.length ? median(gpuTimes) : null;
  return {
    dispatches: n,
    recordSubmitUs: median(record),
    wallUs: median(wall),
    gpuUs,
    wallPerDispatchUs: median(wall) / n,
    gpuPerDispatchUs: gpuUs === null ? null : gpuUs / n,
  };
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length, my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0, den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

function rand(shape: number[], seed: number, scale = 1): T.Tensor {
  let s = (seed * 2654435761) >>> 0;
  const d = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < d.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 2 ** 32 * 2 - 1) * scale;
  }
  return T.tensor(d, { shape });
}

/** An MLP AdamW step (the shape of a real training step: forward, backward, optimizer, all in one graph). */
function mlpStep(width: number) {
  const loss = (p: Record<string, T.Tensor>, x: T.Tensor, y: T.Tensor) => {
    const h = T.gelu(T.linear(x, p.w1, p.b1));
    return T.neg(T.mean(T.sum(T.mul(y, T.logSoftmax(T.linear(h, p.w2, p.b2), -1)), -1)));
  };
  const step = (
    p: Record<string, T.Tensor>,
    opt: Record<string, Record<string, T.Tensor>>,
    x: T.Tensor,
    y: T.Tensor,
  ) => {
    const [l, g] = T.valueAndGrad(loss)(p, x, y) as [T.Tensor, Record<string, T.Tensor>];
    const out: Record<string, T.Tensor> = {}, m: Record<string, T.Tensor> = {}, v: Record<string, T.Tensor> = {};
    for (const k of Object.keys(p)) {
      m[k] = T.add(T.mul(opt.m[k], 0.9), T.mul(g[k], 0.1));
      v[k] = T.add(T.mul(opt.v[k], 0.999), T.mul(T.square(g[k]), 0.001));
      out[k] = T.sub(p[k], T.mul(T.div(m[k], T.add(T.sqrt(v[k]), 1e-8)), 1e-3));
    }
    return { params: out, opt: { m, v }, loss: l };
  };
  const p = {
    w1: rand([width, 32], 1, 0.2),
    b1: rand([width], 2, 0.1),
    w2: rand([10, width], 3, 0.2),
    b2: rand([10], 4),
  };
  const zeros = Object.fromEntries(Object.entries(p).map(([k, t]) => [k, T.zeros(t.shape)]));
  const x = rand([64, 32], 5);
  const y = T.cast(T.eq(T.matmul(x, rand([32, 10], 6)), T.max(T.matmul(x, rand([32, 10], 6)), -1, true)), "f32");
  return { step, args: [p, { m: zeros, v: zeros }, x, y] as const };
}

async function hostCosts(width: number) {
  const { step, args } = mlpStep(width);
  const t0 = performance.now();
  const traced = T.traceGraph(step as never, [...args]);
  const t1 = performance.now();
  const plan = buildPlan(traced.graph, {
    maxBindings: gpu.limits.maxStorageBuffersPerShaderStage,
    donate: [],
    limits: kernelLimits(gpu),
  });
  const t2 = performance.now();
  const before = planCounters(gpu).pipelinesCompiled;
  const cold = await GpuPlan.create(gpu, plan);
  const t3 = performance.now();
  const compiled = planCounters(gpu).pipelinesCompiled - before;
  const warm = await GpuPlan.create(gpu, plan);
  const t4 = performance.now();
  cold.destroy();
  warm.destroy();
  const fn = compileGpu(step, { device: gpu, donate: [0, 1], readback: (path) => path[0] === "loss" });
  let r = await fn(...args);
  const reps = small ? 10 : 50;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    r = await fn(r.params, r.opt, args[2], args[3]);
    times.push(performance.now() - s);
  }
  fn.dispose();
  return {
    model: `MLP 32→${width}→10, batch 64, AdamW`,
    eqns: traced.graph.eqns.length,
    kernels: plan.stats.kernels,
    traceMs: t1 - t0,
    planMs: t2 - t1,
    instantiateColdMs: t3 - t2,
    pipelinesCompiled: compiled,
    instantiateWarmMs: t4 - t3,
    stepMs: median(times),
  };
}

const sizes = small ? [1, 16, 64, 256] : [1, 16, 64, 256, 1024, 4096];
const reps = small ? 20 : 100;
const rows: ChainRow[] = [];
for (const n of sizes) rows.push(await chainRow(n, reps));
const perDispatchWallUs = slope(rows.map((r) => r.dispatches), rows.map((r) => r.wallUs));
const perDispatchRecordUs = slope(rows.map((r) => r.dispatches), rows.map((r) => r.recordSubmitUs));
const gpuRows = rows.filter((r) => r.gpuUs !== null);
const perDispatchGpuUs = gpuRows.length >= 2
  ? slope(gpuRows.map((r) => r.dispatches), gpuRows.map((r) => r.gpuUs!))
  : null;
const host = [await hostCosts(small ? 64 : 256)];

const f = (v: number | null, d = 1) => (v === null ? "n/a" : v.toFixed(d));
const lines = [
  `# Plan replay overhead (${gpu.description}${small ? ", --small" : ""})`,
  "",
  "| dispatches | record+submit µs | wall µs | GPU µs (timestamps) | wall µs / dispatch | GPU µs / dispatch |",
  "|---:|---:|---:|---:|---:|---:|",
  ...rows.map((r) =>
    `| ${r.dispatches} | ${f(r.recordSubmitUs)} | ${f(r.wallUs)} | ${f(r.gpuUs)} | ${f(r.wallPerDispatchUs, 2)} | ${
      f(r.gpuPerDispatchUs, 2)
    } |`
  ),
  "",
  `Slope: ${f(perDispatchRecordUs, 2)} µs/dispatch to record and submit, ${f(perDispatchWallUs, 2)} µs/dispatch wall, ${
    f(perDispatchGpuUs, 2)
  } µs/dispatch GPU.`,
  "",
  "| step | eqns | kernels | trace ms | plan ms | instantiate (cold) ms | pipelines | instantiate (warm) ms | replay ms |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...host.map((h) =>
    `| ${h.model} | ${h.eqns} | ${h.kernels} | ${f(h.traceMs)} | ${f(h.planMs)} | ${
      f(h.instantiateColdMs)
    } | ${h.pipelinesCompiled} | ${f(h.instantiateWarmMs)} | ${f(h.stepMs, 2)} |`
  ),
];
console.log(lines.join("\n"));
const out = Deno.env.get("OUT");
if (out) {
  await Deno.mkdir(out, { recursive: true });
  const json = {
    device: gpu.description,
    small,
    chain: rows,
    perDispatchUs: { record: perDispatchRecordUs, wall: perDispatchWallUs, gpu: perDispatchGpuUs },
    host,
  };
  await Deno.writeTextFile(`${out}/plan_overhead.json`, JSON.stringify(json, null, 2));
}
gpu.destroy();
