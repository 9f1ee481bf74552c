import { bind } from "../core/bind.ts";
import { isFloat } from "../core/dtype.ts";
import { fail, normAxes } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { add, div, log, neg, square, sub } from "./elementwise.ts";
import { broadcastTo, reshape } from "./movement.ts";
import { stopGradient } from "../core/bind.ts";

/** Axes to reduce: one axis, several, or all when undefined. */
export type Axes = number | readonly number[] | undefined;

function reduce(prim: "sum" | "max", op: string, x: Tensor, axes: Axes, keepdims: boolean): Tensor {
  const ax = normAxes(op, axes, x.ndim);
  const r = ax.length ? bind(prim, [x], { axes: ax }) : x;
  return keepdims ? r : reshape(r, x.shape.filter((_, i) => !ax.includes(i)));
}

/** Sum over axes. */
export function sum(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  return reduce("sum", "sum", x, axes, keepdims);
}

/** Maximum over axes (ties share the gradient). */
export function max(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  return reduce("max", "max", x, axes, keepdims);
}

/** Minimum over axes. */
export function min(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  return neg(max(neg(x), axes, keepdims));
}

/** Number of elements reduced by `axes`. */
function countOf(op: string, x: Tensor, axes: Axes): number {
  return normAxes(op, axes, x.ndim).reduce((n, a) => n * x.shape[a], 1);
}

/** Arithmetic mean over axes. */
export function mean(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  if (!isFloat(x.dtype)) fail("mean", `needs a float tensor, got ${x.dtype}`);
  const n = countOf("mean", x, axes);
  return div(sum(x, axes, keepdims), n);
}

/** Variance over axes with `correction` (0: population, as normalisation layers use; 1: unbiased). */
export function variance(x: Tensor, axes?: Axes, keepdims = false, correction = 0): Tensor {
  const n = countOf("variance", x, axes);
  const m = mean(x, axes, true);
  const d = square(sub(x, broadcastTo(m, x.shape)));
  return div(sum(d, axes, keepdims), n - correction);
}

/** log Σ exp, stabilised by the maximum (which carries no gradient). */
export function logsumexp(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const m = stopGradient(max(x, axes, true));
  const s = log(sum(bind("exp", [sub(x, broadcastTo(m, x.shape))], {}), axes, true));
  const r = add(s, m);
  return keepdims ? r : reshape(r, x.shape.filter((_, i) => !normAxes("logsumexp", axes, x.ndim).includes(i)));
}
