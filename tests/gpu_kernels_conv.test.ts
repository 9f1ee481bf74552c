/**
 * Convolution generators (implicit GEMM and direct depthwise) against a float64 reference: forward, input gradient
 * and weight gradient for random grouped / strided / dilated / asymmetrically padded convolutions, the ConvNeXt stem
 * and downsampling shapes, and depthwise 7×7 and 23×23 on small and multi-tile planes.
 *
 * Tolerance: |err| ≤ 2e-6 · Σ|products| + 1e-6 per output (a bound on f32 dot-product rounding).
 */
import fc from "fast-check";
import type { Conv2dParams } from "../kernels/conv2d.ts";
import { check, checkConv, gpuTest } from "./gpu_kernels_helpers.ts";

const paramsArb = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  G: fc.integer({ min: 1, max: 3 }),
  Cg: fc.integer({ min: 1, max: 3 }),
  Og: fc.integer({ min: 1, max: 3 }),
  H: fc.integer({ min: 3, max: 9 }),
  W: fc.integer({ min: 3, max: 9 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  sh: fc.integer({ min: 1, max: 2 }),
  sw: fc.integer({ min: 1, max: 2 }),
  dh: fc.integer({ min: 1, max: 2 }),
  dw: fc.integer({ min: 1, max: 2 }),
  pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
}).filter((r) =>
  r.H + r.pads[0] + r.pads[1] >= r.dh * (r.kh - 1) + 1 && r.W + r.pads[2] + r.pads[3] >= r.dw * (r.kw - 1) + 1
);

gpuTest("gpu kernels: implicit-GEMM conv2d, input grad and weight grad on random grouped convolutions", async () => {
  await check(paramsArb, async (r) => {
    const p: Conv2dParams = {
      stride: [r.sh, r.sw],
      padding: [[r.pads[0], r.pads[1]], [r.pads[2], r.pads[3]]],
      dilation: [r.dh, r.dw],
      groups: r.G,
    };
    await checkConv([r.N, r.G * r.Cg, r.H, r.W], [r.G * r.Og, r.Cg, r.kh, r.kw], p, { forceGemm: true });
  }, 6);
});

const plain = (s: [number, number], pad: [number, number], groups = 1): Conv2dParams => ({
  stride: s,
  padding: [[pad[0], pad[0]], [pad[1], pad[1]]],
  dilation: [1, 1],
  groups,
});

gpuTest("gpu kernels: ConvNeXt stem (2×16 stride 2×16) and 2×2 stride-2 downsampling", async () => {
  await checkConv([2, 1, 8, 70], [6, 1, 2, 16], plain([2, 16], [0, 0]), {}, "stem");
  await checkConv([2, 8, 6, 9], [12, 8, 2, 2], plain([2, 2], [0, 0]), {}, "downsample");
});

gpuTest(
  "gpu kernels: direct depthwise kernels (forward, flipped input grad, weight grad) on random shapes",
  async () => {
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 2 }),
      C: fc.integer({ min: 1, max: 5 }),
      H: fc.integer({ min: 2, max: 12 }),
      W: fc.integer({ min: 2, max: 24 }),
      k: fc.constantFrom(1, 3, 5),
      s: fc.constantFrom(1, 1, 2),
      d: fc.constantFrom(1, 1, 2),
    }).filter((r) => r.H + 2 * ((r.k - 1) >> 1) * r.d >= r.d * (r.k - 1) + 1);
    await check(arb, async (r) => {
      const pad = ((r.k - 1) >> 1) * r.d;
      const p: Conv2dParams = {
        stride: [r.s, r.s],
        padding: [[pad, pad], [pad, pad]],
        dilation: [r.d, r.d],
        groups: r.C,
      };
      await checkConv([r.N, r.C, r.H, r.W], [r.C, 1, r.k, r.k], p, {}, "depthwise");
    }, 8);
  },
);

gpuTest("gpu kernels: depthwise 23×23 on a small whole-width plane and 3×3 on a multi-tile plane", async () => {
  // 8×7 takes the whole-width path with padding taps pruned at generation time; 20×70 spans several tiles in both
  // directions (forward and weight gradient). llvmpipe compiles the unrolled 23×23 kernels slowly, hence few cases.
  for (const [H, W, k] of [[8, 7, 23], [20, 70, 3]]) {
    await checkConv([2, 3, H, W], [3, 1, k, k], plain([1, 1], [k >> 1, k >> 1], 3), {}, `dw${k}`);
  }
});
