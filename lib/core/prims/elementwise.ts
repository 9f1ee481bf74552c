import { allocate, type DType, isFloat, type TypedArray } from "../dtype.ts";
import type { Aval } from "../graph.ts";
import type { CpuValue, PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt, sameShape } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import * as E from "../../ops/elementwise.ts";
import { erf as erfScalar } from "./erf.ts";

type Def<P extends keyof PrimParams> = PrimitiveDef<PrimParams[P]>;

function unaryShape(op: string, floatOnly: boolean) {
  return ([x]: readonly Aval[]): Aval => {
    if (floatOnly && !isFloat(x.dtype)) fail(op, `needs a float tensor, got ${x.dtype}${fmt(x.shape)}`);
    return { shape: x.shape, dtype: x.dtype };
  };
}

function mapUnary(f: (v: number) => number) {
  return ([x]: readonly CpuValue[], _p: unknown, out: Aval): TypedArray => {
    const r = allocate(out.dtype, x.data.length);
    for (let i = 0; i < r.length; i++) r[i] = f(x.data[i]);
    return r;
  };
}

function unary(f: (v: number) => number, vjp?: Def<"neg">["vjp"], floatOnly = true): Def<"neg"> {
  return { shape: unaryShape("unary", floatOnly), cpu: mapUnary(f), vjp };
}

/** Unary primitives. */
export const unaryPrims = {
  neg: unary((v) => -v, (g) => [E.neg(g)], false),
  exp: unary(Math.exp, (g, _x, out) => [E.mul(g, out)]),
  log: unary(Math.log, (g, [x]) => [E.div(g, x)]),
  sqrt: unary(Math.sqrt, (g, _x, out) => [E.div(E.mul(g, 0.5), out)]),
  rsqrt: unary((v) => 1 / Math.sqrt(v), (g, [x], out) => [E.mul(g, E.div(E.mul(out, -0.5), x))]),
  abs: unary(Math.abs, (g, [x]) => [E.mul(g, E.sign(x))], false),
  sign: unary(Math.sign, (): undefined[] => [undefined], false),
  floor: unary(Math.floor, (): undefined[] => [undefined]),
  tanh: unary(Math.tanh, (g, _x, out) => [E.mul(g, E.sub(1, E.square(out)) as Tensor)]),
  erf: unary(erfScalar, (g, [x]) => [E.mul(g, E.mul(E.exp(E.neg(E.square(x))), 2 / Math.sqrt(Math.PI)))]),
  sigmoid: unary((v) => 1 / (1 + Math.exp(-v)), (g, _x, out) => [E.mul(g, E.mul(out, E.sub(1, out)))]),
  sin: unary(Math.sin, (g, [x]) => [E.mul(g, E.cos(x))]),
  cos: unary(Math.cos, (g, [x]) => [E.neg(E.mul(g, E.sin(x)))]),
  logicalNot: {
    shape: ([x]) => x.dtype === "bool" ? x : fail("logicalNot", `needs bool, got ${x.dtype}`),
    cpu: mapUnary((v) => v ? 0 : 1),
  } as Def<"logicalNot">,
} satisfies { [K in keyof PrimParams]?: Def<K> };

function binaryShape(op: string, outDtype?: DType, need?: (d: DType) => boolean) {
  return ([a, b]: readonly Aval[]): Aval => {
    if (!sameShape(a.shape, b.shape)) fail(op, `shapes ${fmt(a.shape)} and ${fmt(b.shape)} differ`);
    if (a.dtype !== b.dtype) fail(op, `dtypes ${a.dtype} and ${b.dtype} differ`);
    if (need && !need(a.dtype)) fail(op, `unsupported dtype ${a.dtype}`);
    return { shape: a.shape, dtype: outDtype ?? a.dtype };
  };
}

function mapBinary(f: (a: number, b: number) => number) {
  return ([a, b]: readonly CpuValue[], _p: unknown, out: Aval): TypedArray => {
    const r = allocate(out.dtype, a.data.length);
    for (let i = 0; i < r.length; i++) r[i] = f(a.data[i], b.data[i]);
    return r;
  };
}

/** Integer division truncates like C (and WGSL), so results agree on every backend. */
function divide(a: number, b: number, dtype: DType): number {
  return isFloat(dtype) ? a / b : b === 0 ? 0 : Math.trunc(a / b);
}

/** Gradient share of `a` in max(a, b): 1 where a wins, ½ on ties. */
function winShare(a: Tensor, b: Tensor, better: (a: Tensor, b: Tensor) => Tensor): Tensor {
  return E.add(E.cast(better(a, b), a.dtype), E.mul(E.cast(E.eq(a, b), a.dtype), 0.5));
}

