/**
 * The tiny FastViT fixtures (depths 1, dims 8…64, 10 classes, float64), built by the paper's own model code with random
 * weights: evaluation and training logits, the BCE loss and every gradient must match.
 *
 * How the fixture was made matters for the running statistics: the evaluation logits were taken first, then one
 * training pass (which updated the BatchNorm running statistics), and the state_dict was saved after it
 * (num_batches_tracked = 1). We therefore recover the statistics the evaluation pass saw from the saved ones and our
 * own training pass, s₀ = (s₁ − 0.1 · batch) / 0.9; evaluation logits can only match if our batch statistics (mean and
 * unbiased variance) agree with PyTorch's.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import type { Params, State } from "../lib/models/common.ts";
import { fastvitTiny } from "../lib/models/fastvit.ts";
import { fixtureTensor, loadFixture } from "./_fixtures.ts";
import { relError } from "./_gradcheck.ts";

const TOL = 1e-8;

/**
 * Gradients that are zero in exact arithmetic: the BatchNorm biases of the two patch-embedding branches feed only
 * train-mode BatchNorms (directly, and through a linear 1×1 conv), which remove any per-channel constant. Both sides
 * hold rounding noise (~1e-18) there, so only their size is compared, against the sibling weight gradient.
 */
const STRUCTURALLY_ZERO = /\.proj\.0\.(lkb_origin|small_conv)\.bn\.bias$/;

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

for (const variant of ["fastvit", "fastvit_dcls"] as const) {
  const model = fastvitTiny({ dcls: variant === "fastvit_dcls" });
  const fx = loadFixture("tiny_models");
  const get = (name: string) => {
    const t = fixtureTensor(fx, `${variant}/${name}`);
    return T.tensor(t.data, { shape: [...t.shape], dtype: "f64" });
  };
  const load = () => {
    const params: Params = {}, state: State = {};
    for (const e of model.layout().entries) {
      if (e.kind === "param") params[e.name] = get(`param.${e.name}`);
      else if (e.kind === "buffer") state[e.name] = get(`param.${e.name}`);
    }
    return { params, state };
  };

  Deno.test(`${variant} tiny: layout names and shapes are exactly the fixture's state_dict`, () => {
    const prefix = `${variant}/param.`;
    const want = [...fx.entries()]
      .filter(([k]) => k.startsWith(prefix) && !k.endsWith(".num_batches_tracked"))
      .map(([k, t]) => `${k.slice(prefix.length)} ${t.shape.join("x")}`)
      .sort();
    const got = model.layout().entries.map((e) => `${e.name} ${e.shape.join("x")}`).sort();
    assert.deepEqual(got, want);
    // One gradient per unique parameter: the parameters (not the aliases) of our layout.
    const grads = [...fx.keys()].filter((k) => k.startsWith(`${variant}/grad.`)).map((k) =>
      k.slice(variant.length + 6)
    );
    const params = model.layout().entries.filter((e) => e.kind === "param").map((e) => e.name);
    assert.deepEqual([...params].sort(), grads.sort());
  });

  Deno.test(`${variant} tiny: training logits, loss, every gradient and evaluation logits match`, () => {
    const { params, state } = load();
    const x = get("input"), target = get("target");
    let newState: State = {};
    const [[loss, logits], grads] = T.valueAndGrad((p: Params) => {
      const r = model.apply(p, state, x, { train: true });
      newState = r.state;
      return [T.bceWithLogits(r.logits, target), r.logits];
    }, { hasAux: true })(params) as [[T.Tensor, T.Tensor], Params];

    assert.ok(relError(logits.toArray(), get("logits_train").toArray()) < TOL, "training logits");
    assert.ok(relError(loss.toArray(), get("loss").toArray()) < TOL, "loss");
    let checked = 0;
    for (const name of Object.keys(params)) {
      const want = get(`grad.${name}`).toArray();
      const got = grads[name].toArray();
      if (STRUCTURALLY_ZERO.test(name)) {
        const scale = norm(get(`grad.${name.replace(/bias$/, "weight")}`).toArray());
        assert.ok(norm(got) < 1e-12 * scale && norm(want) < 1e-12 * scale, `${name}: should be rounding noise`);
      } else {
        const err = relError(got, want);
        assert.ok(err < TOL, `gradient ${name}: relative error ${err}`);
      }
      checked++;
    }
    assert.equal(checked, Object.keys(grads).length);

    // Evaluation, with the running statistics as they were before the fixture's training pass.
    const before: State = {};
    for (const k of Object.keys(state)) {
      assert.ok(newState[k], `training pass returns ${k}`);
      before[k] = T.div(T.sub(state[k], T.sub(newState[k], T.mul(state[k], 0.9))), 0.9);
    }
    const ev = model.apply(params, before, x, { train: false });
    const err = relError(ev.logits.toArray(), get("logits_eval").toArray());
    assert.ok(err < TOL, `evaluation logits: relative error ${err}`);
  });
}
