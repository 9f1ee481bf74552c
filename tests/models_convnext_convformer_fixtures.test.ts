/**
 * The tiny ConvNeXt / ConvFormer models (and their DCLS variants) against the reference fixtures: parameters loaded
 * from the fixture's state dict, eval and train logits, the BCE loss and every gradient in float64.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { fromStateDict } from "../lib/models/checkpoint.ts";
import { getModel } from "../lib/models/registry.ts";
import { type FixtureTensor, fixtureTensor, loadFixture, loadManifest } from "./_fixtures.ts";
import { relError } from "./_gradcheck.ts";

const TOL = 1e-8;

interface TinyManifest {
  input: number[];
  classes: number;
  models: Record<string, { params: number }>;
}

function checkTiny(prefix: string, registryName: string) {
  const manifest = loadManifest().tiny_models as TinyManifest;
  const fx = loadFixture("tiny_models");
  const get = (n: string) => fixtureTensor(fx, `${prefix}/${n}`);
  const asTensor = (t: FixtureTensor) => T.tensor(t.data, { shape: [...t.shape], dtype: "f64" });
  const model = getModel(registryName, { numClasses: manifest.classes, dtype: "f64" });

  const sd = new Map<string, FixtureTensor>();
  for (const [k, v] of fx) if (k.startsWith(`${prefix}/param.`)) sd.set(k.slice(prefix.length + 7), v);
  const { params, state } = fromStateDict(model, sd);
  assert.equal(treeSize(params), manifest.models[prefix].params);

  const x = asTensor(get("input"));
  assert.deepEqual([...x.shape], manifest.input);
  const target = asTensor(get("target"));
  const evalLogits = model.apply(params, state, x, { train: false }).logits;
  assert.ok(relError(evalLogits.toArray(), get("logits_eval").data) < TOL, "eval logits");

  const lossOf = (p: Record<string, T.Tensor>) => {
    const logits = model.apply(p, state, x, { train: true }).logits;
    return [T.bceWithLogits(logits, target), logits] as [T.Tensor, T.Tensor];
  };
  const [[loss, trainLogits], grads] = T.valueAndGrad(lossOf as never, { hasAux: true })(params) as unknown as [
    [T.Tensor, T.Tensor],
    Record<string, T.Tensor>,
  ];
  assert.ok(relError(trainLogits.toArray(), get("logits_train").data) < TOL, "train logits");
  assert.ok(relError(loss.toArray(), get("loss").data) < TOL, "loss");

  const gradNames = [...fx.keys()].filter((k) => k.startsWith(`${prefix}/grad.`)).map((k) =>
    k.slice(prefix.length + 6)
  );
  assert.deepEqual(Object.keys(grads).sort(), gradNames.sort());
  const bad = gradNames
    .map((n) => [n, relError(grads[n].toArray(), get(`grad.${n}`).data)] as const)
    .filter(([, e]) => !(e < TOL));
  assert.deepEqual(bad, []);
}

function treeSize(p: Record<string, T.Tensor>): number {
  return Object.values(p).reduce((n, t) => n + t.size, 0);
}

Deno.test("tiny convnext matches the reference forward, loss and gradients", () => {
  checkTiny("convnext", "convnext_audio_nano");
});

Deno.test("tiny convnext_dcls matches the reference forward, loss and gradients", () => {
  checkTiny("convnext_dcls", "convnext_dcls_audio_nano");
});

Deno.test("tiny convformer matches the reference forward, loss and gradients", () => {
  checkTiny("convformer", "convformer_audio_nano");
});

Deno.test("tiny convformer_dcls matches the reference forward, loss and gradients", () => {
  checkTiny("convformer_dcls", "convformer_dcls_audio_nano");
});
