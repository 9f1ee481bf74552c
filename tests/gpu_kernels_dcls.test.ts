/**
 * The fused Gaussian DCLS construction on the GPU (kernels/dcls_gauss.ts) against the primitive's float64 CPU
 * reference: kernels and packed gradients on random channel counts, element counts and non-square grids.
 */
import fc from "fast-check";
import type { DclsGaussParams } from "../lib/core/primitive.ts";
import { registry } from "../lib/core/mod.ts";
import { gridAxes } from "../lib/dcls/construct.ts";
import { dclsGaussGradKernel, dclsGaussKernel } from "../kernels/dcls_gauss.ts";
import { assertClose, check, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";

const TOL = { rtol: 1e-4, atol: 1e-5 };

gpuTest("gpu kernels: dclsGauss and dclsGaussGrad match the float64 reference", async () => {
  await check(
    fc.record({
      c: fc.integer({ min: 1, max: 5 }),
      k: fc.integer({ min: 1, max: 30 }),
      d0: fc.integer({ min: 1, max: 23 }),
      d1: fc.integer({ min: 1, max: 23 }),
      seed: fc.nat(1000),
    }),
    async ({ c, k, d0, d1, seed }) => {
      const [rows, cols] = gridAxes("gauss", d0, d1);
      const p: DclsGaussParams = { rows, cols };
      const rnd = (n: number, lo: number, hi: number, s: number) =>
        Float32Array.from(pseudoRandom(n, seed * 7 + s), (v) => lo + (hi - lo) * (v + 1) / 2);
      const w = rnd(c * k, -1, 1, 1), P = rnd(2 * c * k, -6, 6, 2), S = rnd(2 * c * k, -0.8, 0.8, 3);
      const g = rnd(c * d0 * d1, -1, 1, 4);
      const val = (data: Float32Array, shape: number[]) => ({
        shape,
        dtype: "f64" as const,
        data: Float64Array.from(data),
      });
      const ins = [val(w, [c, 1, k]), val(P, [2, c, 1, k]), val(S, [2, c, 1, k])];
      const kernel = registry.dclsGauss.cpu(ins, p, { shape: [c, 1, d0, d1], dtype: "f64" });
      const grads = registry.dclsGaussGrad.cpu([val(g, [c, 1, d0, d1]), ...ins], p, {
        shape: [5, c, 1, k],
        dtype: "f64",
      });
      const [gotK] = await runner.run(dclsGaussKernel(c, k, p), [w, P, S]);
      assertClose(gotK, kernel, TOL, `kernel c${c} k${k} ${d0}×${d1}`);
      const [gotG] = await runner.run(dclsGaussGradKernel(c, k, p), [g, w, P, S]);
      const scale = Math.max(...Array.from(grads, Math.abs));
      assertClose(gotG, grads, { rtol: 1e-3, atol: 1e-4 * scale + 1e-6 }, `gradients c${c} k${k} ${d0}×${d1}`);
    },
    6,
  );
});
