/**
 * `compileGpu`: the WebGPU counterpart of `compile` (lib/core/compile.ts). A function over tensor trees is traced once
 * per input signature into a graph, planned once into a static GPU plan (fused kernels, pooled buffers, pipelines and
 * bind groups created up front), and every call replays the plan with one command encoder. Results come back as
 * {@link GpuTensor} handles that stay on the GPU; pass them to the next call (with `donate`, a training step updates
 * its parameters in place and takes them back with zero copies) and read back only what you need (`readback`).
 *
 * @module
 */
import type { TypedArray } from "../core/dtype.ts";
import { signatureOf, type Traced, traceGraph } from "../core/compile.ts";
import { fmt } from "../core/shape.ts";
import { Tensor } from "../core/tensor.ts";
import { type TreeDef, treeFlatten, treeUnflatten } from "../core/tree.ts";
import { type Gpu, type GpuMemoryStats, kernelLimits } from "./device.ts";
import { buildPlan, type PlanStats } from "./plan.ts";
import { GpuPlan, type PlanCounters, planCounters, type PlanInput } from "./plan_gpu.ts";
import { GpuTensor } from "./plan_tensor.ts";

/** Which outputs a call reads back to the host: all, none, flat output indices, or a predicate on output paths. */
export type Readback = "all" | "none" | readonly number[] | ((path: readonly (string | number)[]) => boolean);

/** Options of {@link compileGpu}. */
export interface CompileGpuOptions {
  /** The GPU to run on (from `requestGpu()` or the `GpuService` layer). */
  readonly device: Gpu;
  /**
   * Argument indices whose tensors the call may overwrite with outputs of the same shape and dtype (e.g. the
   * parameters and optimizer state of a training step). Handles passed there are stale after the call.
   */
  readonly donate?: readonly number[];
  /** Outputs read back with every call (their `read()` then resolves at once); default "none". */
  readonly readback?: Readback;
  /** Convert f64 host inputs to f32 instead of rejecting them (f64 is CPU-only). */
  readonly downcastF64?: boolean;
  /** Compute nodes per fused kernel (default 96). */
  readonly maxNodes?: number;
}

/** A tree with its tensors on the GPU. */
export type OnGpu<T> = T extends Tensor ? GpuTensor
  : T extends readonly unknown[] ? { [K in keyof T]: OnGpu<T[K]> }
  : T extends Record<string, unknown> ? { [K in keyof T]: OnGpu<T[K]> }
  : T;

/** A tree whose tensors may be host tensors or GPU handles. */
export type GpuArg<T> = T extends Tensor ? Tensor | GpuTensor
  : T extends readonly unknown[] ? { [K in keyof T]: GpuArg<T[K]> }
  : T extends Record<string, unknown> ? { [K in keyof T]: GpuArg<T[K]> }
  : T;

/** Counters of a compiled GPU function and of the plan machinery on its GPU. */
export interface GpuCompileStats extends PlanCounters {
  /** Signatures traced (graphs built) by this function. */
  readonly traces: number;
  /** Plan statistics per signature. */
  readonly plans: readonly PlanStats[];
  /** The GPU's buffer accounting (every buffer made through it). */
  readonly memory: GpuMemoryStats;
}

/** The function `compileGpu` returns. */
export type GpuCompiled<A extends unknown[], R> =
  & ((...args: { [K in keyof A]: GpuArg<A[K]> }) => Promise<OnGpu<R>>)
  & {
    /** Counters: traces, buffers created, bytes allocated, pipelines compiled, bind groups, replays. */
    stats(): GpuCompileStats;
    /** Frees the buffers of every plan (the function must not be called afterwards). */
    dispose(): void;
  };

interface Entry {
  readonly traced: Traced;
  readonly plan: GpuPlan;
}

/** Replaces GPU handles by shape-only stand-ins (and f64 host tensors by f32 copies when asked). */
function standIns(args: readonly unknown[], downcast: boolean): { args: unknown[]; handles: Map<Tensor, GpuTensor> } {
  const handles = new Map<Tensor, GpuTensor>();
  const walk = (x: unknown): unknown => {
    if (x instanceof GpuTensor) {
      const t = new Tensor(x.shape, x.dtype, {});
      handles.set(t, x);
      return t;
    }
    if (x instanceof Tensor) {
      if (x.dtype === "f64" && downcast) return new Tensor(x.shape, "f32", { data: Float32Array.from(x.toArray()) });
      return x;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (typeof x === "object" && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v)]));
    }
    return x;
  };
  return { args: args.map(walk), handles };
}

