import { bind, track } from "./bind.ts";
import { isFloat } from "./dtype.ts";
import { registry } from "./prims/registry.ts";
import { fmt, sameShape } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { treeFlatten, treeUnflatten } from "./tree.ts";
import { add } from "../ops/elementwise.ts";
import { full, zerosLike } from "../ops/create.ts";

let depth = 0;
const MAX_DEPTH = 30;

/** Reverse-mode sweep: cotangents of `leaves` given the cotangent `ct` of `out`, following tape entries at `level`. */
function backward(out: Tensor, ct: Tensor, leaves: readonly Tensor[], level: number): (Tensor | undefined)[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative post-order DFS: deep models make recursion overflow the stack.
  const stack: [Tensor, number][] = [[out, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const ins = t.node?.inputs ?? [];
    if (i === 0 && seen.has(t)) {
      stack.pop();
      continue;
    }
    seen.add(t);
    let next = i;
    while (next < ins.length && (seen.has(ins[next]) || !((ins[next].node?.levels ?? 0) & level))) next++;
    if (next < ins.length) {
      top[1] = next + 1;
      stack.push([ins[next], 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const cts = new Map<Tensor, Tensor>([[out, ct]]);
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = cts.get(t);
    const node = t.node;
    if (!g || !node?.prim) continue;
    const def = registry[node.prim as keyof typeof registry];
    const gs = def.vjp!(g, node.inputs!, t, node.params as never);
    node.inputs!.forEach((x, j) => {
      const gx = gs[j];
      if (!gx || !((x.node?.levels ?? 0) & level)) return;
      if (!sameShape(gx.shape, x.shape)) {
        throw new Error(`vjp of ${node.prim}: cotangent ${fmt(gx.shape)} for input ${fmt(x.shape)}`);
      }
      const prev = cts.get(x);
      cts.set(x, prev ? add(prev, gx) : gx);
    });
    if (!leaves.includes(t)) cts.delete(t);
  }
  return leaves.map((l) => cts.get(l));
}

/**
 * Evaluates `f` at `primals` (trees of tensors) and returns its output together with a function that maps an output
 * cotangent to cotangents of each primal (trees of the same structure). Nested use (the VJP of a function that
 * differentiates) works: VJP rules are written with primitives, so the backward pass is itself differentiable.
 */
export function vjp<Out>(
  f: (...args: never[]) => Out,
  ...primals: unknown[]
): [Out, (ct: Out) => unknown[]] {
  if (depth >= MAX_DEPTH) throw new Error(`vjp: nesting deeper than ${MAX_DEPTH} levels is not supported`);
  const level = 1 << depth;
  const flats = primals.map((p) => treeFlatten(p));
  const tracked = flats.map((fl) => fl.leaves.map((t) => isFloat(t.dtype) ? track(t, level) : t));
  depth++;
  let out: Out;
  try {
    out = (f as (...a: unknown[]) => Out)(...flats.map((fl, i) => treeUnflatten(fl.def, tracked[i])));
  } finally {
    depth--;
  }
  const pullback = (ct: Out): unknown[] => {
    const outs = treeFlatten(out).leaves;
    const cts = treeFlatten(ct).leaves;
    if (outs.length !== cts.length) throw new Error(`vjp: cotangent has ${cts.length} leaves, output ${outs.length}`);
    const all = tracked.flat();
    const sums: (Tensor | undefined)[] = all.map(() => undefined);
    outs.forEach((o, k) => {
      if (!sameShape(o.shape, cts[k].shape)) {
        throw new Error(`vjp: cotangent ${fmt(cts[k].shape)} for output ${fmt(o.shape)}`);
      }
      if (!((o.node?.levels ?? 0) & level)) return;
      backward(o, cts[k], all, level).forEach((g, i) => {
        if (g) sums[i] = sums[i] ? add(sums[i]!, g) : g;
      });
    });
    let i = 0;
    return flats.map((fl) =>
      treeUnflatten(
        fl.def,
        fl.leaves.map((leaf) => {
          const g = sums[i++];
          return g ?? zerosLike(leaf);
        }),
      )
    );
  };
  return [out!, pullback];
}

/** Options of `grad` and `valueAndGrad`. */
export interface GradOptions {
  /** Which arguments to differentiate with respect to (default 0). */
  argnums?: number | number[];
  /** `f` returns `[loss, aux]`; aux is returned alongside, not differentiated. */
  hasAux?: boolean;
}

/**
 * `valueAndGrad(f)(...args)` → `[value, grads]` for a scalar-valued `f` (or `[[value, aux], grads]` with `hasAux`);
 * `grads` is the gradient tree of argument 0, or an array of them when `argnums` is an array.
 */
export function valueAndGrad<A extends unknown[]>(
  f: (...args: A) => unknown,
  opts: GradOptions = {},
): (...args: A) => [unknown, unknown] {
  const argnums = opts.argnums ?? 0;
  const nums = typeof argnums === "number" ? [argnums] : argnums;
  return (...args: A) => {
    let aux: unknown;
    const [out, pull] = vjp((...diff: unknown[]) => {
      const full = [...args];
      nums.forEach((n, i) => full[n] = diff[i]);
      const r = f(...(full as A));
      if (opts.hasAux) {
        const [loss, a] = r as [Tensor, unknown];
        aux = a;
        return loss;
      }
      return r as Tensor;
    }, ...nums.map((n) => args[n]));
    const loss = out as Tensor;
    if (loss.size !== 1) throw new Error(`grad: function must return a scalar, got shape ${fmt(loss.shape)}`);
    const gs = pull(full(loss.shape, 1, loss.dtype) as never);
    const grads = typeof argnums === "number" ? gs[0] : gs;
    return [opts.hasAux ? [loss, aux] : loss, grads];
  };
}

/** `grad(f)(...args)`: the gradient of a scalar-valued `f` with respect to argument 0 (or `argnums`). */
export function grad<A extends unknown[]>(f: (...args: A) => unknown, opts: GradOptions = {}): (...args: A) => unknown {
  const vg = valueAndGrad(f, opts);
  return (...args: A) => {
    const [v, g] = vg(...args);
    return opts.hasAux ? [g, (v as [unknown, unknown])[1]] : g;
  };
}

export { bind };
