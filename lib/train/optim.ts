/**
 * Optimizers as pure functions over flat parameter records (keyed by state_dict names): AdamW (PyTorch semantics) and
 * LAMB (timm semantics). `update` is built from tensor ops, so it compiles into the training step; the learning rate is
 * a scalar tensor input, so a schedule never forces a recompilation.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { add, cast as castDtype, div, gt, maximum, mul, pow, sqrt, square, sub, where } from "../ops/elementwise.ts";
import { sum } from "../ops/reduce.ts";
import { scalar, zerosLike } from "../ops/create.ts";
import { groupOf } from "./param_groups.ts";

/** Flat parameters keyed by name. */
export type Params = Record<string, Tensor>;

/** Optimizer state: first and second moments per parameter and the step count (a scalar tensor). */
export interface OptState {
  /** First moments. */
  readonly m: Params;
  /** Second moments. */
  readonly v: Params;
  /** Number of updates done, as an f32 scalar. */
  readonly step: Tensor;
}

/** A pure optimizer. */
export interface Optimizer {
  /** Zero moments for `params`. */
  init(params: Params): OptState;
  /** One update with gradients `grads` at learning rate `lr` (a scalar tensor). */
  update(grads: Params, state: OptState, params: Params, lr: Tensor): { params: Params; state: OptState };
}

/** Hyper-parameters shared by AdamW and LAMB. */
export interface AdamOptions {
  /** Exponential decay rates of the moments (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Denominator floor (default 1e-8 for AdamW, 1e-6 for LAMB). */
  eps?: number;
  /** Decoupled weight decay for the decayed group (default 0.05, the paper's). */
  weightDecay?: number;
  /** Learning-rate multiplier of DCLS positions and sigmas (default 5). */
  dclsLrScale?: number;
}

function names(params: Params): string[] {
  return Object.keys(params).sort();
}

function initState(params: Params): OptState {
  const zeros = (): Params => Object.fromEntries(names(params).map((k) => [k, zerosLike(params[k])]));
  return { m: zeros(), v: zeros(), step: scalar(0, "f32") };
}

/** Moment updates common to both optimizers. */
function moments(g: Tensor, m: Tensor, v: Tensor, b1: number, b2: number) {
  return { m2: add(mul(m, b1), mul(g, 1 - b1)), v2: add(mul(v, b2), mul(square(g), 1 - b2)) };
}

/** The learning rate of a tensor's group and the bias corrections `1 − βᵗ`, in its dtype. */
function stepScalars(lr: Tensor, step: Tensor, b1: number, b2: number, p: Tensor, lrScale: number) {
  const st = cast(step, p);
  return {
    lrk: cast(mul(lr, lrScale), p),
    c1: sub(1, pow(scalar(b1, st.dtype), st)),
    c2: sub(1, pow(scalar(b2, st.dtype), st)),
  };
}

/**
 * `make` memoised per (dtype, learning-rate scale): per-step scalars traced once per tensor were a one-element kernel
 * for each of FastViT's ~480 tensors every step.
 */
function perGroup<T>(make: (p: Tensor, lrScale: number) => T): (p: Tensor, lrScale: number) => T {
  const memo = new Map<string, T>();
  return (p, lrScale) => {
    const key = `${p.dtype}|${lrScale}`;
    if (!memo.has(key)) memo.set(key, make(p, lrScale));
    return memo.get(key)!;
  };
}

/** AdamW as torch.optim.AdamW: decoupled decay p ← p(1 − lr·wd), then the bias-corrected Adam step. */
export function adamw(opts: AdamOptions = {}): Optimizer {
  const [b1, b2] = opts.betas ?? [0.9, 0.999];
  const eps = opts.eps ?? 1e-8, wd = opts.weightDecay ?? 0.05;
  return {
    init: initState,
    update(grads, state, params, lr) {
      const step = add(state.step, 1);
      const scalars = perGroup((p, lrScale) => {
        const { lrk, c1, c2 } = stepScalars(lr, step, b1, b2, p, lrScale);
        return { keep: sub(1, mul(lrk, wd)), size: div(lrk, c1), rootC2: sqrt(c2) };
      });
      const out: Params = {}, m: Params = {}, v: Params = {};
      for (const k of names(params)) {
        const p = params[k], g = grads[k];
        const grp = groupOf(k, p, opts.dclsLrScale);
        const s = scalars(p, grp.lrScale);
        const { m2, v2 } = moments(g, state.m[k], state.v[k], b1, b2);
        const decayed = grp.decay && wd ? mul(p, s.keep) : p;
        const denom = add(div(sqrt(v2), s.rootC2), eps);
        out[k] = sub(decayed, mul(s.size, div(m2, denom)));
        m[k] = m2;
        v[k] = v2;
      }
      return { params: out, state: { m, v, step } };
    },
  };
}

/** Options of LAMB. */
export interface LambOptions extends AdamOptions {
  /** Global gradient-norm clipping threshold applied before the update (timm default 1.0; 0 disables). */
  maxGradNorm?: number;
}

/**
 * LAMB as timm.optim.Lamb (bias correction on, trust_clip and always_adapt off): gradients scaled by the global norm
 * clip, Adam direction plus decoupled weight decay, scaled per tensor by the trust ratio ‖p‖/‖update‖ for decayed
 * tensors.
 */
export function lamb(opts: LambOptions = {}): Optimizer {
  const [b1, b2] = opts.betas ?? [0.9, 0.999];
  const eps = opts.eps ?? 1e-6, wd = opts.weightDecay ?? 0.05, maxNorm = opts.maxGradNorm ?? 1.0;
  return {
    init: initState,
    update(grads, state, params, lr) {
      const step = add(state.step, 1);
      const keys = names(params);
      let clip: Tensor | undefined;
      if (maxNorm > 0) {
        const total = keys.map((k) => sum(square(grads[k]))).reduce((a, b) => add(a, b));
        clip = maximum(div(sqrt(total), maxNorm), 1);
      }
      const scalars = perGroup((p, lrScale) => stepScalars(lr, step, b1, b2, p, lrScale));
      const out: Params = {}, m: Params = {}, v: Params = {};
      for (const k of keys) {
        const p = params[k];
        const g = clip ? div(grads[k], cast(clip, p)) : grads[k];
        const grp = groupOf(k, p, opts.dclsLrScale);
        const { lrk, c1, c2 } = scalars(p, grp.lrScale);
        const { m2, v2 } = moments(g, state.m[k], state.v[k], b1, b2);
        let upd = div(div(m2, c1), add(sqrt(div(v2, c2)), eps));
        if (grp.decay && wd) {
          upd = add(upd, mul(p, wd));
          const wn = sqrt(sum(square(p))), un = sqrt(sum(square(upd)));
          const ratio = where(gt(wn, 0), where(gt(un, 0), div(wn, maximum(un, 1e-30)), 1), 1);
          upd = mul(upd, ratio);
        }
        out[k] = sub(p, mul(lrk, upd));
        m[k] = m2;
        v[k] = v2;
      }
      return { params: out, state: { m, v, step } };
    },
  };
}

/** The scalar `s` in the dtype of `like` (the step counter and learning rate are f32; f64 models need f64). */
function cast(s: Tensor, like: Tensor): Tensor {
  return castDtype(s, like.dtype);
}
