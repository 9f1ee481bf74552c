/**
 * Which kind of work each dispatch of a plan does, for the profile: matmul, depthwise convolution, DCLS kernel
 * construction, other convolutions, normalisation, elementwise, reduction, movement, optimizer update, front end.
 *
 * The plan records only labels and WGSL per dispatch, so the kernels are derived again from the graph the way
 * `buildPlan` derives them (fuser, then code generation), checked against the plan's dispatch labels, and each kernel is
 * classified from its primitive and from what it depends on: every graph input has a role (waveform, data, parameter,
 * DCLS parameter, state, optimizer state), and the roles flow through the kernels in dispatch order.
 *
 * - front end: depends on the waveform alone;
 * - optimizer: depends on the optimizer state or the learning rate;
 * - DCLS construct: depends on DCLS parameters but not on data (the forward construction), or reads a value the
 *   construction (or its backward) made and is not a convolution (the backward construction);
 * - matmul, conv / depthwise conv (grouped), movement (gather, scatter, pure copies) by primitive;
 * - normalisation: an expression with `rsqrt` (layer and batch norm), and the reductions feeding one (their statistics);
 * - reduction, elementwise: the rest.
 *
 * If the derived kernels do not match the plan (the planner changed), dispatches are classified from labels alone.
 * @module
 */
import type { KernelLimits } from "../kernels/program.ts";
import type { Graph } from "../lib/core/graph.ts";
import { fuseGraph, type KernelSpec } from "../lib/gpu/fuse.ts";
import { acceptsView, kernelProgram } from "../lib/gpu/plan_kernels.ts";
import { kernelReads } from "../lib/gpu/fuse_passes.ts";
import type { StaticPlan } from "../lib/gpu/plan.ts";
import { CORRELATE_DFT } from "../kernels/correlate_dft.ts";

/** The classes of work, in table order. */
export const KERNEL_CLASSES = [
  "matmul",
  "depthwise conv",
  "DCLS construct",
  "conv",
  "normalisation",
  "elementwise",
  "reduction",
  "movement",
  "optimizer",
  "front end",
  "other",
] as const;

/** A class of work. */
export type KernelClass = (typeof KERNEL_CLASSES)[number];

/** What a graph input is, for classification. */
export type InputRole = "wave" | "data" | "param" | "dcls" | "state" | "opt";

/** One dispatch with the kernel it belongs to and that kernel's class and work. */
export interface DispatchInfo {
  /** The dispatch's label. */
  readonly label: string;
  /** Index of the kernel (fused operation) the dispatch belongs to. */
  readonly kernel: number;
  /** Class of its kernel. */
  readonly cls: KernelClass;
  /** FLOPs and bytes of the whole kernel (attributed to its first dispatch; 0 on the others). */
  readonly flops: number;
  /** See `flops`. */
  readonly bytes: number;
}

/** How the classification was made: from derived kernels (exact), or from labels (the planner changed). */
export interface Classification {
  /** One entry per plan dispatch, in order. */
  readonly dispatches: readonly DispatchInfo[];
  /** Where the classes come from. */
  readonly source: "kernels" | "labels";
}

const WAVE = 1, DATA = 2, PARAM = 4, DCLS = 8, STATE = 16, OPT = 32, CONSTRUCT = 64;
const ROLE_BITS: Record<InputRole, number> = {
  wave: WAVE,
  data: DATA,
  param: PARAM,
  dcls: DCLS,
  state: STATE,
  opt: OPT,
};

function exprOps(spec: KernelSpec): string[] {
  const s = spec as { expr?: { nodes: readonly { op: string }[] }; epilogue?: { nodes: readonly { op: string }[] } };
  return [...(s.expr?.nodes ?? []), ...(s.epilogue?.nodes ?? [])].map((n) => n.op);
}

