import { allocate, type DType, dtypeOf, type TypedArray } from "../core/dtype.ts";
import { bind } from "../core/bind.ts";
import { checkShape, fmt, sizeOf } from "../core/shape.ts";
import { Tensor } from "../core/tensor.ts";

/** Nested arrays of numbers, as accepted by `tensor`. */
export type NestedNumbers = number | boolean | readonly NestedNumbers[];

/** Options of `tensor`. */
export interface TensorOptions {
  /** Shape of the result; inferred from nested arrays when absent. */
  shape?: readonly number[];
  /** Element type; defaults to the typed array's own, else f32. */
  dtype?: DType;
}

function inferShape(x: NestedNumbers): number[] {
  const shape: number[] = [];
  let cur: NestedNumbers = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedNumbers;
  }
  return shape;
}

/** Creates a concrete tensor from numbers, nested arrays or a typed array (copied). */
export function tensor(data: NestedNumbers | TypedArray, opts: TensorOptions = {}): Tensor {
  const isTyped = ArrayBuffer.isView(data);
  const dtype = opts.dtype ?? (isTyped ? dtypeOf(data as TypedArray) : "f32");
  const flat: ArrayLike<number> = isTyped
    ? data as TypedArray
    : typeof data === "number" || typeof data === "boolean"
    ? [Number(data)]
    : (data as readonly NestedNumbers[]).flat(Infinity as 1).map(Number);
  const shape = opts.shape ?? (isTyped ? [flat.length] : inferShape(data as NestedNumbers));
  checkShape("tensor", shape);
  if (sizeOf(shape) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values do not fill shape ${fmt(shape)}`);
  }
  const store = allocate(dtype, flat.length);
  // Same element type: one memcpy (a training batch of waveforms is tens of MB).
  if (isTyped && dtypeOf(data as TypedArray) === dtype && dtype !== "bool") {
    (store as Float32Array).set(data as Float32Array);
  } else for (let i = 0; i < flat.length; i++) store[i] = flat[i];
  return new Tensor(shape, dtype, { data: store });
}

/**
 * A tensor over `data` without copying it, for large host buffers that are handed over (a training batch): the
 * caller must not write to `data` while the tensor is in use.
 */
export function tensorOver(data: TypedArray, shape: readonly number[]): Tensor {
  checkShape("tensorOver", shape);
  if (sizeOf(shape) !== data.length) {
    throw new Error(`tensorOver: ${data.length} values do not fill shape ${fmt(shape)}`);
  }
  return new Tensor(shape, dtypeOf(data), { data });
}

/** A zero-dimensional tensor. */
export function scalar(value: number, dtype: DType = "f32"): Tensor {
  return tensor(value, { shape: [], dtype });
}

/** A tensor of `shape` filled with `value` (a broadcast of one scalar, so it costs nothing to trace). */
export function full(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
  checkShape("full", shape);
  const s = bind("reshape", [scalar(value, dtype)], { shape: shape.map(() => 1) });
  return bind("broadcast", [s], { shape });
}

/** Zeros of a shape. */
export function zeros(shape: readonly number[], dtype: DType = "f32"): Tensor {
  return full(shape, 0, dtype);
}

/** Ones of a shape. */
export function ones(shape: readonly number[], dtype: DType = "f32"): Tensor {
  return full(shape, 1, dtype);
}

/** Zeros with the shape and dtype of `x`. */
export function zerosLike(x: Tensor): Tensor {
  return zeros(x.shape, x.dtype);
}

/** Ones with the shape and dtype of `x`. */
export function onesLike(x: Tensor): Tensor {
  return ones(x.shape, x.dtype);
}

/** 0, 1, …, n−1. */
export function arange(n: number, dtype: DType = "i32"): Tensor {
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) data[i] = i;
  return new Tensor([n], dtype, { data });
}
