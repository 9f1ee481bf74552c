/**
 * The direct depthwise kernels (kernels/depthwise*.ts) against a float64 reference: forward, input gradient and weight
 * gradient on maps smaller than the kernel (3×2, 8×7, 5×9 with 7×7 … 23×23 kernels, the DCLS small-stage regime),
 * through both the whole-plane and the tiled kernels, with channel multipliers (FastViT's channel-doubling strided
 * patch embeddings) and with workgroup-memory limits small enough to force several sample chunks. Also checks that
 * the whole-plane kernels do work proportional to the taps that reach the plane, and write exact zeros for the
 * weight-gradient taps that never do.
 *
 * Tolerance: |err| ≤ 2e-6 · Σ|products| + 1e-6 per output (a bound on f32 dot-product rounding).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Conv2dParams, type ConvGeometry, convGeometry } from "../kernels/conv2d.ts";
import {
  depthwiseForward,
  depthwiseForwardTiles,
  depthwiseInputGrad,
  depthwiseInputGradTiles,
  depthwiseWeightGrad,
  depthwiseWeightGradTiles,
  type DirectTiles,
  type WeightGradTiles,
} from "../kernels/depthwise.ts";
import { forwardCorrelation, inputGradCorrelation, tapHits, tapWindow } from "../kernels/depthwise_geometry.ts";
import { choosePlane } from "../kernels/depthwise_plane.ts";
import { chooseTiled } from "../kernels/depthwise_tiled.ts";
import { chooseTiledWeightGrad } from "../kernels/depthwise_tiled_dw.ts";
import { DEFAULT_LIMITS, type KernelLimits } from "../kernels/program.ts";
import { kernelLimits } from "../lib/gpu/device.ts";
import { assertConvRef, check, convReference, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";

interface Case {
  N: number;
  C: number;
  M: number;
  H: number;
  W: number;
  k: number;
  s: number;
}

const geometry = (r: Case): ConvGeometry => {
  const p: Conv2dParams = {
    stride: [r.s, r.s],
    padding: [[r.k >> 1, r.k >> 1], [r.k >> 1, r.k >> 1]],
    dilation: [1, 1],
    groups: r.C,
  };
  return convGeometry([r.N, r.C, r.H, r.W], [r.C * r.M, 1, r.k, r.k], p);
};

interface Choice {
  fwd?: DirectTiles;
  dx?: DirectTiles;
  dw?: WeightGradTiles;
}

/** Runs forward, input gradient and weight gradient of one geometry and compares with the reference. */
async function checkDepthwise(g: ConvGeometry, limits: KernelLimits, choice: Choice = {}, what = "") {
  const x = pseudoRandom(g.N * g.C * g.H * g.W, 3), w = pseudoRandom(g.O * g.kh * g.kw, 4);
  const dy = pseudoRandom(g.N * g.O * g.Ho * g.Wo, 5);
  const ref = convReference(g, x, w, dy);
  const tag = `${what} N${g.N} C${g.C} O${g.O} ${g.H}×${g.W} k${g.kh} s${g.sh} ${JSON.stringify(choice)}`;
  const [y] = await runner.run(depthwiseForward(g, limits, choice.fwd), [x, w]);
  assertConvRef(y, ref.y, `y ${tag}`, true);
  const [dx] = await runner.run(depthwiseInputGrad(g, limits, choice.dx), [dy, w]);
  assertConvRef(dx, ref.dx, `dx ${tag}`, true);
  const [dwt] = await runner.run(depthwiseWeightGrad(g, limits, choice.dw), [x, dy]);
  assertConvRef(dwt, ref.dw, `dw ${tag}`, true);
}

gpuTest("depthwise kernels: large kernels on maps smaller than the kernel match the reference", async () => {
  // One shader per (shape, kernel) and llvmpipe compiles the unrolled ones slowly: few runs, small sizes.
  const arb = fc.record({
    N: fc.integer({ min: 1, max: 3 }),
    C: fc.integer({ min: 1, max: 3 }),
    M: fc.constant(1),
    hw: fc.constantFrom([3, 2], [8, 7], [5, 9]),
    k: fc.constantFrom(7, 11, 23),
    s: fc.constant(1),
  }).map(({ hw, ...r }) => ({ ...r, H: hw[0], W: hw[1] }));
  await check(arb, (r) => checkDepthwise(geometry(r), DEFAULT_LIMITS, {}, "plane"), 5);
});

