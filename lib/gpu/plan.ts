/**
 * Static GPU plans: a traced {@link Graph} compiled once into buffers and a fixed list of dispatches, independent of
 * any device (lib/gpu/plan_gpu.ts instantiates and replays it).
 *
 * Building a plan fuses the graph (fuse.ts), generates every kernel's program (plan_kernels.ts), then plans memory:
 * inputs, outputs and constants get buffers of their own; intermediates and scratch buffers come from a pool, reused
 * by size class once the liveness analysis over the dispatch order says their last reader has run. Donated inputs
 * (`donate`) lend their buffers to outputs of the same shape and dtype, so a training step writes the new parameters
 * over the old ones; when the producing kernel cannot write in place (the input is read later, or through another
 * index map) the output goes to a temporary and is copied over at the end.
 *
 * @module
 */
import type { DType, TypedArray } from "../core/dtype.ts";
import type { Aval, Graph } from "../core/graph.ts";
import { fmt } from "../core/shape.ts";
import {
  kernelBufferBytes,
  type KernelDispatch,
  type KernelLimits,
  type KernelProgram,
} from "../../kernels/program.ts";
import { prod } from "../../kernels/wgsl.ts";
import { fuseGraph, type KernelSpec, liveEqns } from "./fuse.ts";
import { kernelReads } from "./fuse_passes.ts";
import { isIdentityView } from "./fuse_expr.ts";
import { acceptsView, kernelProgram } from "./plan_kernels.ts";

/** What a plan buffer holds. Pool buffers are shared by intermediates whose lifetimes do not overlap. */
export type PlanBufferRole = "input" | "const" | "output" | "pool";

/** One device buffer of a plan. */
export interface PlanBuffer {
  /** Index in {@link StaticPlan.buffers}. */
  readonly id: number;
  /** Size (a multiple of 16; pool buffers are rounded up to their size class). */
  readonly bytes: number;
  /** What it holds. */
  readonly role: PlanBufferRole;
}

/** One compute dispatch of a plan, its bindings resolved to plan buffers. */
export interface PlanDispatch {
  /** Kernel name, for pipelines and profiles. */
  readonly label: string;
  /** WGSL module (entry point `main`); the pipeline cache key. */
  readonly code: string;
  /** Workgroup counts. */
  readonly workgroups: readonly [number, number, number];
  /** Plan buffer bound at each `@binding(i)`, and whether the kernel writes it. */
  readonly bindings: readonly { readonly buffer: number; readonly write: boolean }[];
}

/** A buffer-to-buffer copy of `bytes` bytes. */
export interface PlanCopy {
  /** Source plan buffer. */
  readonly src: number;
  /** Destination plan buffer. */
  readonly dst: number;
  /** Bytes copied from offset 0. */
  readonly bytes: number;
}

/** A constant captured by the traced function, uploaded once when the plan is instantiated. */
export interface PlanConst {
  /** Plan buffer it lives in. */
  readonly buffer: number;
  /** Element type (bool is widened to u32 on upload). */
  readonly dtype: DType;
  /** The captured values. */
  readonly value: TypedArray;
}

/** Memory and work figures of a plan. */
export interface PlanStats {
  /** Fused kernels (each one or more dispatches). */
  readonly kernels: number;
  /** Compute dispatches per replay. */
  readonly dispatches: number;
  /** Graph equations that survived dead-code elimination. */
  readonly eqns: number;
  /** Pool buffers shared by intermediates and scratch. */
  readonly poolBuffers: number;
  /** Bytes of the pool buffers. */
  readonly poolBytes: number;
  /** Bytes the pooled values would take without reuse. */
  readonly unpooledBytes: number;
  /** Outputs written directly over a donated input's buffer. */
  readonly inPlace: number;
}