/** The class of one kernel from its spec and the roles it depends on. */
function classOf(spec: KernelSpec, tags: number): KernelClass {
  if ((tags & WAVE) && (tags & ~WAVE) === 0) return "front end";
  if (tags & OPT) return "optimizer";
  const construction = (tags & CONSTRUCT) !== 0 || ((tags & DCLS) !== 0 && (tags & (DATA | WAVE)) === 0);
  if (spec.kind === "op") {
    switch (spec.prim) {
      case "matmul":
        return construction ? "DCLS construct" : "matmul";
      case "conv2d":
      case "conv2dInputGrad":
      case "conv2dWeightGrad":
      case "conv1d":
      case "complexCorrelate":
      case "complexCorrelateKernelGrad":
      case "realDft":
      case CORRELATE_DFT:
      case "toeplitz":
      case "toeplitzAdjoint":
        return spec.prim.startsWith("complex") || spec.prim === "realDft" || spec.prim === CORRELATE_DFT ||
            spec.prim.startsWith("toeplitz") ||
            ((spec.params as { groups?: number }).groups ?? 1) > 1
          ? "depthwise conv"
          : "conv";
      case "gather":
      case "scatterAdd":
        return "movement";
      case "randomBits":
        return "elementwise";
      case "dclsGauss":
      case "dclsGaussGrad":
        return "DCLS construct";
      default:
        return construction ? "DCLS construct" : "other";
    }
  }
  if (construction) return "DCLS construct";
  const ops = exprOps(spec);
  if (ops.includes("rsqrt")) return "normalisation";
  if (spec.kind === "reduce") return "reduction";
  return ops.some((op) => op !== "load" && op !== "const") ? "elementwise" : "movement";
}

/** The class of a dispatch from its label alone (fallback). */
export function classOfLabel(label: string): KernelClass {
  if (label.startsWith("matmul")) return "matmul";
  if (/^(depthwise|complex_correlate|real_dft|correlate_dft|toeplitz)/.test(label)) return "depthwise conv";
  if (label.startsWith("conv")) return "conv";
  if (label.startsWith("dcls")) return "DCLS construct";
  if (label.startsWith("reduce")) return "reduction";
  if (label === "copy" || label.startsWith("gather") || label.startsWith("scatter")) return "movement";
  if (label.includes("rsqrt")) return "normalisation";
  if (label.startsWith("fused") || label.startsWith("elementwise") || label.startsWith("random")) return "elementwise";
  return "other";
}

/**
 * Classifies every dispatch of `plan`, built from `graph` with `maxBindings` (and `maxNodes`, `limits`); `roles` gives the role
 * of each graph input.
 */
export function classifyPlan(
  graph: Graph,
  plan: StaticPlan,
  roles: readonly InputRole[],
  opts: { maxBindings: number; maxNodes?: number; limits?: KernelLimits },
): Classification {
  if (roles.length !== graph.inputs.length) {
    throw new Error(`classifyPlan: ${roles.length} roles for ${graph.inputs.length} graph inputs`);
  }
  const fused = fuseGraph(graph, { maxBindings: opts.maxBindings, maxNodes: opts.maxNodes, acceptsView });
  const programs = fused.kernels.map((spec) => kernelProgram(spec, fused.avals, opts.limits));
  const labels = programs.flatMap((p) => p.dispatches.map((d) => d.label));
  if (labels.length !== plan.dispatches.length || labels.some((l, i) => l !== plan.dispatches[i].label)) {
    return {
      source: "labels",
      dispatches: plan.dispatches.map((d, i) => ({
        label: d.label,
        kernel: i,
        cls: classOfLabel(d.label),
        flops: 0,
        bytes: 0,
      })),
    };
  }
  const tags = new Map<number, number>();
  graph.inputs.forEach((v, i) => tags.set(v.id, (tags.get(v.id) ?? 0) | ROLE_BITS[roles[i]]));
  const classes: KernelClass[] = [];
  const producer = new Map<number, number>();
  fused.kernels.forEach((spec, k) => {
    const reads = kernelReads(spec);
    const t = reads.reduce((acc, v) => acc | (tags.get(v) ?? 0), 0);
    const cls = classOf(spec, t);
    classes.push(cls);
    // Only construction marks its results: a convolution reading the built kernel must not pass the mark downstream.
    const out = (t & ~CONSTRUCT) | (cls === "DCLS construct" ? CONSTRUCT : 0);
    for (const v of spec.outs) {
      tags.set(v, out);
      producer.set(v, k);
    }
  });
  // Statistics of a normalisation are the reductions that feed it.
  fused.kernels.forEach((spec, k) => {
    if (classes[k] !== "normalisation") return;
    for (const v of kernelReads(spec)) {
      const p = producer.get(v);
      if (p !== undefined && fused.kernels[p].kind === "reduce" && classes[p] === "reduction") {
        classes[p] = "normalisation";
      }
    }
  });
  const dispatches: DispatchInfo[] = [];
  programs.forEach((p, k) => {
    p.dispatches.forEach((d, j) => {
      dispatches.push({
        label: d.label,
        kernel: k,
        cls: classes[k],
        flops: j === 0 ? p.flops : 0,
        bytes: j === 0 ? p.bytes : 0,
      });
    });
  });
  return { source: "kernels", dispatches };
}
