/**
 * The six tiny reference models on the WebGPU backend (float32): parameters from the fixture's float64 state dict cast
 * to f32, and one compiled graph per model returning the evaluation logits, the training logits, the BCE loss and
 * every gradient (one graph, because each new shader costs seconds to compile on a software adapter). Everything
 * must match the float64 reference within 1e-3, norm-wise relative per tensor.
 *
 * Evaluation uses the running statistics the reference's evaluation pass saw. The fixture took the evaluation logits
 * first, then ran one training pass (updating the BatchNorm statistics, momentum 0.1) and saved the state_dict after
 * it, so, as in tests/models_fastvit_fixture.test.ts, s₀ = (s₁ − 0.1 · batch) / 0.9, recovered here from the graph's
 * own training pass. For models without buffers this is the identity.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import type { Model, Params, State } from "../lib/models/common.ts";
import { fromStateDict } from "../lib/models/checkpoint.ts";
import { fastvitTiny } from "../lib/models/fastvit.ts";
import { getModel } from "../lib/models/registry.ts";
import { type FixtureTensor, fixtureTensor, loadFixture, loadManifest } from "./_fixtures.ts";
import { f32, gpu, GPU_TEST, readTree } from "./_gpu_fixture.ts";
import { relError } from "./_gradcheck.ts";

const TOL = 1e-3;

/**
 * Floor of each gradient's relative-error denominator, as a fraction of the norm of the model's whole reference
 * gradient. Some FastViT gradients are (nearly) zero in exact arithmetic: the patch-embedding BatchNorm biases
 * (~1e-18 in the float64 reference, see tests/models_fastvit_fixture.test.ts) and the first RepMixer's 1×1 scale
 * branch (~1e-7 of the total), where float32 rounding of the cancelling sums is all there is to compare; against this
 * floor their absolute error must be as small as everyone else's relative error.
 */
const GRAD_FLOOR = 1e-4;

interface TinyManifest {
  input: number[];
  classes: number;
  models: Record<string, { params: number }>;
}

const manifest = loadManifest().tiny_models as TinyManifest;
const fx = loadFixture("tiny_models");

const MODELS: Record<string, () => Model> = {
  convnext: () => getModel("convnext_audio_nano", { numClasses: manifest.classes, dtype: "f32" }),
  convnext_dcls: () => getModel("convnext_dcls_audio_nano", { numClasses: manifest.classes, dtype: "f32" }),
  convformer: () => getModel("convformer_audio_nano", { numClasses: manifest.classes, dtype: "f32" }),
  convformer_dcls: () => getModel("convformer_dcls_audio_nano", { numClasses: manifest.classes, dtype: "f32" }),
  fastvit: () => fastvitTiny({ dtype: "f32" }),
  fastvit_dcls: () => fastvitTiny({ dcls: true, dtype: "f32" }),
};

interface Outputs {
  evalLogits: T.Tensor;
  trainLogits: T.Tensor;
  loss: T.Tensor;
  grads: Params;
}

/** Training pass with loss and gradients, then the evaluation pass on the recovered pre-training statistics. */
function forwardBackward(model: Model) {
  return (params: Params, state: State, x: T.Tensor, target: T.Tensor): Outputs => {
    const lossOf = (p: Params) => {
      const r = model.apply(p, state, x, { train: true });
      return [T.bceWithLogits(r.logits, target), { logits: r.logits, state: r.state }];
    };
    const [[loss, aux], grads] = T.valueAndGrad(lossOf, { hasAux: true })(params) as unknown as [
      [T.Tensor, { logits: T.Tensor; state: State }],
      Params,
    ];
    const before: State = {};
    for (const k of Object.keys(state)) {
      before[k] = T.div(T.sub(state[k], T.sub(aux.state[k], T.mul(state[k], 0.9))), 0.9);
    }
    const evalLogits = model.apply(params, before, x, { train: false }).logits;
    return { evalLogits, trainLogits: aux.logits, loss, grads };
  };
}

for (const [prefix, build] of Object.entries(MODELS)) {
  Deno.test({
    name: `gpu f32 tiny ${prefix}: eval and train logits, loss and every gradient within 1e-3 of the reference`,
    ...GPU_TEST,
    fn: async () => {
      const model = build();
      const get = (n: string) => fixtureTensor(fx, `${prefix}/${n}`);
      const sd = new Map<string, FixtureTensor>();
      for (const [k, v] of fx) if (k.startsWith(`${prefix}/param.`)) sd.set(k.slice(prefix.length + 7), v);
      const { params, state } = fromStateDict(model, sd, { dtype: "f32" });
      assert.equal(Object.values(params).reduce((n, t) => n + t.size, 0), manifest.models[prefix].params);
      const x = f32(get("input"));
      assert.deepEqual([...x.shape], manifest.input);

      const g = compileGpu(forwardBackward(model), { device: gpu!, readback: "all" });
      let got: Record<"evalLogits" | "trainLogits" | "loss", Float32Array> & { grads: Record<string, Float32Array> };
      try {
        got = await readTree(await g(params, state, x, f32(get("target")))) as typeof got;
      } finally {
        g.dispose();
      }

      const errors: [string, number][] = [];
      const check = (what: string, a: ArrayLike<number>, ref: FixtureTensor, floor = 1e-12) => {
        assert.equal(a.length, ref.data.length, `${what}: size`);
        errors.push([what, relError(a, ref.data, floor)]);
      };
      check("eval logits", got.evalLogits, get("logits_eval"));
      check("train logits", got.trainLogits, get("logits_train"));
      check("loss", got.loss, get("loss"));

      const gradNames = [...fx.keys()].filter((k) => k.startsWith(`${prefix}/grad.`)).map((k) =>
        k.slice(prefix.length + 6)
      );
      assert.deepEqual(Object.keys(got.grads).sort(), gradNames.sort());
      let total = 0;
      for (const n of gradNames) total += get(`grad.${n}`).data.reduce((s, v) => s + v * v, 0);
      const floor = GRAD_FLOOR * Math.sqrt(total);
      for (const n of gradNames) check(`grad ${n}`, got.grads[n], get(`grad.${n}`), floor);

      assert.deepEqual(errors.filter(([, e]) => !(e < TOL)), [], "tensors off by more than 1e-3 relative");
    },
  });
}
