/**
 * One WGSL generator per IR primitive, for equations whose inputs are contiguous buffers. The mapped type makes a
 * primitive without a generator a compile error. The plan compiler fuses chains of elementwise and movement
 * equations and calls the underlying generators (elementwiseKernel, reduceKernel, matmulKernel, …) directly; this
 * table is the unfused baseline and what the per-primitive tests exercise.
 *
 * @module
 */
import type { Aval } from "../lib/core/graph.ts";
import type { PrimName, PrimParams } from "../lib/core/primitive.ts";
import { conv2dInputGradKernel, conv2dKernel, conv2dWeightGradKernel } from "./conv2d.ts";
import { elementwiseKernel } from "./elementwise.ts";
import type { BinaryOp, CompareOp, ExprNode, LogicalOp, UnaryOp } from "./expr.ts";
import { matmulKernel } from "./matmul.ts";
import { concatKernel, gatherKernel, movementKernel, scatterAddKernel } from "./movement.ts";
import { DEFAULT_LIMITS, type KernelLimits, type KernelProgram } from "./program.ts";
import { randomBitsKernel } from "./random.ts";
import { dclsGaussGradProgram, dclsGaussProgram } from "./dcls_gauss_lanes.ts";
import { complexCorrelateKernel, complexCorrelateKernelGradKernel } from "./complex_correlate.ts";
import { realDftKernel, realDftPlanes } from "./real_dft.ts";
import { toeplitzAdjointKernel, toeplitzKernel } from "./toeplitz.ts";
import { reduceKernel } from "./reduce.ts";
import { contiguousView } from "./view.ts";

/** A generator for one primitive: input avals (contiguous buffers), output aval, the equation's params. */
export type KernelGenerator<P> = (
  inputs: readonly Aval[],
  out: Aval,
  params: P,
  limits?: KernelLimits,
) => KernelProgram;

/** Every primitive's generator. */
export type KernelTable = { readonly [P in PrimName]: KernelGenerator<PrimParams[P]> };

function pointwise(op: UnaryOp | BinaryOp | CompareOp | LogicalOp | "where"): KernelGenerator<unknown> {
  return (inputs, out) => {
    const nodes: ExprNode[] = inputs.map((x, k) => ({ op: "load", input: k, view: contiguousView(x.shape) }));
    nodes.push({ op, args: inputs.map((_, k) => k) } as unknown as ExprNode);
    return elementwiseKernel({
      shape: out.shape,
      expr: { inputs: inputs.map((x) => x.dtype), nodes, outputs: [inputs.length] },
      label: op,
    });
  };
}

function reduction(op: "sum" | "max"): KernelGenerator<{ readonly axes: readonly number[] }> {
  return ([x], _out, { axes }) =>
    reduceKernel({
      shape: x.shape,
      axes,
      op,
      expr: { inputs: [x.dtype], nodes: [{ op: "load", input: 0, view: contiguousView(x.shape) }], outputs: [0] },
    });
}

function movement(prim: string): KernelGenerator<unknown> {
  return ([x], _out, params) => movementKernel(x.shape, x.dtype, prim, params as Readonly<Record<string, unknown>>);
}

function gemmDtype(dtype: string): "f32" | "i32" | "u32" {
  if (dtype !== "f32" && dtype !== "i32" && dtype !== "u32") throw new Error(`matmul: no GPU kernel for ${dtype}`);
  return dtype;
}

/** The generator of every primitive. */
export const kernelFor: KernelTable = {
  neg: pointwise("neg"),
  exp: pointwise("exp"),
  log: pointwise("log"),
  sqrt: pointwise("sqrt"),
  rsqrt: pointwise("rsqrt"),
  abs: pointwise("abs"),
  sign: pointwise("sign"),
  floor: pointwise("floor"),
  tanh: pointwise("tanh"),
  erf: pointwise("erf"),
  sigmoid: pointwise("sigmoid"),
  sin: pointwise("sin"),
  cos: pointwise("cos"),
  logicalNot: pointwise("logicalNot"),
  add: pointwise("add"),
  sub: pointwise("sub"),
  mul: pointwise("mul"),
  div: pointwise("div"),
  pow: pointwise("pow"),
  maximum: pointwise("maximum"),
  minimum: pointwise("minimum"),
  lt: pointwise("lt"),
  le: pointwise("le"),
  gt: pointwise("gt"),
  ge: pointwise("ge"),
  eq: pointwise("eq"),
  ne: pointwise("ne"),
  logicalAnd: pointwise("logicalAnd"),
  logicalOr: pointwise("logicalOr"),
  where: pointwise("where"),
  cast: ([x], out, { dtype }) =>
    elementwiseKernel({
      shape: out.shape,
      expr: {
        inputs: [x.dtype],
        nodes: [{ op: "load", input: 0, view: contiguousView(x.shape) }, { op: "cast", dtype, args: [0] }],
        outputs: [1],
      },
      label: `cast_${dtype}`,
    }),
  sum: reduction("sum"),
  max: reduction("max"),
  reshape: movement("reshape"),
  transpose: movement("transpose"),
  broadcast: movement("broadcast"),
  slice: movement("slice"),
  pad: movement("pad"),
  flip: movement("flip"),
  concat: (inputs, _out, { axis }) => concatKernel(inputs.map((x) => x.shape), inputs[0].dtype, axis),
  gather: ([x, idx], _out, { axis }) => gatherKernel({ shape: x.shape, dtype: x.dtype, idxShape: idx.shape, axis }),
  scatterAdd: ([u, idx], _out, { axis, size }) =>
    scatterAddKernel({ shape: u.shape, dtype: u.dtype, idxShape: idx.shape, axis, size }),
  matmul: ([a, b], out) => {
    const r = a.shape.length;
    return matmulKernel({
      batchShape: out.shape.slice(0, -2),
      M: a.shape[r - 2],
      K: a.shape[r - 1],
      N: b.shape[r - 1],
      dtype: gemmDtype(out.dtype),
    });
  },
  conv2d: ([x, w], _out, p, limits = DEFAULT_LIMITS) => conv2dKernel(x.shape, w.shape, p, { limits }),
  conv2dInputGrad: ([dy, w], _out, p, limits = DEFAULT_LIMITS) =>
    conv2dInputGradKernel(dy.shape, w.shape, p, { limits }),
  conv2dWeightGrad: ([x, dy], _out, p, limits = DEFAULT_LIMITS) =>
    conv2dWeightGradKernel(x.shape, dy.shape, p, { limits }),
  randomBits: (_inputs, _out, { shape }) => randomBitsKernel(shape),
  dclsGauss: ([w], _out, p) => dclsGaussProgram(w.shape[0] * w.shape[1], w.shape[2], p),
  dclsGaussGrad: ([, w], _out, p) => dclsGaussGradProgram(w.shape[0] * w.shape[1], w.shape[2], p),
  complexCorrelate: ([z, k], _out, p) =>
    complexCorrelateKernel({ R: z.shape[0], P: z.shape[1], W: z.shape[3], kw: k.shape[2] }, p),
  complexCorrelateKernelGrad: ([z], _out, p) =>
    complexCorrelateKernelGradKernel({ R: z.shape[0], P: z.shape[1], W: z.shape[3], kw: p.kernelSize }, p),
  realDft: ([x], _out, p) => realDftKernel(realDftPlanes(x.shape), x.shape[x.shape.length - 1], p),
  toeplitz: ([w], _out, p) => toeplitzKernel(w.shape[0], [w.shape[1], w.shape[2]], p),
  toeplitzAdjoint: ([t], _out, p) => toeplitzAdjointKernel(t.shape[0], p),
};
