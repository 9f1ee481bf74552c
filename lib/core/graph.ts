import type { DType, TypedArray } from "./dtype.ts";

/** Abstract value: what is known of a tensor while tracing. */
export interface Aval {
  /** Extent of each axis. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
}

/** A value in a traced graph, produced by exactly one equation, input or constant. */
export interface Var {
  /** Unique within its graph. */
  readonly id: number;
  /** Shape and dtype. */
  readonly aval: Aval;
}

/** One primitive application: `out = prim(inputs; params)`. */
export interface Eqn {
  /** Primitive name (a key of the registry). */
  readonly prim: string;
  /** Static parameters of the primitive. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Operands. */
  readonly inputs: readonly Var[];
  /** Result. */
  readonly out: Var;
}

/** A constant captured while tracing (a concrete tensor closed over by the traced function). */
export interface Const {
  /** The graph value. */
  readonly v: Var;
  /** Its storage. */
  readonly value: TypedArray;
}

/**
 * A traced program in static single assignment form: inputs and constants in, equations in execution order,
 * outputs out. Backends (the CPU interpreter, the WebGPU planner) execute graphs; they never see user code.
 */
export interface Graph {
  /** Values supplied by the caller, in tree-flattening order of the arguments. */
  readonly inputs: readonly Var[];
  /** Captured constants. */
  readonly consts: readonly Const[];
  /** Equations in execution order. */
  readonly eqns: readonly Eqn[];
  /** Results, in tree-flattening order. */
  readonly outputs: readonly Var[];
}
