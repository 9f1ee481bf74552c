import assert from "node:assert/strict";
import fc from "fast-check";
import { keyFromSeed, randomBits } from "../lib/random/threefry.ts";
import {
  bernoulli,
  beta,
  gamma,
  normal,
  permutation,
  randint,
  truncatedNormal,
  uniform,
} from "../lib/random/distributions.ts";
import { erf, erfinvF32 } from "../lib/random/special.ts";

const arbSeed = fc.integer({ min: 0, max: 2 ** 32 - 1 });

/** zlib.adler32, which jax's testRandomDistributionValues uses to seed each case from "<name>threefry2x32". */
function adler32(s: string): number {
  let a = 1;
  let b = 0;
  for (const c of new TextEncoder().encode(s)) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return (b * 65536 + a) >>> 0;
}
const caseKey = (name: string) => keyFromSeed(adler32(`${name}threefry2x32`));

function moments(x: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const mean = s / x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return { mean, variance: v / x.length };
}

function assertClose(actual: ArrayLike<number>, expected: number[], tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
  }
}

// Expected values: _RANDOM_VALUES_CASES of jax/tests/random_test.py (threefry2x32, float32, 6 printed digits).
Deno.test("samplers reproduce jax's recorded random values", () => {
  assert.deepEqual([...randomBits(caseKey("bits"), 5)], [1978747883, 4134381225, 3628107870, 689687174, 2788938207]);
  assertClose(uniform(caseKey("uniform"), 5), [0.298671, 0.073213, 0.873356, 0.260549, 0.412797], 1e-6);
  assertClose(normal(caseKey("normal"), 5), [-1.173234, -1.511662, 0.070593, -0.099764, 1.052845], 1e-6);
  assertClose(
    truncatedNormal(caseKey("truncated_normal"), 5, { lo: 0, hi: 2 }),
    [0.582807, 1.709771, 0.159513, 0.861376, 0.36148],
    1e-6,
  );
  assert.deepEqual([...randint(caseKey("randint"), 5, 0, 10)], [0, 5, 7, 7, 5]);
  assert.deepEqual([...bernoulli(caseKey("bernoulli"), 0.5, 5)], [0, 1, 1, 1, 0]);
  // testPRNGValues: randint(PRNGKey(0), (3, 3), 0, 8, int32).
  assert.deepEqual([...randint(keyFromSeed(0), 9, 0, 8)], [2, 1, 3, 6, 1, 5, 6, 3, 4]);
});

