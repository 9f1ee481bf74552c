/**
 * DCLS kernel construction: from per-element weights, positions and widths to the dense kernel an ordinary convolution
 * uses. Every version is separable per element: the 2-D profile of element k is the outer product of a 1-D profile
 * along rows and one along columns, and so is its normaliser. The dense kernel is therefore one batched matrix product
 * per channel, `A_c [D0, K] · diag(w_c / (Σa·Σb + 1e-7)) · B_cᵀ [K, D1]`, never a grid × channels × elements tensor.
 * Built from core primitives, so autodiff gives the gradients to weight, P and SIG. The 2-D Gaussian construction the
 * models use is also one primitive (`dclsGauss`, lib/core/prims/dcls.ts), whose forward and backward are one GPU
 * dispatch each; `construct` takes it wherever its workgroup fits WebGPU's guaranteed 16 KiB. A `window` builds only
 * part of the kernel (the taps a convolution can reach): the fused primitive computes just those cells, every other
 * path slices the whole kernel, so the result is the same either way.
 *
 * @module
 */

import type { Tensor } from "../core/tensor.ts";
import { bind } from "../core/bind.ts";
import type { DclsGaussParams, KernelSpectrum } from "../core/primitive.ts";
import { kernelSpectrum } from "../ops/spectral_conv.ts";
import { DCLS_NORM_EPS, DCLS_SIGMA_FLOOR } from "../core/prims/dcls_constants.ts";
import { checkWindow } from "../core/prims/dcls.ts";
import { DEFAULT_LIMITS } from "../../kernels/program.ts";
import { dclsGaussWorkgroupBytes } from "../../kernels/dcls_gauss.ts";
import {
  abs,
  add,
  arange,
  div,
  eq,
  exp,
  floor,
  matmul,
  mul,
  relu,
  reshape,
  slice,
  square,
  sub,
  sum,
  transpose,
  where,
} from "../core/mod.ts";

/** The kernel constructions of the DCLS package: Gaussian, normalised bilinear, learned-width triangle, first DCLS. */
export type DclsVersion = "gauss" | "v1" | "max" | "v0";

/** All versions, in the order the fixtures list them. */
export const DCLS_VERSIONS: readonly DclsVersion[] = ["gauss", "v1", "max", "v0"];

/** Options of `construct`. */
export interface ConstructOptions {
  /** Which construction. */
  version: DclsVersion;
  /** Grid size (D0 rows, D1 columns); one number for a square grid. */
  dilatedKernelSize: number | readonly [number, number];
  /**
   * Build the Gaussian kernel from core primitives even where the fused `dclsGauss` primitive applies (its tests
   * compare the two; the composed form is also differentiable twice).
   */
  composed?: boolean;
  /**
   * Build only the kernel rows `start … start + count − 1` and columns likewise (default: all), each given as
   * `[start, count]`; the result is that slice of the whole kernel (each element still normalised over the whole grid).
   */
  window?: KernelWindow;
  /**
   * Output the (windowed) kernel's row transform as the spectral convolution takes it (`kernelSpectrum` in
   * lib/ops/spectral_conv.ts): `[C_out, C_in/g, length + 1, cols]`. The fused Gaussian construction computes it in its
   * own dispatch; other paths build the kernel and transform it.
   */
  spectrum?: KernelSpectrum;
}

/** A window of a 2-D kernel's cells: rows and columns, each `[start, count]`. */
export interface KernelWindow {
  /** First row and row count. */
  readonly rows: readonly [number, number];
  /** First column and column count. */
  readonly cols: readonly [number, number];
}

/** Options of `construct1d`. */
export interface Construct1dOptions {
  /** Which construction. */
  version: DclsVersion;
  /** Grid length D. */
  dilatedKernelSize: number;
}

/** Whether a version learns widths (and so needs SIG). */
export function usesSigma(version: DclsVersion): boolean {
  return version === "gauss" || version === "max";
}

/** Expands a grid size to (rows, columns), checking it. */
export function gridSize(d: number | readonly [number, number]): [number, number] {
  const [d0, d1] = typeof d === "number" ? [d, d] : [d[0], d[1]];
  if (![d0, d1].every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`dcls: dilatedKernelSize must be positive integers, got ${JSON.stringify(d)}`);
  }
  return [d0, d1];
}

/**
 * The 1-D profile of every element along one grid axis: `[C, D, K]` from grid-unit positions `p` `[C, 1, K]` (and raw
 * widths `sig` `[C, 1, K]` for gauss/max).
 */
