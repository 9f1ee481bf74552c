import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { countParams, type Layout } from "../lib/models/common.ts";
import {
  fastvitAudioSa24,
  fastvitDclsAudioSa24,
  fastvitLayoutInfo,
  fastvitTiny,
  fastvitTinyConfig,
} from "../lib/models/fastvit.ts";
import { FIXTURES_DIR, loadManifest } from "./_fixtures.ts";

interface FullModel {
  params: number;
  state_dict: [string, number[]][];
  out: number[];
}

const full: Record<string, FullModel> = JSON.parse(Deno.readTextFileSync(new URL("models_full.json", FIXTURES_DIR)));

/** The layout as (name, shape) pairs in order, for comparison with a state_dict listing. */
function listing(layout: Layout): [string, number[]][] {
  return layout.entries.map((e) => [e.name, [...e.shape]]);
}

for (const model of [fastvitAudioSa24, fastvitDclsAudioSa24]) {
  Deno.test(`${model.name}: every state_dict name and shape, in the reference order`, () => {
    const ref = full[model.name];
    assert.ok(ref, `models_full.json has no ${model.name}`);
    // num_batches_tracked is a counter, not kept in our state.
    const want = ref.state_dict.filter(([n]) => !n.endsWith(".num_batches_tracked"));
    assert.deepEqual(listing(model.layout()), want);
  });

  Deno.test(`${model.name}: parameter count (unique tensors) matches the reference`, () => {
    assert.equal(countParams(model.layout()), full[model.name].params);
  });
}

Deno.test("fastvit_dcls_audio_sa24: 25 DCLS layers, P/SIG shared per width and owned by the first layer of each", () => {
  const info = fastvitLayoutInfo(fastvitDclsAudioSa24.config);
  const layers = [...info.dcls.keys()];
  assert.equal(layers.length, 25);
  const ffn = layers.filter((n) => n.endsWith(".convffn.conv.conv"));
  assert.equal(ffn.length, 24);
  assert.ok(layers.includes("network.6.pe"));
  assert.ok(info.dcls.get("network.6.pe")!.bias && !info.dcls.get(ffn[0])!.bias);
  const owners = [...new Set([...info.dcls.values()].map((r) => r.owner))];
  assert.deepEqual(owners, [
    "network.0.0.convffn.conv.conv",
    "network.2.0.convffn.conv.conv",
    "network.4.0.convffn.conv.conv",
    "network.6.pe",
  ]);
  // Every non-owner repeats its owner's P and SIG in the state_dict (aliases), never as parameters of its own.
  const entries = info.layout.entries;
  for (const layer of layers) {
    const owner = info.dcls.get(layer)!.owner;
    for (const p of ["P", "SIG"]) {
      const e = entries.find((x) => x.name === `${layer}.${p}`)!;
      assert.equal(e.kind, layer === owner ? "param" : "alias", `${layer}.${p}`);
      if (e.kind === "alias") assert.equal(e.owner, `${owner}.${p}`);
    }
  }
  // The large-kernel patch-embedding convs (out = 2 × in) and RepMixer's 3×3 convs stay ordinary.
  assert.equal(entries.find((e) => e.name === "network.1.proj.0.lkb_origin.conv.weight")?.shape.length, 4);
});

Deno.test("fastvit tiny: parameter counts match the fixture manifest", () => {
  const manifest = loadManifest() as { tiny_models: { models: Record<string, { params: number }> } };
  assert.equal(countParams(fastvitTiny().layout()), manifest.tiny_models.models.fastvit.params);
  assert.equal(countParams(fastvitTiny({ dcls: true }).layout()), manifest.tiny_models.models.fastvit_dcls.params);
});

Deno.test("fastvit tiny: init gives every layout tensor with its shape, reference constants, finite values", () => {
  const model = fastvitTiny({ dcls: true });
  const { params, state } = model.init(T.randomKey(3));
  for (const e of model.layout().entries) {
    if (e.kind === "alias") {
      assert.equal(params[e.name], undefined, `${e.name} is shared, not stored twice`);
      continue;
    }
    const t = (e.kind === "param" ? params : state)[e.name];
    assert.ok(t, e.name);
    assert.deepEqual(t.shape, e.shape, e.name);
    assert.equal(t.dtype, "f64", e.name);
    assert.ok((t.toArray() as Float64Array).every(Number.isFinite), e.name);
  }
  assert.ok(params["network.0.0.layer_scale"].toArray().every((v) => v === 1e-5));
  assert.ok(state["network.0.0.convffn.conv.bn.running_var"].toArray().every((v) => v === 1));
  assert.ok(params["network.0.0.convffn.conv.conv.SIG"].toArray().every((v) => v === 0.23));
  const p = params["network.0.0.convffn.conv.conv.P"].toArray();
  assert.ok(p.every((v) => Math.abs(v) <= 11) && p.some((v) => v !== 0));
  assert.ok(params["head.bias"].toArray().every((v) => v === 0));
});

Deno.test("fastvit tiny: a training step from init returns logits and updated running statistics", () => {
  const config = fastvitTinyConfig({ dropPathRate: 0.2 });
  const model = fastvitTiny({ dropPathRate: 0.2 });
  const { params, state } = model.init(T.randomKey(5));
  const x = T.normal(T.randomKey(6), [2, 1, 16, 128], { dtype: "f64" });
  assert.throws(() => model.apply(params, state, x, { train: true }), /needs opts\.key/);
  const out = model.apply(params, state, x, { train: true, key: T.randomKey(7) });
  assert.deepEqual(out.logits.shape, [2, config.numClasses]);
  assert.deepEqual(Object.keys(out.state).sort(), Object.keys(state).sort());
  const rm = "network.0.0.convffn.conv.bn.running_mean";
  assert.notDeepEqual(out.state[rm].toArray(), state[rm].toArray());
  const ev = model.apply(params, state, x, { train: false });
  assert.equal(ev.state, state, "evaluation leaves the state untouched");
});

Deno.test("fastvit: a wrong input shape is a clear error", () => {
  const model = fastvitTiny();
  const { params, state } = model.init(T.randomKey(1));
  assert.throws(
    () => model.apply(params, state, T.zeros([1, 2, 16, 128], "f64"), { train: false }),
    /fastvit_tiny: input must be \[N, 1, /,
  );
  assert.throws(() => model.apply({}, state, T.zeros([1, 1, 16, 128], "f64"), { train: false }), /missing parameter/);
});
