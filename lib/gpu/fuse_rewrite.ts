/**
 * Turning a fused elementwise expression into the epilogue of the kernel that produces one of its inputs: that input's
 * loads become the kernel-provided `acc`, and the other loads are re-expressed in the producer's output coordinates.
 *
 * @module
 */
import type { Expr, ExprNode } from "../../kernels/expr.ts";
import { reshapeView } from "../../kernels/view.ts";
import { isIdentityView } from "./fuse_expr.ts";
import { prod } from "../../kernels/wgsl.ts";

/**
 * The epilogue form of `expr` (evaluated over an output of the same element count as `shape`), where input `acc` is
 * the producer's value; null when `acc` is read other than element for element.
 */
export function toEpilogue(expr: Expr, acc: number, shape: readonly number[]): Expr | null {
  const size = prod(shape);
  const remap = (i: number) => (i > acc ? i - 1 : i);
  const nodes: ExprNode[] = [];
  for (const n of expr.nodes) {
    if (n.op !== "load") {
      nodes.push(n);
      continue;
    }
    if (n.input === acc) {
      if (!isIdentityView(n.view, size)) return null;
      nodes.push({ op: "acc" });
      continue;
    }
    nodes.push({ op: "load", input: remap(n.input), view: reshapeView(n.view, shape) });
  }
  return { inputs: expr.inputs.filter((_, i) => i !== acc), nodes, outputs: expr.outputs };
}

/**
 * One expression computing the outputs of `a` and then of `b` (both over the same coordinates). `b`'s loads of input
 * `bFromA[k]` (when ≥ 0) read output `bFromA[k]` of `a` and become that node; they must be identity reads of a
 * buffer of `size` elements. `inputs` lists the merged expression's input variables; loads are deduplicated.
 */
export function mergeExprs(
  a: Expr,
  aSrcs: readonly number[],
  b: Expr,
  bSrcs: readonly number[],
  bFromA: readonly number[],
  size: number,
): { expr: Expr; srcs: number[] } | null {
  const srcs: number[] = [];
  const inputs: Expr["inputs"][number][] = [];
  const nodes: ExprNode[] = [];
  const keys = new Map<string, number>();
  const inputOf = (v: number, dtype: Expr["inputs"][number]) => {
    let i = srcs.indexOf(v);
    if (i < 0) {
      i = srcs.length;
      srcs.push(v);
      inputs.push(dtype);
    }
    return i;
  };
  const copy = (e: Expr, eSrcs: readonly number[], fromA: (input: number) => number | undefined) => {
    const map: number[] = [];
    for (const n of e.nodes) {
      if (n.op === "load") {
        const from = fromA(n.input);
        if (from !== undefined) {
          if (!isIdentityView(n.view, size)) return null;
          map.push(from);
          continue;
        }
        const input = inputOf(eSrcs[n.input], e.inputs[n.input]);
        const key = `${input}:${JSON.stringify(n.view)}`;
        let id = keys.get(key);
        if (id === undefined) {
          id = nodes.length;
          nodes.push({ ...n, input });
          keys.set(key, id);
        }
        map.push(id);
        continue;
      }
      map.push(nodes.length);
      nodes.push("args" in n ? { ...n, args: n.args.map((x) => map[x]) } as ExprNode : n);
    }
    return map;
  };
  const am = copy(a, aSrcs, () => undefined);
  if (!am) return null;
  const aOut = a.outputs.map((o) => am[o]);
  const bm = copy(b, bSrcs, (k) => (bFromA[k] >= 0 ? aOut[bFromA[k]] : undefined));
  if (!bm) return null;
  return { expr: { inputs, nodes, outputs: [...aOut, ...b.outputs.map((o) => bm[o])] }, srcs };
}

/** The same expression evaluated over `shape` (same element count, row-major correspondence): loads are reshaped. */
export function reshapeExpr(expr: Expr, shape: readonly number[]): Expr {
  return { ...expr, nodes: expr.nodes.map((n) => (n.op === "load" ? { ...n, view: reshapeView(n.view, shape) } : n)) };
}
