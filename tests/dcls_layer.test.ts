/** DCLS layers: initialisation (reference and paper), the 2-D/1-D convolutions and the optional position clamp. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { construct, construct1d } from "../lib/dcls/construct.ts";
import { pruneKernel } from "../lib/dcls/prune.ts";
import { clampPositions, dcls1d, dcls2d, initDcls1d, initDcls2d } from "../lib/dcls/layer.ts";
import { rand, relError } from "./_gradcheck.ts";
import { depthwiseDclsParams } from "./_dcls_layer.ts";

const stats = (t: T.Tensor) => {
  const a = Array.from(t.toArray());
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  return { mean, std, min: Math.min(...a), max: Math.max(...a) };
};

Deno.test("initDcls2d (reference): Kaiming-uniform weight, N(0, 0.5²) positions clamped per axis, SIG 0.23, bias ±1/√fan_in", () => {
  const [c, k] = [64, 26];
  const p = initDcls2d(T.randomKey(0), {
    inChannels: c,
    outChannels: c,
    groups: c,
    kernelCount: k,
    dilatedKernelSize: [23, 3],
  });
  assert.deepEqual(p.weight.shape, [c, 1, k]);
  assert.deepEqual(p.P.shape, [2, c, 1, k]);
  assert.deepEqual(p.SIG!.shape, [2, c, 1, k]);
  assert.deepEqual(p.bias!.shape, [c]);
  const bound = 1 / Math.sqrt(k);
  const w = stats(p.weight);
  assert.ok(w.min >= -bound && w.max <= bound && w.max > 0.9 * bound && w.min < -0.9 * bound, JSON.stringify(w));
  assert.ok(Math.abs(w.std - bound / Math.sqrt(3)) < 0.05 * bound, `weight std ${w.std}`);
  const rows = T.slice(p.P, [0], [1]), cols = T.slice(p.P, [1], [2]);
  const r = stats(rows), q = stats(cols);
  // P[0] pairs with D0 = 23 (limit 11, never reached at σ = 0.5); P[1] with D1 = 3 (limit 1, clamping visible).
  assert.ok(Math.abs(r.std - 0.5) < 0.05 && Math.abs(r.mean) < 0.05, JSON.stringify(r));
  assert.ok(q.min === -1 && q.max === 1, JSON.stringify(q));
  assert.ok(p.SIG!.toArray().every((v) => Math.abs(v - 0.23) < 1e-7));
  const b = stats(p.bias!);
  assert.ok(b.min >= -bound && b.max <= bound && b.std > 0.3 * bound, JSON.stringify(b));
  // Same key, same parameters.
  const again = initDcls2d(T.randomKey(0), {
    inChannels: c,
    outChannels: c,
    groups: c,
    kernelCount: k,
    dilatedKernelSize: [23, 3],
  });
  assert.deepEqual(again.P.toArray(), p.P.toArray());
});

Deno.test("initDcls2d: fan_in counts inputs per group; max starts SIG at 0; v1/v0 have no SIG; bias optional", () => {
  const p = initDcls2d(T.randomKey(1), {
    inChannels: 8,
    outChannels: 4,
    groups: 2,
    kernelCount: 5,
    dilatedKernelSize: 7,
    version: "max",
    bias: false,
    dtype: "f64",
  });
  assert.deepEqual(p.weight.shape, [4, 4, 5]);
  assert.equal(p.weight.dtype, "f64");
  assert.ok(stats(p.weight).max <= 1 / Math.sqrt(20));
  assert.ok(p.SIG!.toArray().every((v) => v === 0));
  assert.equal(p.bias, undefined);
  for (const version of ["v1", "v0"] as const) {
    assert.equal(
      initDcls2d(T.randomKey(2), { inChannels: 2, outChannels: 2, kernelCount: 3, dilatedKernelSize: 5, version }).SIG,
      undefined,
    );
  }
  assert.throws(
    () =>
      initDcls2d(T.randomKey(0), { inChannels: 3, outChannels: 4, groups: 2, kernelCount: 3, dilatedKernelSize: 5 }),
    /groups/,
  );
});

Deno.test("initDcls2d (paper re-initialisation): weight N(0, 0.02²), bias 0", () => {
  const p = initDcls2d(T.randomKey(3), {
    inChannels: 96,
    outChannels: 96,
    groups: 96,
    kernelCount: 26,
    dilatedKernelSize: 23,
    init: "paper",
  });
  const w = stats(p.weight);
  assert.ok(Math.abs(w.std - 0.02) < 0.002 && Math.abs(w.mean) < 0.002, JSON.stringify(w));
  assert.ok(p.bias!.toArray().every((v) => v === 0));
  assert.ok(stats(p.P).max <= 11);
});

Deno.test("dcls2d: default padding keeps the size at stride 1, stride 2 halves it, gradients reach every parameter", () => {
  const params = initDcls2d(T.randomKey(4), {
    inChannels: 4,
    outChannels: 4,
    groups: 4,
    kernelCount: 6,
    dilatedKernelSize: 9,
    dtype: "f64",
  });
  const x = rand([2, 4, 10, 12], 1);
  assert.deepEqual(dcls2d(params, x, { dilatedKernelSize: 9, groups: 4 }).shape, [2, 4, 10, 12]);
  assert.deepEqual(dcls2d(params, x, { dilatedKernelSize: 9, groups: 4, stride: 2 }).shape, [2, 4, 5, 6]);
  const g = T.grad((p: typeof params) => T.sum(T.square(dcls2d(p, x, { dilatedKernelSize: 9, groups: 4 }))))(
    params,
  ) as typeof params;
  for (const [name, t] of Object.entries(g)) {
    assert.ok(Array.from(t!.toArray()).some((v) => v !== 0), `${name} gradient is zero`);
  }
});

Deno.test("dcls1d: a 1-D DCLS conv is conv1d with the constructed kernel; P is [1, C_out, C_in/g, K]", () => {
  const params = initDcls1d(T.randomKey(5), {
    inChannels: 3,
    outChannels: 6,
    kernelCount: 4,
    dilatedKernelSize: 11,
    dtype: "f64",
  });
  assert.deepEqual(params.P.shape, [1, 6, 3, 4]);
  const x = rand([2, 3, 20], 2);
  const y = dcls1d(params, x, { dilatedKernelSize: 11 });
  assert.deepEqual(y.shape, [2, 6, 20]);
  const kernel = construct1d(params.weight, params.P, params.SIG, { version: "gauss", dilatedKernelSize: 11 });
  const want = T.conv1d(x, kernel, { padding: 5 }, params.bias);
  assert.ok(relError(y.toArray(), want.toArray()) < 1e-14);
});

Deno.test("clampPositions clamps P[a] to ±floor(D_a/2), per axis, and rejects a P of the wrong rank", () => {
  const P = T.tensor([[-9, 0.5, 9], [-2.5, 1.2, 3]], { dtype: "f64" });
  const P4 = T.reshape(P, [2, 1, 1, 3]);
  assert.deepEqual(Array.from(clampPositions(P4, [7, 5]).toArray()), [-3, 0.5, 3, -2, 1.2, 2]);
  assert.deepEqual(Array.from(clampPositions(T.reshape(T.slice(P, [0], [1]), [1, 1, 1, 3]), 5).toArray()), [
    -2,
    0.5,
    2,
  ]);
  assert.throws(() => clampPositions(T.zeros([3, 1, 1, 2]), 5), /clampPositions/);
});

Deno.test("pruneKernel keeps exactly the cells with |value| ≥ threshold, as lists and as a dense kernel", () => {
  const params = initDcls2d(T.randomKey(6), {
    inChannels: 3,
    outChannels: 3,
    groups: 3,
    kernelCount: 26,
    dilatedKernelSize: 23,
    dtype: "f64",
  });
  const kernel = construct(params.weight, params.P, params.SIG, { version: "gauss", dilatedKernelSize: 23 });
  const all = pruneKernel(kernel, 0);
  assert.equal(all.kept, all.total);
  assert.deepEqual(all.dense.toArray(), kernel.toArray());
  const threshold = 1e-3 * Math.max(...Array.from(kernel.toArray(), Math.abs));
  const pruned = pruneKernel(kernel, threshold);
  assert.ok(pruned.kept > 0 && pruned.kept < pruned.total / 2, `kept ${pruned.kept} of ${pruned.total}`);
  const k = kernel.toArray(), d = pruned.dense.toArray();
  let listed = 0;
  pruned.cells.forEach((c, s) => {
    c.values.forEach((v, n) => {
      assert.equal(v, k[s * 529 + c.rows[n] * 23 + c.cols[n]]);
      listed++;
    });
  });
  assert.equal(listed, pruned.kept);
  for (let i = 0; i < k.length; i++) assert.equal(d[i], Math.abs(k[i]) >= threshold ? k[i] : 0);
  assert.throws(() => pruneKernel(kernel, -1), /threshold/);
});

Deno.test("dcls2d on a map smaller than its grid builds only the taps that meet it; output and every gradient unchanged (f64)", () => {
  const cases = [
    { version: "gauss", grid: 9, stride: 1 },
    { version: "gauss", grid: [9, 7], stride: 2 },
    { version: "v1", grid: 9, stride: 1 },
  ] as const;
  for (const [i, { version, grid, stride }] of cases.entries()) {
    const c = 3, [d0, d1] = typeof grid === "number" ? [grid, grid] : grid;
    const params = initDcls2d(T.randomKey(7 + i), {
      inChannels: c,
      outChannels: c,
      groups: c,
      kernelCount: 5,
      dilatedKernelSize: grid,
      version,
      dtype: "f64",
    });
    if (params.SIG) params.SIG = rand([2, c, 1, 5], 20 + i, -0.6, 0.6);
    const x = rand([2, c, 4, 3], 30 + i);
    const opts = { version, dilatedKernelSize: grid, groups: c, stride };
    const windowed = (p: typeof params, x: T.Tensor): T.Tensor => dcls2d(p, x, opts);
    // The whole kernel, which conv2d then cuts to the same taps.
    const whole = (p: typeof params, x: T.Tensor): T.Tensor =>
      T.conv2d(x, construct(p.weight, p.P, p.SIG, { version, dilatedKernelSize: grid }), {
        stride,
        padding: [Math.floor(d0 / 2), Math.floor(d1 / 2)],
        groups: c,
      }, p.bias);
    const [[yw, pullW], [yr, pullR]] = [windowed, whole].map((f) => T.vjp(f as (...a: never[]) => T.Tensor, params, x));
    assert.ok(relError(yw.toArray(), yr.toArray()) < 1e-12, `${version} ${grid} stride ${stride}: output`);
    const gy = rand(yr.shape.slice(), 40 + i);
    const [[gpW, gxW], [gpR, gxR]] = [pullW(gy), pullR(gy)] as [typeof params, T.Tensor][];
    for (const name of ["weight", "P", "SIG", "bias"] as const) {
      if (!params[name]) continue;
      const e = relError(gpW[name]!.toArray(), gpR[name]!.toArray());
      assert.ok(e < 1e-12, `${version} ${grid} stride ${stride}: d${name} relative error ${e}`);
    }
    assert.ok(relError(gxW.toArray(), gxR.toArray()) < 1e-12, `${version} ${grid} stride ${stride}: dx`);
  }
  // On a 4×3 map a 9×9 grid at padding 4 meets the input with rows 1…7 and columns 2…6: the fused construction
  // builds those 7×5 taps at padding 3 and 2, and nothing slices the kernel.
  const params = initDcls2d(T.randomKey(9), {
    inChannels: 3,
    outChannels: 3,
    groups: 3,
    kernelCount: 5,
    dilatedKernelSize: 9,
    dtype: "f64",
  });
  const { graph } = T.traceGraph(
    ((p: typeof params, x: T.Tensor) =>
      dcls2d(p, x, { dilatedKernelSize: 9, groups: 3, algorithm: "direct" })) as never,
    [params, rand([1, 3, 4, 3], 1)] as never,
  );
  const prims = graph.eqns.map((e) => e.prim);
  assert.deepEqual(graph.eqns.find((e) => e.prim === "dclsGauss")?.out.aval.shape, [3, 1, 7, 5]);
  assert.ok(!prims.includes("slice"), prims.join(" "));
  assert.deepEqual(graph.eqns.find((e) => e.prim === "conv2d")?.params.padding, [[3, 3], [2, 2]]);
});

Deno.test("dcls2d in the spectral form builds the kernel's spectrum itself; output and every gradient unchanged (f64)", () => {
  const c = 3, k = 5;
  const params = depthwiseDclsParams(12, c, k, 11, 13);
  const x = rand([2, c, 16, 5], 14);
  const layer = (algorithm: T.ConvAlgorithm) => (p: typeof params, x: T.Tensor) =>
    dcls2d(p, x, { dilatedKernelSize: 11, groups: c, algorithm });
  const [[ys, pullS], [yd, pullD]] = (["spectral", "direct"] as const).map((a) =>
    T.vjp(layer(a) as (...a: never[]) => T.Tensor, params, x)
  );
  assert.ok(relError(ys.toArray(), yd.toArray()) < 1e-12, "output");
  const gy = rand(yd.shape.slice(), 15);
  const [[gpS, gxS], [gpD, gxD]] = [pullS(gy), pullD(gy)] as [typeof params, T.Tensor][];
  for (const name of ["weight", "P", "SIG", "bias"] as const) {
    const e = relError(gpS[name]!.toArray(), gpD[name]!.toArray());
    assert.ok(e < 1e-12, `d${name} relative error ${e}`);
  }
  assert.ok(relError(gxS.toArray(), gxD.toArray()) < 1e-12, "dx");
  // The construction outputs the 22-row spectrum of the 11×9 window that meets a 5-column map: no product follows it.
  const { graph } = T.traceGraph(layer("spectral") as never, [params, x] as never);
  const prims = graph.eqns.map((e) => e.prim);
  const gauss = graph.eqns.find((e) => e.prim === "dclsGauss");
  assert.deepEqual(gauss?.out.aval.shape, [c, 1, 22, 9]);
  assert.deepEqual(gauss?.params.spectrum, { length: 21, top: 5 });
  assert.ok(!prims.includes("matmul"), prims.join(" "));
});
