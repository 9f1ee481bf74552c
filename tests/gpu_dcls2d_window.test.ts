/**
 * `dcls2d` on a map smaller than its grid, compiled for the WebGPU backend: the fused construction builds only the
 * taps that meet the input (its output window) and its backward reads only their cotangent, directly or, where the
 * convolution is spectral, as the window's spectrum; the output and the gradients of x, weight, P, SIG and bias match
 * the float64 CPU within 1e-4 (norm-wise and max-abs).
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { dcls2d, type DclsParams } from "../lib/dcls/layer.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { gpu, GPU_TEST, readTree } from "./_gpu_fixture.ts";
import { assertNormAndMax, rand } from "./_gradcheck.ts";
import { depthwiseDclsParams } from "./_dcls_layer.ts";

const cases = [
  { grid: 9, map: [4, 3], algorithm: "auto", built: [7, 5], what: "a 9×9 grid on a 4×3 map (a 7×5 window)" },
  {
    grid: 11,
    map: [16, 5],
    algorithm: "spectral",
    built: [22, 9],
    what: "an 11×11 grid on a 16×5 map, spectral (the 22-row spectrum of an 11×9 window)",
  },
] as const;

for (const { grid, map, algorithm, built, what } of cases) {
  Deno.test({
    name: `gpu: dcls2d with ${what} matches the float64 CPU`,
    ...GPU_TEST,
    fn: async () => {
      const c = 3, k = 5;
      const params = depthwiseDclsParams(3, c, k, grid, 4);
      const x = rand([2, c, ...map], 5), gy = rand([2, c, ...map], 6);
      const step = (p: DclsParams, x: T.Tensor, gy: T.Tensor) => {
        const [y, pull] = T.vjp(
          ((p: DclsParams, x: T.Tensor) => dcls2d(p, x, { dilatedKernelSize: grid, groups: c, algorithm })) as (
            ...a: never[]
          ) => T.Tensor,
          p,
          x,
        );
        const [dp, dx] = pull(gy) as [Required<DclsParams>, T.Tensor];
        return { y, dx, dweight: dp.weight, dP: dp.P, dSIG: dp.SIG, dbias: dp.bias };
      };
      const { graph } = T.traceGraph(step as never, [params, x, gy] as never);
      assert.deepEqual(graph.eqns.find((e) => e.prim === "dclsGauss")?.out.aval.shape, [c, 1, ...built]);
      assert.deepEqual(graph.eqns.find((e) => e.prim === "dclsGaussGrad")?.inputs[0].aval.shape, [c, 1, ...built]);
      const want = step(params, x, gy);
      const f32 = (t: T.Tensor) => T.cast(t, "f32");
      const p32: DclsParams = {
        weight: f32(params.weight),
        P: f32(params.P),
        SIG: f32(params.SIG),
        bias: f32(params.bias!),
      };
      const g = compileGpu(step, { device: gpu!, readback: "all" });
      try {
        const got = await readTree(await g(p32, f32(x), f32(gy))) as Record<string, Float32Array>;
        for (const [name, t] of Object.entries(want)) assertNormAndMax(got[name], t.toArray(), 1e-4, name);
      } finally {
        g.dispose();
      }
    },
  });
}
