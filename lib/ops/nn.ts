import { fail, fmt, normAxis } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { stopGradient } from "../core/bind.ts";
import { abs, add, cast, div, exp, log, maximum, mul, neg, rsqrt, sub, where } from "./elementwise.ts";
import { reshape } from "./movement.ts";
import { logsumexp, mean } from "./reduce.ts";
import { bernoulli } from "./random.ts";

/** Options of `layerNorm`. */
export interface LayerNormOptions {
  /** The normalised axis: −1 (channels-last) or 1 (channels-first over NCHW). */
  axis?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/** Reshapes a per-channel vector to broadcast along `axis` of a rank-`rank` tensor. */
function alongAxis(v: Tensor, axis: number, rank: number): Tensor {
  return reshape(v, Array.from({ length: rank }, (_, i) => i === axis ? v.size : 1));
}

/** Layer normalisation over one axis (PyTorch LayerNorm for −1; ConvNeXt's channels-first variant for 1). */
export function layerNorm(x: Tensor, weight?: Tensor, bias?: Tensor, opts: LayerNormOptions = {}): Tensor {
  const axis = normAxis("layerNorm", opts.axis ?? -1, x.ndim);
  const eps = opts.eps ?? 1e-5;
  for (const p of [weight, bias]) {
    if (p && (p.ndim !== 1 || p.shape[0] !== x.shape[axis])) {
      fail("layerNorm", `parameter ${fmt(p.shape)} does not fit axis ${axis} of ${fmt(x.shape)}`);
    }
  }
  const mu = mean(x, axis, true);
  const xc = sub(x, mu);
  let y = mul(xc, rsqrt(add(mean(mul(xc, xc), axis, true), eps)));
  if (weight) y = mul(y, alongAxis(weight, axis, x.ndim));
  if (bias) y = add(y, alongAxis(bias, axis, x.ndim));
  return y;
}

/** Options of `batchNorm`. */
export interface BatchNormOptions {
  /** Batch statistics (and running-statistics update) instead of the running statistics. */
  train: boolean;
  /** Weight of the batch statistics in the running-statistics update (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalisation over NC… (statistics per channel, axis 1). In training it returns the running statistics
 * updated as PyTorch does (unbiased batch variance); in evaluation they come back unchanged.
 */
export function batchNorm(
  x: Tensor,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  runningMean: Tensor,
  runningVar: Tensor,
  opts: BatchNormOptions,
): { y: Tensor; runningMean: Tensor; runningVar: Tensor } {
  const { momentum = 0.1, eps = 1e-5 } = opts;
  const c = x.shape[1];
  if (x.ndim < 2 || runningMean.size !== c || runningVar.size !== c) {
    fail("batchNorm", `statistics ${fmt(runningMean.shape)} do not fit ${fmt(x.shape)}`);
  }
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const per = (v: Tensor) => alongAxis(v, 1, x.ndim);
  let y: Tensor;
  let rm = runningMean, rv = runningVar;
  if (opts.train) {
    const mu = mean(x, axes, true);
    const xc = sub(x, mu);
    const v = mean(mul(xc, xc), axes, true);
    y = mul(xc, rsqrt(add(v, eps)));
    const n = axes.reduce((p, a) => p * x.shape[a], 1);
    const unbiased = mul(reshape(stopGradient(v), [c]), n / Math.max(1, n - 1));
    rm = add(mul(runningMean, 1 - momentum), mul(reshape(stopGradient(mu), [c]), momentum));
    rv = add(mul(runningVar, 1 - momentum), mul(unbiased, momentum));
  } else {
    y = mul(sub(x, per(runningMean)), per(rsqrt(add(runningVar, eps))));
  }
  if (weight) y = mul(y, per(weight));
  if (bias) y = add(y, per(bias));
  return { y, runningMean: rm, runningVar: rv };
}

/** Softmax along an axis. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return exp(logSoftmax(x, axis));
}

/** log-softmax along an axis. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return sub(x, logsumexp(x, axis, true));
}

/**
 * Mean binary cross-entropy with logits, in the stable form max(z, 0) − z·t + log(1 + e^{−|z|}) (PyTorch's
 * BCEWithLogitsLoss with reduction "mean"). Targets may be soft (mixup, label smoothing).
 */
export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  if (logits.shape.join() !== targets.shape.join()) {
    fail("bceWithLogits", `logits ${fmt(logits.shape)} and targets ${fmt(targets.shape)} differ`);
  }
  const softplus = log(add(exp(neg(abs(logits))), 1));
  return mean(add(sub(maximum(logits, 0), mul(logits, targets)), softplus));
}

/** Inverted dropout: zeroes elements with probability `rate` and scales the rest by 1/(1 − rate). */
export function dropout(key: Tensor, x: Tensor, rate: number, train: boolean): Tensor {
  if (!(rate >= 0 && rate < 1)) fail("dropout", `rate ${rate} must be in [0, 1)`);
  if (!train || rate === 0) return x;
  const keep = bernoulli(key, 1 - rate, x.shape);
  return where(keep, div(x, 1 - rate), 0);
}

/** Stochastic depth (timm's drop_path): drops whole samples of a residual branch, scaling survivors by 1/(1 − rate). */
export function dropPath(key: Tensor, x: Tensor, rate: number, train: boolean): Tensor {
  if (!(rate >= 0 && rate < 1)) fail("dropPath", `rate ${rate} must be in [0, 1)`);
  if (!train || rate === 0) return x;
  const keep = bernoulli(key, 1 - rate, [x.shape[0], ...x.shape.slice(1).map(() => 1)]);
  return mul(x, div(cast(keep, x.dtype), 1 - rate));
}
