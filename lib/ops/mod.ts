/**
 * Composite tensor ops: everything users call, built from the primitives (so gradients and every backend come free).
 * @module
 */
export * from "./create.ts";
export * from "./elementwise.ts";
export * from "./movement.ts";
export * from "./reduce.ts";
export * from "./linalg.ts";
export * from "./conv.ts";
export * from "./pool.ts";
export * from "./nn.ts";
export * from "./random.ts";
export { erfinv } from "./special.ts";
export * from "./spectral_conv.ts";
export * from "./toeplitz_conv.ts";
