/**
 * Lazy values of the fuser: a tensor that has not been written to a buffer yet, as a small DAG of elementwise
 * operations whose leaves read materialized graph values through {@link View}s (index maps). Movement primitives
 * rewrite the views of the leaves; elementwise primitives add nodes; a kernel finally evaluates the DAG once per
 * output element. This module holds the DAG, its measurements and its translation to the kernels' {@link Expr}.
 *
 * @module
 */
import type { DType } from "../core/dtype.ts";
import type { Expr, ExprNode } from "../../kernels/expr.ts";
import { contiguousOffset, type View } from "../../kernels/view.ts";
import { prod } from "../../kernels/wgsl.ts";

/** One node of a lazy value. `load` reads the materialized value of graph variable `src` through `view`. */
export type LNode =
  | { readonly op: "load"; readonly src: number; readonly view: View; readonly dtype: DType }
  | { readonly op: "cast"; readonly dtype: DType; readonly args: readonly [LNode] }
  | {
    readonly op: "concat";
    readonly axis: number;
    readonly sizes: readonly number[];
    readonly dtype: DType;
    readonly args: readonly LNode[];
  }
  | { readonly op: string; readonly dtype: DType; readonly args: readonly LNode[] };

/** A load leaf. */
export type LLoad = Extract<LNode, { op: "load" }>;

/** Whether a node is a load leaf. */
export function isLoad(n: LNode): n is LLoad {
  return n.op === "load";
}

/** What a lazy value costs to evaluate: distinct compute nodes, buffers read, and whether it contains a concat. */
export interface LStats {
  readonly computeNodes: number;
  readonly srcs: ReadonlySet<number>;
  readonly hasConcat: boolean;
}

/**
 * Measures a lazy value. `isLiteral` tells which loads become literals (one-element constants) and so bind nothing.
 */
export function lstats(root: LNode, isLiteral: (n: LLoad) => boolean): LStats {
  const seen = new Set<LNode>();
  const srcs = new Set<number>();
  let computeNodes = 0;
  let hasConcat = false;
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (isLoad(n)) {
      if (!isLiteral(n)) srcs.add(n.src);
      continue;
    }
    computeNodes++;
    if (n.op === "concat") hasConcat = true;
    for (const a of (n as { args: readonly LNode[] }).args) stack.push(a);
  }
  return { computeNodes, srcs, hasConcat };
}

/** Rewrites every load of a DAG (shared nodes stay shared). */
export function mapLoads(root: LNode, f: (n: LLoad) => LNode): LNode {
  const memo = new Map<LNode, LNode>();
  const go = (n: LNode): LNode => {
    let r = memo.get(n);
    if (r) return r;
    if (isLoad(n)) r = f(n);
    else {
      const args = (n as { args: readonly LNode[] }).args;
      const mapped = args.map(go);
      r = mapped.every((a, i) => a === args[i]) ? n : { ...n, args: mapped } as LNode;
    }
    memo.set(n, r);
    return r;
  };
  return go(root);
}

/** A DAG translated for a kernel: the expression and the graph variables bound as its inputs, in order. */
export interface LoweredExpr {
  readonly expr: Expr;
  readonly srcs: readonly number[];
}

/**
 * Translates lazy values (all of one shape) into one {@link Expr} with common subexpressions merged; loads that
 * `literal` maps to a number become constants. Inputs are numbered in order of first use.
 */
export function lowerExpr(roots: readonly LNode[], literal: (n: LLoad) => number | undefined): LoweredExpr {
  const nodes: ExprNode[] = [];
  const inputs: DType[] = [];
  const srcs: number[] = [];
  const key = new Map<string, number>();
  const memo = new Map<LNode, number>();
  const add = (k: string, make: () => ExprNode): number => {
    let id = key.get(k);
    if (id === undefined) {
      id = nodes.length;
      nodes.push(make());
      key.set(k, id);
    }
    return id;
  };
  const go = (n: LNode): number => {
    const hit = memo.get(n);
    if (hit !== undefined) return hit;
    let id: number;
    if (isLoad(n)) {
      const lit = literal(n);
      if (lit !== undefined) id = add(`c:${n.dtype}:${lit}`, () => ({ op: "const", value: lit, dtype: n.dtype }));
      else {
        let input = srcs.indexOf(n.src);
        if (input < 0) {
          input = srcs.length;
          srcs.push(n.src);
          inputs.push(n.dtype);
        }
        id = add(`l:${input}:${JSON.stringify(n.view)}`, () => ({ op: "load", input, view: n.view }));
      }
    } else {
      const args = (n as { args: readonly LNode[] }).args.map(go);
      if (n.op === "cast") id = add(`cast:${n.dtype}:${args}`, () => ({ op: "cast", dtype: n.dtype, args: [args[0]] }));
      else if (n.op === "concat") {
        const c = n as Extract<LNode, { op: "concat" }>;
        id = add(`concat:${c.axis}:${c.sizes}:${args}`, () => ({ op: "concat", axis: c.axis, sizes: c.sizes, args }));
      } else id = add(`${n.op}:${args}`, () => ({ op: n.op, args } as ExprNode));
    }
    memo.set(n, id);
    return id;
  };
  const outputs = roots.map(go);
  return { expr: { inputs, nodes, outputs }, srcs };
}

/** Whether a view reads a whole buffer of `size` elements in row-major order from element 0 (an identity read). */
export function isIdentityView(view: View, size: number): boolean {
  return contiguousOffset(view) === 0 && prod(view[view.length - 1].shape) === size;
}
