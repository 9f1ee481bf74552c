/**
 * The implicit-GEMM convolution paths against a float64 reference: strided input gradients by output phase (kernel
 * larger or smaller than the stride, padding, groups), the one-GEMM input gradient when kernel == stride (patchify
 * stems and downsampling, planes the windows do not cover exactly), pointwise convolutions read as vec4s, channel
 * multiplier 2 (FastViT's patch embedding), and the batch folded into the GEMM columns. Forward and weight gradient
 * run on every case too, so the shared index math is checked both ways.
 *
 * Tolerance: |err| ≤ 2e-6 · Σ|products| + 1e-6 per output (a bound on f32 dot-product rounding).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Conv2dParams, ConvOptions } from "../kernels/conv2d.ts";
import type { KernelProgram } from "../kernels/program.ts";
import { TILES_128 } from "../kernels/gemm.ts";
import { check, checkConv as checkConvRef, gpuTest } from "./gpu_kernels_helpers.ts";

/**
 * Runs forward, input gradient and weight gradient of one convolution; returns the input-gradient program. Every
 * element of the input gradient must be written, the pixels no window covers included.
 */
function checkConv(
  xs: number[],
  ws: number[],
  p: Conv2dParams,
  opts: ConvOptions = {},
  what = "",
): Promise<KernelProgram> {
  return checkConvRef(xs, ws, p, opts, what, true);
}

/** Small tiles: llvmpipe compiles the fully unrolled 128-wide GEMMs slowly (~1.5 s each), these in ~0.3 s. */
const SMALL: ConvOptions = { forceGemm: true, tiles: { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 } };

function params(s: [number, number], pads: number[], groups: number, d: [number, number] = [1, 1]): Conv2dParams {
  return { stride: s, padding: [[pads[0], pads[1]], [pads[2], pads[3]]], dilation: d, groups };
}

const validPads = (H: number, W: number, kh: number, kw: number, pads: number[]) =>
  H + pads[0] + pads[1] >= kh && W + pads[2] + pads[3] >= kw;

gpuTest("gpu kernels: strided input gradient by output phase (k ≠ stride, padding, groups)", async () => {
  const arb = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    G: fc.integer({ min: 1, max: 2 }),
    Cg: fc.integer({ min: 1, max: 5 }),
    Og: fc.integer({ min: 1, max: 4 }),
    H: fc.integer({ min: 3, max: 9 }),
    W: fc.integer({ min: 3, max: 9 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 2, max: 3 }),
    pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }),
  }).filter((r) => validPads(r.H, r.W, r.kh, r.kw, r.pads) && (r.kh !== r.sh || r.kw !== r.sw));
  await check(arb, async (r) => {
    const p = params([r.sh, r.sw], r.pads, r.G);
    const xs = [r.N, r.G * r.Cg, r.H, r.W], ws = [r.G * r.Og, r.Cg, r.kh, r.kw];
    const dx = await checkConv(xs, ws, p, SMALL, "phases");
    // One dispatch per phase that has pixels (zero-filled when no tap reaches it).
    assert.equal(dx.dispatches.length, Math.min(r.sh, r.H) * Math.min(r.sw, r.W), "one dispatch per phase");
  }, 4);
  // ConvFormer's 3×3 stride-2 downsampling in miniature.
  await checkConv([2, 8, 8, 7], [12, 8, 3, 3], params([2, 2], [1, 1, 1, 1], 1), SMALL, "3×3 stride 2");
});

