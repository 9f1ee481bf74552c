import assert from "node:assert/strict";
import { evaluate } from "../lib/metrics/mod.ts";
import { fixtureTensor, loadFixture, loadManifest } from "./_fixtures.ts";

const TOL = 1e-9;

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs ${expected}`);
}

Deno.test("evaluate matches sklearn 1.2 on the metrics fixture (per class and means, ties in class 3)", () => {
  const fx = loadFixture("metrics");
  const score = fixtureTensor(fx, "score");
  const target = fixtureTensor(fx, "target");
  const [n, classes] = score.shape;
  const note = String((loadManifest().metrics as { note: string }).note);
  assert.match(note, /ties/);
  // The fixture exercises ties only if class 3 really repeats a score across rows 5..14.
  const tied = new Set<number>();
  for (let r = 5; r <= 14; r++) tied.add(score.data[r * classes + 3]);
  assert.equal(tied.size, 1);

  const result = evaluate(score.data, target.data, classes);
  assert.equal(result.perClassAP.length, classes);
  const ap = fixtureTensor(fx, "ap_per_class").data;
  const auc = fixtureTensor(fx, "auc_per_class").data;
  for (let c = 0; c < classes; c++) {
    close(result.perClassAP[c], ap[c], `AP class ${c}`);
    close(result.perClassAUC[c], auc[c], `AUC class ${c}`);
  }
  close(result.mAP, fixtureTensor(fx, "mAP").data[0], "mAP");
  close(result.mAUC, fixtureTensor(fx, "mAUC").data[0], "mAUC");
  close(result.dPrimeMeanOfClasses, fixtureTensor(fx, "dprime_mean_of_classes").data[0], "d' mean of classes");
  close(result.dPrimeOfMeanAuc, fixtureTensor(fx, "dprime_of_mean_auc").data[0], "d' of mean AUC");
  assert.equal(result.classesWithoutPositives.count, 0);
  assert.ok(n > 0);
});

Deno.test("evaluate excludes classes without positives from every mean and reports them", () => {
  const fx = loadFixture("metrics");
  const score = fixtureTensor(fx, "score");
  const target = fixtureTensor(fx, "target");
  const classes = score.shape[1];
  const full = evaluate(score.data, target.data, classes);
  const emptied = Float64Array.from(target.data);
  for (let i = 0; i < score.shape[0]; i++) {
    emptied[i * classes + 2] = 0;
    emptied[i * classes + 7] = 0;
  }
  const result = evaluate(score.data, emptied, classes);
  assert.deepEqual(result.classesWithoutPositives, { count: 2, indices: [2, 7] });
  assert.ok(Number.isNaN(result.perClassAP[2]) && Number.isNaN(result.perClassAUC[7]));
  const kept = [...full.perClassAP].filter((_, c) => c !== 2 && c !== 7);
  close(result.mAP, kept.reduce((a, b) => a + b, 0) / kept.length, "mAP over kept classes");
  assert.ok(Number.isFinite(result.dPrimeMeanOfClasses) && Number.isFinite(result.dPrimeOfMeanAuc));
});

Deno.test("evaluate rejects mismatched shapes with a clear error", () => {
  assert.throws(() => evaluate([0.1, 0.2, 0.3], [0, 1], 1), /scores have 3 values but targets 2/);
  assert.throws(() => evaluate([0.1, 0.2, 0.3], [0, 1, 1], 2), /do not form rows of 2 classes/);
  assert.throws(() => evaluate([0.1, 0.2], [0, 0.5], 1), /label 1 is 0.5/);
});
