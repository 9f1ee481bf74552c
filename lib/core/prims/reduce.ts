import { allocate, isFloat } from "../dtype.ts";
import type { Aval } from "../graph.ts";
import type { CpuValue, PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt, stridesOf } from "../shape.ts";
import * as E from "../../ops/elementwise.ts";
import { broadcastTo } from "../../ops/movement.ts";
import { bind } from "../bind.ts";

type Def<P extends keyof PrimParams> = PrimitiveDef<PrimParams[P]>;

function reduceShape(op: string) {
  return ([x]: readonly Aval[], { axes }: { readonly axes: readonly number[] }): Aval => {
    for (const a of axes) {
      if (!Number.isInteger(a) || a < 0 || a >= x.shape.length) fail(op, `axis ${a} out of range for ${fmt(x.shape)}`);
    }
    if (op === "sum" && x.dtype === "bool") fail(op, "cannot sum bool; cast first");
    return { shape: x.shape.map((d, i) => axes.includes(i) ? 1 : d), dtype: x.dtype };
  };
}

/** Visits every input element with the flat index of the output element it reduces into. */
function reduceInto(x: CpuValue, out: Aval, init: number, f: (acc: number, v: number) => number) {
  const r = new Float64Array(out.shape.reduce((a, b) => a * b, 1)).fill(init);
  const os = stridesOf(out.shape).map((s, i) => out.shape[i] === 1 ? 0 : s);
  const shape = x.shape;
  const idx = new Array<number>(shape.length).fill(0);
  let o = 0;
  for (let i = 0; i < x.data.length; i++) {
    r[o] = f(r[o], x.data[i]);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      o += os[d];
      if (idx[d] < shape[d]) break;
      o -= os[d] * idx[d];
      idx[d] = 0;
    }
  }
  const res = allocate(out.dtype, r.length);
  res.set(r);
  return res;
}

/** Reductions over axes, keeping reduced axes with extent 1 (lib/ops squeezes them when asked). */
export const reducePrims = {
  sum: {
    shape: reduceShape("sum"),
    cpu: ([x], _p, out) => reduceInto(x, out, 0, (a, v) => a + v),
    vjp: (g, [x]) => [broadcastTo(g, x.shape)],
  },
  max: {
    shape: reduceShape("max"),
    cpu: ([x], _p, out) => reduceInto(x, out, -Infinity, (a, v) => v > a ? v : a),
    vjp: (g, [x], out, { axes }) => {
      if (!isFloat(x.dtype)) return [undefined];
      // Ties share the gradient equally, so the rule is symmetric and differentiable again.
      const mask = E.cast(E.eq(x, broadcastTo(out, x.shape)), x.dtype);
      const count = bind("sum", [mask], { axes });
      return [E.mul(broadcastTo(E.div(g, count), x.shape), mask)];
    },
  },
} satisfies { [K in keyof PrimParams]?: Def<K> };
