import assert from "node:assert/strict";
import fc from "fast-check";
import {
  augmentWaveform,
  erasingMask,
  mixBatch,
  mixupParams,
  randomErasingBoxes,
  randomRoll,
  resampleNearest,
  smoothLabels,
  speedPerturb,
} from "../lib/data/augment.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";

const arbSeed = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const arbSignal = fc.integer({ min: 1, max: 300 }).map((n) => Float32Array.from({ length: n }, (_, i) => i + 1));

Deno.test("randomRoll is a circular shift (np.roll) by a shift in [-N, N)", () => {
  fc.assert(fc.property(arbSeed, arbSignal, (seed, x) => {
    const y = randomRoll(keyFromSeed(seed), x);
    const n = x.length;
    // x holds 1..n, so the shift is readable off y[0] = x[(0 - s) mod n].
    const s = (n - (y[0] - 1)) % n;
    for (let i = 0; i < n; i++) assert.equal(y[i], x[(((i - s) % n) + n) % n]);
    assert.deepEqual(y, randomRoll(keyFromSeed(seed), x));
  }));
  // Shifts cover the whole range [-N, N) modulo N: every rotation of a short clip shows up.
  const x = Float32Array.of(1, 2, 3, 4);
  const seen = new Set(Array.from({ length: 200 }, (_, s) => randomRoll(keyFromSeed(s), x)[0]));
  assert.equal(seen.size, 4);
  assert.deepEqual(randomRoll(keyFromSeed(0), x, 0), x);
});

Deno.test("resampleNearest takes samples round(k / r) clipped to N - 1, ceil(N r) of them", () => {
  const x = Float32Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual([...resampleNearest(x, 0.5)], [0, 2, 4, 6, 8]);
  assert.deepEqual([...resampleNearest(x, 1)], [...x]);
  // r = 2/3: k·1.5 = 0, 1.5, 3, 4.5, 6, 7.5, 9 → round half to even 0, 2, 3, 4, 6, 8, 9.
  assert.deepEqual([...resampleNearest(x, 2 / 3)], [0, 2, 3, 4, 6, 8, 9]);
  const up = resampleNearest(x, 1.5);
  assert.equal(up.length, 15);
  assert.equal(up[up.length - 1], 9);
  for (let k = 1; k < up.length; k++) assert.ok(up[k] >= up[k - 1]);
});

Deno.test("speedPerturb keeps the length, applies with probability p, and is a padded/cropped resampling", () => {
  fc.assert(
    fc.property(arbSeed, arbSignal, (seed, x) => {
      const y = speedPerturb(keyFromSeed(seed), x, { p: 1 });
      assert.equal(y.length, x.length);
      // Non-zero samples come from x in non-decreasing index order (nearest-neighbour resampling, then a window).
      const nz = [...y].filter((v) => v !== 0);
      assert.ok(nz.length > 0);
      for (let i = 1; i < nz.length; i++) assert.ok(nz[i] >= nz[i - 1]);
      // Zeros (padding) only at the ends.
      const first = y.findIndex((v) => v !== 0);
      const last = y.findLastIndex((v) => v !== 0);
      for (let i = first; i <= last; i++) assert.notEqual(y[i], 0);
      assert.deepEqual(speedPerturb(keyFromSeed(seed), x, { p: 0 }), x);
    }),
    { numRuns: 100 },
  );
  const x = Float32Array.from({ length: 64 }, (_, i) => i + 1);
  let applied = 0;
  for (let s = 0; s < 400; s++) {
    const y = speedPerturb(keyFromSeed(s), x);
    if (y.some((v, i) => v !== x[i])) applied++;
  }
  assert.ok(applied > 150 && applied < 250, `applied ${applied} of 400 with p = 0.5`);
});

Deno.test("augmentWaveform composes roll and speed perturbation deterministically", () => {
  const x = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i));
  const a = augmentWaveform(keyFromSeed(1), x);
  assert.deepEqual(a, augmentWaveform(keyFromSeed(1), x));
  assert.equal(a.length, 100);
  assert.notDeepEqual(a, augmentWaveform(keyFromSeed(2), x));
});

