/**
 * The benchmark harness: a tensor function prepared for the GPU the way `compileGpu` prepares it (trace, static plan,
 * pipelines and buffers), but with each phase timed and the plan at hand, so replays can be measured with timestamp
 * queries (`GpuPlan.replay({ timing })`, which `compileGpu` does not expose) as well as by the wall clock.
 *
 * A call takes argument trees whose leaves are host tensors or {@link GpuTensor} handles, exactly as a function made by
 * `compileGpu` does, and resolves to a tree of handles.
 * @module
 */
import type { TypedArray } from "../lib/core/dtype.ts";
import { type Traced, traceGraph } from "../lib/core/compile.ts";
import { Tensor } from "../lib/core/tensor.ts";
import { type TreeDef, treeFlatten, treeUnflatten } from "../lib/core/tree.ts";
import { type Gpu, kernelLimits } from "../lib/gpu/device.ts";
import { buildPlan, type StaticPlan } from "../lib/gpu/plan.ts";
import { GpuPlan, type PlanInput } from "../lib/gpu/plan_gpu.ts";
import { GpuTensor } from "../lib/gpu/plan_tensor.ts";
import { since } from "./report.ts";

/** Milliseconds spent in each preparation phase. */
export interface PreparePhases {
  /** Tracing the function into a graph (host). */
  readonly traceMs: number;
  /** Fusing, generating kernels and planning memory (host). */
  readonly planMs: number;
  /** Creating buffers, compiling pipelines (WGSL → driver code) and bind groups. */
  readonly pipelinesMs: number;
}

/** A function traced and planned for one argument signature, instantiated on a GPU. */
export interface PreparedGpu {
  /** The traced graph with its tree structures. */
  readonly traced: Traced;
  /** The device-independent plan. */
  readonly plan: StaticPlan;
  /** The plan on the GPU. */
  readonly gpuPlan: GpuPlan;
  /** Preparation times. */
  readonly phases: PreparePhases;
  /**
   * Runs the plan once; `timing` also measures the compute pass with timestamp queries (see {@link lastGpuMs});
   * `check` turns WebGPU errors of the call (validation, out of memory, internal) into a thrown Error.
   */
  call(args: readonly unknown[], opts?: { timing?: boolean; check?: boolean }): Promise<unknown>;
  /** GPU milliseconds of the last call made with `timing`, when the device has timestamp queries. */
  lastGpuMs(): number | undefined;
  /** Frees the plan's buffers. */
  destroy(): void;
}

/** Options of {@link prepareGpu}. */
export interface PrepareOptions {
  /** Argument indices whose leaves outputs may overwrite (as `compileGpu`'s `donate`). */
  readonly donate?: readonly number[];
}

/** Replaces GPU handles by shape-only tensors (all tracing needs), remembering which handle each stands for. */
function standIns(args: readonly unknown[]): { args: unknown[]; handles: Map<Tensor, GpuTensor> } {
  const handles = new Map<Tensor, GpuTensor>();
  const walk = (x: unknown): unknown => {
    if (x instanceof GpuTensor) {
      const t = new Tensor(x.shape, x.dtype, {});
      handles.set(t, x);
      return t;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (typeof x === "object" && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v)]));
    }
    return x;
  };
  return { args: args.map(walk), handles };
}

/** The plan inputs of an argument list: host tensors as their storage, handles as they are (tree order). */
export function planInputs(args: readonly unknown[]): PlanInput[] {
  const s = standIns(args);
  return treeFlatten(s.args).leaves.map((t) => s.handles.get(t) ?? (t.toArray() as TypedArray));
}

/** Flat input indices of the leaves of the given arguments. */
export function leafRange(args: readonly unknown[], argnums: readonly number[]): number[] {
  const counts = standIns(args).args.map((a) => treeFlatten(a).leaves.length);
  const first = counts.map((_, i) => counts.slice(0, i).reduce((s, n) => s + n, 0));
  return argnums.flatMap((a) => {
    if (!(Number.isInteger(a) && a >= 0 && a < args.length)) {
      throw new Error(`prepareGpu: argument index ${a} out of range for ${args.length} arguments`);
    }
    return Array.from({ length: counts[a] }, (_, k) => first[a] + k);
  });
}

/** Tree paths of a definition's leaves, in flattening order (as `compileGpu` gives them to the planner). */
export function leafPaths(
  def: TreeDef,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (def.kind === "leaf") out.push(prefix);
  else if (def.kind === "array") def.items.forEach((d, i) => leafPaths(d, [...prefix, i], out));
  else if (def.kind === "object") def.items.forEach((d, i) => leafPaths(d, [...prefix, def.keys[i]], out));
  return out;
}

