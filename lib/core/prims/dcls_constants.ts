/**
 * Constants of the Gaussian DCLS construction shared by its CPU reference (dcls.ts) and its WGSL generator
 * (kernels/dcls_gauss.ts), and the reading of an axis's output window; a leaf module, so the kernel generators need not
 * import the primitive registry.
 *
 * @module
 */
import type { DclsAxis } from "../primitive.ts";

/** Added to each element's width, as the reference does, so no Gaussian collapses to a point. */
export const DCLS_SIGMA_FLOOR = 0.27;
/** Added to each element's grid mass before dividing, as the reference does. */
export const DCLS_NORM_EPS = 1e-7;

/** The output window `[start, count]` of a grid axis: the whole axis where none is given. */
export function dclsWindow(axis: DclsAxis): [start: number, count: number] {
  return [axis.start ?? 0, axis.count ?? axis.size];
}