Deno.test("mixupParams: λ in [0, 1] with mean 1/2 for Beta(α, α), perm a permutation", () => {
  fc.assert(fc.property(arbSeed, fc.integer({ min: 1, max: 64 }), (seed, b) => {
    const { lambda, perm } = mixupParams(keyFromSeed(seed), b);
    assert.ok(lambda >= 0 && lambda <= 1);
    assert.deepEqual([...perm].sort((p, q) => p - q), Array.from({ length: b }, (_, i) => i));
  }));
  let sum = 0;
  for (let s = 0; s < 2000; s++) sum += mixupParams(keyFromSeed(s), 4).lambda;
  // Beta(0.8, 0.8) has sd ≈ 0.30; 2000 draws give a standard error ≈ 0.007.
  assert.ok(Math.abs(sum / 2000 - 0.5) < 0.04, `mean λ ${sum / 2000}`);
});

Deno.test("smoothLabels and mixBatch follow the recipe's formulas", () => {
  const t = Float32Array.of(1, 0, 0, 0, 1, 1);
  const s = smoothLabels(t, 0.1, 3);
  assert.ok(Math.abs(s[0] - (0.9 + 0.1 / 3)) < 1e-6);
  assert.ok(Math.abs(s[1] - 0.1 / 3) < 1e-6);
  assert.throws(() => smoothLabels(t, 0.1, 4), /must divide/);
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 8 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    arbSeed,
    (b, lambda, seed) => {
      const x = Float32Array.from({ length: b * 5 }, (_, i) => Math.sin(i));
      const y = Float32Array.from({ length: b * 2 }, (_, i) => i % 2);
      const { perm } = mixupParams(keyFromSeed(seed), b);
      const m = mixBatch(x, y, lambda, perm);
      for (let i = 0; i < b; i++) {
        for (let k = 0; k < 5; k++) {
          const expected = lambda * x[i * 5 + k] + (1 - lambda) * x[perm[i] * 5 + k];
          assert.ok(Math.abs(m.x[i * 5 + k] - expected) < 1e-6);
        }
      }
      // Mixing is a convex combination: row sums of targets are preserved on average.
      const total = (a: Float32Array) => a.reduce((p, v) => p + v, 0);
      assert.ok(Math.abs(total(m.targets) - total(y)) < 1e-4);
    },
  ));
  assert.throws(() => mixBatch(new Float32Array(5), new Float32Array(4), 0.5, [0, 1]), /not a multiple/);
});

Deno.test("randomErasingBoxes: timm semantics — area, aspect, bounds, probability", () => {
  const F = 128;
  const T = 200;
  fc.assert(
    fc.property(arbSeed, (seed) => {
      const boxes = randomErasingBoxes(keyFromSeed(seed), 16, F, T, { p: 1 });
      for (const { top, left, height, width, index } of boxes) {
        assert.ok(index >= 0 && index < 16);
        assert.ok(top >= 0 && left >= 0 && top + height <= F && left + width <= T);
        assert.ok(height < F && width < T);
        const area = height * width / (F * T);
        // Rounding h and w moves the area a little beyond [2%, 1/3].
        assert.ok(area > 0.015 && area < 0.37, `area ${area}`);
        const aspect = height / width;
        assert.ok(aspect > 0.25 && aspect < 4, `aspect ${aspect}`);
      }
      // With p = 1 nearly every sample gets its box (10 attempts rarely all fail for this image).
      assert.ok(boxes.length >= 14);
      assert.deepEqual(boxes, randomErasingBoxes(keyFromSeed(seed), 16, F, T, { p: 1 }));
    }),
    { numRuns: 30 },
  );
  const boxes = randomErasingBoxes(keyFromSeed(1), 2000, F, T);
  const erased = new Set(boxes.map((b) => b.index)).size;
  assert.ok(erased > 400 && erased < 600, `${erased} of 2000 erased with p = 0.25`);
  const two = randomErasingBoxes(keyFromSeed(2), 10, F, T, { p: 1, count: 2 });
  assert.ok(two.length > 10);
});

Deno.test("erasingMask zeroes exactly the boxes", () => {
  const boxes = randomErasingBoxes(keyFromSeed(4), 3, 20, 30, { p: 1 });
  const mask = erasingMask(boxes, 3, 20, 30);
  assert.equal(mask.length, 3 * 20 * 30);
  let zeros = 0;
  for (const v of mask) if (v === 0) zeros++;
  // Boxes of one sample may overlap only when count > 1; here there is one per sample.
  assert.equal(zeros, boxes.reduce((s, b) => s + b.height * b.width, 0));
  for (const b of boxes) {
    assert.equal(mask[(b.index * 20 + b.top) * 30 + b.left], 0);
    assert.equal(mask[(b.index * 20 + b.top + b.height - 1) * 30 + b.left + b.width - 1], 0);
  }
  assert.throws(() => erasingMask([{ index: 0, top: 19, left: 0, height: 2, width: 1 }], 1, 20, 30), /outside/);
});
