/**
 * Inference-time pruning of a constructed DCLS kernel: a Gaussian element spreads over the whole grid, but most of its
 * mass sits in a few cells, so cells whose |value| falls below a threshold can be dropped. The sparse cell lists are
 * what a gather-based (sparse) convolution kernel would consume; the pruned dense kernel lets the effect of pruning
 * on a model's outputs be measured with the ordinary convolution. `pruneRelative` is the traced form a model's
 * inference pass uses (a cell is dropped when |k| < threshold · max|k| of its `[out, in]` slice, so one threshold fits
 * every layer whatever its weight scale); `keptCells` counts what it keeps.
 *
 * @module
 */

import type { Tensor } from "../core/mod.ts";
import { abs, cast, ge, max, mul, sum, tensor, where } from "../core/mod.ts";

/** The kept cells of one (output, input) kernel slice, in row-major order. */
export interface SparseCells {
  /** Row of each kept cell. */
  readonly rows: Int32Array;
  /** Column of each kept cell. */
  readonly cols: Int32Array;
  /** Kernel value of each kept cell. */
  readonly values: Float64Array;
}

/** Result of `pruneKernel`. */
export interface PrunedKernel {
  /** Kept cells per kernel slice, indexed `[outChannel * C_in/g + inChannel]`. */
  readonly cells: SparseCells[];
  /** The dense kernel with dropped cells zeroed (same shape and dtype as the input). */
  readonly dense: Tensor;
  /** Cells kept over all slices. */
  readonly kept: number;
  /** Cells in all slices. */
  readonly total: number;
}

/** Drops the cells of a dense kernel `[C_out, C_in/g, D0, D1]` (concrete, on CPU) whose |value| < `threshold`. */
export function pruneKernel(kernel: Tensor, threshold: number): PrunedKernel {
  if (kernel.ndim !== 4) {
    throw new Error(`pruneKernel: kernel must be [C_out, C_in/g, D0, D1], got [${kernel.shape.join(",")}]`);
  }
  if (!(threshold >= 0)) throw new Error(`pruneKernel: threshold must be a non-negative number, got ${threshold}`);
  const [co, ci, d0, d1] = kernel.shape;
  const data = kernel.toArray();
  const dense = new Float64Array(data.length);
  const cells: SparseCells[] = [];
  let kept = 0;
  for (let s = 0; s < co * ci; s++) {
    const rows: number[] = [], cols: number[] = [], values: number[] = [];
    for (let i = 0; i < d0 * d1; i++) {
      const v = data[s * d0 * d1 + i];
      if (Math.abs(v) < threshold) continue;
      rows.push(Math.floor(i / d1));
      cols.push(i % d1);
      values.push(v);
      dense[s * d0 * d1 + i] = v;
    }
    kept += values.length;
    cells.push({ rows: Int32Array.from(rows), cols: Int32Array.from(cols), values: Float64Array.from(values) });
  }
  return { cells, dense: tensor(dense, { shape: kernel.shape, dtype: kernel.dtype }), kept, total: data.length };
}

function checkRelative(kernel: Tensor, threshold: number, what: string): number[] {
  if (kernel.ndim < 3) {
    throw new Error(`${what}: kernel must be [C_out, C_in/g, ...grid], got [${kernel.shape.join(",")}]`);
  }
  if (!(threshold >= 0 && threshold < 1)) {
    throw new Error(`${what}: relative threshold must be in [0, 1), got ${threshold}`);
  }
  return Array.from({ length: kernel.ndim - 2 }, (_, i) => i + 2);
}

/**
 * The kernel `[C_out, C_in/g, ...grid]` with every cell whose |value| < `threshold` · max|value| of its `[out, in]`
 * slice set to 0 (relative threshold in [0, 1); 0 keeps every cell, so the kernel is returned unchanged). Built from
 * traced operations, so it runs inside a compiled inference pass on any backend.
 */
export function pruneRelative(kernel: Tensor, threshold: number): Tensor {
  const axes = checkRelative(kernel, threshold, "pruneRelative");
  if (threshold === 0) return kernel;
  const a = abs(kernel);
  return where(ge(a, mul(max(a, axes, true), threshold)), kernel, 0);
}

/** Cells `pruneRelative(kernel, threshold)` keeps, and the cells of the kernel. */
export function keptCells(kernel: Tensor, threshold: number): { kept: number; total: number } {
  const axes = checkRelative(kernel, threshold, "keptCells");
  const a = abs(kernel);
  const kept = sum(cast(ge(a, mul(max(a, axes, true), threshold)), "f64")).item();
  return { kept, total: kernel.size };
}