/** A device-independent plan. */
export interface StaticPlan {
  /** Every device buffer, indexed by id. */
  readonly buffers: readonly PlanBuffer[];
  /** Buffer and aval of each graph input, in order. */
  readonly inputs: readonly { readonly buffer: number; readonly aval: Aval }[];
  /**
   * Buffer and aval of each graph output; `donor` is the input whose buffer it reuses; `offset` (elements) where it
   * starts in a buffer it shares with the value it is a view of.
   */
  readonly outputs: readonly {
    readonly buffer: number;
    readonly aval: Aval;
    readonly donor?: number;
    readonly offset?: number;
  }[];
  /** Captured constants to upload once. */
  readonly consts: readonly PlanConst[];
  /** Copies before the dispatches (outputs that are inputs or constants). */
  readonly begin: readonly PlanCopy[];
  /** The compute dispatches, in order (one compute pass). */
  readonly dispatches: readonly PlanDispatch[];
  /** Copies after the dispatches (donated outputs that could not be written in place, repeated outputs). */
  readonly end: readonly PlanCopy[];
  /** Memory and work figures. */
  readonly stats: PlanStats;
}

/** Options of {@link buildPlan}. */
export interface PlanOptions {
  /** Graph inputs (flat indices) whose buffers outputs may overwrite. */
  readonly donate?: readonly number[];
  /** Tree paths of the inputs, to pair donated inputs with the outputs that replace them. */
  readonly inputPaths?: readonly (readonly (string | number)[])[];
  /** Tree paths of the outputs (see `inputPaths`). */
  readonly outputPaths?: readonly (readonly (string | number)[])[];
  /** Storage buffers per kernel (the device's maxStorageBuffersPerShaderStage). */
  readonly maxBindings: number;
  /** Compute nodes per fused expression. */
  readonly maxNodes?: number;
  /** Workgroup memory and invocations the kernels may size their tiles for (WebGPU's guaranteed minimums otherwise). */
  readonly limits?: KernelLimits;
}

/** Bytes of the device buffer holding `aval`. */
export function bytesOf(aval: Aval): number {
  return kernelBufferBytes(prod(aval.shape), aval.dtype);
}

/** Rounds a pool request up to its size class: four classes per power of two, so reuse wastes at most a quarter. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const step = 2 ** Math.floor(Math.log2(bytes)) / 4;
  return Math.ceil(bytes / step) * step;
}

/** Throws a clear error for f64 anywhere in a graph: GPUs here compute in f32. */
export function assertNoF64(graph: Graph): void {
  graph.inputs.forEach((v, i) => {
    if (v.aval.dtype === "f64") {
      throw new Error(
        `compileGpu: input ${i} is f64${
          fmt(v.aval.shape)
        }; f64 is CPU-only (cast to f32, or pass { downcastF64: true })`,
      );
    }
  });
  for (const c of graph.consts) {
    if (c.v.aval.dtype === "f64") {
      throw new Error(`compileGpu: the function captures an f64${fmt(c.v.aval.shape)} constant; f64 is CPU-only`);
    }
  }
  for (const e of graph.eqns) {
    if (e.out.aval.dtype === "f64") {
      throw new Error(`compileGpu: ${e.prim} produces f64${fmt(e.out.aval.shape)}; f64 is CPU-only`);
    }
  }
}

interface Kernel {
  readonly spec: KernelSpec;
  readonly program: KernelProgram;
  /** The variable bound as each program input. */
  readonly ins: readonly number[];
  readonly outs: readonly number[];
}

