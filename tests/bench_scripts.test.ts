import assert from "node:assert/strict";
import { requestGpu } from "../lib/gpu/device.ts";
import type { ThroughputReport } from "../bench/throughput.ts";
import { profileModel } from "../bench/profile.ts";
import { benchShape } from "../bench/setup.ts";

const gpu = await requestGpu().catch(() => undefined);
const root = new URL("../", import.meta.url).pathname;

Deno.test({
  name: "run_all.sh --only ours --small: throughput of a nano model, then the comparison table",
  ignore: !gpu,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      const res = await new Deno.Command("bash", {
        args: ["bench/run_all.sh", "--only", "ours", "--small", "--models", "convnext_audio_nano", "--steps", "2"],
        cwd: root,
        env: { OUT: out, DENO: Deno.execPath() },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(res.stdout) + new TextDecoder().decode(res.stderr);
      assert.equal(res.code, 0, log);
      const report = JSON.parse(await Deno.readTextFile(`${out}/throughput.json`)) as ThroughputReport;
      assert.equal(report.small, true);
      assert.equal(report.results.length, 1);
      const r = report.results[0];
      assert.equal(r.model, "convnext_audio_nano");
      assert.deepEqual([r.family, r.dcls], ["convnext", false]);
      for (const p of [r.infer!, r.train!]) {
        assert.ok(p.samplesPerS > 0 && Number.isFinite(p.samplesPerS));
        assert.ok(p.dispatches > 0);
        assert.ok(p.prepare.traceMs >= 0 && p.prepare.planMs >= 0 && p.prepare.pipelinesMs >= 0);
      }
      const md = await Deno.readTextFile(`${out}/compare.md`);
      assert.match(md, /\| convnext_audio_nano +\|/);
      assert.match(await Deno.readTextFile(`${out}/run_all.log`), /== ours took \d+ s/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "profileModel: an inference from waveforms splits into the front end and the model's classes",
  ignore: !gpu?.features.timestampQuery,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const p = await profileModel(gpu!, "convnext_audio_nano", benchShape(true, 1), {
      step: "infer",
      frontEnd: true,
      donate: false,
      reps: 1,
      top: 3,
    });
    assert.equal(p.classifiedBy, "kernels");
    const classes = p.classes.map((c) => c.cls);
    for (const want of ["front end", "matmul", "normalisation"]) {
      assert.ok(classes.includes(want as never), classes.join());
    }
    assert.ok(!classes.includes("optimizer"), "inference has no optimizer");
    const pct = p.classes.reduce((s, c) => s + c.pct, 0);
    assert.ok(Math.abs(pct - 100) < 1e-6, `shares sum to ${pct}`);
    assert.equal(p.classes.reduce((s, c) => s + c.dispatches, 0), p.dispatches);
    assert.ok(p.top.length <= 3 && p.top.every((k, i) => i === 0 || k.ms <= p.top[i - 1].ms));
  },
});
