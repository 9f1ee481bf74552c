import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import type { Params, State } from "../lib/models/common.ts";
import { fastvitLayoutInfo, fastvitModel, fastvitTiny, fastvitTinyConfig } from "../lib/models/fastvit.ts";
import { FastVitContext, mobileOneBlock } from "../lib/models/fastvit_blocks.ts";
import type { MobileOneOptions } from "../lib/models/fastvit_layout.ts";
import { fastvitInferenceApply, fastvitReparameterize, foldMobileOne } from "../lib/models/reparam.ts";
import { evaluationForm } from "../lib/models/evaluation.ts";
import { getModel } from "../lib/models/registry.ts";
import { fixtureTensor, loadFixture } from "./_fixtures.ts";
import { rand, relError } from "./_gradcheck.ts";

for (const variant of ["fastvit", "fastvit_dcls"] as const) {
  Deno.test(`${variant} tiny: the reparameterised model gives the same evaluation logits`, () => {
    const model = fastvitTiny({ dcls: variant === "fastvit_dcls" });
    const fx = loadFixture("tiny_models");
    const get = (name: string) => {
      const t = fixtureTensor(fx, `${variant}/${name}`);
      return T.tensor(t.data, { shape: [...t.shape], dtype: "f64" });
    };
    const params: Params = {}, state: State = {};
    for (const e of model.layout().entries) {
      if (e.kind === "param") params[e.name] = get(`param.${e.name}`);
      else if (e.kind === "buffer") state[e.name] = get(`param.${e.name}`);
    }
    const x = get("input");
    const want = model.apply(params, state, x, { train: false }).logits;
    const r = fastvitReparameterize(model.config, params, state);
    const got = fastvitInferenceApply(model.config, r.params, r.state, x);
    const err = relError(got.toArray(), want.toArray());
    assert.ok(err < 1e-10, `relative error ${err}`);
    if (model.config.dcls) {
      // Pruned DCLS kernels: the reparameterised path drops the same cells as the ordinary one.
      const config = { ...model.config, dcls: { ...model.config.dcls, prune: 0.05 } };
      const pruned = fastvitModel(config).apply(params, state, x, { train: false }).logits;
      const rp = fastvitReparameterize(config, params, state);
      const gotPruned = fastvitInferenceApply(config, rp.params, rp.state, x);
      const e = relError(gotPruned.toArray(), pruned.toArray());
      assert.ok(e < 1e-10, `pruned: relative error ${e}`);
      assert.ok(relError(pruned.toArray(), want.toArray()) > 1e-8, "pruning at 0.05 changes the logits");
    }

    // The inference structure: the reference's reparameterised names, no training branches left.
    const names = Object.keys(r.params);
    assert.ok(
      !names.some((n) => /rbr_|lkb_origin|small_conv|\.token_mixer\.(mixer|norm)\.|\.pe\./.test(n)),
      "branches left",
    );
    assert.deepEqual(r.params["network.0.0.token_mixer.reparam_conv.weight"].shape, [8, 1, 3, 3]);
    assert.deepEqual(r.params["network.1.proj.0.lkb_reparam.weight"].shape, [16, 1, 7, 7]);
    assert.deepEqual(r.params["network.1.proj.1.reparam_conv.weight"].shape, [16, 16, 1, 1]);
    assert.deepEqual(r.params["conv_exp.reparam_conv.weight"].shape, [128, 1, 3, 3]);
    const d = variant === "fastvit_dcls" ? 23 : 7;
    assert.deepEqual(r.params["network.6.reparam_conv.weight"].shape, [64, 1, d, d]);
    assert.deepEqual(r.params["network.0.0.convffn.conv.conv.weight"].shape, [8, 1, d, d]);
    assert.deepEqual(
      Object.keys(r.state).sort(),
      Object.keys(state).filter((k) => /\.convffn\.conv\.bn\.|\.\d+\.norm\./.test(k)).sort(),
    );
  });
}

Deno.test("foldMobileOne: one conv equals the multi-branch block in evaluation (random shapes and statistics)", () => {
  const config = fastvitTinyConfig();
  const ctx = (params: Params, state: State) =>
    new FastVitContext(config, fastvitLayoutInfo(config), params, state, false);
  fc.assert(
    fc.property(
      fc.record({
        c: fc.constantFrom(2, 4),
        wide: fc.boolean(),
        kernel: fc.constantFrom(1, 3),
        stride: fc.constantFrom(1, 2),
        depthwise: fc.boolean(),
        useScaleBranch: fc.boolean(),
        numConvBranches: fc.integer({ min: 0, max: 2 }),
        seed: fc.integer({ min: 1, max: 1000 }),
      }),
      (r) => {
        const cout = r.wide ? 2 * r.c : r.c;
        const o: MobileOneOptions = {
          cin: r.c,
          cout,
          kernel: r.kernel,
          stride: r.stride,
          groups: r.depthwise ? r.c : 1,
          useSe: false,
          useScaleBranch: r.useScaleBranch,
          numConvBranches: r.numConvBranches,
        };
        const hasSkip = r.c === cout && r.stride === 1;
        if (!hasSkip && r.numConvBranches === 0 && !(r.kernel > 1 && r.useScaleBranch)) return;
        let seed = r.seed * 100;
        const params: Params = {}, state: State = {};
        const bn = (p: string, n: number) => {
          params[`${p}.weight`] = rand([n], seed++, 0.5, 1.5);
          params[`${p}.bias`] = rand([n], seed++);
          state[`${p}.running_mean`] = rand([n], seed++);
          state[`${p}.running_var`] = rand([n], seed++, 0.5, 2);
        };
        const convBn = (p: string, k: number) => {
          params[`${p}.conv.weight`] = rand([cout, r.c / o.groups, k, k], seed++);
          bn(`${p}.bn`, cout);
        };
        if (hasSkip) bn("b.rbr_skip", r.c);
        for (let i = 0; i < r.numConvBranches; i++) convBn(`b.rbr_conv.${i}`, r.kernel);
        if (r.kernel > 1 && r.useScaleBranch) convBn("b.rbr_scale", 1);
        const x = rand([2, r.c, 5, 6], seed++);
        const want = mobileOneBlock(ctx(params, state), "b", o, x, false);
        const f = foldMobileOne(params, state, "b", o);
        const got = T.conv2d(
          x,
          f.weight,
          { stride: r.stride, padding: Math.floor(r.kernel / 2), groups: o.groups },
          f.bias,
        );
        assert.deepEqual(got.shape, want.shape);
        assert.ok(relError(got.toArray(), want.toArray()) < 1e-12);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("evaluationForm: FastViT evaluates reparameterised (same logits), other models as they train", () => {
  const x = T.mul(T.normal(T.randomKey(5), [2, 1, 32, 160]), 1);
  for (const name of ["fastvit_audio_nano", "fastvit_dcls_audio_nano", "convnext_audio_nano"]) {
    const model = getModel(name, { numClasses: 10 });
    const { params, state } = model.init(T.randomKey(3));
    const form = evaluationForm(model, params, state);
    assert.equal(form.reparameterized, name.startsWith("fastvit"), name);
    const want = model.apply(params, state, x, { train: false }).logits.toArray();
    const got = form.logits(form.params, form.state, x).toArray();
    const err = relError(got, want);
    assert.ok(err < 1e-4, `${name}: relative error ${err}`);
    if (form.reparameterized) assert.ok(Object.keys(form.params).some((n) => n.endsWith("reparam_conv.weight")));
  }
});
