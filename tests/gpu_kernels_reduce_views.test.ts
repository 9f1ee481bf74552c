/**
 * The reduction generator on the layouts the fuser hands it: prologues whose loads read the domain through different
 * memory layouts (channels-first read channels-last beside channels-last, broadcasts, flips, padding, multi-layer
 * reshapes), fused epilogues, concat prologues, and shapes that take the vec4, register-transpose and split paths.
 * Also the layout choice itself (pure): which mapping and canonical domain the ConvNeXt reductions get.
 *
 * Reference: float64 loops over the domain. Tolerance: sums within 1e-6 × Σ|terms| (+1e-6); max exact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Expr, ExprNode } from "../kernels/expr.ts";
import { reduceKernel, type ReduceTuning } from "../kernels/reduce.ts";
import { reduceLayout } from "../kernels/reduce_layout.ts";
import { applyMovement, contiguousView, type View } from "../kernels/view.ts";
import { check, forEachIndex, gpuTest, pseudoRandom, runner, size, strides } from "./gpu_kernels_helpers.ts";

/** How one prologue operand is stored and read. */
type Layout =
  | { readonly kind: "perm"; readonly perm: readonly number[] }
  | { readonly kind: "bcast"; readonly keep: readonly boolean[] }
  | { readonly kind: "flip"; readonly axis: number }
  | { readonly kind: "pad"; readonly axis: number; readonly lo: number }
  | { readonly kind: "reshaped"; readonly perm: readonly number[] };

interface Operand {
  readonly view: View;
  readonly data: Float32Array;
  /** Value at domain coordinates. */
  readonly at: (c: readonly number[]) => number;
}

function flat(shape: readonly number[], c: readonly number[]): number {
  const st = strides(shape);
  return c.reduce((o, v, i) => o + v * st[i], 0);
}

function operand(shape: readonly number[], l: Layout, seed: number): Operand {
  const rank = shape.length;
  switch (l.kind) {
    case "perm":
    case "reshaped": {
      // Stored with axes in `perm` order (perm[i] = domain axis of stored axis i).
      const stored = l.perm.map((a) => shape[a]);
      const data = pseudoRandom(size(stored), seed);
      const inv = shape.map((_, a) => l.perm.indexOf(a));
      let view = applyMovement(contiguousView(stored), "transpose", { perm: inv });
      if (l.kind === "reshaped") {
        // Through a flat reshape that cannot fold: a view of two layers.
        view = applyMovement(applyMovement(view, "reshape", { shape: [size(shape)] }), "reshape", { shape });
      }
      return { view, data, at: (c) => data[flat(stored, l.perm.map((a) => c[a]))] };
    }
    case "bcast": {
      const stored = shape.map((d, i) => (l.keep[i] ? d : 1));
      const data = pseudoRandom(size(stored), seed);
      const view = applyMovement(contiguousView(stored), "broadcast", { shape });
      return { view, data, at: (c) => data[flat(stored, c.map((v, i) => (l.keep[i] ? v : 0)))] };
    }
    case "flip": {
      const data = pseudoRandom(size(shape), seed);
      const view = applyMovement(contiguousView(shape), "flip", { axes: [l.axis] });
      return { view, data, at: (c) => data[flat(shape, c.map((v, i) => (i === l.axis ? shape[i] - 1 - v : v)))] };
    }
    case "pad": {
      const stored = shape.map((d, i) => (i === l.axis ? d - l.lo : d));
      const data = pseudoRandom(size(stored), seed);
      const lo = shape.map((_, i) => (i === l.axis ? l.lo : 0));
      const view = applyMovement(contiguousView(stored), "pad", { lo, hi: new Array(rank).fill(0), value: 0.5 });
      return {
        view,
        data,
        at: (c) => (c[l.axis] < l.lo ? 0.5 : data[flat(stored, c.map((v, i) => (i === l.axis ? v - l.lo : v)))]),
      };
    }
  }
}

const dimArb = fc.constantFrom(1, 2, 3, 4, 5, 8, 12);