/** Compiles a graph into a static plan (see the module comment). */
export function buildPlan(graph: Graph, opts: PlanOptions): StaticPlan {
  assertNoF64(graph);
  const fused = fuseGraph(graph, { maxBindings: opts.maxBindings, maxNodes: opts.maxNodes, acceptsView });
  const kernels: Kernel[] = fused.kernels.map((spec) => ({
    spec,
    program: kernelProgram(spec, fused.avals, opts.limits),
    ins: kernelReads(spec),
    outs: spec.outs,
  }));
  const avals = new Map(fused.avals);
  for (const v of [...graph.inputs, ...graph.consts.map((c) => c.v), ...graph.outputs]) avals.set(v.id, v.aval);
  // Outputs that are a reshape or another contiguous run of a value are planned as that value, in a buffer that holds
  // all of it, at their offset.
  const outVars = graph.outputs.map((v) => ({
    id: fused.aliases.get(v.id) ?? v.id,
    aval: v.aval,
    alias: fused.aliases.has(v.id),
    offset: fused.aliasOffsets.get(v.id) ?? 0,
  }));

  const buffers: PlanBuffer[] = [];
  const newBuffer = (bytes: number, role: PlanBufferRole): number => {
    buffers.push({ id: buffers.length, bytes, role });
    return buffers.length - 1;
  };
  const home = new Map<number, number>();

  // Inputs and constants.
  const inputs = graph.inputs.map((v) => {
    const buffer = newBuffer(bytesOf(v.aval), "input");
    if (!home.has(v.id)) home.set(v.id, buffer);
    return { buffer, aval: v.aval };
  });
  const inputIndex = new Map<number, number>();
  graph.inputs.forEach((v, i) => {
    if (!inputIndex.has(v.id)) inputIndex.set(v.id, i);
  });
  const produced = new Map<number, number>();
  kernels.forEach((k, i) => k.outs.forEach((v) => produced.set(v, i)));
  const readers = new Map<number, number>();
  kernels.forEach((k, i) => k.ins.forEach((v) => readers.set(v, i)));
  const consts: PlanConst[] = [];
  const outputVars = new Set(outVars.map((v) => v.id));
  for (const c of graph.consts) {
    if (!readers.has(c.v.id) && !outputVars.has(c.v.id)) continue;
    const buffer = newBuffer(bytesOf(c.v.aval), "const");
    home.set(c.v.id, buffer);
    consts.push({ buffer, dtype: c.v.aval.dtype, value: c.value });
  }

  // Outputs: donated buffers first (an output that is its own donated input needs nothing), then fresh buffers.
  const donors = new Set(opts.donate ?? []);
  for (const d of donors) {
    if (!(Number.isInteger(d) && d >= 0 && d < graph.inputs.length)) {
      throw new Error(`compileGpu: donate index ${d} out of range for ${graph.inputs.length} inputs`);
    }
  }
  const donorOf = new Array<number | undefined>(outVars.length);
  outVars.forEach((v, j) => {
    const i = v.offset ? -1 : graph.inputs.findIndex((u, k) => u.id === v.id && donors.has(k));
    if (i >= 0 && outVars.findIndex((w) => w.id === v.id) === j) {
      donorOf[j] = i;
      donors.delete(i);
    }
  });
  // Other outputs take a donor of their shape and dtype, preferring the one whose tree path ends the same way
  // (`params.w` ← argument 0's `w`), then the one it is computed from most directly (`p - lr·m` ← `p`, not `m`),
  // so that feeding outputs back as the next call's inputs needs no copy.
  const pairs: { j: number; i: number; score: number; distance: number }[] = [];
  const distances = new Map<number, Map<number, number>>();
  outVars.forEach((v, j) => {
    if (donorOf[j] !== undefined || !produced.has(v.id) || outVars.findIndex((w) => w.id === v.id) !== j) return;
    for (const i of donors) {
      if (!sameAval(graph.inputs[i].aval, v.aval) || bytesOf(avals.get(v.id)!) > bytesOf(v.aval)) continue;
      if (!distances.has(i)) distances.set(i, hops(graph, graph.inputs[i].id));
      const score = commonSuffix(opts.inputPaths?.[i], opts.outputPaths?.[j]);
      pairs.push({ j, i, score, distance: distances.get(i)!.get(v.id) ?? Infinity });
    }
  });
  pairs.sort((a, b) => b.score - a.score || a.distance - b.distance || a.j - b.j || a.i - b.i);
  for (const { j, i } of pairs) {
    if (donorOf[j] !== undefined || !donors.has(i)) continue;
    donorOf[j] = i;
    donors.delete(i);
  }

  const begin: PlanCopy[] = [];
  const end: PlanCopy[] = [];
  const liveToEnd = new Set<number>();
  let inPlace = 0;
  // The output buffer of each produced value, which aliases of it (views at an offset) share.
  const shared = new Map<number, number>();
  const outputs = outVars.map((v, j): StaticPlan["outputs"][number] => {
    const aval = v.aval;
    const first = outVars.findIndex((w) => w.id === v.id);
    // An alias's buffer holds the whole value it views.
    const bytes = v.alias ? Math.max(bytesOf(aval), bytesOf(avals.get(v.id)!)) : bytesOf(aval);
    const at = v.offset ? { offset: v.offset } : {};
    const donor = donorOf[j];
    if (donor !== undefined) {
      const buffer = inputs[donor].buffer;
      if (graph.inputs[donor].id === v.id) return { buffer, aval, donor };
      const k = produced.get(v.id)!;
      const donorVar = graph.inputs[donor].id;
      const last = readers.get(donorVar) ?? -1;
      const rebound = last === k ? readInPlace(kernels[k], donorVar, v.id, prod(aval.shape)) : undefined;
      if (last < k || rebound) {
        home.set(v.id, buffer);
        if (rebound) kernels[k] = rebound;
        inPlace++;
      } else {
        liveToEnd.add(v.id);
        end.push({ src: -1 - v.id, dst: buffer, bytes });
      }
      return { buffer, aval, donor };
    }
    if (first !== j && v.alias && shared.has(v.id)) return { buffer: shared.get(v.id)!, aval, ...at };
    const buffer = newBuffer(bytes, "output");
    if (first !== j) end.push({ src: -1 - outVars[first].id, dst: buffer, bytes });
    else if (!produced.has(v.id)) begin.push({ src: home.get(v.id)!, dst: buffer, bytes });
    else {
      home.set(v.id, buffer);
      shared.set(v.id, buffer);
    }
    return { buffer, aval, ...at };
  });

  // The pool: walk the kernels, taking buffers for their outputs and scratch, returning them after the last reader.
  const free = new Map<number, number[]>();
  const take = (bytes: number): number => {
    const cls = sizeClass(bytes);
    const list = free.get(cls);
    if (list?.length) return list.pop()!;
    return newBuffer(cls, "pool");
  };
  const give = (buffer: number) => {
    const cls = buffers[buffer].bytes;
    let list = free.get(cls);
    if (!list) free.set(cls, list = []);
    list.push(buffer);
  };
  let unpooledBytes = 0;
  const pooled = new Set<number>();
  const dispatches: PlanDispatch[] = [];
  kernels.forEach((k, i) => {
    for (const v of k.outs) {
      if (home.has(v)) continue;
      const bytes = bytesOf(avals.get(v)!);
      unpooledBytes += bytes;
      home.set(v, take(bytes));
      pooled.add(v);
    }
    const scratch = k.program.scratch.map((s) => {
      const bytes = kernelBufferBytes(s.size, s.dtype);
      unpooledBytes += bytes;
      return take(bytes);
    });
    for (const d of k.program.dispatches) {
      if (d.bindings.length > opts.maxBindings) {
        throw new Error(
          `buildPlan: ${d.label} binds ${d.bindings.length} buffers, more than the device's ${opts.maxBindings}`,
        );
      }
      dispatches.push({
        label: d.label,
        code: d.code,
        workgroups: d.workgroups,
        bindings: d.bindings.map((b) => {
          const r = b.buffer;
          const buffer = r.kind === "input"
            ? home.get(k.ins[r.index])
            : r.kind === "output"
            ? home.get(k.outs[r.index])
            : scratch[r.index];
          if (buffer === undefined) throw new Error(`buildPlan: ${d.label} binds an unplanned ${r.kind} ${r.index}`);
          return { buffer, write: b.write };
        }),
      });
    }
    scratch.forEach(give);
    const released = new Set([...k.ins, ...k.outs]);
    for (const v of released) {
      if (pooled.has(v) && !liveToEnd.has(v) && (readers.get(v) ?? -1) <= i) {
        give(home.get(v)!);
        pooled.delete(v);
      }
    }
  });
  const resolved = end.map((c) => (c.src < 0 ? { ...c, src: home.get(-1 - c.src)! } : c));
  // Copies into donated buffers come before repeated outputs, which may read them.
  resolved.sort((a, b) => Number(buffers[b.dst].role === "input") - Number(buffers[a.dst].role === "input"));
  const poolBuffers = buffers.filter((b) => b.role === "pool");
  return {
    buffers,
    inputs,
    outputs,
    consts,
    begin,
    dispatches,
    end: resolved,
    stats: {
      kernels: kernels.length,
      dispatches: dispatches.length,
      eqns: liveEqns(graph).filter(Boolean).length,
      poolBuffers: poolBuffers.length,
      poolBytes: poolBuffers.reduce((s, b) => s + b.bytes, 0),
      unpooledBytes,
      inPlace,
    },
  };
}

