/**
 * The check shared by the fused DCLS kernel tests: `dclsGauss` and `dclsGaussGrad` on the GPU against the
 * primitives' float64 CPU references, for one channel count, element count, grid and output window.
 */
import type { DclsGaussParams, KernelSpectrum } from "../lib/core/primitive.ts";
import type { KernelProgram } from "../kernels/program.ts";
import { registry } from "../lib/core/mod.ts";
import { gridAxes, type KernelWindow } from "../lib/dcls/construct.ts";
import { dclsGaussGradKernel, dclsGaussKernel } from "../kernels/dcls_gauss.ts";
import { dclsGaussGradLanesKernel, dclsGaussLanesFit, dclsGaussLanesKernel } from "../kernels/dcls_gauss_lanes.ts";
import { assertClose, f64Value, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";

/** The Gaussian construction's parameters for a `d0 × d1` grid, with an output window and spectrum if given. */
export function gaussParams(d0: number, d1: number, window?: KernelWindow, spectrum?: KernelSpectrum): DclsGaussParams {
  const [rows, cols] = gridAxes("gauss", d0, d1);
  const extra = spectrum ? { spectrum } : {};
  if (!window) return { rows, cols, ...extra };
  const at = ([start, count]: readonly [number, number]) => ({ start, count });
  return { rows: { ...rows, ...at(window.rows) }, cols: { ...cols, ...at(window.cols) }, ...extra };
}

/**
 * Runs both kernels on pseudo-random inputs (positions in ±`positions`) and compares them with the references; with a
 * window, the kernel and the cotangent are that window's, and with a spectrum, its transform's.
 */
export async function checkDclsGaussKernels(
  c: number,
  k: number,
  d0: number,
  d1: number,
  seed: number,
  positions: number,
  window?: KernelWindow,
  spectrum?: KernelSpectrum,
): Promise<void> {
  const p = gaussParams(d0, d1, window, spectrum);
  const n1 = window ? window.cols[1] : d1, n0 = spectrum ? spectrum.length + 1 : window ? window.rows[1] : d0;
  const rnd = (n: number, lo: number, hi: number, s: number) =>
    Float32Array.from(pseudoRandom(n, seed * 7 + s), (v) => lo + (hi - lo) * (v + 1) / 2);
  const w = rnd(c * k, -1, 1, 1), P = rnd(2 * c * k, -positions, positions, 2), S = rnd(2 * c * k, -0.8, 0.8, 3);
  const g = rnd(c * n0 * n1, -1, 1, 4);
  const ins = [f64Value(w, [c, 1, k]), f64Value(P, [2, c, 1, k]), f64Value(S, [2, c, 1, k])];
  const kernel = registry.dclsGauss.cpu(ins, p, { shape: [c, 1, n0, n1], dtype: "f64" });
  const grads = registry.dclsGaussGrad.cpu([f64Value(g, [c, 1, n0, n1]), ...ins], p, {
    shape: [5, c, 1, k],
    dtype: "f64",
  });
  const what = `c${c} k${k} ${d0}×${d1}${window ? ` window ${JSON.stringify(window)}` : ""}${
    spectrum ? ` spectrum ${JSON.stringify(spectrum)}` : ""
  }`;
  const scale = Math.max(...Array.from(grads, Math.abs));
  // The shared-memory kernels take every case; the per-element ones, where they fit, too.
  type Make = (c: number, k: number, p: DclsGaussParams) => KernelProgram;
  const kernels: [Make, Make, string][] = [[dclsGaussKernel, dclsGaussGradKernel, "shared"]];
  if (dclsGaussLanesFit(p, k)) kernels.push([dclsGaussLanesKernel, dclsGaussGradLanesKernel, "lanes"]);
  for (const [forward, backward, form] of kernels) {
    const [gotK] = await runner.run(forward(c, k, p), [w, P, S]);
    assertClose(gotK, kernel, { rtol: 1e-4, atol: 1e-5 }, `${form} kernel ${what}`);
    const [gotG] = await runner.run(backward(c, k, p), [g, w, P, S]);
    assertClose(gotG, grads, { rtol: 1e-3, atol: 1e-4 * scale + 1e-6 }, `${form} gradients ${what}`);
  }
}
