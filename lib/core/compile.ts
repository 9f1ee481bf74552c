import type { TypedArray } from "./dtype.ts";
import { Trace, withTrace } from "./bind.ts";
import type { Graph, Var } from "./graph.ts";
import { registry } from "./prims/registry.ts";
import { fmt } from "./shape.ts";
import { Tensor } from "./tensor.ts";
import { type TreeDef, treeFlatten, treeUnflatten } from "./tree.ts";

/** A function traced into a graph, with what is needed to map tree arguments and results onto it. */
export interface Traced {
  /** The traced program. */
  readonly graph: Graph;
  /** Structure of the argument list (an array tree). */
  readonly inDef: TreeDef;
  /** Structure of the result. */
  readonly outDef: TreeDef;
}

/** The key under which a traced graph is cached: argument structure, shapes and dtypes. */
export function signatureOf(args: readonly unknown[]): string {
  const { leaves, def } = treeFlatten(args);
  return JSON.stringify(def) + leaves.map((t) => `${t.dtype}${fmt(t.shape)}`).join(";");
}

/** Traces `fn` once over symbolic stand-ins for the tensor leaves of `args` (non-tensor leaves stay static). */
export function traceGraph(fn: (...args: never[]) => unknown, args: readonly unknown[]): Traced {
  const trace = new Trace();
  const { leaves, def: inDef } = treeFlatten(args);
  const inputs: Var[] = leaves.map((t) => trace.newVar(t));
  const symbolic = leaves.map((t, i) => new Tensor(t.shape, t.dtype, { v: inputs[i], trace }));
  const result = withTrace(
    trace,
    () => (fn as (...a: unknown[]) => unknown)(...treeUnflatten<unknown[]>(inDef, symbolic)),
  );
  const { leaves: outs, def: outDef } = treeFlatten(result);
  const outputs = outs.map((t) => trace.varOf(t));
  return { graph: { inputs, consts: trace.consts, eqns: trace.eqns, outputs }, inDef, outDef };
}

/** Executes a graph with the CPU reference of every primitive. */
export function interpret(graph: Graph, inputs: readonly TypedArray[]): TypedArray[] {
  const env = new Map<number, TypedArray>();
  graph.inputs.forEach((v, i) => env.set(v.id, inputs[i]));
  for (const c of graph.consts) env.set(c.v.id, c.value);
  // Values die after their last use, so long graphs (training steps) keep little memory alive.
  const lastUse = new Map<number, number>();
  graph.eqns.forEach((e, i) => e.inputs.forEach((v) => lastUse.set(v.id, i)));
  for (const v of graph.outputs) lastUse.set(v.id, Infinity);
  graph.eqns.forEach((e, i) => {
    const ins = e.inputs.map((v) => ({ shape: v.aval.shape, dtype: v.aval.dtype, data: env.get(v.id)! }));
    env.set(e.out.id, registry[e.prim as keyof typeof registry].cpu(ins as never, e.params as never, e.out.aval));
    for (const v of e.inputs) if (lastUse.get(v.id) === i) env.delete(v.id);
  });
  return graph.outputs.map((v) => env.get(v.id)!);
}

/**
 * Compiles a pure function over tensor trees: traced once per argument signature (shapes, dtypes, structure) into a
 * static graph, then replayed on the CPU interpreter. The WebGPU backend (lib/gpu) plans the same graphs.
 */
export function compile<A extends unknown[], R>(
  fn: (...args: A) => R,
): ((...args: A) => R) & { traced: Map<string, Traced> } {
  const cache = new Map<string, Traced>();
  const run = (...args: A): R => {
    const sig = signatureOf(args);
    let t = cache.get(sig);
    if (!t) {
      t = traceGraph(fn as never, args);
      cache.set(sig, t);
    }
    const leaves = treeFlatten(args).leaves.map((x) => x.toArray());
    const outs = interpret(t.graph, leaves);
    const tensors = outs.map((d, i) => {
      const a = t!.graph.outputs[i].aval;
      return new Tensor(a.shape, a.dtype, { data: d });
    });
    return treeUnflatten<R>(t.outDef, tensors);
  };
  return Object.assign(run, { traced: cache });
}
