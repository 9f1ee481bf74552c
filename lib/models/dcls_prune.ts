/**
 * Inference with pruned DCLS kernels: `prunedDclsModel` rebuilds a DCLS model with a relative pruning threshold in
 * its DCLS settings, so every constructed kernel drops the cells with |k| < threshold · max|k| of their channel's
 * slice before the convolution. The parameters are untouched (the pruned model reads the same parameter tree) and
 * training is refused, so pruning stays an inference-time choice. `dclsKeptCells` counts the cells that survive.
 * @module
 */
import type { Tensor } from "../core/mod.ts";
import { construct, usesSigma } from "../dcls/construct.ts";
import { keptCells } from "../dcls/prune.ts";
import { type Model, param, type Params } from "./common.ts";
import { getModel } from "./registry.ts";

function checkThreshold(model: Model, threshold: number, what: string): void {
  if (!model.config.dcls) throw new Error(`${what}: ${model.name} has no DCLS layers to prune`);
  if (!(threshold >= 0 && threshold < 1)) {
    throw new Error(`${what}: relative threshold must be in [0, 1), got ${threshold}`);
  }
}

/**
 * `model` (a DCLS model) with every constructed DCLS kernel pruned at the relative `threshold` in [0, 1); threshold 0
 * gives the model's own logits. Evaluation only: applying it with `train: true` throws.
 */
export function prunedDclsModel(model: Model, threshold: number): Model {
  checkThreshold(model, threshold, "prunedDclsModel");
  const pruned = getModel(model.name, { ...model.config, dcls: { ...model.config.dcls!, prune: threshold } });
  return {
    ...pruned,
    apply: (params, state, x, opts) => {
      if (opts.train) throw new Error(`${model.name}: pruned DCLS kernels are for inference, not training`);
      return pruned.apply(params, state, x, opts);
    },
  };
}

/** Cells kept by pruning at `threshold`, over the constructed kernels of every DCLS layer of `model`. */
export interface KeptCells {
  /** Kernel cells kept. */
  readonly kept: number;
  /** Kernel cells in all DCLS layers (channels × D × D each). */
  readonly total: number;
  /** kept / total. */
  readonly fraction: number;
}

/**
 * Constructs the kernel of every DCLS layer of `model` from `params` (CPU) and counts the cells pruning at the
 * relative `threshold` keeps. The DCLS layers are read off the layout: each has a `P` entry (its own, or an alias of
 * its owner's shared one).
 */
export function dclsKeptCells(model: Model, params: Params, threshold: number): KeptCells {
  checkThreshold(model, threshold, "dclsKeptCells");
  const dcls = model.config.dcls!;
  let kept = 0, total = 0;
  for (const e of model.layout().entries) {
    if (e.kind === "buffer" || !e.name.endsWith(".P")) continue;
    const layer = e.name.slice(0, -2);
    const owner = e.kind === "alias" ? e.owner.slice(0, -2) : layer;
    const sig: Tensor | undefined = usesSigma(dcls.version) ? param(params, `${owner}.SIG`) : undefined;
    const kernel = construct(param(params, `${layer}.weight`), param(params, `${owner}.P`), sig, {
      version: dcls.version,
      dilatedKernelSize: [dcls.dilatedKernelSize, dcls.dilatedKernelSize],
    });
    const c = keptCells(kernel, threshold);
    kept += c.kept;
    total += c.total;
  }
  if (total === 0) throw new Error(`dclsKeptCells: ${model.name} lists no DCLS layer in its layout`);
  return { kept, total, fraction: kept / total };
}
