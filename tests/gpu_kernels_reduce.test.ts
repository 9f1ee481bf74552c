/**
 * Reduction generator against a float64 reference: random shapes and axis subsets for sum and max (f32, i32, bool
 * any), both layouts (innermost axis reduced or kept), split reductions (two passes through scratch), and fused
 * prologue / epilogue expressions.
 *
 * Tolerance: f32 sums within 1e-6 × Σ|x| (+1e-6; summation order differs from the reference); max, integers and
 * bools exact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { DType, TypedArray } from "../lib/core/dtype.ts";
import type { Expr } from "../kernels/expr.ts";
import { reduceKernel } from "../kernels/reduce.ts";
import { applyMovement, contiguousView } from "../kernels/view.ts";
import {
  assertClose,
  assertEqualArrays,
  check,
  f32Arb,
  forEachIndex,
  gpuTest,
  pseudoRandom,
  runner,
  shapeArb,
  size,
  strides,
} from "./gpu_kernels_helpers.ts";

/** Reference reduction: returns values and Σ|x| per output. */
function reduceRef(x: ArrayLike<number>, shape: readonly number[], axes: readonly number[], op: "sum" | "max") {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const os = strides(outShape);
  const out = new Float64Array(size(outShape)).fill(op === "sum" ? 0 : -Infinity);
  const abs = new Float64Array(out.length);
  forEachIndex(shape, (c, i) => {
    const o = c.reduce((a, v, k) => a + (axes.includes(k) ? 0 : v * os[k]), 0);
    out[o] = op === "sum" ? out[o] + x[i] : Math.max(out[o], x[i]);
    abs[o] += Math.abs(x[i]);
  });
  return { out, abs };
}

function loadExpr(dtype: DType, shape: readonly number[]): Expr {
  return { inputs: [dtype], nodes: [{ op: "load", input: 0, view: contiguousView(shape) }], outputs: [0] };
}

function assertSum(got: ArrayLike<number>, ref: { out: Float64Array; abs: Float64Array }, what: string) {
  for (let i = 0; i < ref.out.length; i++) {
    const err = Math.abs(got[i] - ref.out[i]);
    assert.ok(err <= 1e-6 * ref.abs[i] + 1e-6, `${what}[${i}]: got ${got[i]}, expected ${ref.out[i]}`);
  }
}

const caseArb = shapeArb(1, 4, 7).chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.subarray(s.map((_, i) => i)),
    f32Arb(size(s), -4, 4),
    fc.constantFrom<"sum" | "max">("sum", "max"),
  )
);

gpuTest("gpu kernels: sum and max over random axes (f32)", async () => {
  await check(caseArb, async ([shape, axes, x, op]) => {
    const [y] = await runner.run(reduceKernel({ shape, axes, op, expr: loadExpr("f32", shape) }), [x]);
    const ref = reduceRef(x, shape, axes, op);
    if (op === "sum") assertSum(y, ref, `sum ${shape} over ${axes}`);
    else assertEqualArrays(y, ref.out, `max ${shape} over ${axes}`);
  }, 20);
});

gpuTest("gpu kernels: integer sums and bool max (any)", async () => {
  await check(
    shapeArb(1, 3, 6).chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.subarray(s.map((_, i) => i), { minLength: 1 }),
        fc.array(fc.integer({ min: -50, max: 50 }), { minLength: size(s), maxLength: size(s) }),
      )
    ),
    async ([shape, axes, v]) => {
      const xi = Int32Array.from(v);
      const [s] = await runner.run(reduceKernel({ shape, axes, op: "sum", expr: loadExpr("i32", shape) }), [xi]);
      assertEqualArrays(s, reduceRef(xi, shape, axes, "sum").out, "i32 sum");
      const xb = Uint8Array.from(v, (a) => (a > 40 ? 1 : 0));
      const [m] = await runner.run(reduceKernel({ shape, axes, op: "max", expr: loadExpr("bool", shape) }), [xb]);
      assert.ok(m instanceof Uint8Array);
      assertEqualArrays(m, reduceRef(xb, shape, axes, "max").out, "bool any");
    },
    8,
  );
});

gpuTest("gpu kernels: split reductions combine partials in a second pass", async () => {
  for (
    const [shape, axes] of [[[3, 20011], [1]], [[20011, 3], [0]], [[5, 4099, 3], [0, 1]], [[70000], [0]]] as [
      number[],
      number[],
    ][]
  ) {
    const x = pseudoRandom(size(shape), 5);
    for (const op of ["sum", "max"] as const) {
      const program = reduceKernel({ shape, axes, op, expr: loadExpr("f32", shape) });
      assert.equal(program.dispatches.length, 2, `${shape}: two passes`);
      const [y] = await runner.run(program, [x]);
      const ref = reduceRef(x, shape, axes, op);
      if (op === "sum") assertSum(y, ref, `sum ${shape}`);
      else assertEqualArrays(y, ref.out, `max ${shape}`);
    }
  }
});