/** Paths of the leaves of a tree definition, in flattening order. */
function leafPaths(def: TreeDef, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  if (def.kind === "leaf") out.push(prefix);
  else if (def.kind === "array") def.items.forEach((d, i) => leafPaths(d, [...prefix, i], out));
  else if (def.kind === "object") def.items.forEach((d, i) => leafPaths(d, [...prefix, def.keys[i]], out));
  return out;
}

function readbackSet(rb: Readback | undefined, outDef: TreeDef): Set<number> {
  const paths = leafPaths(outDef);
  if (rb === undefined || rb === "none") return new Set();
  if (rb === "all") return new Set(paths.keys());
  if (typeof rb === "function") return new Set(paths.flatMap((p, i) => (rb(p) ? [i] : [])));
  for (const i of rb) {
    if (!(Number.isInteger(i) && i >= 0 && i < paths.length)) {
      throw new Error(`compileGpu: readback index ${i} out of range for ${paths.length} outputs`);
    }
  }
  return new Set(rb);
}

/**
 * Compiles `fn` for the GPU (see the module comment). The result is an async function with the signature of `fn`,
 * accepting host tensors or {@link GpuTensor} handles and resolving to a tree of handles.
 */
export function compileGpu<A extends unknown[], R>(fn: (...args: A) => R, opts: CompileGpuOptions): GpuCompiled<A, R> {
  const gpu = opts.device;
  if (!gpu?.device) throw new Error("compileGpu: options.device must be an acquired Gpu (see requestGpu())");
  const cache = new Map<string, Promise<Entry>>();
  const plans: PlanStats[] = [];
  let traces = 0;

  const prepare = async (args: unknown[]): Promise<Entry> => {
    const t = traceGraph(fn as never, args);
    traces++;
    const leafCounts = args.map((a) => treeFlatten(a).leaves.length);
    const firstLeaf = leafCounts.map((_, i) => leafCounts.slice(0, i).reduce((s, n) => s + n, 0));
    const donate = (opts.donate ?? []).flatMap((a) => {
      if (!(Number.isInteger(a) && a >= 0 && a < args.length)) {
        throw new Error(`compileGpu: donate index ${a} out of range for ${args.length} arguments`);
      }
      return Array.from({ length: leafCounts[a] }, (_, k) => firstLeaf[a] + k);
    });
    const plan = buildPlan(t.graph, {
      donate,
      inputPaths: leafPaths(t.inDef),
      outputPaths: leafPaths(t.outDef),
      maxBindings: gpu.limits.maxStorageBuffersPerShaderStage,
      maxNodes: opts.maxNodes,
      limits: kernelLimits(gpu),
    });
    plans.push(plan.stats);
    const gplan = await GpuPlan.create(gpu, plan, { readback: readbackSet(opts.readback, t.outDef) });
    return { traced: t, plan: gplan };
  };

  const run = async (...callArgs: unknown[]): Promise<unknown> => {
    const { args, handles } = standIns(callArgs, opts.downcastF64 ?? false);
    const { leaves } = treeFlatten(args);
    leaves.forEach((x, i) => {
      if (x.dtype === "f64") {
        throw new Error(
          `compileGpu: input ${i} is f64${fmt(x.shape)}; f64 is CPU-only (cast to f32, or pass { downcastF64: true })`,
        );
      }
    });
    const sig = signatureOf(args);
    let entry = cache.get(sig);
    if (!entry) {
      entry = prepare(args);
      cache.set(sig, entry);
      entry.catch(() => cache.delete(sig));
    }
    const e = await entry;
    const inputs: PlanInput[] = leaves.map((x) => handles.get(x) ?? (x.toArray() as TypedArray));
    const outs = await e.plan.replay(inputs);
    return treeUnflatten(e.traced.outDef, outs as unknown as Tensor[]);
  };

  return Object.assign(run, {
    stats: (): GpuCompileStats => ({ ...planCounters(gpu), traces, plans: [...plans], memory: gpu.memory.stats() }),
    dispose: () => {
      for (const p of cache.values()) p.then((e) => e.plan.destroy(), () => undefined);
      cache.clear();
    },
  }) as unknown as GpuCompiled<A, R>;
}
