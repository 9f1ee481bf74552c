/**
 * GPU ↔ CPU parity, one line per primitive (tinygrad test_ops style): fast-check draws small shapes and values, the
 * function is compiled for the GPU (lib/gpu) and for the CPU interpreter (lib/core), and every output must agree
 * within the tolerance stated on its line. Each differentiable op also checks its VJP, built with `vjp()` and compiled
 * the same way, so every gradient rule runs on the GPU too.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { GpuTensor } from "../lib/gpu/plan_tensor.ts";

const gpu = await requestGpu().catch(() => undefined);
const RUNS = 3;

/** Allowed error: |gpu − cpu| ≤ atol + rtol·|cpu|. */
interface Tol {
  readonly rtol: number;
  readonly atol: number;
}
/** Movement, integer and boolean results must be bit-identical. */
const EXACT: Tol = { rtol: 0, atol: 0 };
/** One f32 rounding per op (division and square roots may differ by an ulp or two). */
const ARITH: Tol = { rtol: 1e-6, atol: 1e-6 };
/** Transcendentals (exp, log, erf, pow …) and anything with a reduction (summation order differs). */
const TRANS: Tol = { rtol: 1e-4, atol: 1e-5 };

type Fn = (...xs: T.Tensor[]) => unknown;

function leavesOf(tree: unknown): GpuTensor[] {
  const out: GpuTensor[] = [];
  const walk = (x: unknown) => {
    if (x instanceof GpuTensor) out.push(x);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === "object") {
      for (const k of Object.keys(x).sort()) walk((x as Record<string, unknown>)[k]);
    }
  };
  walk(tree);
  return out;
}

/** Runs `fn` on the GPU and on the CPU interpreter and asserts every output agrees within `tol`. */
async function checkParity(fn: Fn, args: T.Tensor[], tol: Tol): Promise<void> {
  const want = T.treeLeaves(T.compile(fn)(...args));
  const g = compileGpu(fn, { device: gpu!, readback: "all" });
  try {
    const got = leavesOf(await g(...args));
    assert.equal(got.length, want.length, "number of outputs");
    for (let k = 0; k < want.length; k++) {
      const [w, h] = [want[k], got[k]];
      assert.equal(h.dtype, w.dtype, `output ${k} dtype`);
      assert.deepEqual(h.shape, w.shape, `output ${k} shape`);
      const a = w.toArray(), b = await h.read();
      for (let i = 0; i < a.length; i++) {
        const [x, y] = [Number(a[i]), Number(b[i])];
        const ok = Object.is(x, y) || x === y || (Number.isNaN(x) && Number.isNaN(y)) ||
          Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(x);
        if (!ok) {
          const shapes = args.map((t) => `${t.dtype}[${t.shape}]`).join(", ");
          assert.fail(`output ${k} [${i}]: gpu ${y} vs cpu ${x} (args ${shapes}; tol ${JSON.stringify(tol)})`);
        }
      }
    }
  } finally {
    g.dispose();
  }
}

/** Checks the VJP of `fn` (its float outputs, with a cotangent drawn from `seed`) on the GPU against the CPU. */
async function checkVjp(fn: Fn, args: T.Tensor[], tol: Tol, seed = 1): Promise<void> {
  const outs = T.treeLeaves(fn(...args));
  const cts = outs.map((o, k) => rand(o.shape, seed + k));
  const n = args.length;
  const pulled = (...xs: T.Tensor[]) => {
    const [, pull] = T.vjp(fn as never, ...xs.slice(0, n));
    return pull(T.treeUnflatten(T.treeFlatten(fn(...args)).def, xs.slice(n)) as never);
  };
  await checkParity(pulled, [...args, ...cts], tol);
}

/** Deterministic values on a 1/64 grid in [-2, 2] (ties on purpose: max/min/abs gradients split them). */
function rand(shape: readonly number[], seed: number): T.Tensor {
  let s = (seed * 2654435761) >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = Math.round((s / 2 ** 32) * 256 - 128) / 64;
  }
  return T.tensor(d, { shape: [...shape] });
}

