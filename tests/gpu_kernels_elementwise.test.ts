/**
 * Elementwise generators against plain TS references: every unary / binary / comparison / logical primitive and
 * cast through the kernel table, fused expressions over random chains of movement views (scalar and vec4 code
 * paths), multiple outputs, and the 2-D grid fold for more than 65535 workgroups.
 *
 * Tolerances: f32 arithmetic within 3e-7 relative (WGSL allows 2.5 ulp for division); transcendental functions
 * within 1e-5 relative + 1e-5 absolute (Vulkan's precision for sin/cos is absolute); integers and bools exact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { DType, TypedArray } from "../lib/core/dtype.ts";
import { elementwiseKernel } from "../kernels/elementwise.ts";
import type { Expr, ExprNode } from "../kernels/expr.ts";
import { kernelFor } from "../kernels/registry.ts";
import { applyMovement, contiguousView, type View } from "../kernels/view.ts";
import {
  type Arr,
  assertClose,
  assertEqualArrays,
  check,
  f32Arb,
  gpuTest,
  moveRef,
  pseudoRandom,
  runner,
  shapeArb,
  size,
} from "./gpu_kernels_helpers.ts";

const ARITH = { rtol: 3e-7, atol: 0 };
const TRANS = { rtol: 1e-5, atol: 1e-5 };

function erfRef(x: number): number {
  if (Math.abs(x) < 3) {
    let sum = 0, term = x, n = 0;
    while (Math.abs(term) > 1e-17 * Math.abs(sum) || n < 3) {
      sum += term / (2 * n + 1);
      n++;
      term *= (-x * x) / n;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 60; k >= 1; k--) f = k / 2 / (Math.abs(x) + f);
  return Math.sign(x) * (1 - Math.exp(-x * x) / Math.sqrt(Math.PI) / (Math.abs(x) + f));
}

const UNARY: [string, (x: number) => number, { rtol: number; atol: number }, number, number][] = [
  ["neg", (x) => -x, ARITH, -3, 3],
  ["abs", Math.abs, ARITH, -3, 3],
  ["sign", Math.sign, ARITH, -3, 3],
  ["floor", Math.floor, ARITH, -3, 3],
  ["exp", Math.exp, TRANS, -4, 4],
  ["log", Math.log, TRANS, 0.01, 5],
  ["sqrt", Math.sqrt, TRANS, 0, 5],
  ["rsqrt", (x) => 1 / Math.sqrt(x), TRANS, 0.01, 5],
  ["tanh", Math.tanh, TRANS, -30, 30],
  ["erf", erfRef, TRANS, -5, 5],
  ["sigmoid", (x) => 1 / (1 + Math.exp(-x)), TRANS, -30, 30],
  ["sin", Math.sin, TRANS, -3, 3],
  ["cos", Math.cos, TRANS, -3, 3],
];

async function runPrim(
  prim: string,
  inputs: { data: TypedArray; shape: number[]; dtype: DType }[],
  out: { shape: number[]; dtype: DType },
  params: Record<string, unknown> = {},
) {
  const gen = kernelFor[prim as keyof typeof kernelFor] as (
    i: unknown,
    o: unknown,
    p: unknown,
  ) => import("../kernels/program.ts").KernelProgram;
  const program = gen(inputs.map((x) => ({ shape: x.shape, dtype: x.dtype })), out, params);
  return (await runner.run(program, inputs.map((x) => x.data)))[0];
}

gpuTest("gpu kernels: unary f32 primitives match Math", async () => {
  for (const [prim, f, tol, lo, hi] of UNARY) {
    await check(
      shapeArb(1, 3, 7).chain((s) => fc.tuple(fc.constant(s), f32Arb(size(s), lo, hi))),
      async ([shape, x]) => {
        const y = await runPrim(prim, [{ data: x, shape, dtype: "f32" }], { shape, dtype: "f32" });
        assertClose(y, Array.from(x, f), tol, prim);
      },
      3,
    );
  }
});

const I32 = (v: number) => v | 0;
const U32 = (v: number) => v >>> 0;
const BINARY: Record<string, Partial<Record<DType, (a: number, b: number) => number>>> = {
  add: { f32: (a, b) => Math.fround(a + b), i32: (a, b) => I32(a + b), u32: (a, b) => U32(a + b) },
  sub: { f32: (a, b) => Math.fround(a - b), i32: (a, b) => I32(a - b), u32: (a, b) => U32(a - b) },
  mul: { f32: (a, b) => Math.fround(a * b), i32: (a, b) => Math.imul(a, b), u32: (a, b) => U32(Math.imul(a, b)) },
  div: {
    f32: (a, b) => Math.fround(a / b),
    i32: (a, b) => (b === 0 ? 0 : I32(Math.trunc(a / b))),
    u32: (a, b) => (b === 0 ? 0 : U32(Math.trunc(a / b))),
  },
  maximum: { f32: Math.max, i32: Math.max, u32: Math.max },
  minimum: { f32: Math.min, i32: Math.min, u32: Math.min },
  pow: { f32: (a, b) => Math.fround(Math.pow(a, b)) },
};
const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
};

function typed(dtype: DType, v: number[]): TypedArray {
  return dtype === "f32"
    ? Float32Array.from(v)
    : dtype === "i32"
    ? Int32Array.from(v)
    : dtype === "u32"
    ? Uint32Array.from(v)
    : Uint8Array.from(v);
}

// Small integers so that equal operands occur (comparisons) and products stay interesting; f32 on a coarse grid.
function valuesArb(dtype: DType, n: number): fc.Arbitrary<TypedArray> {
  const ints = dtype === "u32" ? fc.integer({ min: 0, max: 9 }) : fc.integer({ min: -9, max: 9 });
  const vals = dtype === "f32" ? fc.integer({ min: -16, max: 16 }).map((v) => v / 4) : ints;
  return fc.array(vals, { minLength: n, maxLength: n }).map((v) => typed(dtype, v));
}

gpuTest("gpu kernels: binary and comparison primitives for f32, i32, u32", async () => {
  for (const dtype of ["f32", "i32", "u32"] as const) {
    const arb = shapeArb(1, 3, 9).chain((s) =>
      fc.tuple(fc.constant(s), valuesArb(dtype, size(s)), valuesArb(dtype, size(s)))
    );
    await check(arb, async ([shape, a, b]) => {
      for (const [prim, fs] of Object.entries(BINARY)) {
        const f = fs[dtype];
        if (!f) continue;
        // pow of negative bases with fractional exponents is NaN on both sides; keep the bases positive for pow.
        const aa = prim === "pow" ? Float32Array.from(a as Float32Array, Math.abs) : a;
        const y = await runPrim(prim, [{ data: aa, shape, dtype }, { data: b, shape, dtype }], { shape, dtype });
        const expected = Array.from(aa, (v, i) => f(v, b[i]));
        assertClose(
          y,
          expected,
          prim === "pow" ? TRANS : dtype === "f32" ? ARITH : { rtol: 0, atol: 0 },
          `${prim} ${dtype}`,
        );
      }
      for (const [prim, f] of Object.entries(COMPARE)) {
        const y = await runPrim(prim, [{ data: a, shape, dtype }, { data: b, shape, dtype }], { shape, dtype: "bool" });
        assert.ok(y instanceof Uint8Array, `${prim}: bool output`);
        assertEqualArrays(y, Array.from(a, (v, i) => (f(v, b[i]) ? 1 : 0)), `${prim} ${dtype}`);
      }
    }, 4);
  }
});

gpuTest("gpu kernels: pow follows C semantics for negative bases", async () => {
  const a = Float32Array.from([-2, -2, -8, 0, 0, 3, -1.5]);
  const b = Float32Array.from([3, 2, 1 / 3, 2, -1, 0, 0.5]);
  const y = await runPrim("pow", [{ data: a, shape: [7], dtype: "f32" }, { data: b, shape: [7], dtype: "f32" }], {
    shape: [7],
    dtype: "f32",
  });
  assertClose(y, Array.from(a, (v, i) => Math.pow(v, b[i])), TRANS, "pow");
});

gpuTest("gpu kernels: logical ops, where and casts", async () => {
  const arb = shapeArb(1, 3, 8).chain((s) =>
    fc.tuple(
      fc.constant(s),
      valuesArb("bool", size(s)).map((v) => Uint8Array.from(v, (x) => (x as number) & 1)),
      valuesArb("bool", size(s)).map((v) => Uint8Array.from(v, (x) => ((x as number) >> 1) & 1)),
      valuesArb("f32", size(s)),
      valuesArb("f32", size(s)),
    )
  );
  await check(arb, async ([shape, p, q, x, y]) => {
    const b = (d: TypedArray) => ({ data: d, shape, dtype: "bool" as const });
    const f = (d: TypedArray) => ({ data: d, shape, dtype: "f32" as const });
    assertEqualArrays(
      await runPrim("logicalAnd", [b(p), b(q)], { shape, dtype: "bool" }),
      Array.from(p, (v, i) => v & q[i]),
      "and",
    );
    assertEqualArrays(
      await runPrim("logicalOr", [b(p), b(q)], { shape, dtype: "bool" }),
      Array.from(p, (v, i) => v | q[i]),
      "or",
    );
    assertEqualArrays(
      await runPrim("logicalNot", [b(p)], { shape, dtype: "bool" }),
      Array.from(p, (v) => 1 - v),
      "not",
    );
    assertEqualArrays(
      await runPrim("where", [b(p), f(x), f(y)], { shape, dtype: "f32" }),
      Array.from(p, (v, i) => (v ? x[i] : y[i])),
      "where",
    );
    const casts: [DType, DType, (v: number) => number][] = [
      ["f32", "i32", Math.trunc],
      ["f32", "bool", (v) => (v !== 0 ? 1 : 0)],
      ["bool", "f32", (v) => v],
      ["i32", "f32", (v) => v],
      ["i32", "u32", (v) => v >>> 0],
      ["u32", "i32", (v) => v | 0],
    ];
    for (const [from, to, ref] of casts) {
      const src = from === "f32"
        ? x
        : from === "bool"
        ? p
        : from === "i32"
        ? Int32Array.from(x, Math.trunc)
        : Uint32Array.from(x, (v) => Math.trunc(v) >>> 0);
      const out = await runPrim("cast", [{ data: src, shape, dtype: from }], { shape, dtype: to }, { dtype: to });
      assertEqualArrays(out, Array.from(src, ref), `cast ${from}→${to}`);
    }
  }, 4);
});

/** A movement op derived from random numbers so that it is valid for `shape` and keeps tensors small. */
function randomMove(shape: readonly number[], kind: number, r: readonly number[]): [string, Record<string, unknown>] {
  const rank = shape.length;
  const pick = (i: number, n: number) => r[i % r.length] % n;
  switch (kind) {
    case 0: {
      const perm = shape.map((_, i) => i);
      for (let i = rank - 1; i > 0; i--) {
        const j = pick(i, i + 1);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      return ["transpose", { perm }];
    }
    case 1: {
      // Reshape: insert a unit axis, merge two neighbours, or split a composite axis.
      const s = [...shape];
      const a = pick(0, rank);
      if (pick(1, 3) === 0 && rank > 1 && a + 1 < rank) s.splice(a, 2, s[a] * s[a + 1]);
      else if (pick(1, 3) === 1 && s[a] % 2 === 0 && s[a] > 2) s.splice(a, 1, 2, s[a] / 2);
      else s.splice(a, 0, 1);
      return ["reshape", { shape: s }];
    }
    case 2: {
      const target = shape.map((d, i) => (d === 1 ? 1 + pick(i, 3) : d));
      if (size(target) > 1500) return ["flip", { axes: [] }];
      return ["broadcast", { shape: target }];
    }
    case 3: {
      const starts = shape.map((d, i) => pick(i, d));
      const stops = shape.map((d, i) => starts[i] + 1 + pick(i + 3, d - starts[i]));
      const steps = shape.map((_, i) => 1 + pick(i + 5, 2));
      return ["slice", { starts, stops, steps }];
    }
    case 4: {
      const lo = shape.map((_, i) => pick(i, 2));
      const hi = shape.map((_, i) => pick(i + 2, 2));
      const interior = shape.map((_, i) => (pick(i + 4, 4) === 0 ? 1 : 0));
      const grown = shape.map((d, i) => d + (d - 1) * interior[i] + lo[i] + hi[i]);
      if (size(grown) > 1500) return ["flip", { axes: [] }];
      return ["pad", { lo, hi, interior, value: [0, -1.5, 2][pick(7, 3)] }];
    }
    default:
      return ["flip", { axes: shape.map((_, i) => i).filter((i) => pick(i, 2) === 0) }];
  }
}

const movesArb = fc.array(fc.tuple(fc.nat(5), fc.array(fc.nat(1000), { minLength: 8, maxLength: 8 })), {
  maxLength: 5,
});

gpuTest("gpu kernels: fused expressions over random movement views match references", async () => {
  const arb = fc.tuple(shapeArb(1, 3, 5), movesArb, fc.boolean()).chain(([s, moves, vec]) =>
    fc.tuple(fc.constant(s), fc.constant(moves), fc.constant(vec), f32Arb(size(s)))
  );
  await check(arb, async ([shape0, moves, vec, x]) => {
    let view: View = contiguousView(shape0);
    let ref: Arr = { data: x, shape: shape0 };
    for (const [kind, r] of moves) {
      const [prim, params] = randomMove(ref.shape, kind, r);
      view = applyMovement(view, prim, params);
      ref = moveRef(ref, prim, params);
      assert.deepEqual([...view[view.length - 1].shape], [...ref.shape], `${prim} shape`);
    }
    // Optionally widen to a last axis of 4 (vec4 path) by broadcasting a unit axis.
    if (vec) {
      const s = [...ref.shape, 1];
      view = applyMovement(applyMovement(view, "reshape", { shape: s }), "broadcast", { shape: [...ref.shape, 4] });
      ref = moveRef({ data: ref.data, shape: s }, "broadcast", { shape: [...ref.shape, 4] });
    }
    const outShape = [...ref.shape];
    const y = pseudoRandom(size(outShape), 7);
    // out0 = x(view) · 2 − y,  out1 = x(view) > y
    const nodes: ExprNode[] = [
      { op: "load", input: 0, view },
      { op: "load", input: 1, view: contiguousView(outShape) },
      { op: "const", value: 2, dtype: "f32" },
      { op: "mul", args: [0, 2] },
      { op: "sub", args: [3, 1] },
      { op: "gt", args: [0, 1] },
    ];
    const expr: Expr = { inputs: ["f32", "f32"], nodes, outputs: [4, 5] };
    const [o0, o1] = await runner.run(elementwiseKernel({ shape: outShape, expr }), [x, y]);
    assertClose(o0, Array.from(ref.data, (v, i) => Math.fround(Math.fround(v * 2) - y[i])), ARITH, "x·2 − y");
    assertEqualArrays(o1, Array.from(ref.data, (v, i) => (v > y[i] ? 1 : 0)), "x > y");
  }, 20);
});

gpuTest("gpu kernels: vec4 code path reads direct, broadcast and transposed operands", async () => {
  const [R, C] = [3, 8];
  const a = pseudoRandom(R * C, 1), row = pseudoRandom(C, 2), at = pseudoRandom(C * R, 3);
  const nodes: ExprNode[] = [
    { op: "load", input: 0, view: contiguousView([R, C]) },
    { op: "load", input: 1, view: applyMovement(contiguousView([1, C]), "broadcast", { shape: [R, C] }) },
    { op: "load", input: 2, view: applyMovement(contiguousView([C, R]), "transpose", { perm: [1, 0] }) },
    { op: "add", args: [0, 1] },
    { op: "mul", args: [3, 2] },
  ];
  const program = elementwiseKernel({ shape: [R, C], expr: { inputs: ["f32", "f32", "f32"], nodes, outputs: [4] } });
  assert.match(program.dispatches[0].code, /array<vec4<f32>>/, "vectorised");
  const [out] = await runner.run(program, [a, row, at]);
  const expected = Array.from(
    a,
    (v, i) => Math.fround(Math.fround(v + row[i % C]) * at[(i % C) * R + Math.floor(i / C)]),
  );
  assertClose(out, expected, ARITH, "(a + row) · aᵀ");
});

gpuTest("gpu kernels: grids beyond 65535 workgroups fold into two dimensions", async () => {
  const n = 65536 * 256 + 3;
  const x = pseudoRandom(n, 11);
  const program = kernelFor.neg([{ shape: [n], dtype: "f32" }], { shape: [n], dtype: "f32" }, {});
  assert.ok(program.dispatches[0].workgroups[1] > 1, "2-D grid");
  const [y] = await runner.run(program, [x]);
  for (const i of [0, 1, 65535 * 256, n - 2, n - 1]) assert.equal(y[i], -x[i], `element ${i}`);
});
