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
import { kernelBufferBytes, type KernelProgram } from "../../kernels/program.ts";
import { prod } from "../../kernels/wgsl.ts";
import { fuseGraph, type KernelSpec, liveEqns } from "./fuse.ts";
import { isIdentityView } from "./fuse_expr.ts";
import { acceptsView, kernelProgram } from "./plan_kernels.ts";

/** What a plan buffer holds. Pool buffers are shared by intermediates whose lifetimes do not overlap. */
export type PlanBufferRole = "input" | "const" | "output" | "pool";

/** One device buffer of a plan. */
export interface PlanBuffer {
  readonly id: number;
  readonly bytes: number;
  readonly role: PlanBufferRole;
}

/** One compute dispatch of a plan, its bindings resolved to plan buffers. */
export interface PlanDispatch {
  readonly label: string;
  readonly code: string;
  readonly workgroups: readonly [number, number, number];
  readonly bindings: readonly { readonly buffer: number; readonly write: boolean }[];
}

/** A buffer-to-buffer copy of `bytes` bytes. */
export interface PlanCopy {
  readonly src: number;
  readonly dst: number;
  readonly bytes: number;
}

/** A constant captured by the traced function, uploaded once when the plan is instantiated. */
export interface PlanConst {
  readonly buffer: number;
  readonly dtype: DType;
  readonly value: TypedArray;
}

/** Memory and work figures of a plan. */
export interface PlanStats {
  readonly kernels: number;
  readonly dispatches: number;
  /** Graph equations that survived dead-code elimination. */
  readonly eqns: number;
  readonly poolBuffers: number;
  readonly poolBytes: number;
  /** Bytes the pooled values would take without reuse. */
  readonly unpooledBytes: number;
  /** Outputs written directly over a donated input's buffer. */
  readonly inPlace: number;
}

/** A device-independent plan. */
export interface StaticPlan {
  readonly buffers: readonly PlanBuffer[];
  /** Buffer and aval of each graph input, in order. */
  readonly inputs: readonly { readonly buffer: number; readonly aval: Aval }[];
  /** Buffer and aval of each graph output; `donor` is the input whose buffer it reuses. */
  readonly outputs: readonly { readonly buffer: number; readonly aval: Aval; readonly donor?: number }[];
  readonly consts: readonly PlanConst[];
  /** Copies before the dispatches (outputs that are inputs or constants). */
  readonly begin: readonly PlanCopy[];
  readonly dispatches: readonly PlanDispatch[];
  /** Copies after the dispatches (donated outputs that could not be written in place, repeated outputs). */
  readonly end: readonly PlanCopy[];
  readonly stats: PlanStats;
}

/** Options of {@link buildPlan}. */
export interface PlanOptions {
  /** Graph inputs (flat indices) whose buffers outputs may overwrite. */
  readonly donate?: readonly number[];
  /** Storage buffers per kernel (the device's maxStorageBuffersPerShaderStage). */
  readonly maxBindings: number;
  /** Compute nodes per fused expression. */
  readonly maxNodes?: number;
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
        `compileGpu: input ${i} is f64${fmt(v.aval.shape)}; f64 is CPU-only (cast to f32, or pass { downcastF64: true })`,
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
    program: kernelProgram(spec, fused.avals),
    ins: spec.kind === "op" ? spec.inputs.map((x) => x.src) : spec.srcs,
    outs: spec.outs,
  }));
  const avals = new Map(fused.avals);
  for (const v of [...graph.inputs, ...graph.consts.map((c) => c.v), ...graph.outputs]) avals.set(v.id, v.aval);

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
  const outputVars = new Set(graph.outputs.map((v) => v.id));
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
  const donorOf = new Array<number | undefined>(graph.outputs.length);
  graph.outputs.forEach((v, j) => {
    const i = graph.inputs.findIndex((u, k) => u.id === v.id && donors.has(k));
    if (i >= 0 && graph.outputs.findIndex((w) => w.id === v.id) === j) {
      donorOf[j] = i;
      donors.delete(i);
    }
  });
  graph.outputs.forEach((v, j) => {
    if (donorOf[j] !== undefined || !produced.has(v.id) || graph.outputs.findIndex((w) => w.id === v.id) !== j) return;
    const i = [...donors].find((k) => sameAval(graph.inputs[k].aval, v.aval));
    if (i === undefined) return;
    donorOf[j] = i;
    donors.delete(i);
  });

  const begin: PlanCopy[] = [];
  const end: PlanCopy[] = [];
  const liveToEnd = new Set<number>();
  let inPlace = 0;
  const outputs = graph.outputs.map((v, j) => {
    const aval = v.aval;
    const bytes = bytesOf(aval);
    const first = graph.outputs.findIndex((w) => w.id === v.id);
    const donor = donorOf[j];
    if (donor !== undefined) {
      const buffer = inputs[donor].buffer;
      if (graph.inputs[donor].id === v.id) return { buffer, aval, donor };
      const k = produced.get(v.id)!;
      const donorVar = graph.inputs[donor].id;
      const last = readers.get(donorVar) ?? -1;
      if (last < k || (last === k && writesInPlace(kernels[k], donorVar, prod(aval.shape)))) {
        home.set(v.id, buffer);
        inPlace++;
      } else {
        liveToEnd.add(v.id);
        end.push({ src: -1 - v.id, dst: buffer, bytes });
      }
      return { buffer, aval, donor };
    }
    const buffer = newBuffer(bytes, "output");
    if (first !== j) end.push({ src: -1 - graph.outputs[first].id, dst: buffer, bytes });
    else if (!produced.has(v.id)) begin.push({ src: home.get(v.id)!, dst: buffer, bytes });
    else home.set(v.id, buffer);
    return { buffer, aval };
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
      dispatches.push({
        label: d.label,
        code: d.code,
        workgroups: d.workgroups,
        bindings: d.bindings.map((b) => {
          const r = b.buffer;
          const buffer = r.kind === "input" ? home.get(k.ins[r.index]) : r.kind === "output"
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

function sameAval(a: Aval, b: Aval): boolean {
  return a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Whether kernel `k` may write its output over the buffer of `donor` that it also reads: only a single-dispatch
 * elementwise kernel whose every read of the donor is at the element it writes.
 */
function writesInPlace(k: Kernel, donor: number, size: number): boolean {
  if (k.spec.kind !== "elementwise" || k.program.dispatches.length !== 1 || k.outs.length !== 1) return false;
  const input = k.ins.indexOf(donor);
  return k.spec.expr.nodes.every((n) => n.op !== "load" || n.input !== input || isIdentityView(n.view, size));
}
