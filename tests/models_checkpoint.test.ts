/** Checkpoints (state dicts with shared DCLS P/SIG, safetensors round trip, clear errors) and the model registry. */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { countParams } from "../lib/models/common.ts";
import { fromStateDict, loadCheckpoint, saveCheckpoint, toStateDict } from "../lib/models/checkpoint.ts";
import { getModel, modelNames } from "../lib/models/registry.ts";
import { FIXTURES_DIR } from "./_fixtures.ts";
import { rand } from "./_gradcheck.ts";

// Two blocks in the first stage, so that its second DCLS layer repeats the first one's P/SIG.
const dclsNano = () => getModel("convnext_dcls_audio_nano", { depths: [2, 1, 1, 1], numClasses: 6 });

Deno.test("toStateDict lists every reference name, repeating the shared P/SIG under each layer", () => {
  const model = dclsNano();
  const { params, state } = model.init(T.randomKey(1));
  const sd = toStateDict(model, params, state);
  assert.deepEqual([...sd.keys()], model.layout().entries.map((e) => e.name));
  assert.equal(sd.get("stages.0.1.dwconv.P"), params["stages.0.0.dwconv.P"]);
  assert.equal(sd.get("stages.0.1.dwconv.SIG"), params["stages.0.0.dwconv.SIG"]);
  assert.equal(params["stages.0.1.dwconv.P"], undefined);
  const partial = { ...params };
  delete partial["stages.0.0.dwconv.P"];
  assert.throws(() => toStateDict(model, partial, state), /missing stages\.0\.0\.dwconv\.P$/);
});