function layoutArb(shape: readonly number[]): fc.Arbitrary<Layout> {
  const rank = shape.length;
  const perm = fc.shuffledSubarray(shape.map((_, i) => i), { minLength: rank, maxLength: rank });
  const axis = fc.integer({ min: 0, max: rank - 1 });
  return fc.oneof(
    { arbitrary: perm.map((p): Layout => ({ kind: "perm", perm: p })), weight: 4 },
    {
      arbitrary: fc.array(fc.boolean(), { minLength: rank, maxLength: rank }).map((k): Layout => ({
        kind: "bcast",
        keep: k,
      })),
      weight: 2,
    },
    { arbitrary: axis.map((a): Layout => ({ kind: "flip", axis: a })), weight: 1 },
    {
      arbitrary: axis.filter((a) => shape[a] > 1).map((a): Layout => ({ kind: "pad", axis: a, lo: 1 })),
      weight: 1,
    },
    { arbitrary: perm.map((p): Layout => ({ kind: "reshaped", perm: p })), weight: 1 },
  );
}

interface Case {
  readonly shape: number[];
  readonly axes: number[];
  readonly op: "sum" | "max";
  readonly layouts: Layout[];
  readonly epilogue: boolean;
  /** Small fill targets split even these small domains into partials. */
  readonly tuning?: ReduceTuning;
}

const caseArb: fc.Arbitrary<Case> = fc.array(dimArb, { minLength: 1, maxLength: 4 })
  .filter((s) => size(s) <= 3000 && s.some((d) => d > 1))
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axes: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
      op: fc.constantFrom<"sum" | "max">("sum", "sum", "max"),
      layouts: fc.array(layoutArb(shape), { minLength: 1, maxLength: 3 }).filter((ls) =>
        ls.some((l) => l.kind !== "bcast" || l.keep.some((k) => k))
      ),
      epilogue: fc.boolean(),
      tuning: fc.constantFrom<ReduceTuning | undefined>(
        undefined,
        { fillThreads: 4096, minIters: 1 },
        { fillThreads: 1 << 20, minIters: 2 },
      ),
    })
  );

/** Prologue `l0 · l1 + l2` (as many terms as operands), epilogue `acc · 0.5 + e` with `e` over the output shape. */
async function runCase(c: Case, seed = 1): Promise<void> {
  const { shape, axes, op } = c;
  const ops = c.layouts.map((l, k) => operand(shape, l, seed + k));
  const nodes: ExprNode[] = ops.map((o, k) => ({ op: "load", input: k, view: o.view }));
  let last = 0;
  if (ops.length >= 2) last = nodes.push({ op: "mul", args: [0, 1] }) - 1;
  if (ops.length >= 3) last = nodes.push({ op: "add", args: [last, 2] }) - 1;
  const expr: Expr = { inputs: ops.map(() => "f32"), nodes, outputs: [last] };
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const bias = pseudoRandom(size(outShape), seed + 7);
  const epilogue: Expr | undefined = c.epilogue
    ? {
      inputs: ["f32"],
      nodes: [
        { op: "acc" },
        { op: "const", value: 0.5, dtype: "f32" },
        { op: "mul", args: [0, 1] },
        { op: "load", input: 0, view: contiguousView(outShape) },
        { op: "add", args: [2, 3] },
      ],
      outputs: [4],
    }
    : undefined;
  const program = reduceKernel({ shape, axes, op, expr, epilogue }, c.tuning);
  const [y] = await runner.run(program, [...ops.map((o) => o.data), ...(epilogue ? [bias] : [])]);

  const ref = new Float64Array(size(outShape)).fill(op === "sum" ? 0 : -Infinity);
  const abs = new Float64Array(ref.length);
  forEachIndex(shape, (co) => {
    const vals = ops.map((o) => o.at(co));
    let v = vals[0];
    if (vals.length >= 2) v = Math.fround(vals[0] * vals[1]);
    if (vals.length >= 3) v = Math.fround(v + vals[2]);
    const o = flat(outShape, co.map((x, i) => (axes.includes(i) ? 0 : x)));
    ref[o] = op === "sum" ? ref[o] + v : Math.max(ref[o], v);
    abs[o] += Math.abs(v);
  });
  const what = `${op} [${shape}] over [${axes}] ${JSON.stringify(c.layouts)}${c.epilogue ? " + epilogue" : ""}`;
  for (let i = 0; i < ref.length; i++) {
    const expected = epilogue ? ref[i] * 0.5 + bias[i] : ref[i];
    // Max is exact; the epilogue's f32 rounding is not.
    const tol = op === "sum" ? 1e-6 * abs[i] + 1e-6 : epilogue ? 1e-6 * Math.abs(expected) : 0;
    assert.ok(Math.abs(y[i] - expected) <= tol, `${what}[${i}]: got ${y[i]}, expected ${expected}`);
  }
}

