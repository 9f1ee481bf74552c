/** Property tests (fast-check) of shape rules and algebraic identities of the core ops. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { bind } from "../lib/core/bind.ts";
import type { ConvParams } from "../lib/core/primitive.ts";
import * as T from "../lib/core/mod.ts";
import { randArray, relError } from "./_gradcheck.ts";

const dims = (maxRank: number, maxDim = 4) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: 0, maxLength: maxRank });
const filled = (shape: number[], seed: number) =>
  T.tensor(randArray(shape.reduce((a, b) => a * b, 1), seed), { shape, dtype: "f64" });
const close = (a: T.Tensor, b: T.Tensor, tol = 1e-12) => {
  assert.deepEqual(a.shape, b.shape);
  assert.ok(relError(a.toArray(), b.toArray()) <= tol, `relative error ${relError(a.toArray(), b.toArray())}`);
};

Deno.test("broadcasting follows NumPy: result shape and values", () => {
  fc.assert(
    fc.property(
      dims(4),
      fc.array(fc.boolean(), { maxLength: 4 }),
      fc.integer({ min: 0, max: 3 }),
      (shape, ones, drop) => {
        const other = shape.map((d, i) => ones[i] ? 1 : d).slice(Math.min(drop, shape.length));
        const a = filled(shape, 1), b = filled(other, 2);
        const c = T.add(a, b);
        assert.deepEqual(c.shape, shape);
        // Value check against explicit index arithmetic.
        const cs = c.toArray(), as = a.toArray(), bs = b.toArray();
        const off = shape.length - other.length;
        for (let i = 0; i < cs.length; i++) {
          let rem = i, bi = 0, bstride = 1;
          const idx: number[] = new Array(shape.length);
          for (let d = shape.length - 1; d >= 0; d--) {
            idx[d] = rem % shape[d];
            rem = Math.floor(rem / shape[d]);
          }
          for (let d = other.length - 1; d >= 0; d--) {
            bi += (other[d] === 1 ? 0 : idx[d + off]) * bstride;
            bstride *= other[d];
          }
          assert.equal(cs[i], as[i] + bs[bi]);
        }
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("transpose ∘ inverse transpose is the identity", () => {
  fc.assert(
    fc.property(
      dims(5).chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length }))),
      ([shape, perm]) => {
        const x = filled(shape, 3);
        const inv = new Array(perm.length);
        perm.forEach((p, i) => inv[p] = i);
        const y = T.transpose(x, perm);
        assert.deepEqual(y.shape, perm.map((p) => shape[p]));
        close(T.transpose(y, inv), x, 0);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("conv2d with a 1×1 identity kernel is the identity", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 6 }),
      (n, c, h, w) => {
        const x = filled([n, c, h, w], 4);
        const eye = new Float64Array(c * c);
        for (let i = 0; i < c; i++) eye[i * c + i] = 1;
        close(T.conv2d(x, T.tensor(eye, { shape: [c, c, 1, 1], dtype: "f64" })), x, 0);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("conv2d's matrix-product (dense 1×1) and channel-scale (1×1 depthwise) forms equal the conv2d primitive, values and VJPs", () => {
  fc.assert(
    fc.property(
      fc.record({
        n: fc.integer({ min: 1, max: 3 }),
        c: fc.integer({ min: 1, max: 4 }),
        o: fc.integer({ min: 1, max: 4 }),
        h: fc.integer({ min: 1, max: 5 }),
        w: fc.integer({ min: 1, max: 5 }),
        depthwise: fc.boolean(),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
      ({ n, c, o, h, w, depthwise, seed }) => {
        const groups = depthwise ? c : 1, out = depthwise ? c : o;
        const x = filled([n, c, h, w], seed), wt = filled([out, c / groups, 1, 1], seed + 1);
        const gy = filled([n, out, h, w], seed + 2);
        const params: ConvParams = { stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], groups };
        const viaOps = (a: T.Tensor, b: T.Tensor) => T.conv2d(a, b, { groups });
        const viaPrim = (a: T.Tensor, b: T.Tensor) => bind("conv2d", [a, b], params);
        const loss = (f: typeof viaOps) => (a: T.Tensor, b: T.Tensor) => T.sum(T.mul(f(a, b), gy));
        close(viaOps(x, wt), viaPrim(x, wt), 1e-13);
        const [dx1, dw1] = T.grad(loss(viaOps), { argnums: [0, 1] })(x, wt) as T.Tensor[];
        const [dx2, dw2] = T.grad(loss(viaPrim), { argnums: [0, 1] })(x, wt) as T.Tensor[];
        close(dx1, dx2, 1e-13);
        close(dw1, dw2, 1e-13);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("depthwise conv2d (groups = channels) equals a loop of single-channel convs", () => {
  fc.assert(
    fc.property(
      fc.record({
        c: fc.integer({ min: 1, max: 4 }),
        h: fc.integer({ min: 3, max: 8 }),
        w: fc.integer({ min: 3, max: 8 }),
        k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        pad: fc.integer({ min: 0, max: 2 }),
        dil: fc.integer({ min: 1, max: 2 }),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
      ({ c, h, w, k, stride, pad, dil, seed }) => {
        fc.pre((h + 2 * pad - dil * (k - 1)) >= 1 && (w + 2 * pad - dil * (k - 1)) >= 1);
        const x = filled([2, c, h, w], seed), wt = filled([c, 1, k, k], seed + 1);
        const opts = { stride, padding: pad, dilation: dil };
        const y = T.conv2d(x, wt, { ...opts, groups: c });
        const parts = Array.from(
          { length: c },
          (_, i) => T.conv2d(T.slice(x, [0, i], [2, i + 1]), T.slice(wt, [i], [i + 1]), opts),
        );
        close(y, T.concat(parts, 1), 1e-14);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("reshape round trip, slice∘pad inverse, concat of slices", () => {
  fc.assert(
    fc.property(dims(3, 5).filter((s) => s.length > 0), fc.nat(3), fc.nat(3), (shape, lo, hi) => {
      const x = filled(shape, 5);
      close(T.reshape(T.reshape(x, [-1]), shape), x, 0);
      const widths = shape.map(() => [lo, hi] as [number, number]);
      const p = T.pad(x, widths, 7);
      assert.deepEqual(p.shape, shape.map((d) => d + lo + hi));
      close(T.slice(p, shape.map(() => lo), shape.map((d) => d + lo)), x, 0);
      const cut = Math.floor(shape[0] / 2);
      close(T.concat([T.slice(x, [0], [cut]), T.slice(x, [cut], [shape[0]])], 0), x, 0);
    }),
    { numRuns: 60 },
  );
});

Deno.test("sum over all axes equals sum of partial sums; max is an upper bound", () => {
  fc.assert(
    fc.property(dims(4).filter((s) => s.length > 0), fc.nat(3), (shape, a) => {
      const x = filled(shape, 6);
      const axis = a % shape.length;
      const total = T.sum(x).item();
      assert.ok(Math.abs(T.sum(T.sum(x, axis)).item() - total) < 1e-12);
      const m = T.max(x, axis, true);
      assert.ok(T.sum(T.cast(T.gt(x, m), "f64")).item() === 0);
    }),
    { numRuns: 60 },
  );
});

Deno.test("matmul matches the definition and is associative", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      (m, k, n, p) => {
        const a = filled([m, k], 7), b = filled([k, n], 8), c = filled([n, p], 9);
        const ab = T.matmul(a, b).toArray(), ad = a.toArray(), bd = b.toArray();
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let q = 0; q < k; q++) s += ad[i * k + q] * bd[q * n + j];
            assert.ok(Math.abs(ab[i * n + j] - s) < 1e-12);
          }
        }
        close(T.matmul(T.matmul(a, b), c), T.matmul(a, T.matmul(b, c)), 1e-12);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("VJP transpose identity ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ for conv2d (linear in x)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 500 }),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      (seed, stride, pad) => {
        const w = filled([4, 2, 3, 3], seed);
        const f = (x: T.Tensor) => T.conv2d(x, w, { stride, padding: pad, groups: 2 });
        const v = filled([1, 4, 6, 7], seed + 1);
        const jv = f(v);
        const uu = filled([...jv.shape], seed + 2);
        const [, pull] = T.vjp(f as never, T.zerosLike(v));
        const [jtu] = pull(uu as never) as T.Tensor[];
        const lhs = T.sum(T.mul(jv, uu)).item(), rhs = T.sum(T.mul(v, jtu)).item();
        assert.ok(Math.abs(lhs - rhs) <= 1e-10 * Math.max(1, Math.abs(lhs)));
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("tree utilities: flatten/unflatten round trip, map, zip, count", () => {
  const tree = { b: [T.ones([2]), { c: T.zeros([3, 2]) }], a: T.scalar(1), name: "x" };
  const { leaves, def } = T.treeFlatten(tree);
  assert.equal(leaves.length, 3);
  const back = T.treeUnflatten<typeof tree>(def, leaves);
  assert.equal(back.name, "x");
  assert.equal(T.treeCount(tree), 9);
  const doubled = T.treeMap<typeof tree>((x) => T.mul(x, 2), tree);
  assert.equal(T.sum(doubled.b[0] as T.Tensor).item(), 4);
  assert.equal(T.treeZip(tree, doubled).length, 3);
  assert.throws(() => T.treeMap((x) => x, tree, { a: T.scalar(1) }), /different structures/);
});
