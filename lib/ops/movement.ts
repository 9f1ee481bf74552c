import { bind } from "../core/bind.ts";
import { fail, fmt, normAxes, normAxis, sameShape, sizeOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";

/** Reshapes (one axis may be −1, inferred). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1);
  const holes = shape.length - known.length;
  if (holes > 1) fail("reshape", `more than one -1 in ${fmt(shape)}`);
  const resolved = holes ? shape.map((d) => d === -1 ? x.size / Math.max(1, sizeOf(known)) : d) : [...shape];
  if (!resolved.every((d) => Number.isInteger(d) && d >= 0) || sizeOf(resolved) !== x.size) {
    fail("reshape", `cannot reshape ${fmt(x.shape)} to ${fmt(shape)}`);
  }
  if (sameShape(resolved, x.shape)) return x;
  return bind("reshape", [x], { shape: resolved });
}

/** Permutes axes (default: reverses them). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ? perm.map((a) => normAxis("transpose", a, x.ndim)) : x.shape.map((_, i) => x.ndim - 1 - i);
  if (p.every((a, i) => a === i)) return x;
  return bind("transpose", [x], { perm: p });
}

/** Swaps the last two axes. */
export function mT(x: Tensor): Tensor {
  if (x.ndim < 2) fail("mT", `needs rank ≥ 2, got ${fmt(x.shape)}`);
  const p = x.shape.map((_, i) => i);
  [p[x.ndim - 2], p[x.ndim - 1]] = [p[x.ndim - 1], p[x.ndim - 2]];
  return transpose(x, p);
}

/** Broadcasts to a shape (NumPy rules: leading axes added, size-1 axes expanded). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  if (shape.length < x.ndim) fail("broadcastTo", `cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
  const lifted = [...new Array(shape.length - x.ndim).fill(1), ...x.shape];
  lifted.forEach((d, i) => {
    if (d !== 1 && d !== shape[i]) fail("broadcastTo", `cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
  });
  return bind("broadcast", [reshape(x, lifted)], { shape });
}

/** Inserts a size-1 axis. */
export function expandDims(x: Tensor, axis: number): Tensor {
  const a = normAxis("expandDims", axis, x.ndim + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

/** Removes size-1 axes (all of them, or the given ones). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const ax = axes === undefined ? x.shape.flatMap((d, i) => d === 1 ? [i] : []) : normAxes("squeeze", axes, x.ndim);
  for (const a of ax) if (x.shape[a] !== 1) fail("squeeze", `axis ${a} of ${fmt(x.shape)} is not 1`);
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

/**
 * Slices the leading axes: `starts`, `stops`, `steps` (default 1) per axis; trailing axes not named are kept whole.
 * Negative starts/stops count from the end, and bounds are clipped as in Python.
 */
export function slice(
  x: Tensor,
  starts: readonly number[],
  stops: readonly number[],
  steps: readonly number[] = [],
): Tensor {
  if (starts.length > x.ndim || stops.length !== starts.length) {
    fail("slice", `starts ${fmt(starts)} / stops ${fmt(stops)} do not fit ${fmt(x.shape)}`);
  }
  const st: number[] = [], sp: number[] = [], sd: number[] = [];
  x.shape.forEach((d, i) => {
    const step = steps[i] ?? 1;
    if (!Number.isInteger(step) || step < 1) fail("slice", `step ${step} must be a positive integer`);
    const norm = (v: number) => Math.min(d, Math.max(0, v < 0 ? v + d : v));
    st.push(i < starts.length ? norm(starts[i]) : 0);
    sp.push(i < stops.length ? Math.max(norm(stops[i]), st[i]) : d);
    sd.push(step);
  });
  if (st.every((s, i) => s === 0 && sp[i] === x.shape[i] && sd[i] === 1)) return x;
  return bind("slice", [x], { starts: st, stops: sp, steps: sd });
}

/** Pads every axis with `widths[axis] = [before, after]` elements of `value`. */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[], value = 0): Tensor {
  if (widths.length !== x.ndim) fail("pad", `${widths.length} pad widths for ${fmt(x.shape)}`);
  if (widths.every(([a, b]) => a === 0 && b === 0)) return x;
  return bind("pad", [x], {
    lo: widths.map((w) => w[0]),
    hi: widths.map((w) => w[1]),
    interior: widths.map(() => 0),
    value,
  });
}

/** Joins tensors along an existing axis. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) fail("concat", "needs at least one tensor");
  if (xs.length === 1) return xs[0];
  return bind("concat", xs, { axis: normAxis("concat", axis, xs[0].ndim) });
}

/** Joins tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) fail("stack", "needs at least one tensor");
  return concat(xs.map((x) => expandDims(x, axis)), axis < 0 ? axis : axis);
}

/** Reverses the given axes. */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  const ax = normAxes("flip", axes, x.ndim);
  if (ax.length === 0) return x;
  return bind("flip", [x], { axes: ax });
}

/** Gathers entries of `x` along `axis` at integer `indices` (any shape): result `x.shape[:axis] ++ indices.shape ++ x.shape[axis+1:]`. */
export function take(x: Tensor, indices: Tensor, axis = 0): Tensor {
  return bind("gather", [x, indices], { axis: normAxis("take", axis, x.ndim) });
}
