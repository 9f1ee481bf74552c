/**
 * The core of @dcls/audio: immutable tensors, the primitive registry, tracing autodiff (`grad`, `valueAndGrad`,
 * `vjp`), parameter trees, `compile`, and the composite ops built from primitives.
 * @module
 */
export type { DType, TypedArray } from "./dtype.ts";
export type { Aval, Const, Eqn, Graph, Var } from "./graph.ts";
export type {
  ConvParams,
  CpuValue,
  KernelSpectrum,
  Padding2d,
  PrimitiveDef,
  PrimName,
  PrimParams,
  Registry,
} from "./primitive.ts";
export { Tensor } from "./tensor.ts";
export { bind, stopGradient } from "./bind.ts";
export { registry } from "./prims/registry.ts";
export { grad, type GradOptions, valueAndGrad, vjp } from "./autodiff.ts";
export { compile, interpret, signatureOf, type Traced, traceGraph } from "./compile.ts";
export {
  sameDef,
  type Tree,
  treeCount,
  type TreeDef,
  treeFlatten,
  treeLeaves,
  treeMap,
  treeUnflatten,
  treeZip,
} from "./tree.ts";
export * from "../ops/mod.ts";