Deno.test("uniform: within [lo, hi) with the moments of U(lo, hi)", () => {
  fc.assert(
    fc.property(
      arbSeed,
      fc.double({ min: -10, max: 10, noNaN: true }),
      fc.double({ min: 0.01, max: 10, noNaN: true }),
      (s, lo, w) => {
        const hi = lo + w;
        const u = uniform(keyFromSeed(s), 4096, { lo, hi });
        const lof = Math.fround(lo);
        for (const v of u) assert.ok(v >= lof && v <= Math.fround(hi), `${v} outside [${lo}, ${hi})`);
        const { mean, variance } = moments(u);
        const span = Math.fround(hi) - lof;
        // Mean within 6 standard errors; variance within 10% (n = 4096).
        assert.ok(Math.abs(mean - (lof + span / 2)) < 6 * span * Math.sqrt(1 / 12 / 4096), `mean ${mean}`);
        assert.ok(Math.abs(variance / (span * span / 12) - 1) < 0.1, `variance ${variance}`);
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("normal and truncatedNormal: moments and bounds", () => {
  fc.assert(
    fc.property(arbSeed, fc.boolean(), (s, partitionable) => {
      const z = normal(keyFromSeed(s), 8192, { partitionable });
      const m = moments(z);
      assert.ok(Math.abs(m.mean) < 6 / Math.sqrt(8192), `mean ${m.mean}`);
      assert.ok(Math.abs(m.variance - 1) < 0.1, `variance ${m.variance}`);
      const t = truncatedNormal(keyFromSeed(s), 8192, { std: 0.5 });
      for (const v of t) assert.ok(v > -1 && v < 1, `${v} outside (-1, 1)`);
      // Var of N(0,1) truncated to (-2, 2) is 1 - 4φ(2)/(Φ(2) - Φ(-2)) ≈ 0.7737; scaled by 0.25.
      const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI);
      const expected = 0.25 * (1 - (4 * phi2) / erf(2 / Math.SQRT2));
      assert.ok(Math.abs(moments(t).variance / expected - 1) < 0.1, `trunc variance ${moments(t).variance}`);
    }),
    { numRuns: 10 },
  );
});

Deno.test("erfinvF32 inverts erf to float32 accuracy; erf matches reference values", () => {
  fc.assert(fc.property(fc.double({ min: -0.999, max: 0.999, noNaN: true }), (x) => {
    assert.ok(Math.abs(erf(erfinvF32(x)) - x) < 2e-6, `erf(erfinv(${x}))`);
  }));
  assert.equal(erfinvF32(1), Infinity);
  assert.equal(erfinvF32(-1), -Infinity);
  // erf(1), erf(3) to 15 digits (Abramowitz & Stegun table 7.1).
  assert.ok(Math.abs(erf(1) - 0.842700792949715) < 1e-14);
  assert.ok(Math.abs(erf(3) - 0.999977909503001) < 1e-14);
  assert.ok(Math.abs(erf(-0.5) + 0.520499877813047) < 1e-14);
});

Deno.test("bernoulli frequency and randint range/coverage", () => {
  fc.assert(
    fc.property(arbSeed, fc.double({ min: 0, max: 1, noNaN: true }), (s, p) => {
      const b = bernoulli(keyFromSeed(s), p, 4096);
      const freq = b.reduce((a, v) => a + v, 0) / 4096;
      assert.ok(Math.abs(freq - p) < 6 * Math.sqrt((p * (1 - p) + 1e-4) / 4096) + 1e-9, `freq ${freq} p ${p}`);
    }),
    { numRuns: 30 },
  );
  fc.assert(
    fc.property(arbSeed, fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 1, max: 20 }), (s, lo, span) => {
      const r = randint(keyFromSeed(s), 2000, lo, lo + span);
      const seen = new Set(r);
      for (const v of r) assert.ok(v >= lo && v < lo + span);
      assert.equal(seen.size, span);
    }),
    { numRuns: 30 },
  );
  assert.deepEqual([...randint(keyFromSeed(1), 3, 5, 5)], [5, 5, 5]);
});

Deno.test("permutation: a permutation, reproducible, equal to a reference stable sort by JAX's sort keys", () => {
  fc.assert(
    fc.property(arbSeed, fc.integer({ min: 0, max: 3000 }), (s, n) => {
      const key = keyFromSeed(s);
      const p = permutation(key, n);
      assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
      assert.deepEqual(p, permutation(key, n));
    }),
    { numRuns: 20 },
  );
  // One round (n ≤ 1625): the order of a stable sort by random_bits(split(key)[1], n).
  const key = keyFromSeed(3);
  const n = 1000;
  const sub = (() => {
    // split(key) in the original layout = random_bits(key, 4) as two pairs.
    const w = randomBits(key, 4);
    return Uint32Array.of(w[2], w[3]);
  })();
  const sortKeys = randomBits(sub, n);
  const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => sortKeys[a] - sortKeys[b] || a - b);
  assert.deepEqual([...permutation(key, n)], expected);
});

Deno.test("gamma and beta: positive, in range, with the right means", () => {
  fc.assert(
    fc.property(arbSeed, fc.double({ min: 0.1, max: 5, noNaN: true }), (s, a) => {
      const g = gamma(keyFromSeed(s), a, 4000);
      for (const v of g) assert.ok(v >= 0 && Number.isFinite(v));
      // Gamma(a) has mean a and variance a.
      assert.ok(Math.abs(moments(g).mean - a) < 6 * Math.sqrt(a / 4000), `mean ${moments(g).mean} a ${a}`);
      const b = beta(keyFromSeed(s), a, 0.8, 4000);
      for (const v of b) assert.ok(v >= 0 && v <= 1);
      const mean = a / (a + 0.8);
      assert.ok(Math.abs(moments(b).mean - mean) < 6 * 0.5 / Math.sqrt(4000), `beta mean ${moments(b).mean}`);
    }),
    { numRuns: 15 },
  );
  assert.deepEqual(beta(keyFromSeed(9), 0.8, 0.8, 4), beta(keyFromSeed(9), 0.8, 0.8, 4));
  assert.throws(() => gamma(keyFromSeed(0), 0, 1), /positive/);
});