const dim = fc.integer({ min: 1, max: 3 });
const shapeArb = (min = 0, max = 3) => fc.array(dim, { minLength: min, maxLength: max });
const grid = (lo: number, hi: number) =>
  fc.integer({ min: Math.ceil(lo * 64), max: Math.floor(hi * 64) }).map((i) => i / 64);
const valuesArb = (shape: readonly number[], lo: number, hi: number, dtype: T.DType) =>
  fc.array(dtype === "f32" ? grid(lo, hi) : fc.integer({ min: lo, max: hi }), {
    minLength: shape.reduce((a, b) => a * b, 1),
    maxLength: shape.reduce((a, b) => a * b, 1),
  }).map((v) => T.tensor(v, { shape: [...shape], dtype }));
/** A tensor of a random shape with values in [lo, hi]. */
const tensorArb = (lo = -2, hi = 2, dtype: T.DType = "f32", minRank = 0) =>
  shapeArb(minRank).chain((s) => valuesArb(s, lo, hi, dtype));
/** Two tensors whose shapes broadcast together (some axes of the second collapsed to 1, or dropped). */
const pairArb = (lo = -2, hi = 2, dtype: T.DType = "f32", lo2 = lo, hi2 = hi) =>
  shapeArb().chain((s) =>
    fc.tuple(fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.nat({ max: s.length }))
      .chain(([ones, drop]) => {
        const t = s.map((d, i) => (ones[i] ? 1 : d)).slice(drop);
        return fc.tuple(valuesArb(s, lo, hi, dtype), valuesArb(t, lo2, hi2, dtype));
      })
  );

/** Registers a property test. */
function prop<A extends unknown[]>(name: string, arb: fc.Arbitrary<A>, body: (...xs: A) => Promise<void>) {
  Deno.test({
    name: `gpu parity: ${name}`,
    ignore: !gpu,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => fc.assert(fc.asyncProperty(arb, (xs) => body(...xs)), { numRuns: RUNS }),
  });
}

/** Forward (and VJP unless `tolVjp` is null) of a unary op. */
function unary(
  name: string,
  f: (x: T.Tensor) => T.Tensor,
  lo: number,
  hi: number,
  tol: Tol,
  tolVjp: Tol | null = TRANS,
  minRank = 0,
) {
  prop(name, tensorArb(lo, hi, "f32", minRank).map((x) => [x] as [T.Tensor]), async (x) => {
    await checkParity(f, [x], tol);
    if (tolVjp) await checkVjp(f, [x], tolVjp);
  });
}

/** Forward (and VJP unless `tolVjp` is null) of a broadcasting binary op. */
function binary(
  name: string,
  f: (a: T.Tensor, b: T.Tensor) => T.Tensor,
  arb: fc.Arbitrary<[T.Tensor, T.Tensor]>,
  tol: Tol,
  tolVjp: Tol | null = TRANS,
) {
  prop(name, arb, async (a, b) => {
    await checkParity(f, [a, b], tol);
    if (tolVjp) await checkVjp(f, [a, b], tolVjp);
  });
}

const bind = <P extends T.PrimName>(p: P, xs: T.Tensor[], params: T.PrimParams[P]) => T.bind(p, xs, params);
const int = (lo: number, hi: number) => fc.integer({ min: lo, max: hi });

