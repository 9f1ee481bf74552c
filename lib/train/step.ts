/**
 * The training and evaluation steps as pure tensor functions, compiled once per input signature: front end (when the
 * batch holds waveforms), mixup with label smoothing, the model in training mode, BCE with logits, gradients and the
 * optimizer update. Every random choice arrives as an input (the mixup λ and permutation, the erasing boxes, the
 * drop-path key), so a step is a pure function of its arguments and runs bit-identically when replayed.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { compile } from "../core/compile.ts";
import { valueAndGrad } from "../core/autodiff.ts";
import { add, cast, mul, sigmoid, sub } from "../ops/elementwise.ts";
import { take } from "../ops/movement.ts";
import { bceWithLogits } from "../ops/nn.ts";
import { type FrontEndOptions, logMel } from "../audio/frontend.ts";
import type { Model, Params, State } from "../models/common.ts";
import type { Optimizer, OptState } from "./optim.ts";
import { addGrads, clipByGlobalNorm, scaleGrads } from "./grad_utils.ts";

/** One training batch as the step sees it; random choices were made on the host from the step's key. */
export interface StepBatch {
  /** Waveforms `[B, N]` (the front end runs in the step) or normalised log-mels `[B, 1, mels, frames]`. */
  readonly x: Tensor;
  /** Multi-hot targets `[B, classes]`. */
  readonly targets: Tensor;
  /**
   * Random-erasing boxes `[B, C, 4]` (top, bottom, left, right on the power spectrogram) for waveform input; the
   * mask is built inside the step. Absent: no erasing.
   */
  readonly erasingBoxes?: Tensor;
  /** Mixup weight λ (scalar). */
  readonly lambda: Tensor;
  /** Mixup partner of each item (i32 `[B]`). */
  readonly perm: Tensor;
}

/** What a training step returns. */
export interface StepResult {
  /** Updated parameters. */
  readonly params: Params;
  /** Updated buffers (BatchNorm running statistics). */
  readonly state: State;
  /** Updated optimizer state. */
  readonly optState: OptState;
  /** Mean BCE of the batch, before the update. */
  readonly loss: Tensor;
}

/** A training step: `(params, state, optState, batch, key, lr) → { params, state, optState, loss }`. */
export type TrainStep = (
  params: Params,
  state: State,
  optState: OptState,
  batch: StepBatch,
  key: Tensor,
  lr: Tensor,
) => StepResult;

/** Scores of a batch in evaluation mode: sigmoid of the logits, `[B, classes]`. */
export type EvalStep = (params: Params, state: State, x: Tensor) => Tensor;

/** Turns a pure tensor function into a compiled one (the CPU `compile`, or a GPU backend's). */
export type Compiler = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => R;

/** Settings of the steps. */
export interface StepOptions {
  /** The model. */
  readonly model: Model;
  /** The optimizer (training step only). */
  readonly optimizer?: Optimizer;
  /** Front-end settings for waveform input (default: the paper's). */
  readonly frontEnd?: FrontEndOptions;
  /** Label smoothing ε before mixing: t ← (1 − ε)·t + ε / classes (default 0.1). */
  readonly labelSmoothing?: number;
  /** Clip the gradients to this global L2 norm before the update (PyTorch's clip_grad_norm_); absent: no clipping. */
  readonly clipGrad?: number;
}

/** Log-mels of `x`: waveforms go through the front end (with random erasing), 4-D input is used as it is. */
function features(x: Tensor, frontEnd: FrontEndOptions, erasingBoxes?: Tensor): Tensor {
  if (x.ndim === 4) return x;
  if (x.ndim !== 2) {
    throw new Error(`train step: x must be waveforms [B, N] or log-mels [B, 1, M, T], got [${x.shape}]`);
  }
  return logMel(x, { ...frontEnd, erasingBoxes });
}

/** `λ·a + (1 − λ)·a[perm]` along the batch axis. */
function mix(a: Tensor, lambda: Tensor, perm: Tensor): Tensor {
  const l = cast(lambda, a.dtype);
  return add(mul(a, l), mul(take(a, perm, 0), sub(1, l)));
}