function profile(version: DclsVersion, p: Tensor, sig: Tensor | undefined, d: number): Tensor {
  const idx = reshape(arange(d, p.dtype), [1, d, 1]);
  const diff = sub(idx, p);
  switch (version) {
    case "gauss":
      return exp(mul(square(div(diff, add(abs(sig!), DCLS_SIGMA_FLOOR))), -0.5));
    case "v1":
      return relu(sub(1, abs(diff)));
    case "max":
      return relu(sub(add(abs(sig!), 1), abs(diff)));
    case "v0": {
      // Bilinear split over floor(p) and floor(p)+1; floor carries no gradient, so p's flows through r alone.
      const fl = floor(p);
      const r = sub(p, fl);
      return add(where(eq(idx, fl), sub(1, r), 0), where(eq(idx, add(fl, 1)), r, 0));
    }
  }
}

/** Per-element scale `w / (mass + eps)` (or `w` for the unnormalised v0), from the per-axis profiles. */
function elementScale(version: DclsVersion, w: Tensor, profiles: readonly Tensor[]): Tensor {
  if (version === "v0") return w;
  const mass = profiles.map((a) => sum(a, 1, true)).reduce((m, s) => mul(m, s));
  return div(w, add(mass, DCLS_NORM_EPS));
}

function checkVersion(version: string): asserts version is DclsVersion {
  if (!(DCLS_VERSIONS as readonly string[]).includes(version)) {
    throw new Error(`dcls: unknown version "${version}" (expected one of ${DCLS_VERSIONS.join(", ")})`);
  }
}

const shapeStr = (t: Tensor) => `[${t.shape.join(",")}]`;

/** Checks weight/P/SIG against each other and returns (C_out, C_in/g, K). */
function checkParams(
  op: string,
  axes: number,
  weight: Tensor,
  P: Tensor,
  SIG: Tensor | undefined,
  version: DclsVersion,
): [number, number, number] {
  if (weight.ndim !== 3) throw new Error(`${op}: weight must be [C_out, C_in/g, K], got ${shapeStr(weight)}`);
  const [co, ci, k] = weight.shape;
  const want = [axes, co, ci, k];
  const fits = (t: Tensor) => t.ndim === 4 && t.shape.every((d, i) => d === want[i]);
  if (!fits(P)) {
    throw new Error(`${op}: P must be [${want.join(",")}] for weight ${shapeStr(weight)}, got ${shapeStr(P)}`);
  }
  if (usesSigma(version)) {
    if (!SIG) throw new Error(`${op}: version "${version}" needs SIG`);
    if (!fits(SIG)) throw new Error(`${op}: SIG must be [${want.join(",")}], got ${shapeStr(SIG)}`);
  }
  for (const t of [P, ...(usesSigma(version) ? [SIG!] : [])]) {
    if (t.dtype !== weight.dtype) {
      throw new Error(`${op}: dtype of weight (${weight.dtype}) and P/SIG (${t.dtype}) differ`);
    }
  }
  return [co, ci, k];
}

/** How one grid axis is driven: its size, the P/SIG row that positions elements along it, and the centring shift. */
export interface GridAxis {
  /** Number of cells along the axis. */
  size: number;
  /** Row of P (and SIG) positioning elements along this axis. */
  param: number;
  /** Added to that P row to get grid-cell units. */
  shift: number;
}

/**
 * The (rows, columns) axes of a 2-D grid. v0 follows the spec's description: P[0] + floor(D0/2) along rows, P[1] +
 * floor(D1/2) along columns. The normalised versions (gauss, v1, max) follow the reference package, which the fixtures
 * pin down: its index grid stacks the column index first, so P[1] positions elements along rows and P[0] along columns,
 * while the centring shift stays paired with the parameter index (P[a] + floor(D_a/2)). On the square grids DCLS uses,
 * that is only the swap of P[0] and P[1]; on non-square grids the shifts cross too.
 */
export function gridAxes(version: DclsVersion, d0: number, d1: number): [GridAxis, GridAxis] {
  if (version === "v0") {
    return [{ size: d0, param: 0, shift: Math.floor(d0 / 2) }, { size: d1, param: 1, shift: Math.floor(d1 / 2) }];
  }
  return [{ size: d0, param: 1, shift: Math.floor(d1 / 2) }, { size: d1, param: 0, shift: Math.floor(d0 / 2) }];
}

