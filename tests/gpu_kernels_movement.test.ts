/**
 * Movement generators through the kernel table (reshape, transpose, broadcast, slice, pad with interior padding,
 * flip), concat, gather and scatter-add, against plain TS references. All results must be bit-exact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { TypedArray } from "../lib/core/dtype.ts";
import { gatherKernel, scatterAddKernel } from "../kernels/movement.ts";
import type { KernelProgram } from "../kernels/program.ts";
import { kernelFor } from "../kernels/registry.ts";
import { applyMovement, contiguousView } from "../kernels/view.ts";
import {
  assertEqualArrays,
  check,
  f32Arb,
  forEachIndex,
  gpuTest,
  moveRef,
  runner,
  shapeArb,
  size,
  strides,
} from "./gpu_kernels_helpers.ts";

type Gen = (inputs: unknown, out: unknown, params: unknown) => KernelProgram;
const gen = (prim: string) => kernelFor[prim as keyof typeof kernelFor] as unknown as Gen;

async function runMove(
  prim: string,
  x: Float32Array,
  shape: number[],
  params: Record<string, unknown>,
): Promise<TypedArray> {
  const outShape = [...applyMovement(contiguousView(shape), prim, params).slice(-1)[0].shape];
  const program = gen(prim)([{ shape, dtype: "f32" }], { shape: outShape, dtype: "f32" }, params);
  return (await runner.run(program, [x]))[0];
}

gpuTest("gpu kernels: each movement primitive matches its reference", async () => {
  const arb = shapeArb(1, 4, 5).chain((s) =>
    fc.tuple(fc.constant(s), f32Arb(size(s)), fc.array(fc.nat(100), { minLength: 12, maxLength: 12 }))
  );
  await check(arb, async ([shape, x, r]) => {
    const rank = shape.length;
    const perm = shape.map((_, i) => i).sort((a, b) => (r[a] % 7) - (r[b] % 7) || a - b);
    const starts = shape.map((d, i) => r[i] % d);
    const cases: [string, Record<string, unknown>][] = [
      ["reshape", { shape: [size(shape)] }],
      ["transpose", { perm }],
      ["broadcast", { shape: shape.map((d) => (d === 1 ? 3 : d)) }],
      ["slice", {
        starts,
        stops: shape.map((d, i) => starts[i] + 1 + (r[i + 4] % (d - starts[i]))),
        steps: shape.map((_, i) => 1 + (r[i + 8] % 3)),
      }],
      ["pad", {
        lo: shape.map((_, i) => r[i] % 3),
        hi: shape.map((_, i) => r[i + 4] % 2),
        interior: shape.map((_, i) => r[i + 8] % 2),
        value: -7,
      }],
      ["flip", { axes: shape.map((_, i) => i).filter((i) => r[i] % 2 === 0) }],
    ];
    for (const [prim, params] of cases) {
      if (prim === "broadcast" && !shape.includes(1)) continue;
      const got = await runMove(prim, x, shape, params);
      const ref = moveRef({ data: x, shape }, prim, params);
      assertEqualArrays(got, ref.data, `${prim} ${JSON.stringify(params)} of [${shape}] (rank ${rank})`);
    }
  }, 10);
});

gpuTest("gpu kernels: concat along any axis", async () => {
  const arb = shapeArb(1, 3, 4).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.integer({ min: 0, max: s.length - 1 }),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
    )
  );
  await check(arb, async ([base, axis, sizes]) => {
    const shapes = sizes.map((n) => base.map((d, i) => (i === axis ? n : d)));
    const xs = shapes.map((s, k) => Float32Array.from({ length: size(s) }, (_, i) => k * 1000 + i));
    const total = sizes.reduce((a, b) => a + b, 0);
    const outShape = base.map((d, i) => (i === axis ? total : d));
    const program = kernelFor.concat(shapes.map((shape) => ({ shape, dtype: "f32" })), {
      shape: outShape,
      dtype: "f32",
    }, { axis });
    const [got] = await runner.run(program, xs);
    const expected: number[] = [];
    forEachIndex(outShape, (c) => {
      let k = 0, at = c[axis];
      while (at >= sizes[k]) at -= sizes[k++];
      const st = strides(shapes[k]);
      expected.push(xs[k][c.reduce((o, v, i) => o + (i === axis ? at : v) * st[i], 0)]);
    });
    assertEqualArrays(got, expected, `concat axis ${axis} of ${JSON.stringify(shapes)}`);
  }, 8);
});

gpuTest("gpu kernels: gather and scatter-add are transposes of each other", async () => {
  const arb = shapeArb(1, 3, 5).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.integer({ min: 0, max: s.length - 1 }),
      shapeArb(1, 2, 4),
    ).chain(([xs, axis, is]) =>
      fc.tuple(
        fc.constant(xs),
        fc.constant(axis),
        fc.constant(is),
        fc.array(fc.integer({ min: 0, max: xs[axis] - 1 }), { minLength: size(is), maxLength: size(is) }),
      )
    )
  );
  await check(arb, async ([xShape, axis, idxShape, idxv]) => {
    const idx = Int32Array.from(idxv);
    const x = Float32Array.from({ length: size(xShape) }, (_, i) => i + 0.5);
    const outShape = [...xShape.slice(0, axis), ...idxShape, ...xShape.slice(axis + 1)];
    const [g] = await runner.run(gatherKernel({ shape: xShape, dtype: "f32", idxShape, axis }), [x, idx]);
    const xst = strides(xShape);
    const r = idxShape.length;
    const expected: number[] = [];
    forEachIndex(outShape, (c) => {
      const j = c.slice(axis, axis + r).reduce((o, v, i) => o + v * strides(idxShape)[i], 0);
      const src = [...c.slice(0, axis), idx[j], ...c.slice(axis + r)];
      expected.push(x[src.reduce((o, v, i) => o + v * xst[i], 0)]);
    });
    assertEqualArrays(g, expected, "gather");
    // scatter-add of integer-valued updates is exact whatever the summation order.
    const u = Float32Array.from({ length: size(outShape) }, (_, i) => (i % 5) - 2);
    const [s] = await runner.run(
      scatterAddKernel({ shape: outShape, dtype: "f32", idxShape, axis, size: xShape[axis] }),
      [u, idx],
    );
    const acc = new Float64Array(size(xShape));
    forEachIndex(outShape, (c, i) => {
      const j = c.slice(axis, axis + r).reduce((o, v, k) => o + v * strides(idxShape)[k], 0);
      const dst = [...c.slice(0, axis), idx[j], ...c.slice(axis + r)];
      acc[dst.reduce((o, v, k) => o + v * xst[k], 0)] += u[i];
    });
    assertEqualArrays(s, acc, "scatterAdd");
  }, 10);
});

gpuTest(
  "gpu kernels: gather wraps negative indices and clamps the rest; scatter-add drops out-of-range ones",
  async () => {
    const x = Float32Array.from([10, 11, 12, 13]);
    const idx = Int32Array.from([-1, 0, 7, -9]);
    const [g] = await runner.run(gatherKernel({ shape: [4], dtype: "f32", idxShape: [4], axis: 0 }), [x, idx]);
    assertEqualArrays(g, [13, 10, 13, 10], "gather");
    const [s] = await runner.run(scatterAddKernel({ shape: [4], dtype: "f32", idxShape: [4], axis: 0, size: 4 }), [
      Float32Array.from([1, 2, 4, 8]),
      idx,
    ]);
    assertEqualArrays(s, [2, 0, 0, 1], "scatterAdd");
    assert.throws(() => scatterAddKernel({ shape: [2], dtype: "bool", idxShape: [2], axis: 0, size: 2 }), /bool/);
  },
);