/**
 * The static plan of a traced function for `gpu` as `compileGpu` builds it (tree paths for the labels, the device's
 * binding and kernel limits), with the flat input indices `donate` may overwrite.
 */
export function planOnGpu(gpu: Gpu, traced: Traced, donate: readonly number[] = []): StaticPlan {
  return buildPlan(traced.graph, {
    donate,
    inputPaths: leafPaths(traced.inDef),
    outputPaths: leafPaths(traced.outDef),
    maxBindings: gpu.limits.maxStorageBuffersPerShaderStage,
    limits: kernelLimits(gpu),
  });
}

/** Traces, plans and instantiates `fn` for the signature of `args` on `gpu`, timing each phase. */
export async function prepareGpu(
  gpu: Gpu,
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
  opts: PrepareOptions = {},
): Promise<PreparedGpu> {
  let t0 = performance.now();
  const traced = traceGraph(fn, standIns(args).args);
  const traceMs = since(t0);
  t0 = performance.now();
  const plan = planOnGpu(gpu, traced, leafRange(args, opts.donate ?? []));
  const planMs = since(t0);
  t0 = performance.now();
  const gpuPlan = await GpuPlan.create(gpu, plan);
  await gpu.device.queue.onSubmittedWorkDone();
  const pipelinesMs = since(t0);
  let gpuMs: number | undefined;
  return {
    traced,
    plan,
    gpuPlan,
    phases: { traceMs, planMs, pipelinesMs },
    async call(callArgs, callOpts = {}) {
      const replay = () => gpuPlan.replay(planInputs(callArgs), { timing: callOpts.timing });
      const outs = callOpts.check ? await checked(gpu, replay) : await replay();
      if (callOpts.timing) {
        const ns = gpuPlan.lastGpuTimeNs;
        gpuMs = ns === undefined ? undefined : ns / 1e6;
      }
      return treeUnflatten(traced.outDef, outs as unknown as Tensor[]);
    },
    lastGpuMs: () => gpuMs,
    destroy: () => gpuPlan.destroy(),
  };
}

const SCOPES: GPUErrorFilter[] = ["validation", "out-of-memory", "internal"];

/** Runs `f`, throwing the first WebGPU error it raised (an invalid command buffer otherwise fails silently). */
export async function checked<T>(gpu: Gpu, f: () => Promise<T>): Promise<T> {
  for (const s of SCOPES) gpu.device.pushErrorScope(s);
  let result: T | undefined, thrown: unknown;
  try {
    result = await f();
  } catch (e) {
    thrown = e;
  }
  const errors = [];
  for (let i = 0; i < SCOPES.length; i++) errors.push(await gpu.device.popErrorScope());
  if (thrown !== undefined) throw thrown;
  const err = errors.find((e) => e !== null);
  if (err) throw new Error(`WebGPU ${err.constructor.name}: ${err.message}`);
  return result as T;
}

/** What {@link timeReplays} measured. */
export interface ReplayTiming {
  /** The first call (uploads, lazy driver work), milliseconds. */
  readonly firstMs: number;
  /** Wall-clock milliseconds per call over back-to-back calls, the queue drained at the end. */
  readonly wallMs: number;
  /** Calls in the wall-clock loop (fewer than asked when the warm-up says the budget would run out). */
  readonly iters: number;
  /** Median GPU milliseconds of the compute pass over the timed calls; undefined without timestamp queries. */
  readonly gpuMs: number | undefined;
  /** Every timed call's GPU milliseconds. */
  readonly gpuSamplesMs: readonly number[];
  /** Back-to-back calls that brought the clocks up before timing (see {@link CLOCK_WARM_MS}). */
  readonly clockWarmCalls: number;
  /** Untimed calls queued in front of the timestamp-timed ones (see {@link FILL_MS}). */
  readonly fillCalls: number;
  /** Calls made in all (first, warm-up, clock warm-up, timestamp-timed and wall-clock loop). */
  readonly calls: number;
  /** The last call's result. */
  readonly last: unknown;
}

/** Options of {@link timeReplays}. */
export interface ReplayOptions {
  /** Calls in the wall-clock loop (default 20). */
  readonly iters?: number;
  /** Untimed calls after the first (default 2). */
  readonly warmup?: number;
  /** Calls measured with timestamp queries, one at a time (default 5). */
  readonly timed?: number;
  /** Time the wall-clock loop should take at most (milliseconds, judged from the warm-up; default: no limit). */
  readonly budgetMs?: number;
}