/** Fewest equations on a path from variable `from` to each variable it reaches. */
function hops(graph: Graph, from: number): Map<number, number> {
  const d = new Map<number, number>([[from, 0]]);
  for (const e of graph.eqns) {
    let best = Infinity;
    for (const v of e.inputs) best = Math.min(best, d.get(v.id) ?? Infinity);
    if (best < Infinity) d.set(e.out.id, Math.min(d.get(e.out.id) ?? Infinity, best + 1));
  }
  return d;
}

/** Number of trailing components two tree paths share. */
function commonSuffix(
  a: readonly (string | number)[] | undefined,
  b: readonly (string | number)[] | undefined,
): number {
  if (!a || !b) return 0;
  let n = 0;
  while (n < a.length && n < b.length && String(a[a.length - 1 - n]) === String(b[b.length - 1 - n])) n++;
  return n;
}

function sameAval(a: Aval, b: Aval): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Kernel `k` rewritten so that its output `out` is written over `donor`'s buffer, or undefined when it cannot: the
 * donor may only be read element for element by the code that writes `out` (an elementwise kernel, or the epilogue
 * of a reduction or matmul). WebGPU forbids binding one buffer both read-only and writable in a dispatch, so those
 * reads are redirected to the output binding.
 */
function readInPlace(k: Kernel, donor: number, out: number, size: number): Kernel | undefined {
  const spec = k.spec;
  const output = k.outs.indexOf(out);
  const slots = k.ins.flatMap((v, i) => (v === donor ? [i] : []));
  if (output < 0 || slots.length !== 1) return undefined;
  const input = slots[0];
  // The expression that reads the donor, and the donor's input number in it.
  const own = spec.kind === "op" ? spec.inputs.length : spec.srcs.length;
  const expr = spec.kind === "elementwise" ? spec.expr : input >= own ? spec.epilogue : undefined;
  const at = spec.kind === "elementwise" ? input : input - own;
  if (!expr || !expr.nodes.every((n) => n.op !== "load" || n.input !== at || isIdentityView(n.view, size))) {
    return undefined;
  }
  const dispatches: KernelDispatch[] = [];
  for (const d of k.program.dispatches) {
    const from = d.bindings.findIndex((b) => b.buffer.kind === "input" && b.buffer.index === input);
    if (from < 0) {
      dispatches.push(d);
      continue;
    }
    const to = d.bindings.findIndex((b) => b.buffer.kind === "output" && b.buffer.index === output);
    const code = to < 0 ? undefined : redirectBinding(d.code, from, to);
    if (code === undefined) return undefined;
    dispatches.push({ ...d, code, bindings: d.bindings.filter((_, i) => i !== from) });
  }
  const ins = k.ins.map((v, i) => (i === input ? -1 : v));
  return { ...k, ins, program: { ...k.program, dispatches } };
}

/**
 * Makes a kernel read the storage buffer at binding `from` through the one at binding `to` (same element type, `to`
 * read_write), removing binding `from` and renumbering those after it; undefined when the code does not declare both
 * that way.
 */
export function redirectBinding(code: string, from: number, to: number): string | undefined {
  const decl = (n: number, access: string) =>
    new RegExp(`^@group\\(0\\) @binding\\(${n}\\) var<storage, ${access}> (\\w+): array<(.+)>;\n`, "m");
  const a = decl(from, "read").exec(code), b = decl(to, "read_write").exec(code);
  if (!a || !b || a[2] !== b[2]) return undefined;
  return code.replace(a[0], "").replace(new RegExp(`\\b${a[1]}\\b`, "g"), b[1])
    .replace(/@binding\((\d+)\)/g, (m, n) => (Number(n) > from ? `@binding(${Number(n) - 1})` : m));
}