gpuTest("gpu kernels: reductions over operands in mixed memory layouts, with epilogues", async () => {
  await check(caseArb, (c) => runCase(c), 30);
});

gpuTest(
  "gpu kernels: channels-first beside channels-last (register transpose, vec4, split into partials)",
  async () => {
    // LayerNorm-backward shapes in miniature: [N, H, W, C] domain, one operand stored NCHW, one NHWC, one per-pixel.
    const nchw: Layout = { kind: "perm", perm: [0, 3, 1, 2] };
    const nhwc: Layout = { kind: "perm", perm: [0, 1, 2, 3] };
    const pixel: Layout = { kind: "bcast", keep: [true, true, true, false] };
    const cases: Case[] = [
      { shape: [2, 8, 12, 8], axes: [0, 1, 2], op: "sum", layouts: [nchw, nhwc, pixel], epilogue: true },
      { shape: [2, 8, 12, 8], axes: [3], op: "sum", layouts: [nchw, nhwc], epilogue: false },
      { shape: [4, 32, 64, 8], axes: [0, 1, 2], op: "sum", layouts: [nchw, nhwc], epilogue: true },
      { shape: [4, 32, 64, 12], axes: [0, 1, 2], op: "max", layouts: [nchw, pixel], epilogue: false },
      { shape: [3, 16, 5, 12], axes: [3], op: "sum", layouts: [nchw, pixel], epilogue: true },
      { shape: [8, 7, 6, 12], axes: [0, 1, 2], op: "sum", layouts: [nhwc, nchw, nchw], epilogue: false },
      { shape: [2, 12, 2048], axes: [0, 2], op: "sum", layouts: [{ kind: "perm", perm: [0, 1, 2] }], epilogue: true },
    ];
    for (const c of cases) await runCase(c, 11);
    // The big ones really split into partials combined by a second pass.
    const big = reduceKernel({
      shape: [4, 32, 64, 8],
      axes: [0, 1, 2],
      op: "sum",
      expr: { inputs: ["f32"], nodes: [{ op: "load", input: 0, view: contiguousView([4, 32, 64, 8]) }], outputs: [0] },
    });
    assert.equal(big.dispatches.length, 2, "split into partial and combine");
  },
);

gpuTest("gpu kernels: a concat prologue keeps its coordinates through the reordered domain", async () => {
  await check(
    fc.record({
      a: dimArb,
      b1: fc.integer({ min: 1, max: 4 }),
      b2: fc.integer({ min: 1, max: 4 }),
      c: dimArb,
      axes: fc.subarray([0, 1, 2], { minLength: 1 }),
    }),
    async ({ a, b1, b2, c, axes }) => {
      const shape = [a, b1 + b2, c];
      const x0 = pseudoRandom(a * b1 * c, 2), x1 = pseudoRandom(a * b2 * c, 3);
      // Operand 0 stored transposed, so the domain gets reordered.
      const v0 = applyMovement(
        applyMovement(contiguousView([c, b1, a]), "transpose", { perm: [2, 1, 0] }),
        "pad",
        { lo: [0, 0, 0], hi: [0, b2, 0], value: 0 },
      );
      const v1 = applyMovement(contiguousView([a, b2, c]), "pad", { lo: [0, b1, 0], hi: [0, 0, 0], value: 0 });
      const expr: Expr = {
        inputs: ["f32", "f32"],
        nodes: [
          { op: "load", input: 0, view: v0 },
          { op: "load", input: 1, view: v1 },
          { op: "concat", axis: 1, sizes: [b1, b2], args: [0, 1] },
        ],
        outputs: [2],
      };
      const [y] = await runner.run(reduceKernel({ shape, axes, op: "sum", expr }), [x0, x1]);
      const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const ref = new Float64Array(size(outShape));
      forEachIndex(shape, ([i, j, k]) => {
        const v = j < b1 ? x0[(k * b1 + j) * a + i] : x1[(i * b2 + j - b1) * c + k];
        ref[flat(outShape, [i, j, k].map((x, ax) => (axes.includes(ax) ? 0 : x)))] += v;
      });
      for (let i = 0; i < ref.length; i++) {
        assert.ok(Math.abs(y[i] - ref[i]) <= 1e-5, `concat [${shape}] over [${axes}][${i}]: ${y[i]} vs ${ref[i]}`);
      }
    },
    10,
  );
});

