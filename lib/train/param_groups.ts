/**
 * Parameter groups of the paper's recipe (optim_factory.py): no weight decay for 1-D tensors and biases; DCLS positions
 * and sigmas without weight decay and with a ×5 learning rate; everything else decayed.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";

/** How the optimizer treats one parameter. */
export interface ParamGroup {
  /** Multiplies the weight decay (0 or 1). */
  readonly decay: number;
  /** Multiplies the learning rate. */
  readonly lrScale: number;
}

/** Whether a state_dict name is a DCLS position or sigma tensor. */
export function isDclsSpacing(name: string): boolean {
  return /(^|\.)(P|SIG)$/.test(name);
}

/** The group of a parameter by its state_dict name and shape. */
export function groupOf(name: string, t: Tensor, dclsLrScale = 5): ParamGroup {
  if (isDclsSpacing(name)) return { decay: 0, lrScale: dclsLrScale };
  if (t.ndim <= 1 || name.endsWith(".bias")) return { decay: 0, lrScale: 1 };
  return { decay: 1, lrScale: 1 };
}
