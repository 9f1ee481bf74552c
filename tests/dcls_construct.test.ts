/**
 * DCLS construction beyond the fixtures: a direct (non-separable) transcription of the reference formulas for several
 * inputs per group and non-square grids, kernel mass conservation, the size of the traced intermediates, compile
 * parity and input validation.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { construct, construct1d, DCLS_VERSIONS, type DclsVersion } from "../lib/dcls/construct.ts";
import { randArray, relError } from "./_gradcheck.ts";

const f64 = (data: Float64Array, shape: number[]) => T.tensor(data, { shape, dtype: "f64" });

/** One element's unnormalised 1-D factor at distance x = index − position. */
function factor(version: DclsVersion, x: number, sig: number): number {
  if (version === "gauss") return Math.exp(-0.5 * (x / (Math.abs(sig) + 0.27)) ** 2);
  if (version === "max") return Math.max(0, Math.abs(sig) + 1 - Math.abs(x));
  return Math.max(0, 1 - Math.abs(x));
}

/**
 * The reference construction, cell by cell. Normalised versions: the reference's index grid holds (column, row) and
 * subtracts (P[0] + floor(D0/2), P[1] + floor(D1/2)). v0: bilinear split of P[0] + floor(D0/2) along rows.
 */
function naive2d(
  version: DclsVersion,
  w: Float64Array,
  P: Float64Array,
  S: Float64Array,
  c: number,
  k: number,
  d0: number,
  d1: number,
) {
  const out = new Float64Array(c * d0 * d1);
  const n = c * k;
  for (let ch = 0; ch < c; ch++) {
    for (let e = 0; e < k; e++) {
      const q = ch * k + e;
      const cell = new Float64Array(d0 * d1);
      let mass = 0;
      for (let r = 0; r < d0; r++) {
        for (let col = 0; col < d1; col++) {
          let v: number;
          if (version === "v0") {
            const pr = P[q] + Math.floor(d0 / 2), pc = P[n + q] + Math.floor(d1 / 2);
            const fr = Math.floor(pr), fc_ = Math.floor(pc), rr = pr - fr, rc = pc - fc_;
            const a = r === fr ? 1 - rr : r === fr + 1 ? rr : 0;
            const b = col === fc_ ? 1 - rc : col === fc_ + 1 ? rc : 0;
            v = a * b;
          } else {
            const x = col - (P[q] + Math.floor(d0 / 2)), y = r - (P[n + q] + Math.floor(d1 / 2));
            v = factor(version, x, S[q]) * factor(version, y, S[n + q]);
          }
          cell[r * d1 + col] = v;
          mass += v;
        }
      }
      const scale = version === "v0" ? w[q] : w[q] / (mass + 1e-7);
      for (let i = 0; i < d0 * d1; i++) out[ch * d0 * d1 + i] += scale * cell[i];
    }
  }
  return out;
}

Deno.test("construct equals the cell-by-cell reference formulas (several inputs per group, non-square grids)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...DCLS_VERSIONS),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 1e6 }),
      (version, co, ci, k, d0, d1, seed) => {
        const n = co * ci * k;
        const w = randArray(n, seed), P = randArray(2 * n, seed + 1, -6, 6), S = randArray(2 * n, seed + 2, -1, 1);
        const got = construct(f64(w, [co, ci, k]), f64(P, [2, co, ci, k]), f64(S, [2, co, ci, k]), {
          version,
          dilatedKernelSize: [d0, d1],
        });
        assert.deepEqual(got.shape, [co, ci, d0, d1]);
        const ref = naive2d(version, w, P, S, co * ci, k, d0, d1);
        const err = relError(got.toArray(), ref, 1e-300);
        assert.ok(err <= 1e-12 || ref.every((v) => v === 0) && got.toArray().every((v) => v === 0), `error ${err}`);
      },
    ),
    { numRuns: 60, seed: 5 },
  );
});

Deno.test("construct1d equals the 1-D reference formulas", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...DCLS_VERSIONS),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 11 }),
      fc.integer({ min: 0, max: 1e6 }),
      (version, c, k, d, seed) => {
        const n = c * k;
        const w = randArray(n, seed), P = randArray(n, seed + 1, -7, 7), S = randArray(n, seed + 2, -1, 1);
        const got = construct1d(f64(w, [c, 1, k]), f64(P, [1, c, 1, k]), f64(S, [1, c, 1, k]), {
          version,
          dilatedKernelSize: d,
        });
        const ref = new Float64Array(c * d);
        for (let q = 0; q < n; q++) {
          const p = P[q] + Math.floor(d / 2);
          const prof = Array.from({ length: d }, (_, i) => {
            if (version !== "v0") return factor(version, i - p, S[q]);
            return i === Math.floor(p) ? 1 - (p - Math.floor(p)) : i === Math.floor(p) + 1 ? p - Math.floor(p) : 0;
          });
          const mass = prof.reduce((a, b) => a + b, 0);
          const scale = version === "v0" ? w[q] : w[q] / (mass + 1e-7);
          prof.forEach((v, i) => ref[Math.floor(q / k) * d + i] += scale * v);
        }
        assert.deepEqual(got.shape, [c, 1, d]);
        const err = relError(got.toArray(), ref, 1e-300);
        assert.ok(err <= 1e-12 || ref.every((v) => v === 0) && got.toArray().every((v) => v === 0), `error ${err}`);
      },
    ),
    { numRuns: 40, seed: 6 },
  );
});

