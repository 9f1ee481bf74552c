/**
 * Code generation for the fuser's kernel specifications: each {@link KernelSpec} becomes a {@link KernelProgram}
 * from the kernels/ generators, or from lib/gpu/fallback_kernels.ts for primitives kernels/ does not cover yet.
 * It also tells the fuser which input views a generator can read directly.
 *
 * @module
 */
import type { Aval } from "../core/graph.ts";
import type { ConvParams } from "../core/primitive.ts";
import { elementwiseKernel } from "../../kernels/elementwise.ts";
import { matmulKernel, type MatmulOperandLayout } from "../../kernels/matmul.ts";
import { DEFAULT_LIMITS, type KernelLimits, type KernelProgram } from "../../kernels/program.ts";
import { reduceKernel } from "../../kernels/reduce.ts";
import { contiguousOffset, type View } from "../../kernels/view.ts";
import { conv2dInputGradKernel, conv2dKernel, conv2dWeightGradKernel } from "../../kernels/conv2d.ts";
import { prod } from "../../kernels/wgsl.ts";
import {
  conv2dFallback,
  conv2dInputGradFallback,
  conv2dWeightGradFallback,
  type ViewInput,
} from "./fallback_kernels.ts";
import { gatherKernel, scatterAddKernel } from "../../kernels/movement.ts";
import { randomBitsKernel } from "../../kernels/random.ts";
import {
  DCLS_GAUSS_GRAD_LAYERS,
  DCLS_GAUSS_LAYERS,
  dclsGaussGradLanesKernel,
  dclsGaussGradProgram,
  dclsGaussLanesKernel,
  dclsGaussProgram,
} from "../../kernels/dcls_gauss_lanes.ts";
import { complexCorrelateKernel, complexCorrelateKernelGradKernel } from "../../kernels/complex_correlate.ts";
import { realDftKernel, realDftPlanes } from "../../kernels/real_dft.ts";
import { CORRELATE_DFT, correlateDftKernel } from "../../kernels/correlate_dft.ts";
import { toeplitzAdjointKernel, toeplitzKernel } from "../../kernels/toeplitz.ts";
import type { ComplexCorrelateParams, DclsGaussParams, RealDftParams, ToeplitzParams } from "../core/primitive.ts";
import type { KernelSpec, OpKernelSpec } from "./fuse.ts";

/**
 * The operand layout a view gives a matmul operand (a logical `[...batch, R, C]` matrix stack), or null when the
 * tiled kernel cannot read it directly (masks, several layers, or strides that are neither row- nor column-major).
 */
export function matmulLayout(view: View): MatmulOperandLayout | null {
  if (view.length !== 1 || view[0].mask) return null;
  const { shape, strides, offset } = view[0];
  const r = shape.length;
  const [R, C] = [shape[r - 2], shape[r - 1]];
  const [sR, sC] = [strides[r - 2], strides[r - 1]];
  let transposed: boolean;
  if ((R === 1 || sR === C) && (C === 1 || sC === 1)) transposed = false;
  else if ((R === 1 || sR === 1) && (C === 1 || sC === R)) transposed = true;
  else return null;
  // The batch axes must flatten into one stride (or all be broadcast).
  const batch = shape.slice(0, -2);
  const bs = strides.slice(0, -2);
  let batchStride: number | undefined;
  let inner = 1;
  for (let i = batch.length - 1; i >= 0; i--) {
    if (batch[i] === 1) continue;
    const unit = bs[i] / inner;
    if (!Number.isInteger(unit) || (batchStride !== undefined && unit !== batchStride)) return null;
    batchStride = unit;
    inner *= batch[i];
  }
  if (offset < 0 || (batchStride !== undefined && batchStride < 0)) return null;
  return { transposed, batchStride: batchStride ?? R * C, offset };
}

/** Primitives whose generators read row-major operands from element 0. */
const CONTIGUOUS = new Set([
  "conv2d",
  "conv2dInputGrad",
  "conv2dWeightGrad",
  "randomBits",
  "dclsGauss",
  "dclsGaussGrad",
  DCLS_GAUSS_LAYERS,
  DCLS_GAUSS_GRAD_LAYERS,
  "complexCorrelate",
  "complexCorrelateKernelGrad",
  "realDft",
  CORRELATE_DFT,
  "toeplitz",
  "toeplitzAdjoint",
]);

