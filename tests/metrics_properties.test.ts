import assert from "node:assert/strict";
import fc from "fast-check";
import { averagePrecision, dPrime, normalQuantile, rocAuc } from "../lib/metrics/mod.ts";

/** Samples with integer scores (so transforms stay exact) and at least one positive and one negative. */
const samples = (opts: { unique: boolean }) =>
  (opts.unique
    ? fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 2, maxLength: 60 })
    : fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 2, maxLength: 60 }))
    .chain((scores) =>
      fc.array(fc.integer({ min: 0, max: 1 }), { minLength: scores.length, maxLength: scores.length })
        .map((labels) => ({ scores, labels }))
    )
    .filter(({ labels }) => labels.includes(0) && labels.includes(1));

/** AUC as the probability that a random positive outscores a random negative, ties counting one half. */
function pairwiseAuc(scores: number[], labels: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    for (let j = 0; j < scores.length; j++) {
      if (labels[i] !== 1 || labels[j] !== 0) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

/** sklearn's AP written plainly: sort by score, close a threshold where the score changes, sum ΔR·P. */
function referenceAp(scores: number[], labels: number[]): number {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const positives = labels.reduce((a, b) => a + b, 0);
  let ap = 0;
  let tp = 0;
  let prevTp = 0;
  order.forEach((idx, k) => {
    tp += labels[idx];
    if (k === order.length - 1 || scores[order[k + 1]] !== scores[idx]) {
      ap += ((tp - prevTp) / positives) * (tp / (k + 1));
      prevTp = tp;
    }
  });
  return ap;
}

Deno.test("AP equals a plain sort-and-scan reference, ties included", () => {
  fc.assert(fc.property(samples({ unique: false }), ({ scores, labels }) => {
    assert.ok(Math.abs(averagePrecision(scores, labels) - referenceAp(scores, labels)) < 1e-12);
  }));
});

Deno.test("AP and AUC of a perfect ranking are 1", () => {
  fc.assert(fc.property(samples({ unique: false }), ({ labels }) => {
    const perfect = labels.map((y, i) => y * 1000 + i);
    // Summing equal recall steps of 1/P can land one ulp below 1, as it does in sklearn.
    assert.ok(Math.abs(averagePrecision(perfect, labels) - 1) < 1e-12);
    assert.equal(rocAuc(perfect, labels), 1);
  }));
});

Deno.test("AUC equals the pairwise win rate (ties count one half)", () => {
  fc.assert(fc.property(samples({ unique: false }), ({ scores, labels }) => {
    assert.ok(Math.abs(rocAuc(scores, labels) - pairwiseAuc(scores, labels)) < 1e-12);
  }));
});

Deno.test("AUC and AP are invariant to strictly increasing transforms of the scores", () => {
  const transforms = [(s: number) => 3 * s + 7, (s: number) => s ** 3, (s: number) => Math.atan(s / 100)];
  fc.assert(fc.property(samples({ unique: false }), fc.constantFrom(...transforms), ({ scores, labels }, f) => {
    const moved = scores.map(f);
    assert.equal(rocAuc(moved, labels), rocAuc(scores, labels));
    assert.equal(averagePrecision(moved, labels), averagePrecision(scores, labels));
  }));
});

Deno.test("AUC(1 - s) = 1 - AUC(s) without ties", () => {
  fc.assert(fc.property(samples({ unique: true }), ({ scores, labels }) => {
    const flipped = rocAuc(scores.map((s) => 1 - s), labels);
    assert.ok(Math.abs(flipped - (1 - rocAuc(scores, labels))) < 1e-12);
  }));
});

Deno.test("AP lies in (0, 1], and a constant score gives exactly the positive rate", () => {
  fc.assert(fc.property(samples({ unique: false }), ({ scores, labels }) => {
    const ap = averagePrecision(scores, labels);
    const rate = labels.reduce((a, b) => a + b, 0) / labels.length;
    assert.ok(ap > 0 && ap <= 1 + 1e-15, `AP ${ap}`);
    // A constant score puts every sample in one threshold, so AP is exactly the positive rate.
    assert.ok(Math.abs(averagePrecision(labels.map(() => 0), labels) - rate) < 1e-15);
  }));
});

Deno.test("undefined metrics are NaN: AP without positives, AUC with one class", () => {
  assert.ok(Number.isNaN(averagePrecision([0.3, 0.1], [0, 0])));
  assert.ok(Number.isNaN(rocAuc([0.3, 0.1], [1, 1])));
  assert.throws(() => rocAuc([0.3, NaN], [1, 0]), /score 1 is NaN/);
});

Deno.test("normalQuantile inverts the normal CDF and is odd about 1/2", () => {
  // Φ(x) from erfc by a continued fraction would be a second approximation; instead check textbook quantiles.
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959963984540054) < 1e-15);
  assert.ok(Math.abs(normalQuantile(0.8413447460685429) - 1) < 1e-14);
  assert.equal(normalQuantile(0.5), 0);
  assert.equal(normalQuantile(1), Infinity);
  assert.ok(Number.isNaN(normalQuantile(1.5)));
  fc.assert(fc.property(fc.double({ min: 1e-300, max: 1 - 1e-16, noNaN: true }), (p) => {
    assert.ok(Number.isFinite(normalQuantile(p)));
  }));
  // 1 - p is exact only away from 0, so the symmetry check stays where rounding of p cannot matter.
  fc.assert(fc.property(fc.double({ min: 1e-6, max: 0.5, noNaN: true }), (p) => {
    assert.ok(Math.abs(normalQuantile(1 - p) + normalQuantile(p)) <= 1e-9);
  }));
  fc.assert(
    fc.property(
      fc.double({ min: 0.01, max: 0.99, noNaN: true }),
      fc.double({ min: 0.01, max: 0.99, noNaN: true }),
      (a, b) => {
        // Non-decreasing: inputs one ulp apart may round to the same quantile.
        if (a < b) assert.ok(normalQuantile(a) <= normalQuantile(b));
      },
    ),
  );
  assert.equal(dPrime(0.5), 0);
  assert.ok(Math.abs(dPrime(0.975) - Math.SQRT2 * 1.959963984540054) < 1e-14);
});
