/**
 * Timings on this machine: seconds per training step of a configuration (to size the smoke profile from a
 * measurement rather than a guess), and inference throughput in samples per second (Table 1's throughput column).
 * Both run the compiled functions on synthetic inputs of the profile's shape; values never affect the cost.
 * @module
 */
import type { Tensor } from "../lib/core/tensor.ts";
import { normal, randomKey } from "../lib/ops/random.ts";
import { tensor, zeros } from "../lib/ops/create.ts";
import { getModel } from "../lib/models/registry.ts";
import { adamw, lamb } from "../lib/train/optim.ts";
import { compiledEvalStep, compiledTrainStep, type Compiler } from "../lib/train/step.ts";

/** Input shape of the network for a profile: `[mels, frames]`. */
export type InputShape = readonly [number, number];

/** Seconds per training step of `model` at batch `batch` (median of `steps` timed steps after one warm-up). */
export function secondsPerStep(
  model: string,
  classes: number,
  batch: number,
  shape: InputShape,
  compiler: Compiler,
  steps = 2,
): { seconds: number; warmup: number } {
  const m = getModel(model, { numClasses: classes, dropPathRate: 0.1 });
  const optimizer = model.startsWith("convformer") ? lamb() : adamw();
  const step = compiledTrainStep({ model: m, optimizer }, compiler);
  let { params, state } = m.init(randomKey(0));
  let optState = optimizer.init(params);
  const batchIn = {
    x: normal(randomKey(1), [batch, 1, ...shape]),
    targets: zeros([batch, classes]),
    lambda: tensor(0.7),
    perm: tensor(Int32Array.from({ length: batch }, (_, i) => batch - 1 - i), { dtype: "i32" }),
  };
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const t0 = performance.now();
    const r = step(params, state, optState, batchIn, randomKey(i), tensor(1e-3));
    ({ params, state, optState } = r);
    r.loss.item();
    times.push((performance.now() - t0) / 1000);
  }
  const timed = times.slice(1).sort((a, b) => a - b);
  return { seconds: timed[Math.floor(timed.length / 2)], warmup: times[0] };
}

/** Inference throughput (samples/s) of `model` in evaluation mode, timed for at least `minSeconds`. */
export function throughput(
  model: string,
  classes: number,
  batch: number,
  shape: InputShape,
  compiler: Compiler,
  minSeconds = 1.5,
): number {
  const m = getModel(model, { numClasses: classes });
  const score = compiledEvalStep({ model: m }, compiler);
  const { params, state } = m.init(randomKey(0));
  const x: Tensor = normal(randomKey(1), [batch, 1, ...shape]);
  score(params, state, x).toArray(); // trace and warm up
  let n = 0;
  const t0 = performance.now();
  do {
    score(params, state, x).toArray();
    n++;
  } while ((performance.now() - t0) / 1000 < minSeconds);
  return (n * batch) / ((performance.now() - t0) / 1000);
}
