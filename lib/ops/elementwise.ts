import type { DType } from "../core/dtype.ts";
import { bind } from "../core/bind.ts";
import type { PrimName } from "../core/primitive.ts";
import { broadcastShapes, fail, fmt, sameShape } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { scalar } from "./create.ts";
import { broadcastTo } from "./movement.ts";

/** A tensor or a plain number (taken in the dtype of the tensor operand). */
export type TensorLike = Tensor | number;

function checkDtypes(op: string, ts: readonly Tensor[]): DType {
  const d = ts[0].dtype;
  for (const t of ts) {
    if (t.dtype !== d) fail(op, `dtype mismatch ${ts.map((x) => `${x.dtype}${fmt(x.shape)}`).join(" vs ")}`);
  }
  return d;
}

/** Converts numbers to scalars of the dtype of the first tensor operand, then broadcasts all operands together. */
export function broadcastOperands(op: string, xs: readonly TensorLike[]): Tensor[] {
  const first = xs.find((x): x is Tensor => typeof x !== "number");
  if (!first) fail(op, "needs at least one tensor operand");
  const ts = xs.map((x) => typeof x === "number" ? scalar(x, first.dtype) : x);
  let shape: number[] = [...ts[0].shape];
  for (const t of ts.slice(1)) shape = broadcastShapes(op, shape, t.shape);
  return ts.map((t) => sameShape(t.shape, shape) ? t : broadcastTo(t, shape));
}

function binary(prim: PrimName, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = broadcastOperands(prim, [a, b]);
  checkDtypes(prim, [x, y]);
  return bind(prim, [x, y], {} as never);
}

/** a + b (broadcasting). */
export const add = (a: TensorLike, b: TensorLike): Tensor => binary("add", a, b);
/** a − b (broadcasting). */
export const sub = (a: TensorLike, b: TensorLike): Tensor => binary("sub", a, b);
/** a · b (broadcasting). */
export const mul = (a: TensorLike, b: TensorLike): Tensor => binary("mul", a, b);
/** a / b (broadcasting). */
export const div = (a: TensorLike, b: TensorLike): Tensor => binary("div", a, b);
/** a ** b (broadcasting). */
export const pow = (a: TensorLike, b: TensorLike): Tensor => binary("pow", a, b);
/** Elementwise maximum; ties share the gradient equally, as in PyTorch. */
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binary("maximum", a, b);
/** Elementwise minimum; ties share the gradient equally, as in PyTorch. */
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binary("minimum", a, b);
/** a < b → bool. */
export const lt = (a: TensorLike, b: TensorLike): Tensor => binary("lt", a, b);
/** a ≤ b → bool. */
export const le = (a: TensorLike, b: TensorLike): Tensor => binary("le", a, b);
/** a > b → bool. */
export const gt = (a: TensorLike, b: TensorLike): Tensor => binary("gt", a, b);
/** a ≥ b → bool. */
export const ge = (a: TensorLike, b: TensorLike): Tensor => binary("ge", a, b);
/** a = b → bool. */
export const eq = (a: TensorLike, b: TensorLike): Tensor => binary("eq", a, b);
/** a ≠ b → bool. */
export const ne = (a: TensorLike, b: TensorLike): Tensor => binary("ne", a, b);
/** Logical and of bool tensors. */
export const logicalAnd = (a: Tensor, b: Tensor): Tensor => binary("logicalAnd", a, b);
/** Logical or of bool tensors. */
export const logicalOr = (a: Tensor, b: Tensor): Tensor => binary("logicalOr", a, b);

function unary(prim: PrimName, x: Tensor): Tensor {
  return bind(prim, [x], {} as never);
}

/** −x. */
export const neg = (x: Tensor): Tensor => unary("neg", x);
/** eˣ. */
export const exp = (x: Tensor): Tensor => unary("exp", x);
/** Natural logarithm. */
export const log = (x: Tensor): Tensor => unary("log", x);
/** Square root. */
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
/** 1/√x. */
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
/** |x| (gradient 0 at 0, as in PyTorch). */
export const abs = (x: Tensor): Tensor => unary("abs", x);
/** Sign of x: −1, 0 or 1. */
export const sign = (x: Tensor): Tensor => unary("sign", x);
/** Largest integer ≤ x (zero gradient). */
export const floor = (x: Tensor): Tensor => unary("floor", x);
/** Hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
/** Error function. */
export const erf = (x: Tensor): Tensor => unary("erf", x);
/** Logistic sigmoid 1/(1+e⁻ˣ). */
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
/** Sine. */
export const sin = (x: Tensor): Tensor => unary("sin", x);
/** Cosine. */
export const cos = (x: Tensor): Tensor => unary("cos", x);
/** Logical not of a bool tensor. */
export const logicalNot = (x: Tensor): Tensor => unary("logicalNot", x);

/** x². */
export const square = (x: Tensor): Tensor => mul(x, x);
/** max(x, 0), with gradient 0 at 0 as in PyTorch (not the ½ tie share of `maximum`). */
export const relu = (x: Tensor): Tensor => where(gt(x, 0), x, 0);
/** GELU, exact (erf) form as PyTorch's default: x·Φ(x). */
export const gelu = (x: Tensor): Tensor => mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
/** Clamps to [lo, hi]. */
export const clamp = (x: Tensor, lo: number, hi: number): Tensor => minimum(maximum(x, lo), hi);

/** cond ? a : b, elementwise with broadcasting; `cond` is bool. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== "bool") fail("where", `condition must be bool, got ${cond.dtype}`);
  const ref = typeof a === "number" ? (typeof b === "number" ? undefined : b) : a;
  if (!ref) fail("where", "needs at least one tensor branch");
  const [x, y] = [a, b].map((v) => typeof v === "number" ? scalar(v, ref.dtype) : v);
  const [c, p, q] = broadcastOperands("where", [cond, x, y]);
  checkDtypes("where", [p, q]);
  return bind("where", [c, p, q], {});
}

/** Converts to another dtype (float → int truncates toward zero; anything → bool is x ≠ 0). */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return bind("cast", [x], { dtype });
}
