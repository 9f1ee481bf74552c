/**
 * Gradient transformations between backward and update: scaling (the mean over accumulated micro-batches) and
 * clipping by the global norm as `torch.nn.utils.clip_grad_norm_` does (timm's `--clip-grad` with mode "norm").
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { add, div, minimum, mul, sqrt } from "../ops/elementwise.ts";
import { sum } from "../ops/reduce.ts";
import type { Params } from "./optim.ts";

/** Every gradient times `factor` (a number or a scalar tensor). */
export function scaleGrads(grads: Params, factor: number | Tensor): Params {
  return Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, mul(g, factor)]));
}

/** Elementwise sum of two gradient records with the same keys. */
export function addGrads(a: Params, b: Params): Params {
  return Object.fromEntries(
    Object.entries(a).map(([k, g]) => {
      if (!b[k]) throw new Error(`addGrads: gradient ${k} is missing from the second record`);
      return [k, add(g, b[k])];
    }),
  );
}

/** The L2 norm of all gradients together, as a scalar tensor. */
export function globalNorm(grads: Params): Tensor {
  const squares = Object.values(grads).map((g) => sum(mul(g, g)));
  if (squares.length === 0) throw new Error("globalNorm: no gradients");
  return sqrt(squares.reduce((a, b) => add(a, b)));
}

/**
 * Gradients scaled by min(1, maxNorm / (‖g‖ + 1e-6)), PyTorch's `clip_grad_norm_`: a no-op below the threshold, the
 * direction kept above it.
 */
export function clipByGlobalNorm(grads: Params, maxNorm: number): Params {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new Error(`clipByGlobalNorm: max norm must be a positive number, got ${maxNorm}`);
  }
  const scale = minimum(div(maxNorm, add(globalNorm(grads), 1e-6)), 1);
  return scaleGrads(grads, scale);
}