Deno.test("saveCheckpoint / loadCheckpoint round-trip parameters, configuration and metadata", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const dtype of ["f32", "f64"] as const) {
      const model = getModel("convformer_dcls_audio_nano", { depths: [1, 2, 1, 1], dtype, dropPathRate: 0.1 });
      const { params, state } = model.init(T.randomKey(4));
      const path = `${dir}/ckpt_${dtype}.safetensors`;
      await saveCheckpoint(path, model, params, state, { epoch: "3" });
      const back = await loadCheckpoint(path);
      assert.equal(back.model.name, model.name);
      assert.deepEqual(back.model.config, model.config);
      assert.equal(back.metadata.epoch, "3");
      assert.deepEqual(Object.keys(back.params).sort(), Object.keys(params).sort());
      for (const k of Object.keys(params)) {
        assert.equal(back.params[k].dtype, dtype);
        assert.deepEqual(back.params[k].toArray(), params[k].toArray(), k);
      }
      const x = T.cast(rand([1, 1, 16, 64], 3), dtype);
      assert.deepEqual(
        back.model.apply(back.params, back.state, x, { train: false }).logits.toArray(),
        model.apply(params, state, x, { train: false }).logits.toArray(),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loading a checkpoint into another model fails naming the file and the mismatching tensors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = getModel("convnext_audio_nano");
    const { params, state } = a.init(T.randomKey(0));
    const path = `${dir}/a.safetensors`;
    await saveCheckpoint(path, a, params, state);
    const b = getModel("convformer_audio_nano");
    await assert.rejects(loadCheckpoint(path, b), new RegExp(`${path}: checkpoint is for model "convnext_audio_nano"`));
    // Same registry name, different widths: every mis-shaped tensor is named.
    const wide = getModel("convnext_audio_nano", { dims: [8, 16, 32, 48] });
    await assert.rejects(
      loadCheckpoint(path, wide),
      (e: Error) =>
        e.message.startsWith(`${path}: state dict does not fit convnext_audio_nano: mis-shaped `) &&
        e.message.includes("head.weight [527,64] (expected [527,48])") &&
        e.message.includes("downsample_layers.3.1.weight [64,32,2,2] (expected [48,32,2,2])"),
    );
    await Deno.writeFile(`${dir}/bare.safetensors`, new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 123, 125]));
    await assert.rejects(loadCheckpoint(`${dir}/bare.safetensors`), /bare\.safetensors: checkpoint has no "model"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fromStateDict reports every missing, unexpected and mis-shaped name (property)", () => {
  const model = dclsNano();
  const { params, state } = model.init(T.randomKey(2));
  const full = toStateDict(model, params, state);
  const names = [...full.keys()];
  fc.assert(
    fc.property(
      fc.subarray(names, { maxLength: 4 }),
      fc.subarray(names, { maxLength: 3 }),
      fc.uniqueArray(fc.stringMatching(/^extra\.[a-z]{1,6}$/), { maxLength: 3 }),
      (drop, reshape, extra) => {
        const sd = new Map(full);
        for (const n of drop) sd.delete(n);
        const reshaped = reshape.filter((n) => !drop.includes(n));
        for (const n of reshaped) sd.set(n, T.zeros([...full.get(n)!.shape, 1]));
        for (const n of extra) sd.set(n, T.zeros([1]));
        if (drop.length + reshaped.length + extra.length === 0) {
          assert.deepEqual(Object.keys(fromStateDict(model, sd).params).sort(), Object.keys(params).sort());
          return;
        }
        assert.throws(() => fromStateDict(model, sd, { source: "x.safetensors" }), (e: Error) => {
          assert.match(e.message, /^x\.safetensors: state dict does not fit convnext_dcls_audio_nano: /);
          for (const n of drop) assert.ok(e.message.includes(n), n);
          for (const n of reshaped) assert.ok(e.message.includes(`${n} [`), n);
          for (const n of extra) assert.ok(e.message.includes(n), n);
          assert.equal(e.message.includes("missing"), drop.length > 0);
          assert.equal(e.message.includes("unexpected"), extra.length > 0);
          assert.equal(e.message.includes("mis-shaped"), reshaped.length > 0);
          return true;
        });
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("fromStateDict rejects a shared P that differs between layers, and non-float tensors", () => {
  const model = dclsNano();
  const { params, state } = model.init(T.randomKey(2));
  const sd = toStateDict(model, params, state);
  const bad = new Map(sd).set("stages.0.1.dwconv.P", T.add(sd.get("stages.0.1.dwconv.P")!, 1));
  assert.throws(() => fromStateDict(model, bad), /stages\.0\.1\.dwconv\.P differs from shared stages\.0\.0\.dwconv\.P/);
  const ints = new Map(sd).set("head.bias", T.zeros([6], "i32"));
  assert.throws(() => fromStateDict(model, ints), /head\.bias has dtype i32, expected a float/);
});

Deno.test("fromStateDict ignores PyTorch's BatchNorm num_batches_tracked counters", () => {
  const model = getModel("fastvit_audio_nano");
  const { params, state } = model.init(T.randomKey(0));
  const sd = toStateDict(model, params, state);
  const bns = [...sd.keys()].filter((k) => k.endsWith(".running_mean"));
  assert.ok(bns.length > 0);
  for (const k of bns) sd.set(k.replace(/running_mean$/, "num_batches_tracked"), T.zeros([], "i32"));
  const back = fromStateDict(model, sd);
  assert.deepEqual(Object.keys(back.state).sort(), Object.keys(state).sort());
  sd.set("head.num_batches_tracked", T.zeros([], "i32"));
  assert.throws(() => fromStateDict(model, sd), /unexpected head\.num_batches_tracked$/);
});

Deno.test("registry: the six reference models match models_full.json; unknown names list the known ones", () => {
  const full: Record<string, { params: number; state_dict: [string, number[]][] }> = JSON.parse(
    Deno.readTextFileSync(new URL("models_full.json", FIXTURES_DIR)),
  );
  for (const [name, ref] of Object.entries(full)) {
    const layout = getModel(name).layout();
    assert.equal(countParams(layout), ref.params, name);
    const expected = ref.state_dict.filter(([n]) => !n.endsWith("num_batches_tracked"));
    assert.deepEqual(layout.entries.map((e) => [e.name, [...e.shape]]), expected, name);
  }
  for (const name of modelNames()) {
    const m = getModel(name, { dropPathRate: 0.2 });
    assert.equal(m.name, name);
    assert.equal(m.config.dropPathRate, 0.2);
    assert.equal(name.includes("_dcls_"), m.config.dcls !== null, name);
  }
  assert.throws(
    () => getModel("convnext_huge"),
    (e: Error) =>
      e.message.startsWith('unknown model "convnext_huge" (known: ') &&
      modelNames().every((n) => e.message.includes(n)),
  );
});