/** Whether the generator of `prim` reads input `index` through `view` without a copy. */
export function acceptsView(prim: string, index: number, view: View): boolean {
  if (prim === "matmul") return matmulLayout(view) !== null;
  if (CONTIGUOUS.has(prim)) return contiguousOffset(view) === 0;
  return index >= 0;
}

function viewInput(x: OpKernelSpec["inputs"][number], srcAval: Aval): ViewInput {
  return { dtype: x.aval.dtype, view: x.view, size: prod(srcAval.shape) };
}

/** Generates the program of one kernel; `avals` gives the shape of every materialized variable. */
export function kernelProgram(
  spec: KernelSpec,
  avals: ReadonlyMap<number, Aval>,
  limits: KernelLimits = DEFAULT_LIMITS,
): KernelProgram {
  switch (spec.kind) {
    case "elementwise":
      return elementwiseKernel({ shape: spec.shape, expr: spec.expr, label: labelOf(spec) });
    case "reduce":
      return reduceKernel({
        shape: spec.shape,
        axes: spec.axes,
        op: spec.op,
        expr: spec.expr,
        epilogue: spec.epilogue,
      });
    case "op":
      return opProgram(spec, avals, limits);
  }
}

function labelOf(spec: KernelSpec): string {
  if (spec.kind !== "elementwise") return spec.kind;
  const ops = spec.expr.nodes.filter((n) => n.op !== "load" && n.op !== "const").map((n) => n.op);
  return ops.length ? `fused_${[...new Set(ops)].slice(0, 4).join("_")}` : "copy";
}