// Unary elementwise.
unary("neg", T.neg, -2, 2, EXACT);
unary("exp", T.exp, -3, 3, TRANS);
unary("log", T.log, 0.1, 4, TRANS);
unary("sqrt", T.sqrt, 0.1, 4, ARITH);
unary("rsqrt", T.rsqrt, 0.1, 4, TRANS);
unary("abs", T.abs, -2, 2, EXACT);
unary("sign", T.sign, -2, 2, EXACT);
unary("floor", T.floor, -3, 3, EXACT);
unary("tanh", T.tanh, -3, 3, TRANS);
unary("erf", T.erf, -3, 3, TRANS);
unary("sigmoid", T.sigmoid, -4, 4, TRANS);
unary("sin", T.sin, -3, 3, TRANS);
unary("cos", T.cos, -3, 3, TRANS);
unary("gelu", T.gelu, -3, 3, TRANS);
prop(
  "logicalNot (bool)",
  tensorArb(0, 1, "i32").map((x) => [T.cast(x, "bool")] as [T.Tensor]),
  (x) => checkParity(T.logicalNot, [x], EXACT),
);
prop(
  "neg/abs/sign (i32)",
  tensorArb(-5, 5, "i32").map((x) => [x] as [T.Tensor]),
  (x) => checkParity((v) => [T.neg(v), T.abs(v), T.sign(v)], [x], EXACT),
);

// Binary elementwise (with broadcasting, whose VJP sums over the broadcast axes).
binary("add", T.add, pairArb(), ARITH);
binary("sub", T.sub, pairArb(), ARITH);
binary("mul", T.mul, pairArb(), ARITH);
binary("div", T.div, pairArb(-2, 2, "f32", 0.25, 2), ARITH);
binary("pow", T.pow, pairArb(0.25, 2, "f32", -2, 2), TRANS);
binary("maximum", T.maximum, pairArb(), EXACT);
binary("minimum", T.minimum, pairArb(), EXACT);
for (const op of ["lt", "le", "gt", "ge", "eq", "ne"] as const) binary(op, T[op], pairArb(), EXACT, null);
binary("add/mul/sub (i32)", (a, b) => T.sub(T.mul(T.add(a, b), b), a), pairArb(-9, 9, "i32"), EXACT, null);
binary("div (i32)", T.div, pairArb(-9, 9, "i32", 1, 9), EXACT, null);
binary("maximum/minimum (u32)", (a, b) => T.add(T.maximum(a, b), T.minimum(a, b)), pairArb(0, 9, "u32"), EXACT, null);
binary(
  "logicalAnd/Or",
  (a, b) => {
    const [p, q] = [T.gt(a, 0), T.gt(b, 0)];
    return T.logicalOr(T.logicalAnd(p, q), T.logicalNot(q));
  },
  pairArb(),
  EXACT,
  null,
);
binary("where", (a, b) => T.where(T.gt(a, b), a, T.mul(b, 2)), pairArb(), ARITH);
prop("cast", tensorArb(-4, 4).map((x) => [x] as [T.Tensor]), (x) =>
  checkParity(
    (v) => {
      const i = T.cast(T.mul(v, 3), "i32");
      return [i, T.cast(i, "f32"), T.cast(v, "bool"), T.cast(T.cast(v, "bool"), "f32"), T.cast(T.abs(i), "u32")];
    },
    [x],
    EXACT,
  ));

// Reductions over random axes (keepdims, so the VJP broadcasts back).
const reduceArb = shapeArb(1).chain((s) =>
  fc.tuple(valuesArb(s, -2, 2, "f32"), fc.subarray(s.map((_, i) => i), { minLength: 1 }))
);
prop("sum", reduceArb, async (x, axes) => {
  const f = (v: T.Tensor) => bind("sum", [v], { axes });
  await checkParity(f, [x], TRANS);
  await checkVjp(f, [x], TRANS);
});
prop("max", reduceArb, async (x, axes) => {
  const f = (v: T.Tensor) => bind("max", [v], { axes });
  await checkParity(f, [x], EXACT);
  await checkVjp(f, [x], TRANS);
});
prop(
  "sum/max (i32)",
  tensorArb(-9, 9, "i32", 1).map((x) => [x] as [T.Tensor]),
  (x) => checkParity((v) => [T.sum(v, 0), T.max(v, -1, true)], [x], EXACT),
);

