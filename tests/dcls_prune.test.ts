/**
 * Inference with pruned DCLS kernels: the traced relative pruning, its cell count, the per-layer error bound, the
 * pruned models (threshold 0 gives the same logits; training refused) and `deno task eval --prune`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { construct } from "../lib/dcls/construct.ts";
import { dcls2d, initDcls2d } from "../lib/dcls/layer.ts";
import { keptCells, pruneKernel, pruneRelative } from "../lib/dcls/prune.ts";
import { dclsKeptCells, prunedDclsModel } from "../lib/models/dcls_prune.ts";
import { getModel } from "../lib/models/registry.ts";
import { saveCheckpoint } from "../lib/models/checkpoint.ts";
import { PROCEDURAL_CLASSES } from "../lib/data/procedural.ts";
import { rand } from "./_gradcheck.ts";
import { errorLines, task } from "./_cli.ts";

const DCLS_NANO = ["convnext_dcls_audio_nano", "convformer_dcls_audio_nano", "fastvit_dcls_audio_nano"];

/** A depthwise DCLS layer with spread-out weights (N(0, 1)) so that pruning drops some cells and keeps others. */
function layer(seed: number, c = 3) {
  const p = initDcls2d(T.randomKey(seed), {
    inChannels: c,
    outChannels: c,
    groups: c,
    kernelCount: 4,
    dilatedKernelSize: 7,
    dtype: "f64",
  });
  return { ...p, weight: T.normal(T.randomKey(seed + 100), p.weight.shape, { dtype: "f64" }) };
}

Deno.test("pruneRelative drops exactly the cells below threshold · max|k| of their slice; keptCells counts the rest", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 0.9, noNaN: true }), (seed, t) => {
      const p = layer(seed);
      const kernel = construct(p.weight, p.P, p.SIG, { version: "gauss", dilatedKernelSize: [7, 7] });
      const pruned = pruneRelative(kernel, t).toArray();
      const k = kernel.toArray();
      const slice = 49;
      let kept = 0;
      for (let s = 0; s < k.length / slice; s++) {
        const m = Math.max(...Array.from(k.subarray(s * slice, (s + 1) * slice), Math.abs));
        // The same per-slice rule through the absolute-threshold lister, one slice at a time.
        const ref = pruneKernel(T.tensor(k.slice(s * slice, (s + 1) * slice), { shape: [1, 1, 7, 7] }), t * m);
        for (let i = 0; i < slice; i++) {
          const v = k[s * slice + i];
          const keep = Math.abs(v) >= t * m;
          assert.equal(pruned[s * slice + i], keep ? v : 0);
          if (keep) kept++;
        }
        assert.ok(ref.kept > 0, "the largest cell of a slice is always kept");
      }
      assert.deepEqual(keptCells(kernel, t), { kept, total: k.length });
    }),
    { numRuns: 20 },
  );
});

Deno.test("pruneRelative at 0 returns the kernel itself; thresholds outside [0, 1) are refused", () => {
  const p = layer(1);
  const kernel = construct(p.weight, p.P, p.SIG, { version: "gauss", dilatedKernelSize: [7, 7] });
  assert.equal(pruneRelative(kernel, 0), kernel);
  for (const t of [-0.1, 1, 2, NaN]) {
    assert.throws(() => pruneRelative(kernel, t), /relative threshold/);
    assert.throws(() => keptCells(kernel, t), /relative threshold/);
  }
});

Deno.test("dcls2d with prune: |Δy| ≤ Σ dropped |k| of the channel × max |x| of the channel (depthwise)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), (seed, t) => {
      const c = 3;
      const p = layer(seed, c);
      const x = rand([2, c, 9, 8], seed + 7);
      const opts = { dilatedKernelSize: 7, groups: c } as const;
      const y0 = dcls2d(p, x, opts).toArray(), y1 = dcls2d(p, x, { ...opts, prune: t }).toArray();
      const kernel = construct(p.weight, p.P, p.SIG, { version: "gauss", dilatedKernelSize: [7, 7] });
      const k = kernel.toArray(), kp = pruneRelative(kernel, t).toArray(), xs = x.toArray();
      const plane = 9 * 8;
      for (let ch = 0; ch < c; ch++) {
        let dropped = 0;
        for (let i = 0; i < 49; i++) dropped += Math.abs(k[ch * 49 + i] - kp[ch * 49 + i]);
        let xmax = 0;
        for (let n = 0; n < 2; n++) {
          for (let i = 0; i < plane; i++) xmax = Math.max(xmax, Math.abs(xs[(n * c + ch) * plane + i]));
        }
        const bound = dropped * xmax * (1 + 1e-9) + 1e-12;
        for (let n = 0; n < 2; n++) {
          for (let i = 0; i < plane; i++) {
            const j = (n * c + ch) * plane + i;
            assert.ok(Math.abs(y1[j] - y0[j]) <= bound, `channel ${ch}: |Δy| ${Math.abs(y1[j] - y0[j])} > ${bound}`);
          }
        }
      }
    }),
    { numRuns: 15 },
  );
});

