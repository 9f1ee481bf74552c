import { isFloat } from "./dtype.ts";
import type { Aval, Const, Eqn, Var } from "./graph.ts";
import type { PrimName, PrimParams } from "./primitive.ts";
import { registry } from "./prims/registry.ts";
import { type Node, Tensor, type TraceRef } from "./tensor.ts";

/** A graph being recorded by `compile`: every primitive applied to one of its symbolic tensors lands here. */
export class Trace implements TraceRef {
  private static nextId = 1;
  readonly id = Trace.nextId++;
  readonly eqns: Eqn[] = [];
  readonly consts: Const[] = [];
  private readonly constVars = new WeakMap<Tensor, Var>();
  private nextVar = 0;

  /** A fresh graph value. */
  newVar(aval: Aval): Var {
    return { id: this.nextVar++, aval: { shape: [...aval.shape], dtype: aval.dtype } };
  }

  /** The graph value standing for a tensor: its own if it belongs here, else a constant capturing its storage. */
  varOf(t: Tensor): Var {
    if (t.trace) {
      if (t.trace !== this) {
        throw new Error(`compile: ${t} belongs to another compiled trace (a leaked symbolic value)`);
      }
      return t.v!;
    }
    let v = this.constVars.get(t);
    if (!v) {
      v = this.newVar(t);
      this.constVars.set(t, v);
      this.consts.push({ v, value: t.data! });
    }
    return v;
  }
}

let active: Trace | undefined;

/** Runs `f` with `trace` recording; restores the previous state afterwards. */
export function withTrace<T>(trace: Trace, f: () => T): T {
  const prev = active;
  active = trace;
  try {
    return f();
  } finally {
    active = prev;
  }
}

/**
 * The trace an application is recorded in: the active one, if any. While tracing, even applications to constants are
 * recorded, so that a large constant (a filled tensor, say) is computed by the backend instead of being captured.
 */
function traceOf(inputs: readonly Tensor[]): Trace | undefined {
  for (const t of inputs) {
    if (t.trace && t.trace !== active) throw new Error(`compile: ${t} escaped the trace that created it`);
  }
  return active;
}

/**
 * Applies a primitive: checks shapes, then either records an equation (inside `compile`) or runs the CPU reference,
 * and records a tape entry when an input is being differentiated.
 */
export function bind<P extends PrimName>(prim: P, inputs: readonly Tensor[], params: PrimParams[P]): Tensor {
  const def = registry[prim];
  const aval = def.shape(inputs, params);
  const levels = inputs.reduce((m, t) => m | (t.node?.levels ?? 0), 0);
  const node: Node | undefined = levels && def.vjp && isFloat(aval.dtype)
    ? { levels, prim, params, inputs }
    : undefined;
  const trace = traceOf(inputs);
  if (trace) {
    const out = trace.newVar(aval);
    trace.eqns.push({ prim, params, inputs: inputs.map((t) => trace.varOf(t)), out });
    return new Tensor(aval.shape, aval.dtype, { v: out, trace }, node);
  }
  const data = def.cpu(inputs as never, params, aval);
  return new Tensor(aval.shape, aval.dtype, { data }, node);
}

/**
 * A tensor with the same value and a fresh identity, tracked for differentiation at `level`. When `t` is itself being
 * differentiated at an outer level, the new tensor stays linked to it (as an identity reshape), so that nested
 * differentiation sees through the inner one.
 */
export function track(t: Tensor, level: number): Tensor {
  const node: Node = t.node
    ? { levels: t.node.levels | level, prim: "reshape", params: { shape: t.shape }, inputs: [t] }
    : { levels: level };
  return new Tensor(t.shape, t.dtype, { data: t.data, v: t.v, trace: t.trace }, node);
}

/** The same value, cut off from differentiation. */
export function stopGradient(t: Tensor): Tensor {
  if (!t.node) return t;
  return new Tensor(t.shape, t.dtype, { data: t.data, v: t.v, trace: t.trace });
}
