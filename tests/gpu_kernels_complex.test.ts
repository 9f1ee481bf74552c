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
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";
import { applyMovement, contiguousView } from "../kernels/view.ts";
import { assertClose, check, f64Value, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";
import { rand } from "./_gradcheck.ts";
import { assertGpuLayerMatchesDirect, depthwiseLayer } from "./_conv_algorithms.ts";

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
  const expr = {
    inputs: ["f32" as const],
    nodes: [
      { op: "acc" as const },
      {
        op: "load" as const,
        input: 0,
        view: applyMovement(contiguousView([1, rows, 1]), "broadcast", { shape: [planes, rows, W] }),
      },
      { op: "add" as const, args: [0, 1] as const },
      { op: "const" as const, value: 0, dtype: "f32" as const },
      { op: "maximum" as const, args: [2, 3] as const },
    ],
    outputs: [4],
  };
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
  // The bias add rides on the inverse transform as its epilogue: no kernel of its own.
  const f32 = [x, k, bias, ct].map((t) => T.cast(t, "f32"));
  const { graph } = traceGraph(depthwiseLayer("spectral", [6, 5], 3) as never, f32);
  const { kernels } = fuseGraph(graph, { maxBindings: 8, acceptsView });
  const inverse = kernels.filter((kn) => kn.kind === "op" && kn.prim === "realDft" && kn.epilogue);
  assert.equal(inverse.length, 1, "one realDft kernel with the bias as its epilogue");
  await assertGpuLayerMatchesDirect("spectral", [6, 5], 3, [x, k, bias, ct]);
});