Deno.test("reduce layout: ConvNeXt reductions get coalesced mappings on merged domains", () => {
  const nhwcShape = [64, 64, 62, 96];
  const expr = (...views: View[]): Expr => {
    const nodes: ExprNode[] = views.map((view, input) => ({ op: "load", input, view }));
    if (views.length > 1) nodes.push({ op: "mul", args: [0, 1] });
    return { inputs: views.map(() => "f32"), nodes, outputs: [nodes.length - 1] };
  };
  const nhwc = contiguousView(nhwcShape);
  const nchwAsNhwc = applyMovement(contiguousView([64, 96, 64, 62]), "transpose", { perm: [0, 2, 3, 1] });
  const cases: [number[], number[], Expr, string, number[], boolean[]][] = [
    // Bias gradient of a channels-last linear layer: a column sum over M = N·H·W.
    [nhwcShape, [0, 1, 2], expr(nhwc), "column", [253952, 96], [true, false]],
    // LayerNorm statistics over channels-last rows.
    [nhwcShape, [3], expr(nhwc), "row", [253952, 96], [false, true]],
    // Statistics over C of a channels-first tensor read channels-last: threads walk H·W.
    [nhwcShape, [3], expr(nchwAsNhwc), "column", [64, 96, 3968], [false, true, false]],
    // LayerNorm weight gradient mixing both layouts: column over C, the channels-first operand transposed.
    [nhwcShape, [0, 1, 2], expr(nchwAsNhwc, nhwc), "column", [64, 3968, 96], [true, true, false]],
    // Bias gradient of a channels-first convolution.
    [[64, 96, 64, 62], [0, 2, 3], expr(contiguousView([64, 96, 64, 62])), "row", [64, 96, 3968], [true, false, true]],
  ];
  for (const [domain, axes, e, mode, shape, reduced] of cases) {
    const lay = reduceLayout(domain, axes, e);
    const what = `[${domain}] over [${axes}]`;
    assert.equal(lay.mode, mode, `mode of ${what}`);
    assert.deepEqual(lay.shape, shape, `canonical shape of ${what}`);
    assert.deepEqual(lay.reduced, reduced, `reduced axes of ${what}`);
  }
});

Deno.test("reduce kernel: the ConvNeXt bias-gradient sum fills the GPU with vec4 loads and few partials", () => {
  const shape = [64, 64, 62, 384];
  const p = reduceKernel({
    shape,
    axes: [0, 1, 2],
    op: "sum",
    expr: { inputs: ["f32"], nodes: [{ op: "load", input: 0, view: contiguousView(shape) }], outputs: [0] },
  });
  const [first, second] = p.dispatches;
  const threads = (d: typeof first) =>
    d.workgroups[0] * d.workgroups[1] * Number(/@workgroup_size\((\d+)\)/.exec(d.code)![1]);
  assert.ok(threads(first) >= 132 * 1024, `first pass: ${threads(first)} threads`);
  assert.match(first.code, /in0: array<vec4<f32>>/);
  // Partials stay a small fraction of the input.
  assert.ok(p.scratch[0].size * 50 < size(shape), `${p.scratch[0].size} partials`);
  assert.ok(second.label.endsWith("_combine"));
});
