/** ConvNeXt audio models: reference layout and parameter counts, P/SIG sharing, initialisation, drop path. */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { countParams, dropPathRates, type Layout } from "../lib/models/common.ts";
import { convnext, type ConvNextConfig, convnextTinyConfig } from "../lib/models/convnext.ts";
import { getModel } from "../lib/models/registry.ts";
import { FIXTURES_DIR } from "./_fixtures.ts";
import { rand } from "./_gradcheck.ts";

interface FullModel {
  params: number;
  state_dict: [string, number[]][];
}
const FULL: Record<string, FullModel> = JSON.parse(Deno.readTextFileSync(new URL("models_full.json", FIXTURES_DIR)));

const named = (l: Layout) => l.entries.map((e) => [e.name, [...e.shape]]);

for (const name of ["convnext_audio_tiny", "convnext_dcls_audio_tiny"]) {
  Deno.test(`${name}: state_dict names, shapes and parameter count are the reference's`, () => {
    const layout = getModel(name).layout();
    assert.deepEqual(named(layout), FULL[name].state_dict);
    assert.equal(countParams(layout), FULL[name].params);
  });
}

Deno.test("convnext_dcls_audio_tiny: each stage's first DCLS layer owns P/SIG, the others repeat it", () => {
  const { entries } = getModel("convnext_dcls_audio_tiny").layout();
  const owners = entries.filter((e) => e.kind === "param" && /\.(P|SIG)$/.test(e.name)).map((e) => e.name);
  assert.deepEqual(owners, [0, 1, 2, 3].flatMap((i) => [`stages.${i}.0.dwconv.P`, `stages.${i}.0.dwconv.SIG`]));
  for (const e of entries) {
    if (e.kind !== "alias") continue;
    const m = /^stages\.(\d)\.(\d)\.dwconv\.(P|SIG)$/.exec(e.name);
    assert.ok(m && m[2] !== "0", e.name);
    assert.equal(e.owner, `stages.${m[1]}.0.dwconv.${m[3]}`);
  }
});

function stats(t: T.Tensor) {
  const a = Array.from(t.toArray());
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  return { mean, std, min: Math.min(...a), max: Math.max(...a) };
}

Deno.test("convnext init follows the reference (trunc-normal 0.02 weights, zero biases, γ = 1e-6, DCLS re-init)", () => {
  const model = getModel("convnext_dcls_audio_nano", { dtype: "f64" });
  const { params, state } = model.init(T.randomKey(0));
  assert.deepEqual(state, {});
  const layout = model.layout();
  for (const e of layout.entries) {
    if (e.kind !== "param") continue;
    assert.deepEqual([...params[e.name].shape], [...e.shape], e.name);
    assert.equal(params[e.name].dtype, "f64");
  }
  assert.equal(Object.keys(params).length, layout.entries.filter((e) => e.kind === "param").length);
  assert.ok(params["stages.3.0.gamma"].toArray().every((v) => v === 1e-6));
  assert.ok(params["head.bias"].toArray().every((v) => v === 0));
  assert.ok(params["norm.weight"].toArray().every((v) => v === 1));
  const w = stats(params["stages.3.0.pwconv1.weight"]);
  assert.ok(Math.abs(w.std - 0.02) < 0.002 && Math.abs(w.mean) < 0.001, JSON.stringify(w));
  const dw = stats(params["stages.3.0.dwconv.weight"]);
  assert.ok(Math.abs(dw.std - 0.02) < 0.003, JSON.stringify(dw));
  const p = stats(params["stages.3.0.dwconv.P"]);
  assert.ok(Math.abs(p.std - 0.5) < 0.05 && p.min >= -11 && p.max <= 11, JSON.stringify(p));
  assert.ok(params["stages.2.0.dwconv.SIG"].toArray().every((v) => v === 0.23));
  const again = model.init(T.randomKey(0)).params, other = model.init(T.randomKey(1)).params;
  assert.deepEqual(again["stages.0.0.pwconv2.weight"].toArray(), params["stages.0.0.pwconv2.weight"].toArray());
  assert.notDeepEqual(other["stages.0.0.pwconv2.weight"].toArray(), params["stages.0.0.pwconv2.weight"].toArray());
});

Deno.test("drop path rates rise linearly from 0 to the configured rate over all blocks", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 5 }),
      fc.double({ min: 0, max: 0.9, noNaN: true }),
      (depths, rate) => {
        const r = dropPathRates(depths, rate);
        const n = depths.reduce((a, b) => a + b, 0);
        assert.equal(r.length, n);
        if (n === 0) return;
        assert.equal(r[0], 0);
        if (n > 1) assert.ok(Math.abs(r[n - 1] - rate) < 1e-12);
        for (let i = 1; i < n; i++) assert.ok(Math.abs(r[i] - r[i - 1] - rate / (n - 1)) < 1e-12);
      },
    ),
  );
});

Deno.test("convnext drop path: active only in training, reproducible per key, and needs a key", () => {
  const model = getModel("convnext_audio_nano", { dropPathRate: 0.6, numClasses: 5, dtype: "f64" });
  const { params, state } = model.init(T.randomKey(3));
  // Large layer scales so that dropping a residual branch visibly changes the logits.
  for (const k of Object.keys(params)) if (k.endsWith("gamma")) params[k] = T.onesLike(params[k]);
  const x = rand([4, 1, 64, 128], 7);
  const ev = model.apply(params, state, x, { train: false }).logits.toArray();
  const a = model.apply(params, state, x, { train: true, key: T.randomKey(11) }).logits.toArray();
  const b = model.apply(params, state, x, { train: true, key: T.randomKey(11) }).logits.toArray();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, ev);
  assert.throws(() => model.apply(params, state, x, { train: true }), /needs opts\.key/);
  const still = convnext({ ...model.config as ConvNextConfig, dropPathRate: 0 });
  assert.deepEqual(still.apply(params, state, x, { train: true }).logits.toArray(), ev);
});

Deno.test("convnext nano takes the paper's 128 × 1001 input (64 × 62 after the stem)", () => {
  for (const name of ["convnext_audio_nano", "convnext_dcls_audio_nano"]) {
    const model = getModel(name);
    const { params, state } = model.init(T.randomKey(0));
    const logits = model.apply(params, state, T.cast(rand([1, 1, 128, 1001], 1), "f32"), { train: false }).logits;
    assert.deepEqual([...logits.shape], [1, 527]);
    assert.ok(logits.toArray().every(Number.isFinite));
  }
});

Deno.test("convnext rejects configurations without four stages", () => {
  assert.throws(() => convnext(convnextTinyConfig({ depths: [1, 1, 1] })).layout(), /4 stages/);
});

Deno.test("convnext_dcls: a compiled training step equals the eager one", () => {
  const model = getModel("convnext_dcls_audio_nano", { numClasses: 3, dtype: "f64", dropPathRate: 0.3 });
  const { params, state } = model.init(T.randomKey(0));
  const x = rand([2, 1, 16, 128], 1), y = T.full([2, 3], 0.25, "f64");
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
