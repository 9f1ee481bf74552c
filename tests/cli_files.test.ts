/**
 * The tasks that read and write files: `tag` (bad audio files fail with one line naming the file; good ones get
 * ranked tags), `features` (waveform and log-mel as the host front end computes them), `export` + `infer` (logits
 * equal a direct forward pass), `models` (parameter counts and analytic FLOPs).
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { encodeWav } from "../lib/audio/wav.ts";
import { loadClip } from "../lib/audio/waveform.ts";
import { loadSafetensors, saveSafetensors } from "../lib/io/safetensors.ts";
import { hostLogMel } from "../lib/train/batches.ts";
import { INPUT_PRESETS } from "../lib/cli/data.ts";
import { getModel } from "../lib/models/registry.ts";
import { countParams } from "../lib/models/common.ts";
import { loadModelFile } from "../lib/train/checkpoint_io.ts";
import { graphFlops } from "../lib/cli/models.ts";
import { PROCEDURAL_CLASSES } from "../lib/data/procedural.ts";
import { errorLines, task } from "./_cli.ts";

/** A short tone as a 16-bit WAV. */
function toneWav(seconds: number, sampleRate = 16000): Uint8Array {
  const x = Float32Array.from({ length: Math.round(seconds * sampleRate) }, (_, i) => 0.3 * Math.sin(i * 0.2));
  return encodeWav([x], { sampleRate, format: "pcm16" });
}

Deno.test("tag: corrupt, empty, truncated and non-audio files fail with one line naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/good.wav`;
    await Deno.writeFile(good, toneWav(0.5));
    const bad: [string, Uint8Array, RegExp][] = [
      ["empty.wav", new Uint8Array(0), /empty/],
      ["notes.txt", new TextEncoder().encode("not audio at all\n"), /not a recognized audio format/],
      ["cut.wav", toneWav(0.5).slice(0, 30), /truncated|cut short/],
      ["noise.mp3", Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251), /not MP3|not a recognized/],
    ];
    const results = await Promise.all(bad.map(async ([name, bytes]) => {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      // The bad file comes after a good one: the command still fails, naming only the bad file.
      return await task("tag", [good, `${dir}/${name}`, "--model", "convnext_audio_nano", "--input", "small"]);
    }));
    results.forEach((r, i) => {
      const [name, , problem] = bad[i];
      const lines = errorLines(r.stderr);
      assert.notEqual(r.code, 0, `${name} was accepted`);
      assert.equal(lines.length, 1, `${name}: ${JSON.stringify(lines)}`);
      assert.ok(lines[0].startsWith(`tag: ${dir}/${name}: `), lines[0]);
      assert.match(lines[0], problem);
      assert.equal(r.stdout, "");
    });
    const missing = await task("tag", [`${dir}/absent.wav`, "--model", "convnext_audio_nano"]);
    assert.equal(missing.code, 1);
    assert.match(errorLines(missing.stderr)[0], new RegExp(`^tag: ${dir}/absent\\.wav: cannot read file`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tag: ranked tags as JSON with the procedural class names; features match the host front end", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const wav = `${dir}/tone.wav`;
    await Deno.writeFile(wav, toneWav(1.2, 22050));
    const r = await task("tag", [wav, "--model", "convnext_audio_nano", "--input", "small", "--top", "3", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { file: string; tags: { label: string; score: number }[] }[];
    assert.equal(out.length, 1);
    assert.equal(out[0].file, wav);
    assert.equal(out[0].tags.length, 3);
    for (const t of out[0].tags) assert.ok(PROCEDURAL_CLASSES.includes(t.label) && t.score > 0 && t.score < 1);
    assert.ok(out[0].tags[0].score >= out[0].tags[1].score && out[0].tags[1].score >= out[0].tags[2].score);

    const f = await task("features", [wav, "--input", "small", "--out", `${dir}/f.safetensors`]);
    assert.equal(f.code, 0, f.stderr);
    const { tensors, metadata } = await loadSafetensors(`${dir}/f.safetensors`);
    assert.deepEqual(JSON.parse(metadata.files), [wav]);
    const preset = INPUT_PRESETS.small;
    const wave = await loadClip(wav, { sampleRate: preset.sampleRate, seconds: preset.seconds });
    assert.deepEqual(tensors.get(`${wav}.waveform`)!.data, wave);
    const mel = tensors.get(`${wav}.logmel`)!;
    assert.deepEqual(mel.shape, [1, 64, 129]);
    assert.deepEqual(mel.data, hostLogMel(wave, preset.frontEnd));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export then infer: logits equal the model's forward pass on the exported weights", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const w = `${dir}/w.safetensors`;
    const e = await task("export", ["--model", "fastvit_audio_nano", "--seed", "4", "--classes", "6", "--out", w]);
    assert.equal(e.code, 0, e.stderr);
    const loaded = await loadModelFile(w);
    assert.equal(loaded.model.name, "fastvit_audio_nano");
    assert.equal(loaded.model.config.numClasses, 6);
    const fresh = getModel("fastvit_audio_nano", { numClasses: 6 }).init(T.randomKey(4)).params;
    for (const k of Object.keys(fresh)) assert.deepEqual(loaded.params[k].toArray(), fresh[k].toArray(), k);

    const x = T.normal(T.randomKey(9), [3, 1, 32, 128]);
    await saveSafetensors(`${dir}/x.safetensors`, { input: { dtype: "F32", shape: x.shape, data: x.toArray() } });
    const r = await task("infer", [
      "--checkpoint",
      w,
      "--input",
      `${dir}/x.safetensors`,
      "--out",
      `${dir}/y.safetensors`,
      "--batch-size",
      "2",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const y = (await loadSafetensors(`${dir}/y.safetensors`)).tensors.get("logits")!;
    assert.deepEqual(y.shape, [3, 6]);
    const ref = loaded.model.apply(loaded.params, loaded.state, x, { train: false }).logits.toArray();
    y.data.forEach((v, i) => assert.ok(Math.abs(Number(v) - ref[i]) < 1e-5, `logit ${i}: ${v} vs ${ref[i]}`));

    const bad = await task("infer", ["--checkpoint", w, "--input", w, "--out", `${dir}/z.safetensors`]);
    assert.equal(bad.code, 1);
    assert.match(errorLines(bad.stderr)[0], new RegExp(`^infer: ${w}: no tensor named "input"`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("models: parameter counts from the layout, output shape, FLOPs as 2 × MACs of matmuls and convolutions", async () => {
  const r = await task("models", ["--model", "convnext_audio_nano", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const [row] = JSON.parse(r.stdout);
  const m = getModel("convnext_audio_nano");
  assert.equal(row.params, countParams(m.layout()));
  assert.deepEqual(row.output, [1, 527]);
  assert.ok(row.gflops > 0);
  // Analytic count on a graph with known MACs: a 3×4 @ 4×5 matmul and a 2→3 channel 3×3 convolution on 6×6.
  const { graph } = T.traceGraph(
    (a: T.Tensor, b: T.Tensor, x: T.Tensor, k: T.Tensor) => [T.matmul(a, b), T.conv2d(x, k, { padding: 1 })],
    [T.zeros([3, 4]), T.zeros([4, 5]), T.zeros([1, 2, 6, 6]), T.zeros([3, 2, 3, 3])],
  );
  assert.equal(graphFlops(graph), 2 * (3 * 4 * 5) + 2 * (3 * 6 * 6 * 2 * 9));
});