const cmp = (f: (a: number, b: number) => boolean): Def<"lt"> => ({
  shape: binaryShape("compare", "bool"),
  cpu: mapBinary((a, b) => f(a, b) ? 1 : 0),
});

/** Binary primitives (operands of equal shape and dtype; broadcasting happens in lib/ops). */
export const binaryPrims = {
  add: { shape: binaryShape("add"), cpu: mapBinary((a, b) => a + b), vjp: (g) => [g, g] },
  sub: { shape: binaryShape("sub"), cpu: mapBinary((a, b) => a - b), vjp: (g) => [g, E.neg(g)] },
  mul: { shape: binaryShape("mul"), cpu: mapBinary((a, b) => a * b), vjp: (g, [a, b]) => [E.mul(g, b), E.mul(g, a)] },
  div: {
    shape: binaryShape("div"),
    cpu: (ins, p, out) => mapBinary((a, b) => divide(a, b, out.dtype))(ins, p, out),
    vjp: (g, [_a, b], out) => [E.div(g, b), E.neg(E.div(E.mul(g, out), b))],
  },
  pow: {
    shape: binaryShape("pow", undefined, isFloat),
    cpu: mapBinary(Math.pow),
    vjp: (g, [a, b], out) => [
      E.mul(g, E.mul(b, E.pow(a, E.sub(b, 1)))),
      E.mul(g, E.mul(out, E.where(E.gt(a, 0), E.log(E.where(E.gt(a, 0), a, 1)), 0))),
    ],
  },
  maximum: {
    shape: binaryShape("maximum"),
    cpu: mapBinary((a, b) => a >= b ? a : b),
    vjp: (g, [a, b]) => [E.mul(g, winShare(a, b, E.gt)), E.mul(g, winShare(b, a, E.gt))],
  },
  minimum: {
    shape: binaryShape("minimum"),
    cpu: mapBinary((a, b) => a <= b ? a : b),
    vjp: (g, [a, b]) => [E.mul(g, winShare(a, b, E.lt)), E.mul(g, winShare(b, a, E.lt))],
  },
  lt: cmp((a, b) => a < b),
  le: cmp((a, b) => a <= b),
  gt: cmp((a, b) => a > b),
  ge: cmp((a, b) => a >= b),
  eq: cmp((a, b) => a === b),
  ne: cmp((a, b) => a !== b),
  logicalAnd: {
    shape: binaryShape("logicalAnd", "bool", (d) => d === "bool"),
    cpu: mapBinary((a, b) => a && b ? 1 : 0),
  },
  logicalOr: {
    shape: binaryShape("logicalOr", "bool", (d) => d === "bool"),
    cpu: mapBinary((a, b) => a || b ? 1 : 0),
  },
} satisfies { [K in keyof PrimParams]?: Def<K> };

/** `where` and `cast`. */
export const selectPrims = {
  where: {
    shape: ([c, a, b]) => {
      if (c.dtype !== "bool") fail("where", `condition must be bool, got ${c.dtype}`);
      if (!sameShape(c.shape, a.shape) || !sameShape(a.shape, b.shape)) {
        fail("where", `shapes ${fmt(c.shape)}, ${fmt(a.shape)}, ${fmt(b.shape)} differ`);
      }
      if (a.dtype !== b.dtype) fail("where", `dtypes ${a.dtype} and ${b.dtype} differ`);
      return a;
    },
    cpu: ([c, a, b], _p, out) => {
      const r = allocate(out.dtype, a.data.length);
      for (let i = 0; i < r.length; i++) r[i] = c.data[i] ? a.data[i] : b.data[i];
      return r;
    },
    vjp: (g, [c]) => [undefined, E.where(c, g, 0), E.where(c, 0, g)],
  },
  cast: {
    shape: ([x], { dtype }) => ({ shape: x.shape, dtype }),
    cpu: ([x], { dtype }, out) => {
      const r = allocate(out.dtype, x.data.length);
      if (dtype === "bool") { for (let i = 0; i < r.length; i++) r[i] = x.data[i] ? 1 : 0; }
      else if (isFloat(dtype)) r.set(x.data);
      else for (let i = 0; i < r.length; i++) r[i] = Math.trunc(x.data[i]);
      return r;
    },
    vjp: (g, [x]) => [isFloat(x.dtype) ? E.cast(g, x.dtype) : undefined],
  },
} satisfies { [K in keyof PrimParams]?: Def<K> };
