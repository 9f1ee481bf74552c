import assert from "node:assert/strict";
import fc from "fast-check";
import { compareRows, compareTables, parseTorchLines, type TorchRecord } from "../bench/compare.ts";
import type { ModelResult, PhaseResult, ThroughputReport } from "../bench/throughput.ts";

/** A phase result carrying only what the comparison reads. */
function phase(samplesPerS: number): PhaseResult {
  return { samplesPerS } as unknown as PhaseResult;
}

function ours(results: { family: string; dcls: boolean; train: number; infer: number }[]): ThroughputReport {
  return {
    adapter: "test adapter",
    timestampQuery: false,
    small: false,
    batch: 64,
    steps: 1,
    donate: true,
    skipped: [],
    failed: [],
    totalS: 1,
    results: results.map((r): ModelResult => ({
      model: `${r.family}${r.dcls ? "_dcls" : ""}_audio`,
      family: r.family,
      dcls: r.dcls,
      params: 1,
      batch: 64,
      input: [1, 128, 1001],
      setupMs: 0,
      train: phase(r.train),
      infer: phase(r.infer),
    })),
  };
}

const torch = (family: string, dcls: boolean, train: number, infer: number, bf16 = false): TorchRecord => ({
  family,
  dcls,
  bf16,
  train_samples_per_s: train,
  infer_samples_per_s: infer,
});

Deno.test("parseTorchLines: JSON lines are kept, other output is skipped", () => {
  const text = [
    "UserWarning: something from timm",
    JSON.stringify(torch("convnext", false, 100, 300)),
    "",
    JSON.stringify(torch("convnext", true, 50, 200)),
  ].join("\n");
  const recs = parseTorchLines(text);
  assert.equal(recs.length, 2);
  assert.deepEqual(recs.map((r) => r.dcls), [false, true]);
});

Deno.test("parseTorchLines: a malformed record names the file and line", () => {
  assert.throws(() => parseTorchLines('ok\n{"family": "convnext"', "t.jsonl"), /t\.jsonl:2: not JSON/);
  assert.throws(
    () => parseTorchLines('{"family": "convnext", "dcls": false, "train_samples_per_s": 1}', "t.jsonl"),
    /t\.jsonl:1: .*infer_samples_per_s/,
  );
});

Deno.test("compareRows: ratios are ours over PyTorch; DCLS cost is dense over DCLS on each side", () => {
  const pos = fc.double({ min: 0.1, max: 1e4, noNaN: true });
  fc.assert(
    fc.property(fc.tuple(pos, pos, pos, pos, pos, pos, pos, pos), ([a, b, c, d, e, f, g, h]) => {
      const rows = compareRows(
        ours([{ family: "convnext", dcls: false, train: a, infer: b }, {
          family: "convnext",
          dcls: true,
          train: c,
          infer: d,
        }]),
        [torch("convnext", true, g, h), torch("convnext", false, e, f)],
      );
      assert.equal(rows.length, 2);
      const [dense, dcls] = rows;
      assert.equal(dense.dcls, false);
      assert.ok(Math.abs(dense.trainRatio! - a / e) <= 1e-12 * (a / e));
      assert.ok(Math.abs(dense.inferRatio! - b / f) <= 1e-12 * (b / f));
      assert.ok(Math.abs(dcls.trainRatio! - c / g) <= 1e-12 * (c / g));
      assert.ok(Math.abs(dcls.oursDclsCostTrain! - a / c) <= 1e-12 * (a / c));
      assert.ok(Math.abs(dcls.torchDclsCostInfer! - f / h) <= 1e-12 * (f / h));
      assert.equal(dense.oursDclsCostTrain, undefined);
    }),
    { numRuns: 50 },
  );
});

Deno.test("compareRows: fp32 PyTorch records win over bf16 ones, and missing sides stay empty", () => {
  const rows = compareRows(
    ours([{ family: "fastvit", dcls: false, train: 10, infer: 20 }]),
    [torch("fastvit", false, 40, 80, true), torch("fastvit", false, 20, 40), torch("convformer", true, 5, 6)],
  );
  const fast = rows.find((r) => r.family === "fastvit")!;
  assert.equal(fast.torchTrain, 20);
  assert.equal(fast.trainRatio, 0.5);
  const conv = rows.find((r) => r.family === "convformer")!;
  assert.equal(conv.oursTrain, undefined);
  assert.equal(conv.trainRatio, undefined);
  const md = compareTables(rows);
  assert.match(md, /\| fastvit_audio +\| +10 \| +20 \| +0\.500 \|/);
  assert.match(md, /DCLS cost/);
});
