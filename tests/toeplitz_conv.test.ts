/**
 * The Toeplitz form of the depthwise convolution (lib/ops/toeplitz_conv.ts) and its two primitives: equal to the
 * direct convolution in float64 (values and gradients, random planes, kernels and paddings), `toeplitzAdjoint` is
 * the transpose of `toeplitz`, `conv2d` chooses the form for kernels that dwarf the plane only, and the errors.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { toeplitzDepthwiseConv2d } from "../lib/core/mod.ts";
import { rand } from "./_gradcheck.ts";

const maxAbsDiff = (a: T.Tensor, b: T.Tensor) => T.max(T.abs(T.sub(a, b))).item();
const scaleOf = (a: T.Tensor) => Math.max(T.max(T.abs(a)).item(), 1e-300);

const geometry = fc.record({
  b: fc.integer({ min: 1, max: 2 }),
  c: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 6 }),
  w: fc.integer({ min: 1, max: 6 }),
  kh: fc.integer({ min: 1, max: 9 }),
  kw: fc.integer({ min: 1, max: 9 }),
  pads: fc.tuple(fc.nat(9), fc.nat(9), fc.nat(9), fc.nat(9)),
  seed: fc.nat(1000),
});

Deno.test("toeplitz depthwise conv2d equals the direct one in float64 (values and gradients)", () => {
  fc.assert(
    fc.property(geometry, ({ b, c, h, w, kh, kw, pads, seed }) => {
      const padding: T.Padding2d = [[pads[0] % kh, pads[1] % kh], [pads[2] % kw, pads[3] % kw]];
      fc.pre(h + padding[0][0] + padding[0][1] >= kh && w + padding[1][0] + padding[1][1] >= kw);
      const x = rand([b, c, h, w], seed, -1, 1), k = rand([c, 1, kh, kw], seed + 1, -1, 1);
      const direct = (x: T.Tensor, k: T.Tensor) =>
        T.bind("conv2d", [x, k], {
          stride: [1, 1],
          padding,
          dilation: [1, 1],
          groups: c,
        });
      const [want, pullWant] = T.vjp(direct, x, k);
      const [got, pullGot] = T.vjp((x: T.Tensor, k: T.Tensor) => toeplitzDepthwiseConv2d(x, k, padding), x, k);
      const what = `x ${x.shape} k ${k.shape} padding ${padding}`;
      assert.deepEqual(got.shape, want.shape, what);
      assert.ok(maxAbsDiff(got, want) / scaleOf(want) < 1e-12, `output, ${what}`);
      const ct = rand(want.shape.slice(), seed + 2, -1, 1);
      const [dxW, dkW] = pullWant(ct) as T.Tensor[], [dxG, dkG] = pullGot(ct) as T.Tensor[];
      assert.ok(maxAbsDiff(dxG, dxW) / scaleOf(dxW) < 1e-12, `input gradient, ${what}`);
      assert.ok(maxAbsDiff(dkG, dkW) / scaleOf(dkW) < 1e-12, `kernel gradient, ${what}`);
    }),
    { numRuns: 60 },
  );
});

Deno.test("toeplitzAdjoint is the transpose of toeplitz (⟨Y, T(w)⟩ = ⟨Tᵀ(Y), w⟩)", () => {
  fc.assert(
    fc.property(geometry, ({ c, h, w, kh, kw, pads, seed }) => {
      const [top, left] = [pads[0] % kh, pads[2] % kw];
      const ho = h + top + (pads[1] % kh) - kh + 1, wo = w + left + (pads[3] % kw) - kw + 1;
      fc.pre(ho >= 1 && wo >= 1);
      const p = {
        plane: [h, w] as [number, number],
        out: [ho, wo] as [number, number],
        padding: [top, left] as [number, number],
      };
      const k = rand([c, kh, kw], seed, -1, 1), y = rand([c, ho * wo, h * w], seed + 1, -1, 1);
      const lhs = T.sum(T.mul(y, T.bind("toeplitz", [k], p))).item();
      const rhs = T.sum(T.mul(T.bind("toeplitzAdjoint", [y], { ...p, kernel: [kh, kw] }), k)).item();
      assert.ok(Math.abs(lhs - rhs) <= 1e-12 * (1 + Math.abs(lhs)), `${lhs} vs ${rhs}`);
    }),
    { numRuns: 60 },
  );
});

Deno.test("conv2d takes the Toeplitz form when asked only; errors name the problem", () => {
  const prims = (f: (x: T.Tensor, w: T.Tensor) => T.Tensor, x: T.Tensor, w: T.Tensor) =>
    new Set(T.traceGraph(f as never, [x, w]).graph.eqns.map((e) => e.prim));
  const x = new T.Tensor([1, 2, 8, 7], "f32", {});
  const big = new T.Tensor([2, 1, 23, 23], "f32", {}), small = new T.Tensor([2, 1, 7, 7], "f32", {});
  const conv = (algorithm?: T.ConvAlgorithm) => (x: T.Tensor, w: T.Tensor) =>
    T.conv2d(x, w, { padding: w.shape[2] >> 1, groups: 2, algorithm });
  // The direct kernels beat it even where the kernel dwarfs the plane (23×23 on 8×7).
  assert.ok(!prims(conv(), x, big).has("toeplitz"), "auto, 23×23 at 8×7");
  assert.ok(!prims(conv(), x, small).has("toeplitz"), "auto, 7×7 at 8×7");
  assert.ok(!prims(conv("direct"), x, big).has("toeplitz"), "direct");
  assert.ok(prims(conv("toeplitz"), x, small).has("toeplitz"), "toeplitz");
  assert.throws(
    () =>
      T.conv2d(new T.Tensor([1, 96, 64, 62], "f32", {}), new T.Tensor([96, 1, 23, 23], "f32", {}), {
        padding: 11,
        groups: 96,
        algorithm: "toeplitz",
      }),
    /toeplitzDepthwiseConv2d: the Toeplitz matrices of \[1,96,64,62\] take \d+ values; use algorithm "direct" or "spectral"/,
  );
  assert.throws(
    () => T.conv2d(x, new T.Tensor([2, 2, 3, 3], "f32", {}), { algorithm: "toeplitz" }),
    /conv2d: algorithm "toeplitz" needs a depthwise, stride-1, undilated convolution/,
  );
  assert.throws(
    () =>
      T.bind("toeplitzAdjoint", [T.zeros([2, 3, 4], "f64")], {
        plane: [2, 2],
        out: [2, 2],
        padding: [0, 0],
        kernel: [1, 1],
      }),
    /toeplitzAdjoint: matrix \[2,3,4\] is not \[2,4,4\]/,
  );
});