// Movement.
const movementArb = shapeArb(1).chain((s) => valuesArb(s, -2, 2, "f32"));
function movement(name: string, params: (x: T.Tensor) => fc.Arbitrary<(v: T.Tensor) => T.Tensor>) {
  prop(
    name,
    movementArb.chain((x) => params(x).map((f) => [x, f] as [T.Tensor, (v: T.Tensor) => T.Tensor])),
    async (x, f) => {
      await checkParity(f, [x], EXACT);
      await checkVjp(f, [x], TRANS);
    },
  );
}
movement("reshape", (x) => fc.constant((v) => T.reshape(v, [x.size])));
movement("transpose", (x) =>
  fc.shuffledSubarray(x.shape.map((_, i) => i), { minLength: x.ndim, maxLength: x.ndim })
    .map((perm) => (v) => bind("transpose", [v], { perm })));
movement("broadcast", (x) =>
  fc.array(int(1, 3), { minLength: x.ndim, maxLength: x.ndim }).map((reps) => (v) => {
    const lifted = T.reshape(v, x.shape.flatMap((d) => [1, d]));
    return bind("broadcast", [lifted], { shape: x.shape.flatMap((d, i) => [reps[i], d]) });
  }));
movement(
  "slice (strided)",
  (x) =>
    fc.tuple(...x.shape.map((d) => fc.tuple(int(0, d - 1), int(1, 3)))).map((spec) => (v) => {
      const starts = spec.map(([s]) => s);
      const steps = spec.map(([, st]) => st);
      return bind("slice", [v], { starts, stops: [...x.shape], steps });
    }),
);
movement(
  "pad (interior)",
  (x) =>
    fc.tuple(...x.shape.map(() => fc.tuple(int(0, 2), int(0, 2), int(0, 2))), grid(-1, 1)).map((spec) => (v) => {
      const ax = spec.slice(0, -1) as [number, number, number][];
      return bind("pad", [v], {
        lo: ax.map((a) => a[0]),
        hi: ax.map((a) => a[1]),
        interior: ax.map((a) => a[2]),
        value: spec[spec.length - 1] as number,
      });
    }),
);
movement(
  "flip",
  (x) => fc.subarray(x.shape.map((_, i) => i), { minLength: 1 }).map((axes) => (v) => bind("flip", [v], { axes })),
);
movement(
  "concat",
  (x) =>
    int(0, x.ndim - 1).map((axis) => (v) =>
      T.concat([v, T.mul(v, 2), T.slice(v, [0], [1])].slice(0, axis === 0 ? 3 : 2), axis)
    ),
);
movement(
  "gather",
  (x) =>
    fc.tuple(int(0, x.ndim - 1), fc.array(int(0, 7), { minLength: 1, maxLength: 5 })).map(([axis, idx]) => (v) =>
      T.take(v, T.tensor(idx.map((i) => i % x.shape[axis]), { dtype: "i32" }), axis)
    ),
);

