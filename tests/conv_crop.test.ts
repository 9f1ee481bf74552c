/**
 * `conv2d` cuts a kernel to the taps that meet the input (DCLS's 23×23 on 8×7 maps): the output and every gradient
 * equal those of the uncut primitive in float64 on random geometries (stride, dilation, asymmetric padding, kernels
 * larger than the plane), the cut taps' gradients are zero, and the traced primitive sees the smaller kernel.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { traceGraph } from "../lib/core/compile.ts";
import { rand } from "./_gradcheck.ts";

const maxAbsDiff = (a: T.Tensor, b: T.Tensor) => T.max(T.abs(T.sub(a, b))).item();

Deno.test("conv2d with a kernel larger than the input equals the uncut convolution (values and gradients, f64)", () => {
  fc.assert(
    fc.property(
      fc.record({
        h: fc.integer({ min: 1, max: 8 }),
        w: fc.integer({ min: 1, max: 8 }),
        kh: fc.integer({ min: 1, max: 13 }),
        kw: fc.integer({ min: 1, max: 13 }),
        pads: fc.tuple(fc.nat(12), fc.nat(12), fc.nat(12), fc.nat(12)),
        stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
        dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        depthwise: fc.boolean(),
        seed: fc.nat(1000),
      }),
      ({ h, w, kh, kw, pads, stride, dilation, depthwise, seed }) => {
        const padding: T.Padding2d = [[pads[0], pads[1]], [pads[2], pads[3]]];
        const fits = (n: number, k: number, d: number, a: number, b: number) => n + a + b >= d * (k - 1) + 1;
        fc.pre(fits(h, kh, dilation[0], pads[0], pads[1]) && fits(w, kw, dilation[1], pads[2], pads[3]));
        const c = 2, groups = depthwise ? c : 1, o = depthwise ? c : 3;
        const x = rand([2, c, h, w], seed, -1, 1), k = rand([o, c / groups, kh, kw], seed + 1, -1, 1);
        const params = { stride, padding, dilation, groups };
        const [yCut, pullCut] = T.vjp(
          (x: T.Tensor, k: T.Tensor) => T.conv2d(x, k, { ...params, algorithm: "direct" }),
          x,
          k,
        );
        const [yRef, pullRef] = T.vjp((x: T.Tensor, k: T.Tensor) => T.bind("conv2d", [x, k], params), x, k);
        assert.deepEqual(yCut.shape, yRef.shape);
        const what = `x ${x.shape} k ${k.shape} ${JSON.stringify(params)}`;
        assert.ok(maxAbsDiff(yCut, yRef) < 1e-12, `output, ${what}`);
        const ct = rand(yRef.shape.slice(), seed + 2, -1, 1);
        const [dxCut, dkCut] = pullCut(ct) as T.Tensor[], [dxRef, dkRef] = pullRef(ct) as T.Tensor[];
        assert.ok(maxAbsDiff(dxCut, dxRef) < 1e-12, `input gradient, ${what}`);
        assert.ok(maxAbsDiff(dkCut, dkRef) < 1e-12, `kernel gradient, ${what}`);
      },
    ),
    { numRuns: 80 },
  );
});

Deno.test("conv2d: a 23×23 depthwise kernel on an 8×7 map reaches the primitive as 15×13", () => {
  const x = new T.Tensor([1, 4, 8, 7], "f32", {}), k = new T.Tensor([4, 1, 23, 23], "f32", {});
  const { graph } = traceGraph(
    (x: T.Tensor, k: T.Tensor) => T.conv2d(x, k, { padding: 11, groups: 4, algorithm: "direct" }),
    [x, k],
  );
  const conv = graph.eqns.find((e) => e.prim === "conv2d");
  assert.ok(conv, "a conv2d equation");
  assert.deepEqual(conv.inputs[1].aval.shape, [4, 1, 15, 13]);
  assert.deepEqual(conv.params.padding, [[7, 7], [6, 6]]);
  assert.deepEqual(conv.out.aval.shape, [1, 4, 8, 7]);
  // The Toeplitz form builds its matrix from the cut kernel too.
  const auto = traceGraph(
    (x: T.Tensor, k: T.Tensor) => T.conv2d(x, k, { padding: 11, groups: 4, algorithm: "toeplitz" }),
    [x, k],
  );
  const toeplitz = auto.graph.eqns.find((e) => e.prim === "toeplitz");
  assert.deepEqual(toeplitz?.inputs[0].aval.shape, [4, 15, 13]);
  // A kernel every tap of which meets the input is left whole.
  const whole = traceGraph((x: T.Tensor, k: T.Tensor) => T.conv2d(x, k, { padding: 3, groups: 4 }), [
    x,
    new T.Tensor([4, 1, 7, 7], "f32", {}),
  ]);
  assert.ok(whole.graph.eqns.every((e) => e.prim !== "slice"));
});

Deno.test("kernelWindow: the reachable taps and the reduced padding, null where nothing is cut", () => {
  // 23×23 at padding 11 on 8×7: rows 4…18 and columns 5…17, as conv2d cuts them.
  assert.deepEqual(T.kernelWindow([1, 4, 8, 7], [4, 1, 23, 23], { padding: 11 }), [
    { start: 4, count: 15, padding: [7, 7] },
    { start: 5, count: 13, padding: [6, 6] },
  ]);
  // Stride 2 leaves one output row on a 2-row map padded by 3: taps 3 and 4 meet it, and the padding left is uneven.
  assert.deepEqual(T.kernelWindow([1, 1, 2, 5], [1, 1, 7, 5], { padding: [[3, 3], [2, 2]], stride: [2, 1] }), [
    { start: 3, count: 2, padding: [0, 1] },
    { start: 0, count: 5, padding: [2, 2] },
  ]);
  assert.equal(T.kernelWindow([1, 4, 8, 7], [4, 1, 7, 7], { padding: 3 }), null);
  // No output position, or not a 4-D convolution: nothing to cut.
  assert.equal(T.kernelWindow([1, 4, 8, 7], [4, 1, 23, 23], { padding: 2 }), null);
  assert.equal(T.kernelWindow([4, 8, 7], [4, 1, 23, 23], { padding: 11 }), null);
});
