/** Optimizers and schedule against hand-derived updates. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { adamw, lamb } from "../lib/train/optim.ts";
import { learningRate } from "../lib/train/schedule.ts";
import { groupOf } from "../lib/train/param_groups.ts";

const f64 = (v: number[], shape?: number[]) => T.tensor(v, { dtype: "f64", shape: shape ?? [v.length] });

Deno.test("AdamW: two steps match torch.optim.AdamW's formulas, groups by name", () => {
  const params = { "a.weight": f64([1, -2], [1, 2]), "a.bias": f64([0.5]), "s.P": f64([0.1, 0.2], [1, 2]) };
  const grads = { "a.weight": f64([0.3, -0.1], [1, 2]), "a.bias": f64([2]), "s.P": f64([1, -1], [1, 2]) };
  const opt = adamw({ weightDecay: 0.05 });
  let st = opt.init(params);
  let p = params;
  const lr = 2 ** -7; // exact in f32, the dtype of the learning-rate input
  const ref: Record<string, number[]> = {};
  const mm: Record<string, number[]> = {}, vv: Record<string, number[]> = {};
  for (const k of Object.keys(params)) {
    ref[k] = [...(params as Record<string, T.Tensor>)[k].toArray()];
    mm[k] = ref[k].map(() => 0);
    vv[k] = ref[k].map(() => 0);
  }
  for (let t = 1; t <= 2; t++) {
    ({ params: p, state: st } = opt.update(grads, st, p, T.scalar(lr)) as { params: typeof params; state: typeof st });
    for (const k of Object.keys(params)) {
      const g = [...(grads as Record<string, T.Tensor>)[k].toArray()];
      const grp = groupOf(k, (params as Record<string, T.Tensor>)[k]);
      const lk = lr * grp.lrScale;
      ref[k] = ref[k].map((w, i) => {
        mm[k][i] = 0.9 * mm[k][i] + 0.1 * g[i];
        vv[k][i] = 0.999 * vv[k][i] + 0.001 * g[i] * g[i];
        const wd = w * (1 - lk * 0.05 * grp.decay);
        return wd - lk * (mm[k][i] / (1 - 0.9 ** t)) / (Math.sqrt(vv[k][i] / (1 - 0.999 ** t)) + 1e-8);
      });
    }
  }
  for (const k of Object.keys(params)) {
    const got = (p as Record<string, T.Tensor>)[k].toArray();
    ref[k].forEach((r, i) => assert.ok(Math.abs(got[i] - r) < 1e-12, `${k}[${i}]: ${got[i]} vs ${r}`));
  }
  assert.deepEqual(groupOf("s.P", params["s.P"]), { decay: 0, lrScale: 5 });
  assert.deepEqual(groupOf("a.bias", params["a.bias"]), { decay: 0, lrScale: 1 });
});

Deno.test("LAMB: clipped gradients and trust ratio as timm", () => {
  const params = { "w": f64([3, 4], [1, 2]) };
  const grads = { "w": f64([6, 8], [1, 2]) }; // norm 10 → clipped to norm 1
  const opt = lamb({ weightDecay: 0.1 });
  const { params: p } = opt.update(grads, opt.init(params), params, T.scalar(0.5));
  // Step 1: m̂ = g', v̂ = g'², Adam direction = sign ≈ g'/|g'| = [1, 1] (minus eps effects); plus wd·p.
  const g = [0.6, 0.8];
  const upd = g.map((gi, i) => gi / (Math.abs(gi) + 1e-6) + 0.1 * [3, 4][i]);
  const un = Math.hypot(...upd), wn = 5;
  const expected = [3, 4].map((w, i) => w - 0.5 * (wn / un) * upd[i]);
  const got = p.w.toArray();
  expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-12, `${got[i]} vs ${e}`));
});

Deno.test("schedule: linear warm-up then half-cycle cosine to minLr", () => {
  const o = { baseLr: 4e-3, warmupSteps: 20, totalSteps: 60, minLr: 1e-6 };
  assert.equal(learningRate(0, o), 0);
  assert.ok(Math.abs(learningRate(10, o) - 2e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(20, o) - 4e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(40, o) - (1e-6 + 0.5 * (4e-3 - 1e-6))) < 1e-15);
  assert.ok(Math.abs(learningRate(60, o) - 1e-6) < 1e-15);
  assert.throws(() => learningRate(0, { ...o, warmupSteps: 70 }), /invalid schedule/);
});
