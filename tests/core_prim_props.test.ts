/**
 * One fast-check property per primitive family for what the gradient checks do not cover: shape rules on random shapes
 * and algebraic identities of the CPU reference (inverses, adjoint pairs, involutions).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { randArray, relError } from "./_gradcheck.ts";

const shapeArb = (maxRank = 4, maxDim = 4) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: 1, maxLength: maxRank });
const filled = (shape: readonly number[], seed: number, lo = -1, hi = 1) =>
  T.tensor(randArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi), { shape, dtype: "f64" });
const dot = (a: T.Tensor, b: T.Tensor) => T.sum(T.mul(a, b)).item();

Deno.test("unary primitives keep shape and dtype; inverse pairs round-trip", () => {
  fc.assert(
    fc.property(shapeArb(), fc.nat(1000), (shape, seed) => {
      const x = filled(shape, seed, 0.2, 2);
      for (
        const f of [
          T.neg,
          T.exp,
          T.log,
          T.sqrt,
          T.rsqrt,
          T.abs,
          T.sign,
          T.floor,
          T.tanh,
          T.erf,
          T.sigmoid,
          T.sin,
          T.cos,
        ]
      ) {
        const y = f(x);
        assert.deepEqual(y.shape, shape);
        assert.equal(y.dtype, "f64");
      }
      assert.ok(relError(T.log(T.exp(x)).toArray(), x.toArray()) < 1e-14);
      assert.ok(relError(T.mul(T.sqrt(x), T.rsqrt(x)).toArray(), T.onesLike(x).toArray()) < 1e-14);
      assert.ok(relError(T.add(T.square(T.sin(x)), T.square(T.cos(x))).toArray(), T.onesLike(x).toArray()) < 1e-14);
      assert.ok(relError(T.neg(T.neg(x)).toArray(), x.toArray()) === 0);
    }),
    { numRuns: 40 },
  );
});

Deno.test("comparisons give bool, are mutually consistent, and logical ops obey De Morgan", () => {
  fc.assert(
    fc.property(shapeArb(), fc.nat(1000), (shape, seed) => {
      const a = T.floor(filled(shape, seed, -2, 2)), b = T.floor(filled(shape, seed + 1, -2, 2));
      const lt = T.lt(a, b), ge = T.ge(a, b), eq = T.eq(a, b), ne = T.ne(a, b), le = T.le(a, b), gt = T.gt(a, b);
      for (const c of [lt, ge, eq, ne, le, gt]) assert.equal(c.dtype, "bool");
      assert.deepEqual([...T.logicalNot(lt).toArray()], [...ge.toArray()]);
      assert.deepEqual([...T.logicalOr(lt, eq).toArray()], [...le.toArray()]);
      assert.deepEqual([...T.logicalNot(T.logicalAnd(lt, ne)).toArray()], [...T.logicalOr(ge, eq).toArray()]);
      assert.deepEqual([...T.logicalNot(gt).toArray()], [...le.toArray()]);
      const w = T.where(lt, a, b);
      assert.deepEqual([...w.toArray()], [...T.minimum(a, b).toArray()]);
      assert.deepEqual([...T.cast(T.cast(a, "i32"), "f64").toArray()], [...a.toArray()]);
    }),
    { numRuns: 40 },
  );
});

Deno.test("flip is an involution; gather and scatterAdd are adjoint", () => {
  fc.assert(
    fc.property(shapeArb(3), fc.nat(1000), fc.array(fc.nat(50), { minLength: 1, maxLength: 6 }), (shape, seed, raw) => {
      const x = filled(shape, seed);
      const axes = shape.map((_, i) => i).filter((i) => (seed >> i) & 1);
      assert.ok(relError(T.flip(T.flip(x, axes), axes).toArray(), x.toArray()) === 0);
      const axis = seed % shape.length;
      const idx = T.tensor(raw.map((r) => r % shape[axis]), { dtype: "i32" });
      const g = T.take(x, idx, axis);
      const expected = [...shape.slice(0, axis), raw.length, ...shape.slice(axis + 1)];
      assert.deepEqual(g.shape, expected);
      const u = filled(expected, seed + 7);
      const s = T.bind("scatterAdd", [u, idx], { axis, size: shape[axis] });
      assert.deepEqual(s.shape, shape);
      assert.ok(Math.abs(dot(g, u) - dot(x, s)) < 1e-10);
    }),
    { numRuns: 40 },
  );
});

Deno.test("conv2d, conv2dInputGrad and conv2dWeightGrad are adjoint (random stride, padding, dilation, groups)", () => {
  fc.assert(
    fc.property(
      fc.record({
        n: fc.integer({ min: 1, max: 2 }),
        g: fc.integer({ min: 1, max: 3 }),
        cg: fc.integer({ min: 1, max: 2 }),
        og: fc.integer({ min: 1, max: 2 }),
        h: fc.integer({ min: 4, max: 8 }),
        w: fc.integer({ min: 4, max: 8 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        sh: fc.integer({ min: 1, max: 3 }),
        sw: fc.integer({ min: 1, max: 3 }),
        pt: fc.nat(2),
        pb: fc.nat(2),
        pl: fc.nat(2),
        pr: fc.nat(2),
        dh: fc.integer({ min: 1, max: 2 }),
        dw: fc.integer({ min: 1, max: 2 }),
        seed: fc.nat(1000),
      }),
      (c) => {
        const params = {
          stride: [c.sh, c.sw] as [number, number],
          padding: [[c.pt, c.pb], [c.pl, c.pr]] as T.Padding2d,
          dilation: [c.dh, c.dw] as [number, number],
          groups: c.g,
        };
        fc.pre(c.h + c.pt + c.pb > c.dh * (c.kh - 1) && c.w + c.pl + c.pr > c.dw * (c.kw - 1));
        const xs = [c.n, c.g * c.cg, c.h, c.w], ws = [c.g * c.og, c.cg, c.kh, c.kw];
        const x = filled(xs, c.seed), w = filled(ws, c.seed + 1);
        const y = T.bind("conv2d", [x, w], params);
        const ho = Math.floor((c.h + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh) + 1;
        const wo = Math.floor((c.w + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw) + 1;
        assert.deepEqual(y.shape, [c.n, c.g * c.og, ho, wo]);
        const dy = filled(y.shape, c.seed + 2);
        const dx = T.bind("conv2dInputGrad", [dy, w], { ...params, inputShape: xs });
        const dw = T.bind("conv2dWeightGrad", [x, dy], { ...params, weightShape: ws });
        assert.deepEqual(dx.shape, xs);
        assert.deepEqual(dw.shape, ws);
        const ref = dot(y, dy);
        assert.ok(Math.abs(ref - dot(x, dx)) < 1e-10 * Math.max(1, Math.abs(ref)));
        assert.ok(Math.abs(ref - dot(w, dw)) < 1e-10 * Math.max(1, Math.abs(ref)));
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("pad with interior padding and strided slice are adjoint; concat shape rule", () => {
  fc.assert(
    fc.property(shapeArb(3, 5), fc.nat(1000), (shape, seed) => {
      const lo = shape.map((_, i) => (seed >> i) % 3), hi = shape.map((_, i) => (seed >> (i + 2)) % 2);
      const interior = shape.map((_, i) => (seed >> (i + 4)) % 3);
      const x = filled(shape, seed);
      const p = T.bind("pad", [x], { lo, hi, interior, value: 0 });
      assert.deepEqual(p.shape, shape.map((d, i) => lo[i] + hi[i] + d + (d - 1) * interior[i]));
      const u = filled(p.shape, seed + 3);
      const s = T.bind("slice", [u], {
        starts: lo,
        stops: shape.map((d, i) => lo[i] + (d - 1) * (interior[i] + 1) + 1),
        steps: interior.map((v) => v + 1),
      });
      assert.deepEqual(s.shape, shape);
      assert.ok(Math.abs(dot(p, u) - dot(x, s)) < 1e-10);
      const c = T.concat([x, x, x], shape.length - 1);
      assert.deepEqual(c.shape, [...shape.slice(0, -1), 3 * shape[shape.length - 1]]);
    }),
    { numRuns: 60 },
  );
});

Deno.test("broadcast shape rule and its sum adjoint; randomBits shape, determinism and key sensitivity", () => {
  fc.assert(
    fc.property(shapeArb(3), fc.nat(1000), (shape, seed) => {
      const small = shape.map((d, i) => (seed >> i) & 1 ? 1 : d);
      const x = filled(small, seed);
      const b = T.bind("broadcast", [x], { shape });
      assert.deepEqual(b.shape, shape);
      const u = filled(shape, seed + 1);
      const axes = small.flatMap((d, i) => d === 1 && shape[i] !== 1 ? [i] : []);
      const s = axes.length ? T.bind("sum", [u], { axes }) : u;
      assert.ok(Math.abs(dot(b, u) - dot(x, s)) < 1e-10);
      const k = T.randomKey(seed);
      const r1 = T.randomBits(k, shape), r2 = T.randomBits(k, shape);
      assert.equal(r1.dtype, "u32");
      assert.deepEqual(r1.shape, shape);
      assert.deepEqual([...r1.toArray()], [...r2.toArray()]);
      const r3 = T.randomBits(T.randomKey(seed + 1), shape);
      if (r1.size >= 4) assert.notDeepEqual([...r1.toArray()], [...r3.toArray()]);
    }),
    { numRuns: 40 },
  );
});
