/**
 * Learned DCLS positions as plain arrays, one entry per stage (per owner of a shared P/SIG), for the learned-position
 * figure and for inspection. Positions are reported in grid-cell units along the kernel's rows and columns, so a
 * plotted element lands on the cell it weights most.
 *
 * @module
 */

import type { Tensor } from "../core/mod.ts";
import { type DclsVersion, gridAxes, gridSize } from "./construct.ts";

/** Learned positions of one owner layer. Arrays are indexed `[channel][element]`, channel = C_out × C_in/g flattened. */
export interface StagePositions {
  /** Module path of the owner layer. */
  readonly layer: string;
  /** Kernel slices, C_out × C_in/g. */
  readonly channels: number;
  /** Elements per kernel, K. */
  readonly kernelCount: number;
  /** Grid (rows, columns). */
  readonly grid: readonly [number, number];
  /** Row coordinate of each element in grid cells (0 … D0−1 inside the grid; may lie outside). */
  readonly rows: number[][];
  /** Column coordinate of each element in grid cells. */
  readonly cols: number[][];
  /** Effective width along rows (|SIG| + 0.27 for gauss, |SIG| + 1 for max); absent for v1/v0. */
  readonly widthRows?: number[][];
  /** Effective width along columns. */
  readonly widthCols?: number[][];
}

/** Options of `learnedPositions`. */
export interface LearnedPositionsOptions {
  /** Owner layer names (e.g. `ownerNames(replaceDepthwise(…))`); default: every `<name>.P` key, in key order. */
  owners?: readonly string[];
  /** Default "gauss" (decides which P row moves along rows, and the width offset). */
  version?: DclsVersion;
  /** Grid side or (rows, columns); default 23. */
  dilatedKernelSize?: number | readonly [number, number];
}

const WIDTH_OFFSET: Partial<Record<DclsVersion, number>> = { gauss: 0.27, max: 1 };

/** Splits row `a` of a `[2, C_out, C_in/g, K]` tensor into `[channel][element]` arrays, mapped by `f`. */
function rowsOf(t: Tensor, a: number, f: (v: number) => number): number[][] {
  const [, co, ci, k] = t.shape;
  const data = t.toArray();
  const base = a * co * ci * k;
  return Array.from({ length: co * ci }, (_, c) => Array.from({ length: k }, (_, e) => f(data[base + c * k + e])));
}

/** Extracts each owner layer's learned positions (and widths) from flat parameters keyed by state_dict name. */
export function learnedPositions(
  params: Readonly<Record<string, Tensor>>,
  opts: LearnedPositionsOptions = {},
): StagePositions[] {
  const version = opts.version ?? "gauss";
  const [d0, d1] = gridSize(opts.dilatedKernelSize ?? 23);
  const owners = opts.owners ?? Object.keys(params).filter((k) => k.endsWith(".P")).map((k) => k.slice(0, -2));
  const [rowAxis, colAxis] = gridAxes(version, d0, d1);
  const offset = WIDTH_OFFSET[version];
  return owners.map((layer) => {
    const P = params[`${layer}.P`];
    if (!P) throw new Error(`learnedPositions: no parameter "${layer}.P"`);
    if (P.ndim !== 4 || P.shape[0] !== 2) {
      throw new Error(`learnedPositions: "${layer}.P" must be [2, C_out, C_in/g, K], got [${P.shape.join(",")}]`);
    }
    const [, co, ci, k] = P.shape;
    const entry: StagePositions = {
      layer,
      channels: co * ci,
      kernelCount: k,
      grid: [d0, d1],
      rows: rowsOf(P, rowAxis.param, (v) => v + rowAxis.shift),
      cols: rowsOf(P, colAxis.param, (v) => v + colAxis.shift),
    };
    const SIG = params[`${layer}.SIG`];
    if (offset === undefined || !SIG) return entry;
    const width = (v: number) => Math.abs(v) + offset;
    return { ...entry, widthRows: rowsOf(SIG, rowAxis.param, width), widthCols: rowsOf(SIG, colAxis.param, width) };
  });
}
