/**
 * Straight-line linear programs: a fixed linear map y = A·x written as a list of two-term operations
 * `v = a·u + b·w` on named values, the form in which a generated kernel computes a structured constant matrix (a DFT)
 * with fewer operations than the dense product. Building goes through {@link LinearBuilder}, which folds zeros and
 * unit coefficients; {@link transposeProgram} derives the program of Aᵀ mechanically (each operation's inputs
 * receive its output's adjoint, in reverse order), so a kernel and its VJP come from one construction.
 *
 * @module
 */
import { literal } from "./wgsl.ts";

/** A value of a program: an input (`0 ≤ id < inputs`) or an operation's result (`inputs + op index`). */
export type ValueId = number;

/** `coefA·a + coefB·b` (b absent: `coefA·a`). */
export interface LinearOp {
  readonly a: ValueId;
  readonly coefA: number;
  readonly b?: ValueId;
  readonly coefB?: number;
}

/** A linear map of `inputs` values onto `outputs.length` values; a `null` output is identically zero. */
export interface LinearProgram {
  readonly inputs: number;
  readonly ops: readonly LinearOp[];
  readonly outputs: readonly (ValueId | null)[];
}

/** A value under construction: a value id, or `null` for the zero value. */
export type Term = ValueId | null;

/** Builds a {@link LinearProgram}, folding zero terms and unit coefficients. */
export class LinearBuilder {
  readonly #ops: LinearOp[] = [];
  constructor(readonly inputs: number) {}

  /** `ca·a + cb·b`, with zeros dropped. */
  combine(ca: number, a: Term, cb = 0, b: Term = null): Term {
    if (a === null || ca === 0) [a, ca, b, cb] = [b, cb, null, 0];
    if (a === null || ca === 0) return null;
    if (b === null || cb === 0) {
      if (ca === 1) return a;
      this.#ops.push({ a, coefA: ca });
    } else this.#ops.push({ a, coefA: ca, b, coefB: cb });
    return this.inputs + this.#ops.length - 1;
  }

  /** Σ cₖ·tₖ as a chain of two-term operations. */
  sum(terms: readonly (readonly [number, Term])[]): Term {
    let acc: Term = null;
    for (const [c, t] of terms) acc = acc === null ? this.combine(c, t) : this.combine(1, acc, c, t);
    return acc;
  }

  /** The finished program with these outputs. */
  build(outputs: readonly Term[]): LinearProgram {
    return { inputs: this.inputs, ops: this.#ops.slice(), outputs: outputs.slice() };
  }
}

/** The program of Aᵀ for a program of A: reverse accumulation of adjoints through the operations. */
export function transposeProgram(p: LinearProgram): LinearProgram {
  const n = p.inputs + p.ops.length;
  const adjoint: [number, Term][][] = Array.from({ length: n }, () => []);
  const b = new LinearBuilder(p.outputs.length);
  p.outputs.forEach((v, j) => {
    if (v !== null) adjoint[v].push([1, j]);
  });
  for (let i = p.ops.length - 1; i >= 0; i--) {
    const op = p.ops[i], v = b.sum(adjoint[p.inputs + i]);
    adjoint[op.a].push([op.coefA, v]);
    if (op.b !== undefined) adjoint[op.b].push([op.coefB!, v]);
  }
  return b.build(Array.from({ length: p.inputs }, (_, j) => b.sum(adjoint[j])));
}

/** The program of A·diag(s) (`inputs`) or diag(s)·A (`outputs`). */
export function scaleProgram(p: LinearProgram, side: "inputs" | "outputs", s: readonly number[]): LinearProgram {
  const b = new LinearBuilder(p.inputs);
  const map: Term[] = Array.from({ length: p.inputs }, (_, j) => (side === "inputs" ? b.combine(s[j], j) : j));
  for (const op of p.ops) {
    map.push(b.combine(op.coefA, map[op.a], op.coefB ?? 0, op.b === undefined ? null : map[op.b]));
  }
  return b.build(p.outputs.map((v, i) => {
    const t = v === null ? null : map[v];
    return side === "outputs" ? b.combine(s[i], t) : t;
  }));
}

/** Runs a program on float64 values (tests compare it with the dense matrix). */
export function evaluateProgram(p: LinearProgram, x: ArrayLike<number>): Float64Array {
  const v = new Float64Array(p.inputs + p.ops.length);
  for (let j = 0; j < p.inputs; j++) v[j] = x[j];
  p.ops.forEach((op, i) => {
    v[p.inputs + i] = op.coefA * v[op.a] + (op.b === undefined ? 0 : op.coefB! * v[op.b]);
  });
  return Float64Array.from(p.outputs, (o) => (o === null ? 0 : v[o]));
}

/** Floating-point operations of a program (an fma counts two). */
export function programFlops(p: LinearProgram): number {
  return p.ops.reduce((n, op) => n + (op.b === undefined ? 1 : op.coefA === 1 || op.coefB === 1 ? 2 : 3), 0);
}

/**
 * WGSL statements evaluating a program on f32 registers: `input(j)` is the expression of input j (read once, into a
 * named register, only if used), `store(i, value)` the statements writing output i. Each output is stored as soon as
 * its value exists, so the shader compiler need not keep finished outputs in registers.
 */
export function emitProgram(
  p: LinearProgram,
  input: (j: number) => string,
  store: (i: number, value: string) => string | readonly string[],
): string[] {
  const used = new Set<number>();
  for (const op of p.ops) {
    used.add(op.a);
    if (op.b !== undefined) used.add(op.b);
  }
  const storesOf = new Map<number, number[]>();
  p.outputs.forEach((o, i) => {
    const key = o ?? -1;
    storesOf.set(key, [...(storesOf.get(key) ?? []), i]);
    if (o !== null) used.add(o);
  });
  const name = (v: ValueId) => (v < p.inputs ? `x${v}` : `v${v - p.inputs}`);
  const lit = (c: number) => literal(c, "f32");
  const lines: string[] = [];
  const emitStores = (v: number, value: string) => {
    for (const i of storesOf.get(v) ?? []) lines.push(...[store(i, value)].flat());
  };
  emitStores(-1, "0.0");
  for (let j = 0; j < p.inputs; j++) {
    if (!used.has(j)) continue;
    lines.push(`let x${j} = ${input(j)};`);
    emitStores(j, `x${j}`);
  }
  p.ops.forEach((op, i) => {
    const a = name(op.a);
    let e: string;
    if (op.b === undefined) e = `${lit(op.coefA)} * ${a}`;
    else {
      const b = name(op.b), ca = op.coefA, cb = op.coefB!;
      if (ca === 1 && cb === 1) e = `${a} + ${b}`;
      else if (ca === 1 && cb === -1) e = `${a} - ${b}`;
      else if (ca === -1 && cb === 1) e = `${b} - ${a}`;
      else if (ca === 1) e = `fma(${lit(cb)}, ${b}, ${a})`;
      else if (cb === 1) e = `fma(${lit(ca)}, ${a}, ${b})`;
      else e = `fma(${lit(ca)}, ${a}, ${lit(cb)} * ${b})`;
    }
    lines.push(`let v${i} = ${e};`);
    emitStores(p.inputs + i, `v${i}`);
  });
  return lines;
}