/** Row `a` of a stacked `[axes, C_out, C_in/g, K]` parameter as `[C, 1, K]`. */
function axisRow(t: Tensor, a: number, c: number, k: number): Tensor {
  return reshape(slice(t, [a], [a + 1]), [c, 1, k]);
}

/**
 * The dense 2-D DCLS kernel `[C_out, C_in/g, D0, D1]` from `weight` `[C_out, C_in/g, K]`, positions `P` and widths
 * `SIG` `[2, C_out, C_in/g, K]`, centred on the grid (which of P[0], P[1] moves along rows: see `gridAxes`). `SIG` is
 * ignored by v1 and v0. With `window`, only its cells: `[C_out, C_in/g, rows count, cols count]`; with `spectrum`, the
 * (windowed) kernel's row transform: `[C_out, C_in/g, length + 1, cols count]`.
 */
export function construct(weight: Tensor, P: Tensor, SIG: Tensor | undefined, opts: ConstructOptions): Tensor {
  checkVersion(opts.version);
  const { version, window, spectrum } = opts;
  const [d0, d1] = gridSize(opts.dilatedKernelSize);
  const [co, ci, k] = checkParams("construct", 2, weight, P, SIG, version);
  if (window) {
    checkWindow("construct", "rows", d0, window.rows);
    checkWindow("construct", "cols", d1, window.cols);
  }
  if (version === "gauss" && !opts.composed) {
    const [rows, cols] = gridAxes(version, d0, d1);
    const at = (w: readonly [number, number]) => ({ start: w[0], count: w[1] });
    const params: DclsGaussParams = {
      ...(window ? { rows: { ...rows, ...at(window.rows) }, cols: { ...cols, ...at(window.cols) } } : { rows, cols }),
      ...(spectrum ? { spectrum } : {}),
    };
    if (dclsGaussWorkgroupBytes(params, k) <= DEFAULT_LIMITS.maxWorkgroupStorage) {
      return bind("dclsGauss", [weight, P, SIG!], params);
    }
  }
  const whole = composedKernel(weight, P, SIG, version, [d0, d1]);
  const [[r0, n0], [c0, n1]] = window ? [window.rows, window.cols] : [[0, d0], [0, d1]];
  const kernel = window ? slice(whole, [0, 0, r0, c0], [co, ci, r0 + n0, c0 + n1]) : whole;
  if (!spectrum) return kernel;
  const m = spectrum.length + 1;
  return reshape(kernelSpectrum(reshape(kernel, [co * ci, 1, n0, n1]), spectrum), [co, ci, m, n1]);
}

/** The whole 2-D kernel from core primitives, as one batched matrix product per channel. */
function composedKernel(
  weight: Tensor,
  P: Tensor,
  SIG: Tensor | undefined,
  version: DclsVersion,
  [d0, d1]: [number, number],
): Tensor {
  const [co, ci, k] = weight.shape;
  const c = co * ci;
  const [a, b] = gridAxes(version, d0, d1).map(({ size, param, shift }) => {
    const p = add(axisRow(P, param, c, k), shift);
    return profile(version, p, usesSigma(version) ? axisRow(SIG!, param, c, k) : undefined, size);
  });
  const scale = elementScale(version, reshape(weight, [c, 1, k]), [a, b]);
  const kd = matmul(mul(a, scale), transpose(b, [0, 2, 1]));
  return reshape(kd, [co, ci, d0, d1]);
}

/**
 * The dense 1-D DCLS kernel `[C_out, C_in/g, D]` from `weight` `[C_out, C_in/g, K]`, positions `P` and widths `SIG`
 * `[1, C_out, C_in/g, K]` (as the DCLS package stores them for Dcls1d).
 */
export function construct1d(weight: Tensor, P: Tensor, SIG: Tensor | undefined, opts: Construct1dOptions): Tensor {
  checkVersion(opts.version);
  const { version } = opts;
  const d = opts.dilatedKernelSize;
  if (!Number.isInteger(d) || d < 1) {
    throw new Error(`construct1d: dilatedKernelSize must be a positive integer, got ${d}`);
  }
  const [co, ci, k] = checkParams("construct1d", 1, weight, P, SIG, version);
  const c = co * ci;
  const p = add(axisRow(P, 0, c, k), Math.floor(d / 2));
  const a = profile(version, p, usesSigma(version) ? axisRow(SIG!, 0, c, k) : undefined, d);
  const scale = elementScale(version, reshape(weight, [c, 1, k]), [a]);
  return reshape(matmul(a, reshape(scale, [c, k, 1])), [co, ci, d]);
}