/** Loss, gradients and new BatchNorm state of one batch (front end, mixup, label smoothing, model, BCE). */
function lossAndGrads(opts: StepOptions) {
  const { model } = opts;
  const eps = opts.labelSmoothing ?? 0.1;
  const frontEnd = opts.frontEnd ?? {};
  return (params: Params, state: State, batch: StepBatch, key: Tensor) => {
    const x = mix(features(batch.x, frontEnd, batch.erasingBoxes), batch.lambda, batch.perm);
    const classes = batch.targets.shape[1];
    const smoothed = add(mul(batch.targets, 1 - eps), eps / classes);
    const targets = mix(smoothed, batch.lambda, batch.perm);
    const lossOf = (p: Params) => {
      const out = model.apply(p, state, x, { train: true, key });
      return [bceWithLogits(out.logits, cast(targets, out.logits.dtype)), out.state] as const;
    };
    const [[loss, newState], grads] = valueAndGrad(lossOf, { hasAux: true })(params) as unknown as [
      [Tensor, State],
      Params,
    ];
    return { loss, state: newState, grads };
  };
}

/** The uncompiled training step (see {@link StepBatch} for the batch layout). */
export function trainStep(opts: StepOptions): TrainStep {
  const { optimizer } = opts;
  if (!optimizer) throw new Error("trainStep: an optimizer is required");
  const backward = lossAndGrads(opts);
  return (params, state, optState, batch, key, lr) => {
    const { loss, state: newState, grads } = backward(params, state, batch, key);
    const clipped = opts.clipGrad === undefined ? grads : clipByGlobalNorm(grads, opts.clipGrad);
    const updated = optimizer.update(clipped, optState, params, lr);
    return { params: updated.params, state: newState, optState: updated.state, loss };
  };
}

/**
 * One micro-batch of gradient accumulation: `(params, state, acc, batch, key) → { acc, state, loss }` adds the batch's
 * gradients to `acc` (BatchNorm statistics update per micro-batch, as in PyTorch).
 */
export type AccumulateStep = (
  params: Params,
  state: State,
  acc: Params,
  batch: StepBatch,
  key: Tensor,
) => { readonly acc: Params; readonly state: State; readonly loss: Tensor };

/**
 * The uncompiled accumulation step (see {@link AccumulateStep}); with `first`, `acc` is ignored (pass `{}`) and the
 * batch's gradients start the sum.
 */
export function accumulateStep(opts: StepOptions, first = false): AccumulateStep {
  const backward = lossAndGrads(opts);
  return (params, state, acc, batch, key) => {
    const { loss, state: newState, grads } = backward(params, state, batch, key);
    return { acc: first ? grads : addGrads(acc, grads), state: newState, loss };
  };
}

/** The update after accumulation: `(params, optState, acc, lr) → { params, optState }`. */
export type ApplyStep = (
  params: Params,
  optState: OptState,
  acc: Params,
  lr: Tensor,
) => { readonly params: Params; readonly optState: OptState };

/**
 * The uncompiled update of accumulated gradients: their mean over `micro` micro-batches (so the step equals one on
 * the whole effective batch when the model has no batch statistics), clipped when asked, then the optimizer.
 */
export function applyAccumulated(opts: StepOptions, micro: number): ApplyStep {
  const { optimizer } = opts;
  if (!optimizer) throw new Error("applyAccumulated: an optimizer is required");
  if (!Number.isInteger(micro) || micro < 1) throw new Error(`applyAccumulated: micro must be ≥ 1, got ${micro}`);
  return (params, optState, acc, lr) => {
    const mean = scaleGrads(acc, 1 / micro);
    const clipped = opts.clipGrad === undefined ? mean : clipByGlobalNorm(mean, opts.clipGrad);
    const updated = optimizer.update(clipped, optState, params, lr);
    return { params: updated.params, optState: updated.state };
  };
}

/** The uncompiled evaluation step: sigmoid scores of waveforms or log-mels, model in evaluation mode. */
export function evalStep(opts: StepOptions): EvalStep {
  const frontEnd = opts.frontEnd ?? {};
  return (params, state, x) => sigmoid(opts.model.apply(params, state, features(x, frontEnd), { train: false }).logits);
}

/** The training step compiled with `compiler` (default: the CPU `compile`). */
export function compiledTrainStep(opts: StepOptions, compiler: Compiler = compile): TrainStep {
  return compiler(trainStep(opts));
}

/** The evaluation step compiled with `compiler` (default: the CPU `compile`). */
export function compiledEvalStep(opts: StepOptions, compiler: Compiler = compile): EvalStep {
  return compiler(evalStep(opts));
}