gpuTest("gpu kernels: kernel == stride input gradient is one GEMM over patches (padding, odd planes)", async () => {
  const arb = fc.record({
    N: fc.integer({ min: 1, max: 3 }),
    G: fc.integer({ min: 1, max: 2 }),
    Cg: fc.integer({ min: 1, max: 6 }),
    Og: fc.integer({ min: 1, max: 6 }),
    H: fc.integer({ min: 2, max: 10 }),
    W: fc.integer({ min: 2, max: 10 }),
    k: fc.tuple(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 2, max: 4 })),
    pads: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 4, maxLength: 4 }),
  }).filter((r) => validPads(r.H, r.W, r.k[0], r.k[1], r.pads));
  await check(arb, async (r) => {
    const [kh, kw] = r.k;
    const p = params([kh, kw], r.pads, r.G);
    const xs = [r.N, r.G * r.Cg, r.H, r.W], ws = [r.G * r.Og, r.Cg, kh, kw];
    const dx = await checkConv(xs, ws, p, SMALL, "patch");
    assert.equal(dx.dispatches.length, 1, "one GEMM");
  }, 4);
  // ConvNeXt's downsampling on a plane the 2×2 windows do not cover (31 wide) and the stem's 2×16 windows.
  await checkConv([2, 8, 8, 31], [12, 8, 2, 2], params([2, 2], [0, 0, 0, 0], 1), SMALL, "downsample 8×31");
  // The stem goes to the GEMM (12 outputs of one input channel fill its rows), here with the default tiles.
  await checkConv([2, 1, 8, 70], [12, 1, 2, 16], params([2, 16], [0, 0, 0, 0], 1), {}, "stem");
});

gpuTest("gpu kernels: pointwise (1×1) convolutions with vec4 operands, and the batch folded into columns", async () => {
  // 4×8 planes (vec4 along pixels) and 3×5 ones (scalar), channel counts with and without vec4 rows, groups.
  for (const [N, C, O, H, W, G] of [[3, 8, 12, 4, 8, 1], [2, 6, 8, 3, 5, 2], [5, 16, 4, 1, 4, 4]]) {
    await checkConv([N, C, H, W], [O, C / G, 1, 1], params([1, 1], [0, 0, 0, 0], G), SMALL, "pointwise");
  }
  // Padding or a stride makes the im2col matrix differ from the input: the gather path.
  await checkConv([2, 8, 4, 4], [8, 8, 1, 1], params([2, 1], [1, 0, 0, 1], 1), SMALL, "padded strided 1×1");
  // Small planes with many images: 3×3 on 3×3 planes, every GEMM column tile spans several images.
  await checkConv([9, 4, 3, 3], [8, 4, 3, 3], params([1, 1], [1, 1, 1, 1], 1), SMALL, "3×3 on 3×3");
});

gpuTest("gpu kernels: channel multiplier 2 (groups = C, O = 2C) forward, input and weight gradients", async () => {
  const arb = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    C: fc.integer({ min: 1, max: 4 }),
    H: fc.integer({ min: 4, max: 12 }),
    W: fc.integer({ min: 4, max: 12 }),
    k: fc.constantFrom(3, 7),
    s: fc.constantFrom(1, 2),
  });
  await check(arb, async (r) => {
    const pad = r.k >> 1;
    const p = params([r.s, r.s], [pad, pad, pad, pad], r.C);
    await checkConv([r.N, r.C, r.H, r.W], [2 * r.C, 1, r.k, r.k], p, {}, "multiplier 2");
    await checkConv([r.N, r.C, r.H, r.W], [2 * r.C, 1, r.k, r.k], p, SMALL, "multiplier 2 (GEMM)");
  }, 4);
});

gpuTest("gpu kernels: dilated and stride-1 input gradients keep the implicit GEMM", async () => {
  await checkConv([2, 6, 7, 9], [4, 3, 3, 2], params([2, 1], [1, 1, 0, 1], 2, [2, 1]), SMALL, "dilated strided");
  const dx = await checkConv([2, 4, 6, 6], [8, 4, 3, 3], params([1, 1], [1, 1, 1, 1], 1), SMALL, "3×3 same");
  assert.equal(dx.dispatches.length, 1);
});

gpuTest(
  "gpu kernels: convolutions on the large default tiles (128×128, K-step 16, nested workgroup tiles)",
  async () => {
    // Ragged in every GEMM dimension so the tiles' bounds checks are exercised: M, N and K not multiples of the tile.
    const opts = { forceGemm: true, tiles: TILES_128 };
    await checkConv([1, 19, 9, 11], [21, 19, 3, 3], params([1, 1], [1, 1, 1, 1], 1), opts, "128×128");
  },
);
