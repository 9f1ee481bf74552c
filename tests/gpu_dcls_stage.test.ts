/**
 * A DCLS stage compiled for the WebGPU backend: three layers stacked, each with its own weight and bias, sharing P and
 * SIG (as the paper's stages do), on a map small enough for the per-element construction. The plan builds the three
 * kernels in one dispatch and takes their gradients back in one (`mergeConstructions`), or in as many as the bindings
 * allow; the output and the gradients of x, every weight and bias, P and SIG match the float64 CPU within 1e-4.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { dcls2d } from "../lib/dcls/layer.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { fuseGraph } from "../lib/gpu/fuse.ts";
import { acceptsView } from "../lib/gpu/plan_kernels.ts";
import { DCLS_GAUSS_GRAD_LAYERS, DCLS_GAUSS_LAYERS } from "../kernels/dcls_gauss_lanes.ts";
import { gpu, GPU_TEST, readTree } from "./_gpu_fixture.ts";
import { assertNormAndMax, rand } from "./_gradcheck.ts";
import { depthwiseDclsParams } from "./_dcls_layer.ts";

const C = 3, K = 5, GRID = 9, LAYERS = 3;

interface Stage {
  P: T.Tensor;
  SIG: T.Tensor;
  layers: { weight: T.Tensor; bias: T.Tensor }[];
}

const forward = (s: Stage, x: T.Tensor) =>
  s.layers.reduce((h, l) => dcls2d({ ...l, P: s.P, SIG: s.SIG }, h, { dilatedKernelSize: GRID, groups: C }), x);

const step = (s: Stage, x: T.Tensor, gy: T.Tensor) => {
  const [y, pull] = T.vjp(forward as (...a: never[]) => T.Tensor, s as never, x as never);
  const [ds, dx] = pull(gy) as [Stage, T.Tensor];
  return { y, dx, dP: ds.P, dSIG: ds.SIG, layers: ds.layers };
};

function stage(): Stage {
  const first = depthwiseDclsParams(3, C, K, GRID, 4);
  const layers = Array.from({ length: LAYERS }, (_, i) => {
    const p = i === 0 ? first : depthwiseDclsParams(10 + i, C, K, GRID, 4);
    return { weight: p.weight, bias: p.bias! };
  });
  return { P: first.P, SIG: first.SIG, layers };
}

Deno.test("gpu plan: a stage's constructions sharing P and SIG run in one dispatch each way, as the bindings allow", () => {
  const s = stage(), x = rand([2, C, 4, 3], 5);
  const { graph } = T.traceGraph(step as never, [s, x, x] as never);
  const merged = (maxBindings: number) =>
    fuseGraph(graph, { maxBindings, acceptsView }).kernels.flatMap((k) =>
      k.kind === "op" && k.prim.startsWith("dclsGauss") ? [`${k.prim}×${k.outs.length}`] : []
    );
  // Forward: three weights, P, SIG, three outputs; backward: three cotangents and weights, P, SIG, three outputs.
  assert.deepEqual(merged(16), [`${DCLS_GAUSS_LAYERS}×3`, `${DCLS_GAUSS_GRAD_LAYERS}×3`]);
  // Eight bindings: the forward still fits, the backward takes two layers (eight bindings) and then one.
  assert.deepEqual(merged(8), [`${DCLS_GAUSS_LAYERS}×3`, `${DCLS_GAUSS_GRAD_LAYERS}×2`, "dclsGaussGrad×1"]);
});

Deno.test({
  name: "gpu: a DCLS stage of three layers sharing P and SIG matches the float64 CPU",
  ...GPU_TEST,
  fn: async () => {
    const s = stage(), x = rand([2, C, 4, 3], 5), gy = rand([2, C, 4, 3], 6);
    const want = step(s, x, gy);
    const f32 = (t: T.Tensor) => T.cast(t, "f32");
    const s32: Stage = {
      P: f32(s.P),
      SIG: f32(s.SIG),
      layers: s.layers.map((l) => ({ weight: f32(l.weight), bias: f32(l.bias) })),
    };
    const g = compileGpu(step, { device: gpu!, readback: "all" });
    try {
      const got = await readTree(await g(s32, f32(x), f32(gy))) as unknown as {
        y: Float32Array;
        dx: Float32Array;
        dP: Float32Array;
        dSIG: Float32Array;
        layers: { weight: Float32Array; bias: Float32Array }[];
      };
      for (const name of ["y", "dx", "dP", "dSIG"] as const) {
        assertNormAndMax(got[name], want[name].toArray(), 1e-4, name);
      }
      want.layers.forEach((l, i) => {
        assertNormAndMax(got.layers[i].weight, l.weight.toArray(), 1e-4, `layer ${i} weight`);
        assertNormAndMax(got.layers[i].bias, l.bias.toArray(), 1e-4, `layer ${i} bias`);
      });
    } finally {
      g.dispose();
    }
  },
});