/** Milliseconds of back-to-back calls that bring the GPU's clocks up before anything is timed. */
export const CLOCK_WARM_MS = 300;
/** Milliseconds of untimed calls queued in front of each timestamp-timed call (see {@link timeReplays}). */
export const FILL_MS = 3;

/**
 * Times replays of `prepared`. `step` gives each call's arguments from the previous call's result (undefined before
 * the first call), so a training step can feed its donated outputs back; inference returns the same arguments.
 */
export async function timeReplays(
  gpu: Gpu,
  prepared: PreparedGpu,
  step: (previous: unknown) => readonly unknown[],
  opts: ReplayOptions = {},
): Promise<ReplayTiming> {
  const iters = opts.iters ?? 20, warmup = opts.warmup ?? 2, timed = opts.timed ?? 5;
  const queue = gpu.device.queue;
  let t0 = performance.now();
  let out = await prepared.call(step(undefined), { check: true });
  await queue.onSubmittedWorkDone();
  const firstMs = since(t0);
  t0 = performance.now();
  for (let i = 0; i < warmup; i++) out = await prepared.call(step(out));
  await queue.onSubmittedWorkDone();
  const warmMs = warmup > 0 ? since(t0) / warmup : firstMs;
  // The GPU drops its clocks after about a second mostly idle (an H100 went from 1980 to 345 MHz while the plan was
  // compiled) and short awaited calls do not bring them back: keep it busy for CLOCK_WARM_MS before timing.
  const spin = Math.ceil(CLOCK_WARM_MS / Math.max(warmMs, 1e-3));
  for (let i = 0; i < spin; i++) out = await prepared.call(step(out));
  await queue.onSubmittedWorkDone();
  const gpuSamplesMs: number[] = [];
  // A timed call waits for its timestamps, so the GPU idles after each: queue FILL_MS of untimed calls in front of
  // each one to keep the clocks where the loop has them.
  const fill = Math.ceil(FILL_MS / Math.max(warmMs, 1e-3));
  let fillCalls = 0;
  if (gpu.features.timestampQuery) {
    for (let i = 0; i < timed; i++) {
      for (let k = 0; k < fill; k++, fillCalls++) out = await prepared.call(step(out));
      out = await prepared.call(step(out), { timing: true });
      const ms = prepared.lastGpuMs();
      if (ms !== undefined) gpuSamplesMs.push(ms);
    }
  }
  // The loop length is fixed up front from the warm-up, so the GPU is never drained mid-loop.
  const estimate = Math.max(warmMs, 1e-3);
  const n = opts.budgetMs === undefined ? iters : Math.max(3, Math.min(iters, Math.floor(opts.budgetMs / estimate)));
  t0 = performance.now();
  for (let i = 0; i < n; i++) out = await prepared.call(step(out));
  await queue.onSubmittedWorkDone();
  const wallMs = since(t0) / n;
  const calls = 1 + warmup + spin + fillCalls + (gpu.features.timestampQuery ? timed : 0) + n;
  return {
    firstMs,
    wallMs,
    iters: n,
    gpuMs: median(gpuSamplesMs),
    gpuSamplesMs,
    clockWarmCalls: spin,
    fillCalls,
    calls,
    last: out,
  };
}

/** The median, or undefined for no values. */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What {@link measureFn} measured. */
export interface FnTiming {
  /** GPU milliseconds per call when timestamp queries exist, else wall-clock milliseconds per call. */
  readonly ms: number;
  /** Which clock `ms` comes from. */
  readonly clock: "gpu" | "wall";
  /** Wall-clock milliseconds per call. */
  readonly wallMs: number;
  /** Preparation times. */
  readonly prepare: PreparePhases;
  /** Dispatches per call. */
  readonly dispatches: number;
  /** Shapes of the outputs, in flattening order. */
  readonly outputShapes: readonly (readonly number[])[];
}

/** Prepares `fn` for `args`, times its replays with the same arguments, and frees the plan. */
export async function measureFn(
  gpu: Gpu,
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
  opts: ReplayOptions = {},
): Promise<FnTiming> {
  const prepared = await prepareGpu(gpu, fn, args);
  try {
    const t = await timeReplays(gpu, prepared, () => args, opts);
    return {
      ms: t.gpuMs ?? t.wallMs,
      clock: t.gpuMs === undefined ? "wall" : "gpu",
      wallMs: t.wallMs,
      prepare: prepared.phases,
      dispatches: prepared.plan.stats.dispatches,
      outputShapes: prepared.plan.outputs.map((o) => o.aval.shape),
    };
  } finally {
    prepared.destroy();
  }
}
