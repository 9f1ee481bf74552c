/**
 * The complex correlation kernels (kernels/complex_correlate.ts) against the primitive's float64 CPU reference on
 * random geometries, paddings and both forms, and the spectral depthwise convolution compiled for the GPU (forward and
 * gradients) against the direct one on the CPU.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { registry } from "../lib/core/mod.ts";
import { fuseGraph } from "../lib/gpu/fuse.ts";
import { acceptsView } from "../lib/gpu/plan_kernels.ts";
import { traceGraph } from "../lib/core/compile.ts";
import { complexCorrelateKernel, complexCorrelateKernelGradKernel } from "../kernels/complex_correlate.ts";
import { realDftKernel, UNROLL_LIMIT } from "../kernels/real_dft.ts";
import { CORRELATE_DFT, correlateDftFits, correlateDftKernel } from "../kernels/correlate_dft.ts";
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";
import { applyMovement, contiguousView } from "../kernels/view.ts";
import { assertClose, check, f64Value, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";
import { rand } from "./_gradcheck.ts";
import { assertGpuLayerMatchesDirect, depthwiseLayer } from "./_conv_algorithms.ts";

/** The epilogue `acc + v` (then `max(·, 0)` with `relu`), v of shape `from` broadcast to the output's `to`. */
function addEpilogue(from: number[], to: number[], relu = false) {
  const nodes = [
    { op: "acc" as const },
    { op: "load" as const, input: 0, view: applyMovement(contiguousView(from), "broadcast", { shape: to }) },
    { op: "add" as const, args: [0, 1] as const },
    ...(relu
      ? [{ op: "const" as const, value: 0, dtype: "f32" as const }, { op: "maximum" as const, args: [2, 3] as const }]
      : []),
  ];
  return { inputs: ["f32" as const], nodes, outputs: [nodes.length - 1] };
}

gpuTest("gpu kernels: complexCorrelate and its kernel gradient match the float64 reference", async () => {
  await check(
    fc.record({
      R: fc.integer({ min: 1, max: 3 }),
      P: fc.integer({ min: 1, max: 5 }),
      W: fc.integer({ min: 1, max: 40 }),
      kw: fc.integer({ min: 1, max: 35 }),
      l: fc.nat(40),
      r: fc.nat(40),
      adjoint: fc.boolean(),
      seed: fc.nat(1000),
    }),
    async ({ R, P, W, kw, l, r, adjoint, seed }) => {
      const padding: [number, number] = [l % kw, r % kw];
      const wo = W + padding[0] + padding[1] - kw + 1;
      if (wo < 1) return;
      const p = { padding, adjoint };
      const z = Float32Array.from(pseudoRandom(R * P * 2 * W, seed));
      const k = Float32Array.from(pseudoRandom(P * 2 * kw, seed + 1));
      const g = Float32Array.from(pseudoRandom(R * P * 2 * wo, seed + 2));
      const y = registry.complexCorrelate.cpu([f64Value(z, [R, P, 2, W]), f64Value(k, [P, 2, kw])], p, {
        shape: [R, P, 2, wo],
        dtype: "f64",
      });
      const dk = registry.complexCorrelateKernelGrad.cpu(
        [f64Value(z, [R, P, 2, W]), f64Value(g, [R, P, 2, wo])],
        { ...p, kernelSize: kw },
        { shape: [P, 2, kw], dtype: "f64" },
      );
      const geo = { R, P, W, kw };
      const what = `R${R} P${P} W${W} kw${kw} pad ${padding} ${adjoint ? "adjoint" : "plain"}`;
      // Both forms (the sum over the taps, reading a window of the row, and over the row, reading a window of the
      // kernel), one row or two a thread (the second past the batch when R is odd).
      for (const form of ["taps", "signal"] as const) {
        for (const rows of [1, 2]) {
          const [gotY] = await runner.run(complexCorrelateKernel(geo, p, { form, rows }), [z, k]);
          assertClose(gotY, y, { rtol: 1e-4, atol: 1e-4 }, `forward ${what} ${form} ${rows} rows`);
        }
      }
      // The default tiles, and taps split over thread groups (the last group partly past the kernel).
      for (
        const tiles of [{}, { groups: 1, threads: 64, block: 4 }, { groups: 2, threads: 32 }, { groups: 4, taps: 9 }]
      ) {
        const [gotK] = await runner.run(complexCorrelateKernelGradKernel(geo, p, tiles), [z, g]);
        const tol = { rtol: 1e-4, atol: 1e-4 * Math.sqrt(R * wo) };
        assertClose(gotK, dk, tol, `kernel gradient ${what} ${JSON.stringify(tiles)}`);
      }
    },
    8,
  );
});

