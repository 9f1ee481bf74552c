/**
 * The Toeplitz kernels (kernels/toeplitz.ts) against the primitives' float64 CPU references on random geometries,
 * and the Toeplitz depthwise convolution compiled for the GPU (value and gradients, with a bias) against the direct
 * one on the CPU.
 */
import fc from "fast-check";
import { registry } from "../lib/core/mod.ts";
import { toeplitzAdjointKernel, toeplitzKernel } from "../kernels/toeplitz.ts";
import { assertClose, check, f64Value, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";
import { rand } from "./_gradcheck.ts";
import { assertGpuLayerMatchesDirect } from "./_conv_algorithms.ts";

gpuTest("gpu kernels: toeplitz and toeplitzAdjoint match the float64 reference", async () => {
  await check(
    fc.record({
      C: fc.integer({ min: 1, max: 4 }),
      h: fc.integer({ min: 1, max: 8 }),
      w: fc.integer({ min: 1, max: 8 }),
      kh: fc.integer({ min: 1, max: 15 }),
      kw: fc.integer({ min: 1, max: 15 }),
      pads: fc.tuple(fc.nat(14), fc.nat(14), fc.nat(14), fc.nat(14)),
      seed: fc.nat(1000),
    }),
    async ({ C, h, w, kh, kw, pads, seed }) => {
      const [top, bottom, left, right] = [pads[0] % kh, pads[1] % kh, pads[2] % kw, pads[3] % kw];
      const ho = h + top + bottom - kh + 1, wo = w + left + right - kw + 1;
      if (ho < 1 || wo < 1) return;
      const p = { plane: [h, w] as const, out: [ho, wo] as const, padding: [top, left] as const };
      const k = Float32Array.from(pseudoRandom(C * kh * kw, seed));
      const t = Float32Array.from(pseudoRandom(C * ho * wo * h * w, seed + 1));
      const wantT = registry.toeplitz.cpu([f64Value(k, [C, kh, kw])], p, { shape: [C, ho * wo, h * w], dtype: "f64" });
      const wantK = registry.toeplitzAdjoint.cpu([f64Value(t, [C, ho * wo, h * w])], { ...p, kernel: [kh, kw] }, {
        shape: [C, kh, kw],
        dtype: "f64",
      });
      const what = `C${C} ${h}x${w} k${kh}x${kw} pad ${[top, bottom, left, right]}`;
      const [gotT] = await runner.run(toeplitzKernel(C, [kh, kw], p), [k]);
      assertClose(gotT, wantT, { rtol: 0, atol: 0 }, `toeplitz ${what}`);
      const [gotK] = await runner.run(toeplitzAdjointKernel(C, { ...p, kernel: [kh, kw] }), [t]);
      assertClose(gotK, wantK, { rtol: 1e-5, atol: 1e-5 * Math.sqrt(ho * wo) }, `adjoint ${what}`);
    },
    8,
  );
});

gpuTest("gpu: the Toeplitz depthwise convolution and its gradients match the direct one on the CPU", async () => {
  const x = rand([3, 4, 5, 4], 1, -1, 1), k = rand([4, 1, 11, 9], 2, -0.3, 0.3), ct = rand([3, 4, 5, 4], 3, -1, 1);
  await assertGpuLayerMatchesDirect("toeplitz", [5, 4], 4, [x, k, rand([4], 4, -1, 1), ct]);
});