gpuTest(
  "gpu kernels: reduction prologue and epilogue fuse (mean of squares of a transposed view, plus bias)",
  async () => {
    await check(
      shapeArb(2, 3, 6).chain((s) =>
        fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), f32Arb(size(s)))
      ),
      async ([shape, axis, x]) => {
        const perm = shape.map((_, i) => shape.length - 1 - i);
        const tshape = perm.map((p) => shape[p]);
        const view = applyMovement(contiguousView(shape), "transpose", { perm });
        const outShape = tshape.map((d, i) => (i === axis ? 1 : d));
        const bias = pseudoRandom(size(outShape), 9);
        const n = tshape[axis];
        const program = reduceKernel({
          shape: tshape,
          axes: [axis],
          op: "sum",
          expr: { inputs: ["f32"], nodes: [{ op: "load", input: 0, view }, { op: "mul", args: [0, 0] }], outputs: [1] },
          epilogue: {
            inputs: ["f32"],
            nodes: [
              { op: "acc" },
              { op: "const", value: 1 / n, dtype: "f32" },
              { op: "mul", args: [0, 1] },
              { op: "load", input: 0, view: contiguousView(outShape) },
              { op: "add", args: [2, 3] },
            ],
            outputs: [4],
          },
        });
        const [y] = await runner.run(program, [x, bias]);
        // Reference over the transposed array.
        const xt = new Float64Array(x.length);
        const st = strides(shape);
        forEachIndex(tshape, (c, i) => (xt[i] = x[c.reduce((o, v, k) => o + v * st[perm[k]], 0)] ** 2));
        const ref = reduceRef(xt, tshape, [axis], "sum");
        const expected = Array.from(ref.out, (v, i) => v / n + bias[i]);
        assertClose(y, expected, { rtol: 2e-6, atol: 2e-6 }, "mean(x²) + b");
      },
    );
  },
);

gpuTest("gpu kernels: reducing no axes copies, and an empty input gives the identity", async () => {
  const x = Float32Array.from([1, -2, 3]);
  const [y] = await runner.run(reduceKernel({ shape: [3], axes: [], op: "sum", expr: loadExpr("f32", [3]) }), [x]);
  assertEqualArrays(y, x, "no axes");
  const [m] = await runner.run(reduceKernel({ shape: [2, 0], axes: [1], op: "max", expr: loadExpr("f32", [2, 0]) }), [
    new Float32Array(1),
  ]);
  assertEqualArrays(m as TypedArray, [-Infinity, -Infinity], "max over nothing");
});

gpuTest(
  "gpu kernels: sibling reductions (Σx, Σx·y, Σ|y|) read their inputs once, in both layouts and split",
  async () => {
    const siblings = (shape: readonly number[]): Expr => {
      const v = contiguousView(shape);
      return {
        inputs: ["f32", "f32"],
        nodes: [
          { op: "load", input: 0, view: v },
          { op: "load", input: 1, view: v },
          { op: "mul", args: [0, 1] },
          { op: "abs", args: [1] },
        ],
        outputs: [0, 2, 3],
      };
    };
    const run = async (shape: readonly number[], axes: readonly number[], seed: number, passes?: number) => {
      const x = pseudoRandom(size(shape), seed), y = pseudoRandom(size(shape), seed + 1);
      const program = reduceKernel({ shape, axes, op: "sum", expr: siblings(shape) });
      if (passes) assert.equal(program.dispatches.length, passes, `${shape} over ${axes}: passes`);
      assert.equal(program.outputs.length, 3);
      const got = await runner.run(program, [x, y]);
      const terms = [x, x.map((v, i) => v * y[i]), y.map(Math.abs)];
      terms.forEach((t, k) =>
        assertSum(got[k], reduceRef(t, shape, axes, "sum"), `output ${k} of ${shape} over ${axes}`)
      );
    };
    await check(
      shapeArb(1, 4, 7).chain((s) => fc.tuple(fc.constant(s), fc.subarray(s.map((_, i) => i)), fc.nat(1000))),
      ([shape, axes, seed]) => run(shape, axes, seed),
      8,
    );
    // Split into partials (one scratch buffer and one combining pass per output): column and row layouts.
    await run([20011, 3], [0], 3, 4);
    await run([3, 20011], [1], 4, 4);
  },
);