gpuTest("gpu kernels: the fused correlation and transform match the float64 composition", async () => {
  await check(
    fc.record({
      R: fc.integer({ min: 1, max: 3 }),
      C: fc.integer({ min: 1, max: 3 }),
      size: fc.integer({ min: 1, max: 20 }),
      extra: fc.nat(8),
      W: fc.integer({ min: 1, max: 34 }),
      kw: fc.integer({ min: 1, max: 25 }),
      l: fc.nat(30),
      r: fc.nat(30),
      adjoint: fc.boolean(),
      transpose: fc.boolean(),
      bias: fc.boolean(),
      seed: fc.nat(1000),
    }),
    async ({ R, C, size, extra, W, kw, l, r, adjoint, transpose, bias, seed }) => {
      const padding: [number, number] = [l % kw, r % kw];
      const wo = W + padding[0] + padding[1] - kw + 1;
      // The transform reads the correlation's 2F rows: the inverse (or the forward's transpose) of a length-N DFT.
      const length = size + extra + ((size + extra) % 2 === 0 ? 1 : 0), F = (length + 1) / 2, P = C * F;
      const dp = { length, size, inverse: !transpose, transpose };
      const cp = { padding, adjoint }, g = { R, P, W, kw, C };
      if (wo < 1 || !correlateDftFits(g, cp, dp)) return;
      const { rows } = dftMatrix(dp);
      const z = Float32Array.from(pseudoRandom(R * P * 2 * W, seed));
      const k = Float32Array.from(pseudoRandom(P * 2 * kw, seed + 1));
      const b = Float32Array.from(pseudoRandom(C, seed + 2));
      const corr = registry.complexCorrelate.cpu([f64Value(z, [R, P, 2, W]), f64Value(k, [P, 2, kw])], cp, {
        shape: [R, P, 2, wo],
        dtype: "f64",
      });
      const plain = registry.realDft.cpu([f64Value(corr, [R, C, 2 * F, wo])], dp, {
        shape: [R, C, rows, wo],
        dtype: "f64",
      });
      // The bias per channel, as the spectral convolution's epilogue.
      const want = bias ? Array.from(plain, (v, i) => v + b[Math.floor(i / (rows * wo)) % C]) : Array.from(plain);
      const expr = addEpilogue([1, C, 1, 1], [R, C, rows, wo]);
      const kernel = correlateDftKernel(g, cp, dp, bias ? { expr, leading: [R, C] } : undefined);
      const [got] = await runner.run(kernel, bias ? [z, k, b] : [z, k]);
      const scale = transpose ? 1 : 2 / length;
      const what = `R${R} C${C} F${F} W${W} kw${kw} pad ${padding} ${adjoint ? "adjoint" : "plain"} ${
        JSON.stringify(dp)
      }`;
      assertClose(got, want, { rtol: 1e-4, atol: 1e-4 * Math.sqrt(kw * 2 * F) * Math.max(scale, 1) }, what);
    },
    8,
  );
  // Past workgroup memory (2F·Wo floats over 4,096), or where the rows are not the transform's input, the plan keeps
  // the two kernels.
  const cp = { padding: [11, 11] as [number, number], adjoint: false };
  const big = { R: 1, P: 38, W: 62, kw: 23, C: 1 }, dp = { length: 75, size: 64, inverse: true, transpose: false };
  assert(!correlateDftFits(big, cp, dp));
  assert(correlateDftFits({ ...big, P: 22, W: 31 }, cp, { length: 43, size: 32, inverse: true, transpose: false }));
  assert(!correlateDftFits({ ...big, P: 21, W: 31 }, cp, { length: 43, size: 32, inverse: true, transpose: false }));
  assert.throws(() => correlateDftKernel(big, cp, dp), /not the transform's input, or exceed memory/);
});

Deno.test("complexCorrelateKernelGrad: tap groups must divide the threads", () => {
  const geo = { R: 1, P: 1, W: 8, kw: 5 }, p = { padding: [2, 2] as [number, number], adjoint: false };
  assert.throws(() => complexCorrelateKernelGradKernel(geo, p, { groups: 3, threads: 32 }), /3 tap groups/);
});

gpuTest("gpu kernels: realDft (centred and dense programs, loop form) matches the float64 reference", async () => {
  await check(
    fc.record({
      planes: fc.integer({ min: 1, max: 4 }),
      size: fc.integer({ min: 1, max: 40 }),
      extra: fc.nat(12),
      W: fc.integer({ min: 1, max: 9 }),
      inverse: fc.boolean(),
      transpose: fc.boolean(),
      form: fc.constantFrom("paired", "dense", "loop"),
      seed: fc.nat(1000),
    }),
    async ({ planes, size, extra, W, inverse, transpose, form, seed }) => {
      const length = size + extra + ((size + extra) % 2 === 0 ? 1 : 0);
      const p = { length, size, inverse, transpose };
      const { rows, cols } = dftMatrix(p);
      const x = Float32Array.from(pseudoRandom(planes * cols * W, seed));
      const want = registry.realDft.cpu([f64Value(x, [planes, cols, W])], p, {
        shape: [planes, rows, W],
        dtype: "f64",
      });
      const kernelForm = form === "loop" ? { unroll: false } : { unroll: true, program: form };
      const [got] = await runner.run(realDftKernel(planes, W, p, kernelForm), [x]);
      const scale = inverse === transpose ? 1 : 2 / length;
      const what = `${planes}x${cols}x${W} → ${rows} ${JSON.stringify(p)} ${form}`;
      assertClose(got, want, { rtol: 1e-4, atol: 1e-5 * scale * Math.sqrt(cols) }, what);
    },
    12,
  );
  // The automatic choice unrolls exactly up to the limit.
  const big = { length: 129, size: 128, inverse: false, transpose: false };
  const small = { length: 45, size: 32, inverse: true, transpose: true };
  assert(dftMatrix(big).rows * dftMatrix(big).cols > UNROLL_LIMIT);
  assert(realDftKernel(2, 3, big).dispatches[0].code.includes("turn_cos_sin"));
  assert(realDftKernel(2, 3, small).dispatches[0].code.includes("fma(-"));
  assert(!realDftKernel(2, 3, small).dispatches[0].code.includes("turn_cos_sin"));
});

gpuTest("gpu kernels: realDft applies an elementwise epilogue (unrolled and loop forms)", async () => {
  const planes = 3, W = 5, p = { length: 9, size: 6, inverse: true, transpose: false };
  const { rows, cols } = dftMatrix(p);
  const x = Float32Array.from(pseudoRandom(planes * cols * W, 5)), bias = Float32Array.from(pseudoRandom(rows, 6));
  // y = max(acc + bias[row], 0)
  const expr = addEpilogue([1, rows, 1], [planes, rows, W], true);
  const plain = registry.realDft.cpu([f64Value(x, [planes, cols, W])], p, {
    shape: [planes, rows, W],
    dtype: "f64",
  });
  const want = Array.from(plain, (v, i) => Math.max(v + bias[Math.floor(i / W) % rows], 0));
  for (const unroll of [true, false]) {
    const [got] = await runner.run(realDftKernel(planes, W, p, { unroll }, { expr, leading: [planes] }), [x, bias]);
    assertClose(got, want, { rtol: 1e-5, atol: 1e-5 }, unroll ? "unrolled" : "loop");
  }
});

gpuTest("gpu: the spectral depthwise convolution and its gradients match the direct one on the CPU", async () => {
  const x = rand([2, 3, 17, 12], 1, -1, 1), k = rand([3, 1, 13, 11], 2, -0.3, 0.3), ct = rand([2, 3, 17, 12], 3, -1, 1);
  const bias = rand([3], 4, -1, 1);
  // Each correlation and the transform after it are one kernel (the forward's and the input gradient's), and the bias
  // add rides on the forward's as its epilogue: no kernel of its own.
  const f32 = [x, k, bias, ct].map((t) => T.cast(t, "f32"));
  const { graph } = traceGraph(depthwiseLayer("spectral", [6, 5], 3) as never, f32);
  const { kernels } = fuseGraph(graph, { maxBindings: 8, acceptsView });
  const prims = kernels.map((kn) => kn.kind === "op" ? kn.prim : kn.kind);
  assert.equal(prims.filter((p) => p === "complexCorrelate").length, 0, prims.join());
  assert.equal(prims.filter((p) => p === "realDft").length, 2, "the transforms of the input and the cotangent");
  const fused = kernels.filter((kn) => kn.kind === "op" && kn.prim === CORRELATE_DFT);
  assert.equal(fused.length, 2);
  assert.equal(fused.filter((kn) => kn.kind === "op" && kn.epilogue).length, 1, "the bias on the forward's");
  await assertGpuLayerMatchesDirect("spectral", [6, 5], 3, [x, k, bias, ct]);
});
