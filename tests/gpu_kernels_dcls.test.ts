/**
 * The fused Gaussian DCLS construction on the GPU against the primitive's float64 CPU reference, both forms: the
 * shared-memory kernels (kernels/dcls_gauss.ts) and, where they fit, the per-element ones (kernels/dcls_gauss_lanes.ts):
 * kernels and packed gradients on random channel counts, element counts and non-square grids, whole and through a
 * random output window, as the kernel or as its spectrum (the spectral convolution's row transform).
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

gpuTest(
  "gpu kernels: dclsGauss and dclsGaussGrad on an output window, or its spectrum, match the float64 reference",
  async () => {
    await check(
      fc.record({
        c: fc.integer({ min: 1, max: 3 }),
        k: fc.integer({ min: 1, max: 9 }),
        d0: fc.integer({ min: 1, max: 9 }),
        d1: fc.integer({ min: 1, max: 9 }),
        at: fc.array(fc.nat(100), { minLength: 4, maxLength: 4 }),
        spectrum: fc.option(fc.record({ half: fc.integer({ min: 0, max: 12 }), top: fc.nat(100) })),
        seed: fc.nat(1000),
      }),
      ({ c, k, d0, d1, at: [a, b, e, f], spectrum: s, seed }) => {
        const r0 = a % d0, c0 = e % d1;
        const window = { rows: [r0, 1 + b % (d0 - r0)], cols: [c0, 1 + f % (d1 - c0)] } as const;
        const spectrum = s ? { length: 2 * s.half + 1, top: s.top % (2 * s.half + 1) } : undefined;
        return checkDclsGaussKernels(c, k, d0, d1, seed, 4, window, spectrum);
      },
      8,
    );
    // The models' largest spectrum: a 23×23 grid of 26 elements under a 64-row map's 75 points (38 rotation steps).
    await checkDclsGaussKernels(2, 26, 23, 23, 1, 9, undefined, { length: 75, top: 11 });
  },
);
