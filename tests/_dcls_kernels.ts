/**
 * The check shared by the fused DCLS kernel tests: `dclsGauss` and `dclsGaussGrad` on the GPU against the
 * primitives' float64 CPU references, for one channel count, element count and grid.
 */
import type { DclsGaussParams } from "../lib/core/primitive.ts";
import { registry } from "../lib/core/mod.ts";
import { gridAxes } from "../lib/dcls/construct.ts";
import { dclsGaussGradKernel, dclsGaussKernel } from "../kernels/dcls_gauss.ts";
import { assertClose, f64Value, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";

/** The Gaussian construction's parameters for a `d0 × d1` grid. */
export function gaussParams(d0: number, d1: number): DclsGaussParams {
  const [rows, cols] = gridAxes("gauss", d0, d1);
  return { rows, cols };
}

/** Runs both kernels on pseudo-random inputs (positions in ±`positions`) and compares them with the references. */
export async function checkDclsGaussKernels(
  c: number,
  k: number,
  d0: number,
  d1: number,
  seed: number,
  positions: number,
): Promise<void> {
  const p = gaussParams(d0, d1);
  const rnd = (n: number, lo: number, hi: number, s: number) =>
    Float32Array.from(pseudoRandom(n, seed * 7 + s), (v) => lo + (hi - lo) * (v + 1) / 2);
  const w = rnd(c * k, -1, 1, 1), P = rnd(2 * c * k, -positions, positions, 2), S = rnd(2 * c * k, -0.8, 0.8, 3);
  const g = rnd(c * d0 * d1, -1, 1, 4);
  const ins = [f64Value(w, [c, 1, k]), f64Value(P, [2, c, 1, k]), f64Value(S, [2, c, 1, k])];
  const kernel = registry.dclsGauss.cpu(ins, p, { shape: [c, 1, d0, d1], dtype: "f64" });
  const grads = registry.dclsGaussGrad.cpu([f64Value(g, [c, 1, d0, d1]), ...ins], p, {
    shape: [5, c, 1, k],
    dtype: "f64",
  });
  const [gotK] = await runner.run(dclsGaussKernel(c, k, p), [w, P, S]);
  assertClose(gotK, kernel, { rtol: 1e-4, atol: 1e-5 }, `kernel c${c} k${k} ${d0}×${d1}`);
  const [gotG] = await runner.run(dclsGaussGradKernel(c, k, p), [g, w, P, S]);
  const scale = Math.max(...Array.from(grads, Math.abs));
  assertClose(gotG, grads, { rtol: 1e-3, atol: 1e-4 * scale + 1e-6 }, `gradients c${c} k${k} ${d0}×${d1}`);
}
