/**
 * What the model benchmarks share: the six reference models and their small stand-ins, the input sizes, the training
 * step measured (forward, BCE, backward, AdamW: what bench/pytorch_reference.py measures on the PyTorch side), the
 * evaluation forward, and parameters and data made on the GPU (so nothing large crosses the bus while timing).
 * @module
 */
import type { Tensor } from "../lib/core/tensor.ts";
import { valueAndGrad } from "../lib/core/autodiff.ts";
import { normal, randomKey, scalar, split, uniform } from "../lib/core/mod.ts";
import { bceWithLogits } from "../lib/ops/nn.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import type { Model, Params, State } from "../lib/models/common.ts";
import { getModel } from "../lib/models/registry.ts";
import { adamw, type Optimizer, type OptState } from "../lib/train/optim.ts";
import { type PreparedGpu, prepareGpu } from "./harness.ts";
import { progress } from "./report.ts";

/** The paper's six models, in the order the tables list them. */
export const REFERENCE_MODELS = [
  "convnext_audio_tiny",
  "convnext_dcls_audio_tiny",
  "convformer_audio_s18",
  "convformer_dcls_audio_s18",
  "fastvit_audio_sa24",
  "fastvit_dcls_audio_sa24",
] as const;

/** The registry's small variant of a reference model (same blocks, depths 1, narrow), for software adapters. */
export function smallVariant(name: string): string {
  return name.replace(/_(tiny|s18|sa24)$/, "_nano");
}

/** Input and batch sizes of a benchmark run. */
export interface BenchShape {
  /** Batch size. */
  readonly batch: number;
  /** Mel bands. */
  readonly mels: number;
  /** Frames (10 s at hop 320 and 32 kHz: 1001). */
  readonly frames: number;
  /** Output classes. */
  readonly classes: number;
}

/** The paper's input (1 × 128 × 1001, 527 classes), or a small one for llvmpipe that every nano model accepts. */
export function benchShape(small: boolean, batch?: number): BenchShape {
  return small
    ? { batch: batch ?? 2, mels: 32, frames: 160, classes: 527 }
    : { batch: batch ?? 64, mels: 128, frames: 1001, classes: 527 };
}

/** Model family and DCLS switch of a registry name, as the PyTorch side reports them. */
export function familyOf(name: string): { family: string; dcls: boolean } {
  return { family: name.split("_")[0], dcls: name.includes("_dcls_") };
}

/** The model of a registry name with the reference's settings (timm's default: no drop path). */
export function benchModel(name: string): Model {
  return getModel(name, { dropPathRate: 0 });
}

/**
 * The measured training step: `(params, state, optState, x, y, lr) → [params, state, optState, loss]`. The result is
 * positional, in the order of the donated arguments: the planner lends donated buffers to outputs of the same shape in
 * output order, so this order makes every updated tensor land in its own input's buffer.
 */
export type BenchTrainStep = (
  params: Params,
  state: State,
  optState: OptState,
  x: Tensor,
  y: Tensor,
  lr: Tensor,
) => [Params, State, OptState, Tensor];

/** Forward in training mode, mean BCE with logits, gradients, and the optimizer update (AdamW by default). */
export function benchTrainStep(model: Model, optimizer: Optimizer = adamw()): BenchTrainStep {
  return (params, state, optState, x, y, lr) => {
    const lossOf = (p: Params) => {
      const out = model.apply(p, state, x, { train: true });
      return [bceWithLogits(out.logits, y), out.state] as const;
    };
    const [[loss, newState], grads] = valueAndGrad(lossOf, { hasAux: true })(params) as unknown as [
      [Tensor, State],
      Params,
    ];
    const updated = optimizer.update(grads, optState, params, lr);
    return [updated.params, newState, updated.state, loss];
  };
}

/** The measured inference: logits of a batch in evaluation mode. */
export function benchEval(model: Model): (params: Params, state: State, x: Tensor) => Tensor {
  return (params, state, x) => model.apply(params, state, x, { train: false }).logits;
}

