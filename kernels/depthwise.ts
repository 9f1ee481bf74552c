/**
 * Direct depthwise convolutions (`groups == C`, one input channel per group, any channel multiplier `O = M·C`), for
 * the large-kernel (7×7 … 23×23) convolutions of ConvNeXt-style blocks and DCLS and FastViT's channel-doubling patch
 * embeddings. This module picks the kernel for a geometry:
 *
 * - forward and stride-1 input gradient (a correlation with the flipped kernel): the whole-plane kernel
 *   (depthwise_plane.ts) when the output plane is at most 32 wide and a sample fits workgroup memory, which does work
 *   proportional to the taps that reach the plane; otherwise, and for small kernels on all but the narrowest maps
 *   (see `tiledFirst`), the tiled kernel (depthwise_tiled.ts);
 * - strided input gradient: one thread per element gathering its taps (depthwise_gather.ts);
 * - weight gradient: the whole-plane kernel (depthwise_plane_dw.ts), which computes only the taps that can reach the
 *   plane and writes zeros for the rest, or the tiled one (depthwise_tiled_dw.ts) for wide planes and small kernels.
 *
 * The choices and tiles come from bench/depthwise_sweep.ts on an H100 (bench/RESULTS.md, run 5).
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import {
  type Correlation,
  forwardCorrelation,
  geometryTag,
  inputGradCorrelation,
  isChannelwise,
} from "./depthwise_geometry.ts";
import { gatherInputGrad } from "./depthwise_gather.ts";
import { choosePlane, planeProgram, type PlaneTiles } from "./depthwise_plane.ts";
import { choosePlaneWeightGrad, planeWeightGrad, type PlaneWeightGradTiles } from "./depthwise_plane_dw.ts";
import { chooseTiled, type DirectTiles as TiledTiles, tiledProgram } from "./depthwise_tiled.ts";
import {
  chooseTiledWeightGrad,
  tiledWeightGrad,
  type WeightGradTiles as TiledWeightGradTiles,
} from "./depthwise_tiled_dw.ts";
import { DEFAULT_LIMITS, type KernelLimits, type KernelProgram } from "./program.ts";

export { isChannelwise };
export type { PlaneTiles, PlaneWeightGradTiles, TiledTiles, TiledWeightGradTiles };

/** The kernel (and its tiles) computing a depthwise forward or stride-1 input gradient. */
export type DirectTiles = ({ readonly kind: "plane" } & PlaneTiles) | ({ readonly kind: "tiled" } & TiledTiles);

/** The kernel (and its tiles) computing a depthwise weight gradient. */
export type WeightGradTiles =
  | ({ readonly kind: "plane" } & PlaneWeightGradTiles)
  | ({ readonly kind: "tiled" } & TiledWeightGradTiles);

/**
 * Whether a kernel small enough to unroll should take the tiled kernel although the map is narrow enough for the
 * whole-plane one: on the H100 the tiled 7×7 ran 3× faster at 32×31, and 3×3 1.2–1.6× faster down to 16×16; the
 * whole plane keeps 7×7 from 16 columns down, the narrowest maps, and the large kernels that overhang the plane.
 */
function tiledFirst(kh: number, kw: number, wout: number): boolean {
  return kh * kw <= 9 ? wout > 8 : kh * kw <= 49 && wout > 16;
}

function chooseCorrelation(c: Correlation, limits: KernelLimits): DirectTiles | null {
  const tiled = () => {
    const t = chooseTiled(c, limits);
    return t ? { kind: "tiled" as const, ...t } : null;
  };
  if (tiledFirst(c.kh, c.kw, c.Wout)) return tiled() ?? planeOf(choosePlane(c, limits));
  return planeOf(choosePlane(c, limits)) ?? tiled();
}

const planeOf = (p: PlaneTiles | null): DirectTiles | null => (p ? { kind: "plane", ...p } : null);

/** Tiles of the direct forward kernel for a geometry, or null when no tile fits workgroup memory. */
export function depthwiseForwardTiles(g: ConvGeometry, limits: KernelLimits = DEFAULT_LIMITS): DirectTiles | null {
  return chooseCorrelation(forwardCorrelation(g), limits);
}

/** Depthwise forward: inputs (x, w), output y. */
export function depthwiseForward(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
  tiles: DirectTiles | null = depthwiseForwardTiles(g, limits),
): KernelProgram {
  if (!tiles) {
    throw new Error(
      `depthwise: a ${g.kh}×${g.kw} kernel tile does not fit ${limits.maxWorkgroupStorage} B of workgroup memory`,
    );
  }
  const c = forwardCorrelation(g), label = `depthwise_${geometryTag(g)}`;
  return tiles.kind === "plane" ? planeProgram(c, label, tiles) : tiledProgram(c, label, tiles);
}

/** Tiles of the direct stride-1 input-gradient kernel, or null when it gathers (strided, or no tile fits). */
export function depthwiseInputGradTiles(g: ConvGeometry, limits: KernelLimits = DEFAULT_LIMITS): DirectTiles | null {
  const c = inputGradCorrelation(g);
  return c && chooseCorrelation(c, limits);
}

/**
 * Depthwise input gradient: inputs (dy, w), output dx. Stride 1 runs the forward kernels on dy with the kernel
 * flipped; strided convolutions (or tiles that do not fit) gather.
 */
export function depthwiseInputGrad(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
  tiles: DirectTiles | null = depthwiseInputGradTiles(g, limits),
): KernelProgram {
  const c = inputGradCorrelation(g);
  if (!c || !tiles) return gatherInputGrad(g);
  const label = `depthwise_dx_${geometryTag(g)}`;
  return tiles.kind === "plane" ? planeProgram(c, label, tiles) : tiledProgram(c, label, tiles);
}

/** Tiles of the weight-gradient kernel for a geometry, or null when they overflow workgroup memory. */
export function depthwiseWeightGradTiles(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
): WeightGradTiles | null {
  const plane = () => {
    const p = choosePlaneWeightGrad(g, limits);
    return p ? { kind: "plane" as const, ...p } : null;
  };
  const tiled = () => {
    const t = chooseTiledWeightGrad(g, limits);
    return t ? { kind: "tiled" as const, ...t } : null;
  };
  // Small kernels take the tiled kernel down to 16 columns (H100: 1.3× faster for 7×7 at 32×31, 1.7× at 16×15).
  return g.kh * g.kw <= 49 && g.Wo > 8 ? tiled() ?? plane() : plane() ?? tiled();
}

/** Depthwise weight gradient: inputs (x, dy), output dw `[O, 1, kh, kw]`. */
export function depthwiseWeightGrad(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
  tiles: WeightGradTiles | null = depthwiseWeightGradTiles(g, limits),
): KernelProgram {
  if (!tiles) {
    throw new Error(`depthwise: a ${g.kh}×${g.kw} weight-gradient tile does not fit ${limits.maxWorkgroupStorage} B`);
  }
  return tiles.kind === "plane" ? planeWeightGrad(g, tiles) : tiledWeightGrad(g, tiles);
}