Deno.test("prunedDclsModel at threshold 0 gives exactly the unpruned logits (every DCLS nano model)", () => {
  const x = rand([2, 1, 16, 128], 3);
  for (const name of DCLS_NANO) {
    const model = getModel(name, { numClasses: 5, dtype: "f64" });
    const { params, state } = model.init(T.randomKey(0));
    const base = model.apply(params, state, x, { train: false }).logits.toArray();
    const same = prunedDclsModel(model, 0).apply(params, state, x, { train: false }).logits.toArray();
    assert.deepEqual(same, base, name);
    assert.deepEqual(dclsKeptCells(model, params, 0).fraction, 1, name);
  }
});

Deno.test("prunedDclsModel at a positive threshold keeps a fraction in (0, 1], fewer as it rises, finite logits", () => {
  const x = rand([2, 1, 16, 128], 4);
  for (const name of DCLS_NANO) {
    const model = getModel(name, { numClasses: 5, dtype: "f64" });
    const { params, state } = model.init(T.randomKey(1));
    const base = model.apply(params, state, x, { train: false }).logits.toArray();
    let last = 1;
    for (const t of [0.001, 0.01, 0.1, 0.5]) {
      const cells = dclsKeptCells(model, params, t);
      assert.ok(cells.fraction > 0 && cells.fraction <= last, `${name} at ${t}: kept ${cells.fraction}`);
      assert.equal(cells.fraction, cells.kept / cells.total);
      last = cells.fraction;
    }
    assert.ok(last < 1, `${name}: pruning at 0.5 drops some cells`);
    const pruned = prunedDclsModel(model, 0.5).apply(params, state, x, { train: false }).logits.toArray();
    assert.equal(pruned.length, base.length);
    assert.ok(pruned.every(Number.isFinite), name);
    assert.notDeepEqual(pruned, base, `${name}: dropping half the kernel mass changes the logits`);
  }
});

Deno.test("prunedDclsModel refuses training, non-DCLS models and thresholds outside [0, 1)", () => {
  const model = getModel("convnext_dcls_audio_nano", { numClasses: 5 });
  const { params, state } = model.init(T.randomKey(0));
  const x = T.cast(rand([1, 1, 16, 128], 1), "f32");
  assert.throws(() => prunedDclsModel(model, 0.01).apply(params, state, x, { train: true }), /inference/);
  assert.throws(() => prunedDclsModel(getModel("convnext_audio_nano"), 0.01), /no DCLS layers/);
  assert.throws(() => dclsKeptCells(getModel("fastvit_audio_nano"), {}, 0.01), /no DCLS layers/);
  for (const t of [-1, 1, NaN]) assert.throws(() => prunedDclsModel(model, t), /relative threshold/);
});

Deno.test("deno task eval --prune: both mAPs and the kept fraction; one-line errors for bad input", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const classes = PROCEDURAL_CLASSES.length;
    const files: Record<string, string> = {};
    for (const name of ["convnext_dcls_audio_nano", "convnext_audio_nano"]) {
      const model = getModel(name, { numClasses: classes });
      const { params, state } = model.init(T.randomKey(0));
      files[name] = `${dir}/${name}.safetensors`;
      await saveCheckpoint(files[name], model, params, state);
    }
    const data = ["--eval-size", "8", "--input", "small", "--backend", "cpu", "--batch-size", "8"];
    const ok = await task("eval", [
      "--checkpoint",
      files.convnext_dcls_audio_nano,
      "--prune",
      "0.01",
      "--json",
      ...data,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const r = JSON.parse(ok.stdout.trim().split("\n").at(-1)!);
    assert.ok(r.pruned.fraction > 0 && r.pruned.fraction <= 1, JSON.stringify(r.pruned));
    assert.ok(Math.abs(r.pruned.mAPChange - (r.pruned.mAP - r.mAP)) < 1e-12);
    assert.equal(r.pruned.threshold, 0.01);
    const cases: [string[], RegExp][] = [
      [
        ["--checkpoint", files.convnext_audio_nano, "--prune", "0.01"],
        /^eval: --prune: convnext_audio_nano has no DCLS/,
      ],
      [["--checkpoint", files.convnext_dcls_audio_nano, "--prune", "1"], /^eval: --prune: 1 is not below 1$/],
      [["--checkpoint", files.convnext_dcls_audio_nano, "--prune", "0"], /^eval: --prune: /],
      [["--checkpoint", files.convnext_dcls_audio_nano, "--prune", "x"], /^eval: --prune: "x" is not a number$/],
      [["--checkpoint", files.convnext_dcls_audio_nano, "--model", "nope", "--prune", "0.01"], /^eval: .*nope/],
    ];
    for (const [args, re] of cases) {
      const bad = await task("eval", [...args, ...data]);
      assert.notEqual(bad.code, 0, args.join(" "));
      const lines = errorLines(bad.stderr);
      assert.equal(lines.length, 1, bad.stderr);
      assert.match(lines[0], re);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
