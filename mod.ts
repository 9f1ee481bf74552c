/**
 * @dcls/audio — a functional tensor DSL for audio classification with Dilated Convolution with Learnable Spacings
 * (DCLS), running on any GPU through WebGPU, with a float64-capable CPU reference.
 *
 * ```ts
 * import { grad, sum, tanh, tensor } from "./mod.ts";
 * const g = grad((x) => sum(tanh(x)))(tensor([0, 1, 2]));
 * ```
 * @module
 */
export type { DType, TypedArray } from "./lib/core/dtype.ts";
export { Tensor } from "./lib/core/tensor.ts";
export { stopGradient } from "./lib/core/bind.ts";
export { grad, type GradOptions, valueAndGrad, vjp } from "./lib/core/autodiff.ts";
export { compile, type Traced } from "./lib/core/compile.ts";
export type { Aval, Const, Eqn, Graph, Var } from "./lib/core/graph.ts";
export type { Padding2d } from "./lib/core/primitive.ts";
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
} from "./lib/core/tree.ts";
export * from "./lib/ops/mod.ts";
