/** The training step, batch assembly and training checkpoints: reference comparisons and determinism. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect, Stream } from "effect";
import * as T from "../lib/core/mod.ts";
import { getModel } from "../lib/models/registry.ts";
import { adamw } from "../lib/train/optim.ts";
import { compiledTrainStep, evalStep, trainStep } from "../lib/train/step.ts";
import {
  epochOrder,
  epochView,
  hostLogMel,
  type InputSettings,
  stepKey,
  stepsPerEpoch,
  trainInputs,
} from "../lib/train/batches.ts";
import { loadModelFile, loadTrainingCheckpoint, saveTrainingCheckpoint } from "../lib/train/checkpoint_io.ts";
import { mixBatch, smoothLabels } from "../lib/data/augment.ts";
import { batchStream } from "../lib/data/loader.ts";
import { proceduralDataset } from "../lib/data/procedural.ts";
import { logMel } from "../lib/audio/frontend.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";
import { saveCheckpoint } from "../lib/models/checkpoint.ts";

const model = getModel("convnext_audio_nano", { numClasses: 5, dtype: "f64", dropPathRate: 0 });
const init = model.init(T.randomKey(3));
const x = T.normal(T.randomKey(4), [4, 1, 16, 128], { dtype: "f64" });
const targets = T.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [1, 1, 0, 0, 0]], { dtype: "f64" });

Deno.test("train step: loss is BCE of the model on host-mixed, smoothed targets (augment.ts as the reference)", () => {
  const lambda = 0.3, perm = Int32Array.from([2, 0, 3, 1]);
  const opt = adamw();
  const step = trainStep({ model, optimizer: opt, labelSmoothing: 0.1 });
  const r = step(
    init.params,
    init.state,
    opt.init(init.params),
    {
      x,
      targets,
      lambda: T.tensor(lambda, { dtype: "f32" }),
      perm: T.tensor(perm, { dtype: "i32" }),
    },
    T.randomKey(0),
    T.scalar(1e-3),
  );
  // Mix on the host with the recipe's reference functions, then evaluate the loss directly.
  const smoothed = smoothLabels(Float32Array.from(targets.toArray()), 0.1, 5);
  const host = mixBatch(Float32Array.from(x.toArray()), smoothed, lambda, perm);
  const hx = T.tensor(Float64Array.from(host.x), { shape: x.shape, dtype: "f64" });
  const ht = T.tensor(Float64Array.from(host.targets), { shape: [4, 5], dtype: "f64" });
  const logits = model.apply(init.params, init.state, hx, { train: true, key: T.randomKey(0) }).logits;
  const ref = T.bceWithLogits(logits, ht).item();
  // The host mixes in float32; the step mixes in the model's float64.
  assert.ok(Math.abs(r.loss.item() - ref) < 1e-6, `${r.loss.item()} vs ${ref}`);
  assert.ok(r.loss.item() > 0.5 && r.loss.item() < 1, "an untrained model has a loss near log 2");
});

Deno.test("train step: compiled equals eager, and the update follows the gradient", () => {
  const opt = adamw({ weightDecay: 0 });
  const batch = {
    x,
    targets,
    lambda: T.tensor(1, { dtype: "f32" }),
    perm: T.tensor(Int32Array.from([0, 1, 2, 3]), { dtype: "i32" }),
  };
  const eager = trainStep({ model, optimizer: opt, labelSmoothing: 0 });
  const compiled = compiledTrainStep({ model, optimizer: opt, labelSmoothing: 0 });
  const o = opt.init(init.params);
  const a = eager(init.params, init.state, o, batch, T.randomKey(1), T.scalar(1e-2));
  const b = compiled(init.params, init.state, o, batch, T.randomKey(1), T.scalar(1e-2));
  assert.equal(a.loss.item(), b.loss.item());
  for (const k of Object.keys(a.params)) assert.deepEqual(b.params[k].toArray(), a.params[k].toArray(), k);
  // A few steps on one batch lower its loss.
  let p = b.params, s = b.optState;
  for (let i = 0; i < 4; i++) {
    ({ params: p, optState: s } = compiled(p, init.state, s, batch, T.randomKey(1), T.scalar(1e-2)));
  }
  const after = compiled(p, init.state, s, batch, T.randomKey(1), T.scalar(0)).loss.item();
  assert.ok(after < b.loss.item(), `loss ${b.loss.item()} → ${after}`);
});

Deno.test("eval step: sigmoid of the logits in evaluation mode", () => {
  const scores = evalStep({ model })(init.params, init.state, x).toArray();
  const logits = model.apply(init.params, init.state, x, { train: false }).logits.toArray();
  logits.forEach((l, i) => assert.ok(Math.abs(scores[i] - 1 / (1 + Math.exp(-l))) < 1e-12));
});

Deno.test("host front end agrees with the tensor front end of the compiled step", () => {
  const fe = { sampleRate: 16000, nFft: 512, hop: 250, nMels: 64, fMin: 50, fMax: 7600 };
  const wave = T.mul(T.normal(T.randomKey(7), [1, 8000], { dtype: "f64" }), 0.1);
  const host = hostLogMel(Float32Array.from(wave.toArray()), fe);
  const tens = logMel(wave, fe).toArray();
  assert.equal(host.length, tens.length);
  let worst = 0;
  host.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - tens[i]))));
  assert.ok(worst < 1e-4, `max difference ${worst}`);
});

const input: InputSettings = {
  clipSamples: 4000,
  frontEnd: { sampleRate: 8000, nFft: 256, hop: 128, nMels: 16, fMin: 50, fMax: 3800 },
  frontEndOn: "host",
};
const aug = { waveform: true, erasing: true, mixupAlpha: 0.8 };
const ds = proceduralDataset({ seed: 1, split: "train", size: 20, sampleRate: 8000, seconds: 0.5 });

function epochBatches(key: Uint32Array, epoch: number, position: number, batch: number) {
  const view = epochView(ds, key, epoch, position, batch, input, aug);
  return Effect.runPromise(Stream.runCollect(batchStream(view, { batchSize: batch, dropLast: true })));
}

Deno.test("batches: a run resumed at any step sees exactly the batches of an uninterrupted run", async () => {
  const key = keyFromSeed(5), batch = 3;
  const per = stepsPerEpoch(ds.length, batch);
  assert.equal(per, 6);
  const full = await epochBatches(key, 1, 0, batch);
  assert.equal(full.length, per);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: per - 1 }), async (pos) => {
      const resumed = await epochBatches(key, 1, pos, batch);
      assert.equal(resumed.length, per - pos);
      resumed.forEach((b, i) => {
        assert.deepEqual(b.names, full[pos + i].names);
        assert.deepEqual(b.x, full[pos + i].x);
        const step = per + pos + i;
        const a = trainInputs(b, key, step, input, aug), c = trainInputs(full[pos + i], key, step, input, aug);
        assert.deepEqual(a.x.toArray(), c.x.toArray());
        assert.equal(a.lambda.item(), c.lambda.item());
      });
    }),
    { numRuns: 4 },
  );
  // Epochs are permutations of the whole dataset, different from one epoch to the next.
  const e0 = epochOrder(key, 0, ds.length), e1 = epochOrder(key, 1, ds.length);
  assert.deepEqual([...e0].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  assert.notDeepEqual(e0, e1);
  assert.notDeepEqual(stepKey(key, 3), stepKey(key, 4));
});

Deno.test("training checkpoint: round trip is exact; model files load from it; bad files are named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const opt = adamw();
    const optState = opt.update(init.params, opt.init(init.params), init.params, T.scalar(1e-3)).state;
    const path = `${dir}/ck.safetensors`;
    await saveTrainingCheckpoint(path, {
      model,
      ...init,
      optState,
      step: 7,
      seed: 3,
      key: keyFromSeed(3),
      classNames: ["a", "b", "c", "d", "e"],
      settings: { lr: 0.5 },
    });
    const back = await loadTrainingCheckpoint(path);
    assert.equal(back.step, 7);
    assert.equal(back.model.name, model.name);
    assert.deepEqual([...back.key], [...keyFromSeed(3)]);
    assert.deepEqual(back.classNames, ["a", "b", "c", "d", "e"]);
    assert.deepEqual(back.settings, { lr: 0.5 });
    for (const k of Object.keys(init.params)) {
      assert.deepEqual(back.params[k].toArray(), init.params[k].toArray(), k);
      assert.deepEqual(back.optState.m[k].toArray(), optState.m[k].toArray(), k);
      assert.deepEqual(back.optState.v[k].toArray(), optState.v[k].toArray(), k);
    }
    assert.equal(back.optState.step.item(), 1);
    const asModel = await loadModelFile(path);
    assert.deepEqual(asModel.classNames, ["a", "b", "c", "d", "e"]);
    // A model-only file is not a training checkpoint.
    const plain = `${dir}/plain.safetensors`;
    await saveCheckpoint(plain, model, init.params, init.state);
    await assert.rejects(loadTrainingCheckpoint(plain), (e: Error) => e.message.startsWith(`${plain}: not a training`));
    assert.equal((await loadModelFile(plain)).model.name, model.name);
    await assert.rejects(loadModelFile(plain, "fastvit_audio_nano"), /not "fastvit_audio_nano"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