gpuTest(
  "depthwise kernels: the DCLS 8×7 stage with a 23×23 kernel through both kernels and chunked samples",
  async () => {
    const g = geometry({ N: 3, C: 2, M: 1, H: 8, W: 7, k: 23, s: 1 });
    assert.equal(depthwiseForwardTiles(g)?.kind, "plane");
    assert.equal(depthwiseWeightGradTiles(g)?.kind, "plane");
    await checkDepthwise(g, DEFAULT_LIMITS, {}, "plane");
    // 2 KiB of workgroup memory: one channel and one sample per workgroup, one sample chunk per workgroup (partials).
    const tiny = { maxWorkgroupStorage: 2048, maxInvocations: 256 };
    const t = depthwiseWeightGradTiles(g, tiny);
    assert.ok(t?.kind === "plane" && t.chunks > 1, `expected several sample chunks, got ${JSON.stringify(t)}`);
    await checkDepthwise(g, tiny, {}, "tiny");
    const fwd = chooseTiled(forwardCorrelation(g), DEFAULT_LIMITS)!, dw = chooseTiledWeightGrad(g, DEFAULT_LIMITS)!;
    await checkDepthwise(g, DEFAULT_LIMITS, { fwd: { kind: "tiled", ...fwd }, dw: { kind: "tiled", ...dw } }, "tiled");
    // The weight gradient walking row bands (a band past the tile's last row, kernel rows past the kernel).
    for (const [RK, PG] of [[4, 3], [2, 4]]) {
      await checkDepthwise(g, DEFAULT_LIMITS, { dw: { kind: "tiled", ...dw, RK, PG, bands: true } }, "bands");
    }
    // The unrolled tiled correlation (padding rows read as staged zeros) in both directions.
    const dx = chooseTiled(inputGradCorrelation(g)!, DEFAULT_LIMITS)!;
    await checkDepthwise(g, DEFAULT_LIMITS, {
      fwd: { kind: "tiled", ...fwd, unroll: true },
      dx: { kind: "tiled", ...dx, unroll: true },
    }, "unrolled");
    // Ragged blocks: 3 rows per thread over 8 rows, 2 of 5 samples per workgroup, 3 staged batches per chunk.
    const g5 = geometry({ N: 5, C: 3, M: 1, H: 8, W: 7, k: 23, s: 1 });
    await checkDepthwise(g5, DEFAULT_LIMITS, {
      fwd: { kind: "plane", RH: 3, NB: 2, CPW: 2 },
      dw: { kind: "plane", RK: 2, PG: 3, NB: 2, chunks: 1 },
    }, "ragged");
  },
);

gpuTest("depthwise kernels: channel multiplier 2, stride 1 and 2, whole-plane and tiled", async () => {
  // FastViT's patch embeddings: groups = C, O = 2C, stride 2 (gathered input gradient); 3×40 is too wide for the
  // whole-plane kernels at stride 1, so it also covers the tiled correlation summing two dy channels.
  for (const r of [{ H: 6, W: 9, k: 7, s: 2 }, { H: 5, W: 6, k: 3, s: 1 }, { H: 3, W: 40, k: 3, s: 1 }]) {
    await checkDepthwise(geometry({ N: 2, C: 2, M: 2, ...r }), DEFAULT_LIMITS, {}, "multiplier");
  }
});

gpuTest(
  "depthwise kernels: random channelwise geometries (stride, dilation, asymmetric padding, multiplier)",
  async () => {
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 2 }),
      C: fc.integer({ min: 1, max: 3 }),
      M: fc.integer({ min: 1, max: 3 }),
      H: fc.integer({ min: 1, max: 9 }),
      W: fc.integer({ min: 1, max: 40 }),
      kh: fc.integer({ min: 1, max: 7 }),
      kw: fc.integer({ min: 1, max: 7 }),
      s: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 2, maxLength: 2 }),
      d: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 2, maxLength: 2 }),
      pads: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 4, maxLength: 4 }),
      tiny: fc.boolean(),
      unroll: fc.boolean(),
    }).filter((r) =>
      r.H + r.pads[0] + r.pads[1] >= r.d[0] * (r.kh - 1) + 1 && r.W + r.pads[2] + r.pads[3] >= r.d[1] * (r.kw - 1) + 1
    );
    await check(arb, async (r) => {
      const g = convGeometry([r.N, r.C, r.H, r.W], [r.C * r.M, 1, r.kh, r.kw], {
        stride: [r.s[0], r.s[1]],
        padding: [[r.pads[0], r.pads[1]], [r.pads[2], r.pads[3]]],
        dilation: [r.d[0], r.d[1]],
        groups: r.C,
      });
      // A small workgroup-memory limit forces one-sample workgroups, several chunks and the tiled fallbacks.
      const limits = r.tiny ? { maxWorkgroupStorage: 4096, maxInvocations: 64 } : DEFAULT_LIMITS;
      const fwd = depthwiseForwardTiles(g, limits), dx = depthwiseInputGradTiles(g, limits);
      if (!fwd || !depthwiseWeightGradTiles(g, limits)) return;
      // Unrolled rows where the tiled correlation is chosen (strides and dilations reuse rows differently).
      const unrolled = (t: DirectTiles | null) => t && (t.kind === "tiled" && r.unroll ? { ...t, unroll: true } : t);
      // Likewise the weight gradient walks row bands where it is tiled.
      const dwt = depthwiseWeightGradTiles(g, limits)!;
      const dw = dwt.kind === "tiled" && r.unroll ? { ...dwt, bands: true } : dwt;
      await checkDepthwise(g, limits, { fwd: unrolled(fwd)!, dx: unrolled(dx) ?? undefined, dw }, "random");
    }, 6);
  },
);