Deno.test("kernel mass: with positions inside the grid, each element's profile sums to 1, so Σ Kd = Σ w", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...DCLS_VERSIONS),
      fc.constantFrom(5, 7, 23),
      fc.integer({ min: 0, max: 1e6 }),
      (version, d, seed) => {
        const [c, k] = [3, 8], n = c * k, lim = Math.floor(d / 2);
        const w = randArray(n, seed);
        const P = randArray(2 * n, seed + 1, -lim, lim), S = randArray(2 * n, seed + 2, -0.5, 0.5);
        const kd = construct(f64(w, [c, 1, k]), f64(P, [2, c, 1, k]), f64(S, [2, c, 1, k]), {
          version,
          dilatedKernelSize: d,
        });
        const got = T.sum(kd, [1, 2, 3]).toArray();
        // Each element loses at most eps/mass to the 1e-7 normaliser; its mass is at least a fraction of a cell.
        for (let ch = 0; ch < c; ch++) {
          const ws = w.subarray(ch * k, (ch + 1) * k);
          const want = ws.reduce((a, b) => a + b, 0), scale = ws.reduce((a, b) => a + Math.abs(b), 0);
          assert.ok(
            Math.abs(got[ch] - want) <= 1e-6 * scale,
            `${version}: channel ${ch} sums to ${got[ch]}, weights to ${want}`,
          );
        }
      },
    ),
    { numRuns: 40, seed: 7 },
  );
});

Deno.test("construct with its gradient never materialises a grid × channels × elements intermediate", () => {
  const [c, k, d] = [16, 26, 23];
  const w = f64(randArray(c * k, 1), [c, 1, k]);
  const P = f64(randArray(2 * c * k, 2, -3, 3), [2, c, 1, k]);
  const S = f64(randArray(2 * c * k, 3, 0, 0.5), [2, c, 1, k]);
  for (const composed of [false, true]) {
    const loss = (w: T.Tensor, p: T.Tensor, s: T.Tensor) =>
      T.sum(T.square(construct(w, p, s, { version: "gauss", dilatedKernelSize: d, composed })));
    const { graph } = T.traceGraph(
      ((w: T.Tensor, p: T.Tensor, s: T.Tensor) => T.grad(loss, { argnums: [0, 1, 2] })(w, p, s)) as never,
      [w, P, S],
    );
    const largest = Math.max(...graph.eqns.map((e) => e.out.aval.shape.reduce((a, b) => a * b, 1)));
    const prims = new Set(graph.eqns.map((e) => e.prim));
    if (composed) assert.ok(prims.has("matmul"), "the composed kernel is a batched matmul");
    else assert.ok(prims.has("dclsGauss") && prims.has("dclsGaussGrad"), `fused primitives, got ${[...prims]}`);
    assert.ok(largest <= c * Math.max(d * k, d * d), `largest intermediate has ${largest} elements`);
  }
});

Deno.test("construct gives the same kernel eagerly and compiled, in f32", () => {
  const [c, k, d] = [4, 5, 9];
  const w = T.tensor(Float32Array.from(randArray(c * k, 1)), { shape: [c, 1, k] });
  const P = T.tensor(Float32Array.from(randArray(2 * c * k, 2, -4, 4)), { shape: [2, c, 1, k] });
  const S = T.tensor(Float32Array.from(randArray(2 * c * k, 3)), { shape: [2, c, 1, k] });
  for (const version of DCLS_VERSIONS) {
    const f = (w: T.Tensor, p: T.Tensor, s: T.Tensor) => construct(w, p, s, { version, dilatedKernelSize: d });
    const eager = f(w, P, S), compiled = T.compile(f)(w, P, S);
    assert.equal(compiled.dtype, "f32");
    assert.ok(relError(compiled.toArray(), eager.toArray()) <= 1e-6, version);
  }
});

Deno.test("construct rejects mismatched shapes, a missing SIG and unknown versions with one-line errors", () => {
  const w = T.zeros([2, 1, 3], "f64"), P = T.zeros([2, 2, 1, 3], "f64");
  assert.throws(
    () => construct(w, T.zeros([2, 2, 1, 4], "f64"), P, { version: "gauss", dilatedKernelSize: 5 }),
    /P must be/,
  );
  assert.throws(() => construct(w, P, undefined, { version: "gauss", dilatedKernelSize: 5 }), /needs SIG/);
  assert.throws(() => construct(w, P, P, { version: "v2" as DclsVersion, dilatedKernelSize: 5 }), /unknown version/);
  assert.throws(() => construct(w, P, P, { version: "v1", dilatedKernelSize: 0 }), /dilatedKernelSize/);
  assert.throws(() => construct(T.zeros([2, 1, 3]), P, P, { version: "v1", dilatedKernelSize: 5 }), /dtype/);
  // v1 and v0 need no SIG.
  assert.deepEqual(construct(w, P, undefined, { version: "v1", dilatedKernelSize: 5 }).shape, [2, 1, 5, 5]);
});
