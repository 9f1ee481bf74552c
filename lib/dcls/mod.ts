/**
 * Dilated Convolution with Learnable Spacings: kernel construction (all four versions of the DCLS package, as batched
 * matrix products; the 2-D Gaussian one also as a fused primitive), the DCLS convolution layers, the paper's depthwise replacement with shared positions, learned
 * position extraction and inference-time kernel pruning.
 * @module
 */
// Re-exported so this module's documentation is self-contained (its signatures use them).
export type { DType, Tensor, TypedArray } from "../core/mod.ts";
export * from "./construct.ts";
export * from "./layer.ts";
export * from "./replace.ts";
export * from "./positions.ts";
export * from "./prune.ts";
