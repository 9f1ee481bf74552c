/** ConvFormer audio models: reference layout and parameter counts, P/SIG sharing, initialisation, stochastic sites. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { countParams, type Layout } from "../lib/models/common.ts";
import { convformer, type ConvFormerConfig } from "../lib/models/convformer.ts";
import { getModel } from "../lib/models/registry.ts";
import { FIXTURES_DIR } from "./_fixtures.ts";
import { rand } from "./_gradcheck.ts";

interface FullModel {
  params: number;
  state_dict: [string, number[]][];
}
const FULL: Record<string, FullModel> = JSON.parse(Deno.readTextFileSync(new URL("models_full.json", FIXTURES_DIR)));

const named = (l: Layout) => l.entries.map((e) => [e.name, [...e.shape]]);

for (const name of ["convformer_audio_s18", "convformer_dcls_audio_s18"]) {
  Deno.test(`${name}: state_dict names, shapes and parameter count are the reference's`, () => {
    const layout = getModel(name).layout();
    assert.deepEqual(named(layout), FULL[name].state_dict);
    assert.equal(countParams(layout), FULL[name].params);
  });
}

Deno.test("convformer_dcls_audio_s18: one P/SIG per stage, on the expanded (2×) widths", () => {
  const { entries } = getModel("convformer_dcls_audio_s18").layout();
  const owned = entries.filter((e) => e.kind === "param" && e.name.endsWith(".P"));
  assert.deepEqual(owned.map((e) => e.name), [0, 1, 2, 3].map((i) => `stages.${i}.0.token_mixer.dwconv.P`));
  assert.deepEqual(owned.map((e) => e.shape[1]), [128, 256, 640, 1024]);
  const aliases = entries.filter((e) => e.kind === "alias");
  assert.equal(aliases.length, 2 * (18 - 4));
  for (const e of aliases) {
    assert.equal(e.kind === "alias" && e.owner, e.name.replace(/^(stages\.\d)\.\d+\./, "$1.0."));
  }
});

Deno.test("convformer init: trunc-normal weights, StarReLU (1, 0), res-scales 1, norms 1/0", () => {
  const model = getModel("convformer_dcls_audio_nano", { dtype: "f64" });
  const { params, state } = model.init(T.randomKey(5));
  assert.deepEqual(state, {});
  for (const e of model.layout().entries) {
    if (e.kind === "param") assert.deepEqual([...params[e.name].shape], [...e.shape], e.name);
  }
  const all = (n: string, v: number) => assert.ok(params[n].toArray().every((x) => x === v), n);
  all("stages.0.0.token_mixer.act1.scale", 1);
  all("stages.0.0.mlp.act.bias", 0);
  all("stages.3.0.res_scale2.scale", 1);
  all("head.norm.bias", 0);
  all("downsample_layers.0.post_norm.weight", 1);
  all("stages.1.0.token_mixer.dwconv.SIG", 0.23);
  const w = Array.from(params["head.fc1.weight"].toArray());
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(Math.abs(std - 0.02) < 0.002, `std ${std}`);
});

Deno.test("convformer drop path and head dropout: active only in training with a key", () => {
  const base = getModel("convformer_audio_nano", { numClasses: 4, dtype: "f64" });
  const { params, state } = base.init(T.randomKey(2));
  const x = rand([3, 1, 16, 64], 4);
  const cfg = base.config as ConvFormerConfig;
  const ev = base.apply(params, state, x, { train: false }).logits.toArray();
  assert.deepEqual(base.apply(params, state, x, { train: true }).logits.toArray(), ev);
  for (const over of [{ dropPathRate: 0.7 }, { headDropout: 0.5 }]) {
    const m = convformer({ ...cfg, ...over });
    assert.deepEqual(m.apply(params, state, x, { train: false }).logits.toArray(), ev);
    const a = m.apply(params, state, x, { train: true, key: T.randomKey(9) }).logits.toArray();
    assert.deepEqual(m.apply(params, state, x, { train: true, key: T.randomKey(9) }).logits.toArray(), a);
    assert.notDeepEqual(a, ev);
    assert.throws(() => m.apply(params, state, x, { train: true }), /needs opts\.key/);
  }
});

Deno.test("convformer checks its input", () => {
  const model = getModel("convformer_audio_nano");
  const { params, state } = model.init(T.randomKey(0));
  assert.throws(
    () => model.apply(params, state, T.zeros([1, 2, 32, 64]), { train: false }),
    /convformer_audio_nano: input must be \[N, 1, H ≥ 2, W ≥ 16\], got \[1, 2, 32, 64\]/,
  );
  assert.throws(() => model.apply(params, state, T.zeros([1, 1, 32, 64], "f64"), { train: false }), /dtype f64/);
  const out = model.apply(params, state, T.zeros([2, 1, 2, 16]), { train: false }).logits;
  assert.deepEqual([...out.shape], [2, 527]);
});

Deno.test("convformer_dcls: a compiled training step equals the eager one", () => {
  const model = getModel("convformer_dcls_audio_nano", { numClasses: 3, dtype: "f64", dropPathRate: 0.3 });
  const { params, state } = model.init(T.randomKey(0));
  const x = rand([2, 1, 16, 64], 1), y = T.full([2, 3], 0.25, "f64");
  const step = (p: Record<string, T.Tensor>, key: T.Tensor) =>
    T.valueAndGrad((q: Record<string, T.Tensor>) =>
      T.bceWithLogits(model.apply(q, state, x, { train: true, key }).logits, y)
    )(p) as [T.Tensor, Record<string, T.Tensor>];
  const compiled = T.compile(step as never) as unknown as typeof step;
  const [l1, g1] = step(params, T.randomKey(5));
  const [l2, g2] = compiled(params, T.randomKey(5));
  assert.equal(l2.item(), l1.item());
  for (const k of Object.keys(g1)) assert.deepEqual(g2[k].toArray(), g1[k].toArray(), k);
});