Deno.test("depthwise kernels: whole-plane work is proportional to the taps that reach the plane", () => {
  const fmas = (code: string) => code.split("fma(").length - 1;
  for (const [H, W, k] of [[8, 7, 23], [16, 15, 23], [3, 2, 11], [8, 7, 7]]) {
    const g = geometry({ N: 64, C: 8, M: 1, H, W, k, s: 1 });
    const c = forwardCorrelation(g);
    const t = choosePlane(c, DEFAULT_LIMITS)!;
    // Unrolled FMAs per thread: RH rows × the (output column, kernel column) pairs that read inside the plane.
    let pairs = 0;
    for (let kx = 0; kx < k; kx++) for (let j = 0; j < W; j++) pairs += tapHits(j, kx, 1, 1, k >> 1, W) ? 1 : 0;
    assert.equal(fmas(depthwiseForward(g).dispatches[0].code), t.RH * pairs, `${H}×${W} k${k}`);
    assert.ok(pairs <= W * Math.min(W, k), `${H}×${W} k${k}: ${pairs} column pairs`);
    // The weight gradient computes only the (2H−1)×(2W−1) window of a kernel larger than the plane.
    const [ky0, ky1] = tapWindow(H, H, 1, 1, k, k >> 1), [kx0, kx1] = tapWindow(W, W, 1, 1, k, k >> 1);
    assert.equal(ky1 - ky0 + 1, Math.min(k, 2 * H - 1));
    assert.equal(kx1 - kx0 + 1, Math.min(k, 2 * W - 1));
  }
});

Deno.test("depthwise choosers: the H100 sweep's tiles for the reference stages, small ones for software adapters", () => {
  const h100 = { maxWorkgroupStorage: 49152, maxInvocations: 256 };
  const at = (C: number, H: number, W: number, k: number, s = 1, M = 1) => geometry({ N: 64, C, M, H, W, k, s });
  const threads = (t: DirectTiles | null) => (t?.kind === "tiled" ? t.TWt * t.THt * t.CPW : -1);
  // 23×23 at 64×62: looped rows (unrolled, the code outgrows the instruction cache), 256 threads.
  const large = depthwiseForwardTiles(at(96, 64, 62, 23), h100);
  assert.ok(large?.kind === "tiled" && !large.unroll && threads(large) === 256, JSON.stringify(large));
  // Its weight gradient: one kernel row and twelve columns per thread, four row groups, one run of all 64 images.
  const largeDw = depthwiseWeightGradTiles(at(96, 64, 62, 23), h100);
  assert.ok(
    largeDw?.kind === "tiled" && largeDw.RK === 1 && largeDw.VK === 12 && largeDw.PG === 4 && largeDw.NB === 64,
    JSON.stringify(largeDw),
  );
  // 7×7 at 64×62 and at 32×31 (where it beats the whole-plane kernel): unrolled rows, 128 threads.
  for (const g of [at(96, 64, 62, 7), at(192, 32, 31, 7)]) {
    const t = depthwiseForwardTiles(g, h100);
    assert.ok(t?.kind === "tiled" && t.unroll && threads(t) === 128, JSON.stringify(t));
  }
  // Strided channel-doubling patch embedding of a wide map: tiled, two channels per workgroup.
  const patch = depthwiseForwardTiles(at(64, 64, 62, 7, 2, 2), h100);
  assert.ok(patch?.kind === "tiled" && patch.CPW === 2, JSON.stringify(patch));
  // The 8×7 stage's 23×23 weight gradient (a 15×13 window: every x row meets every dy row through one window row)
  // takes the diagonal mapping, groups of eight threads per dy row; the 7×7 one keeps a window row pair per thread.
  const diag = depthwiseWeightGradTiles(at(768, 8, 7, 23), h100);
  assert.ok(diag?.kind === "plane" && diag.diagonal === true && diag.RK === 1 && diag.PG === 32, JSON.stringify(diag));
  const rows = depthwiseWeightGradTiles(at(768, 8, 7, 7), h100);
  assert.ok(rows?.kind === "plane" && !rows.diagonal && rows.RK === 2, JSON.stringify(rows));
  // Narrow maps keep the whole-plane kernel, a row per thread, with samples for about 64 threads (at least four),
  // sixteen where every input reaches every output (23×23 at 8×7: its 15×13 window).
  for (const [g, NB] of [[at(768, 8, 7, 23), 16], [at(768, 8, 7, 7), 8], [at(384, 16, 15, 7), 4]] as const) {
    const t = depthwiseForwardTiles(g, h100);
    assert.ok(t?.kind === "plane" && t.RH === 1 && t.NB === NB && t.CPW === 1, JSON.stringify(t));
  }
  // A software adapter sizes tiles for 16 KiB and 64 invocations.
  const soft = kernelLimits(
    { description: "llvmpipe (LLVM 15.0.6, 256 bits)", isFallback: false, limits: {} } as never,
  );
  assert.deepEqual(soft, { maxWorkgroupStorage: 16384, maxInvocations: 64 });
  assert.ok(threads(depthwiseForwardTiles(at(96, 64, 62, 23), soft)) <= 64);
});