// Linear algebra and convolution.
prop(
  "matmul",
  fc.tuple(int(1, 2), int(1, 5), int(1, 5), int(1, 5), fc.boolean()).map(([b, m, k, n, tb]) =>
    [rand([b, m, k], m), rand(tb ? [b, n, k] : [b, k, n], n + 7), tb] as [T.Tensor, T.Tensor, boolean]
  ),
  async (a, b, tb) => {
    const f = tb ? (x: T.Tensor, y: T.Tensor) => T.matmul(x, T.mT(y)) : T.matmul;
    await checkParity(f, [a, b], TRANS);
    await checkVjp(f, [a, b], TRANS);
  },
);
prop(
  "conv2d",
  fc.record({ n: int(1, 2), g: int(1, 2), cg: int(1, 2), og: int(1, 2), h: int(3, 5), w: int(3, 5), k: int(1, 3) })
    .chain((c) =>
      fc.tuple(fc.constant(c), int(1, 2), int(0, 1), int(1, 2)).map(([c, stride, padding, dilation]) => {
        const x = rand([c.n, c.g * c.cg, c.h, c.w], c.h);
        const w = rand([c.g * c.og, c.cg, c.k, c.k], c.k + 3);
        return [x, w, [stride, padding, dilation, c.g]] as [T.Tensor, T.Tensor, number[]];
      })
    ),
  async (x, w, [stride, padding, dilation, groups]) => {
    if ((x.shape[2] + 2 * padding - dilation * (w.shape[2] - 1) - 1) < 0) return;
    if ((x.shape[3] + 2 * padding - dilation * (w.shape[3] - 1) - 1) < 0) return;
    const f = (a: T.Tensor, b: T.Tensor) => T.conv2d(a, b, { stride, padding, dilation, groups });
    await checkParity(f, [x, w], TRANS);
    await checkVjp(f, [x, w], TRANS);
  },
);
prop(
  "conv2d (i32)",
  fc.tuple(int(1, 2), int(3, 5)).chain(([c, h]) =>
    fc.tuple(valuesArb([1, c, h, h], -3, 3, "i32"), valuesArb([2, c, 3, 3], -2, 2, "i32"))
  ),
  (x, w) => checkParity((a, b) => T.conv2d(a, b, { padding: 1, stride: 2 }), [x, w], EXACT),
);
prop(
  "depthwise conv2d",
  fc.tuple(int(1, 4), int(3, 6), int(1, 3)).map(([c, h, k]) =>
    [rand([2, c, h, h + 1], c), rand([c, 1, k, k], k)] as [T.Tensor, T.Tensor]
  ),
  async (x, w) => {
    const f = (a: T.Tensor, b: T.Tensor) => T.conv2d(a, b, { padding: 1, groups: a.shape[1] });
    await checkParity(f, [x, w], TRANS);
    await checkVjp(f, [x, w], TRANS);
  },
);

// Random bits: identical streams on both backends.
prop(
  "randomBits",
  fc.tuple(fc.nat(), shapeArb(0, 2)),
  (seed, s) => checkParity((k) => [T.randomBits(k, s), ...T.split(k, 3)], [T.randomKey(seed)], EXACT),
);

// Composites whose fused kernels mix reductions, broadcasts and transcendentals.
unary("softmax", (x) => T.softmax(x, -1), -3, 3, TRANS, TRANS, 1);
unary("logsumexp", (x) => T.logsumexp(x, 0), -3, 3, TRANS, TRANS, 1);
prop(
  "layerNorm",
  fc.tuple(int(1, 3), int(2, 5)).map(([n, c]) =>
    [rand([n, c], c), rand([c], 2), rand([c], 3)] as [T.Tensor, T.Tensor, T.Tensor]
  ),
  async (x, w, b) => {
    await checkParity((a, c, d) => T.layerNorm(a, c, d), [x, w, b], TRANS);
    await checkVjp((a, c, d) => T.layerNorm(a, c, d), [x, w, b], TRANS);
  },
);
prop(
  "pooling",
  fc.tuple(int(2, 5), int(2, 5)).map(([h, w]) => [rand([1, 2, h, w], h * w)] as [T.Tensor]),
  async (x) => {
    const f = (v: T.Tensor) => [T.maxPool2d(v, { kernel: 2, stride: 1 }), T.avgPool2d(v, { kernel: 2, padding: 1 })];
    await checkParity(f, [x], TRANS);
    await checkVjp(f, [x], TRANS);
  },
);

Deno.test({
  name: "gpu parity: f64 is rejected with a clear error",
  ignore: !gpu,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const g = compileGpu((x: T.Tensor) => T.exp(x), { device: gpu! });
    await assert.rejects(() => g(T.tensor([1, 2], { dtype: "f64" })), /f64 is CPU-only/);
    const down = compileGpu((x: T.Tensor) => T.exp(x), { device: gpu!, downcastF64: true, readback: "all" });
    const r = await down(T.tensor([0, 1], { dtype: "f64" }));
    assert.equal(r.dtype, "f32");
    assert.ok(Math.abs((await r.read())[1] - Math.E) < 1e-6);
    g.dispose();
    down.dispose();
  },
});
