/**
 * WGSL kernel generators: pure functions from static shapes to {@link KernelProgram}s (see program.ts for the
 * contract), plus a small runner for tests and benchmarks.
 *
 * @module
 */
export type { DType, TypedArray } from "../lib/core/dtype.ts";
export type { Aval } from "../lib/core/graph.ts";
export * from "./program.ts";
export * from "./view.ts";
export * from "./expr.ts";
export { elementwiseKernel, type ElementwiseSpec, exprInputSpecs } from "./elementwise.ts";
export { reduceKernel, type ReduceSpec } from "./reduce.ts";
export { chooseGemm, type GemmTiles, TILES_128, TILES_32, TILES_64 } from "./gemm.ts";
export { matmulKernel, type MatmulOperandLayout, type MatmulSpec } from "./matmul.ts";
export {
  conv2dInputGradKernel,
  conv2dKernel,
  type Conv2dParams,
  conv2dWeightGradKernel,
  type ConvGeometry,
  convGeometry,
  type ConvOptions,
} from "./conv2d.ts";
export {
  depthwiseForward,
  depthwiseForwardTiles,
  depthwiseInputGrad,
  depthwiseWeightGrad,
  depthwiseWeightGradTiles,
  type DirectTiles,
  type WeightGradTiles,
} from "./depthwise.ts";
export {
  concatKernel,
  copyKernel,
  gatherKernel,
  type IndexedSpec,
  movementKernel,
  scatterAddKernel,
} from "./movement.ts";
export { randomBitsKernel, type RandomBitsOptions, threefrySource } from "./random.ts";
export { kernelFor, type KernelGenerator, type KernelTable } from "./registry.ts";
export { KernelRunner, type PreparedProgram, type ProgramBuffers } from "./runner.ts";
