/**
 * The fused Gaussian DCLS construction on the GPU (kernels/dcls_gauss.ts) against the primitive's float64 CPU
 * reference: kernels and packed gradients on random channel counts, element counts and non-square grids.
 */
import fc from "fast-check";
import { check, gpuTest } from "./gpu_kernels_helpers.ts";
import { checkDclsGaussKernels } from "./_dcls_kernels.ts";

gpuTest("gpu kernels: dclsGauss and dclsGaussGrad match the float64 reference", async () => {
  await check(
    fc.record({
      c: fc.integer({ min: 1, max: 5 }),
      k: fc.integer({ min: 1, max: 30 }),
      d0: fc.integer({ min: 1, max: 23 }),
      d1: fc.integer({ min: 1, max: 23 }),
      seed: fc.nat(1000),
    }),
    ({ c, k, d0, d1, seed }) => checkDclsGaussKernels(c, k, d0, d1, seed, 6),
    6,
  );
});