/** Something made on the GPU by a plan that must stay alive while its outputs are used. */
export interface OnGpuValue<T> {
  /** The tree of GPU handles. */
  readonly value: T;
  /** Milliseconds from tracing to the outputs being ready. */
  readonly ms: number;
  /** The plan that made it (destroy it when done). */
  readonly prepared: PreparedGpu;
}

async function runOnce<T>(gpu: Gpu, fn: (key: Tensor) => unknown, seed: number): Promise<OnGpuValue<T>> {
  const t0 = performance.now();
  const prepared = await prepareGpu(gpu, fn as never, [randomKey(seed)]);
  const value = (await prepared.call([randomKey(seed)], { check: true })) as T;
  await gpu.device.queue.onSubmittedWorkDone();
  return { value, ms: performance.now() - t0, prepared };
}

/** Parameters, state and optimizer state initialised on the GPU by the model's own initialisers. */
export function initOnGpu(
  gpu: Gpu,
  model: Model,
  optimizer: Optimizer,
  seed = 0,
): Promise<OnGpuValue<{ params: Params; state: State; optState: OptState }>> {
  return runOnce(gpu, (key) => {
    const { params, state } = model.init(key);
    return { params, state, optState: optimizer.init(params) };
  }, seed);
}

/** A random batch on the GPU: log-mel-like inputs `[B, 1, mels, frames]` and multi-hot-like targets in [0, 1). */
export function batchOnGpu(gpu: Gpu, shape: BenchShape, seed = 1): Promise<OnGpuValue<{ x: Tensor; y: Tensor }>> {
  return runOnce(gpu, (key) => {
    const [kx, ky] = split(key, 2);
    return {
      x: normal(kx, [shape.batch, 1, shape.mels, shape.frames]),
      y: uniform(ky, [shape.batch, shape.classes]),
    };
  }, seed);
}

/** Standard-normal tensors of the given shapes, made on the GPU (inputs that should not be uploaded per call). */
export function normalOnGpu<K extends string>(
  gpu: Gpu,
  shapes: Record<K, readonly number[]>,
  seed = 2,
): Promise<OnGpuValue<Record<K, Tensor>>> {
  const names = Object.keys(shapes).sort() as K[];
  return runOnce(gpu, (key) => {
    const keys = split(key, Math.max(2, names.length));
    return Object.fromEntries(names.map((n, i) => [n, normal(keys[i], shapes[n])]));
  }, seed);
}

/** The learning rate input of the training step (a scalar, so schedules never retrace). */
export function learningRate(): Tensor {
  return scalar(1e-4, "f32");
}

/** What {@link eachModel} did with each model. */
export interface ModelRuns<T> {
  /** Results of the models that ran, in order. */
  readonly results: T[];
  /** Models not started because the deadline would have passed. */
  readonly skipped: string[];
  /** Models whose run threw, with the first line of the error. */
  readonly failed: { model: string; error: string }[];
}

/**
 * Runs `run` for each model in turn. A model is skipped when, judging from the models done so far, it would end after
 * `deadlineS` seconds from `t0`; a model that throws is recorded and the next one runs (one kernel that does not
 * compile should not cost the other figures). `after` runs after every model (to save partial results).
 */
export async function eachModel<T>(
  names: readonly string[],
  opts: { t0: number; deadlineS?: number },
  run: (name: string) => Promise<T>,
  after?: (runs: ModelRuns<T>) => Promise<void>,
): Promise<ModelRuns<T>> {
  const runs: ModelRuns<T> = { results: [], skipped: [], failed: [] };
  let done = 0;
  for (const name of names) {
    const elapsedS = (performance.now() - opts.t0) / 1000;
    const perModelS = done ? elapsedS / done : 0;
    if (opts.deadlineS !== undefined && elapsedS + perModelS > opts.deadlineS) {
      progress(`${name}: skipped (${elapsedS.toFixed(0)} s spent, ~${perModelS.toFixed(0)} s per model)`);
      runs.skipped.push(name);
      continue;
    }
    try {
      runs.results.push(await run(name));
    } catch (e) {
      console.error(`${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
      runs.failed.push({ model: name, error: (e instanceof Error ? e.message : String(e)).split("\n")[0] });
    }
    done++;
    await after?.(runs);
  }
  return runs;
}