function opProgram(spec: OpKernelSpec, avals: ReadonlyMap<number, Aval>, limits: KernelLimits): KernelProgram {
  const ins = spec.inputs.map((x) => viewInput(x, avals.get(x.src)!));
  const p = spec.params;
  switch (spec.prim) {
    case "matmul": {
      const a = spec.inputs[0].aval.shape, b = spec.inputs[1].aval.shape;
      const r = a.length;
      const dtype = spec.out.dtype;
      if (dtype !== "f32" && dtype !== "i32" && dtype !== "u32") throw new Error(`compileGpu: matmul of ${dtype}`);
      return matmulKernel({
        batchShape: a.slice(0, -2),
        M: a[r - 2],
        K: a[r - 1],
        N: b[r - 1],
        dtype,
        a: matmulLayout(spec.inputs[0].view)!,
        b: matmulLayout(spec.inputs[1].view)!,
        epilogue: spec.epilogue,
      });
    }
    case "conv2d": {
      const cp = p as unknown as ConvParams;
      if (spec.out.dtype !== "f32") return conv2dFallback(ins[0], ins[1], spec.out.shape, cp);
      return conv2dKernel(spec.inputs[0].aval.shape, spec.inputs[1].aval.shape, cp, { limits });
    }
    case "conv2dInputGrad": {
      const cp = p as unknown as ConvParams & { inputShape: number[] };
      if (spec.out.dtype !== "f32") return conv2dInputGradFallback(ins[0], ins[1], spec.out.shape, cp);
      return conv2dInputGradKernel(spec.inputs[0].aval.shape, spec.inputs[1].aval.shape, cp, { limits });
    }
    case "conv2dWeightGrad": {
      const cp = p as unknown as ConvParams & { weightShape: number[] };
      if (spec.out.dtype !== "f32") return conv2dWeightGradFallback(ins[0], ins[1], spec.out.shape, cp);
      return conv2dWeightGradKernel(spec.inputs[0].aval.shape, spec.inputs[1].aval.shape, cp, { limits });
    }
    case "gather":
    case "scatterAdd": {
      const [x, idx] = spec.inputs;
      const indexed = {
        shape: x.aval.shape,
        dtype: x.aval.dtype,
        idxShape: idx.aval.shape,
        axis: (p as { axis: number }).axis,
        view: x.view,
        idxView: idx.view,
      };
      return spec.prim === "gather"
        ? gatherKernel(indexed)
        : scatterAddKernel({ ...indexed, size: (p as { size: number }).size });
    }
    case "randomBits":
      return randomBitsKernel(spec.out.shape);
    case "dclsGauss":
    case "dclsGaussGrad": {
      const w = spec.inputs[spec.prim === "dclsGauss" ? 0 : 1].aval.shape;
      if (spec.out.dtype !== "f32") throw new Error(`compileGpu: ${spec.prim} of ${spec.out.dtype}`);
      const make = spec.prim === "dclsGauss" ? dclsGaussProgram : dclsGaussGradProgram;
      return make(w[0] * w[1], w[2], p as unknown as DclsGaussParams);
    }
    case DCLS_GAUSS_LAYERS:
    case DCLS_GAUSS_GRAD_LAYERS: {
      const layers = spec.outs.length;
      const w = spec.inputs[spec.prim === DCLS_GAUSS_LAYERS ? 0 : layers].aval.shape;
      if (spec.out.dtype !== "f32") throw new Error(`compileGpu: ${spec.prim} of ${spec.out.dtype}`);
      const make = spec.prim === DCLS_GAUSS_LAYERS ? dclsGaussLanesKernel : dclsGaussGradLanesKernel;
      return make(w[0] * w[1], w[2], p as unknown as DclsGaussParams, layers);
    }
    case "complexCorrelate":
    case "complexCorrelateKernelGrad": {
      const z = spec.inputs[0].aval.shape;
      if (spec.out.dtype !== "f32") throw new Error(`compileGpu: ${spec.prim} of ${spec.out.dtype}`);
      const cp = p as unknown as ComplexCorrelateParams & { kernelSize?: number };
      const kw = spec.prim === "complexCorrelate" ? spec.inputs[1].aval.shape[2] : cp.kernelSize!;
      const geo = { R: z[0], P: z[1], W: z[3], kw };
      return spec.prim === "complexCorrelate"
        ? complexCorrelateKernel(geo, cp)
        : complexCorrelateKernelGradKernel(geo, cp);
    }
    case "realDft": {
      const x = spec.inputs[0].aval.shape;
      if (spec.out.dtype !== "f32") throw new Error(`compileGpu: ${spec.prim} of ${spec.out.dtype}`);
      const epilogue = spec.epilogue ? { expr: spec.epilogue, leading: spec.out.shape.slice(0, -2) } : undefined;
      return realDftKernel(realDftPlanes(x), x[x.length - 1], p as unknown as RealDftParams, {}, epilogue);
    }
    case CORRELATE_DFT: {
      const z = spec.inputs[0].aval.shape, kw = spec.inputs[1].aval.shape[2];
      if (spec.out.dtype !== "f32") throw new Error(`compileGpu: ${spec.prim} of ${spec.out.dtype}`);
      const { correlate, dft } = p as unknown as { correlate: ComplexCorrelateParams; dft: RealDftParams };
      const leading = spec.out.shape.slice(0, -2), C = prod(leading) / z[0];
      const epilogue = spec.epilogue ? { expr: spec.epilogue, leading } : undefined;
      return correlateDftKernel({ R: z[0], P: z[1], W: z[3], kw, C }, correlate, dft, epilogue);
    }
    case "toeplitz":
    case "toeplitzAdjoint": {
      const x = spec.inputs[0].aval.shape;
      if (spec.out.dtype !== "f32") throw new Error(`compileGpu: ${spec.prim} of ${spec.out.dtype}`);
      const tp = p as unknown as ToeplitzParams & { kernel: [number, number] };
      return spec.prim === "toeplitz" ? toeplitzKernel(x[0], [x[1], x[2]], tp) : toeplitzAdjointKernel(x[0], tp);
    }
    default:
      throw new Error(`compileGpu: no GPU kernel for primitive ${spec.prim}`);
  }
}

/** Whether a non-elementwise primitive's generator can fuse an elementwise epilogue. */
export function takesEpilogue(prim: string): boolean {
  return prim === "matmul" || prim === "realDft";
}
