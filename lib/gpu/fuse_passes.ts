/**
 * Passes over the fuser's kernel list: folding an elementwise consumer into the reduction or matmul that produces
 * its input (epilogues), merging elementwise kernels over the same elements into multi-output kernels, and placing and
 * merging the DCLS constructions.
 *
 * @module
 */
import type { Aval } from "../core/graph.ts";
import { prod } from "../../kernels/wgsl.ts";
import type { KernelSpec, OpKernelSpec } from "./fuse.ts";
import { mergeExprs, reshapeExpr, toEpilogue } from "./fuse_rewrite.ts";
import { exprDTypes } from "../../kernels/expr.ts";
import { takesEpilogue } from "./plan_kernels.ts";
import { contiguousOffset } from "../../kernels/view.ts";
import { CORRELATE_DFT, correlateDftFits } from "../../kernels/correlate_dft.ts";
import type { ComplexCorrelateParams, DclsGaussParams, RealDftParams } from "../core/primitive.ts";
import { DCLS_GAUSS_GRAD_LAYERS, DCLS_GAUSS_LAYERS, lanesChosen } from "../../kernels/dcls_gauss_lanes.ts";

/** The variables a kernel reads: its inputs' buffers, then its epilogue's. */
export function kernelReads(k: KernelSpec): number[] {
  const own = k.kind === "op" ? k.inputs.map((x) => x.src) : k.srcs;
  return k.kind === "elementwise" ? [...own] : [...own, ...(k.epSrcs ?? [])];
}

/** Nodes a multi-output kernel made by merging siblings may hold (keeps shaders small enough to compile fast). */
const MAX_MERGED = 256;
/** Outputs a merged reduction may hold (each is an accumulator per thread and a fold through workgroup memory). */
const MAX_REDUCE_OUTPUTS = 4;

/**
 * Folds an elementwise kernel into the reduction, matmul or real DFT whose result it alone reads, element for element,
 * as that kernel's epilogue (mean = sum then divide, bias + activation after a matmul, bias after the spectral
 * convolution): one dispatch and one buffer less.
 * `keep` holds variables that must keep their own buffer (outputs).
 */
export function fuseEpilogues(
  kernels: readonly KernelSpec[],
  keep: ReadonlySet<number>,
  avals: ReadonlyMap<number, Aval>,
  maxBindings: number,
): KernelSpec[] {
  const out: (KernelSpec | undefined)[] = [...kernels];
  const readers = new Map<number, number[]>();
  const producer = new Map<number, number>();
  kernels.forEach((k, i) => {
    const ins = k.kind === "op" ? k.inputs.map((x) => x.src) : k.srcs;
    for (const v of new Set(ins)) readers.set(v, [...(readers.get(v) ?? []), i]);
    for (const v of k.outs) producer.set(v, i);
  });
  kernels.forEach((e, i) => {
    if (e.kind !== "elementwise" || e.outs.length !== 1 || e.expr.nodes.some((n) => n.op === "concat")) return;
    for (const r of e.srcs) {
      const pi = producer.get(r);
      const p = pi === undefined ? undefined : out[pi];
      if (!p || keep.has(r) || readers.get(r)?.length !== 1) continue;
      if (!(p.kind === "reduce" || (p.kind === "op" && takesEpilogue(p.prim))) || p.epilogue || p.outs.length > 1) {
        continue;
      }
      const shape = avals.get(r)!.shape;
      if (prod(shape) !== prod(e.shape)) continue;
      const ep = toEpilogue(e.expr, e.srcs.indexOf(r), shape);
      if (!ep) continue;
      const epSrcs = e.srcs.filter((v) => v !== r);
      const own = p.kind === "op" ? p.inputs.length : p.srcs.length;
      if (own + epSrcs.length + 1 > maxBindings) continue;
      out[pi!] = undefined;
      out[i] = { ...p, outs: e.outs as [number], epilogue: ep, epSrcs } as KernelSpec;
      return;
    }
  });
  return out.filter((k): k is KernelSpec => k !== undefined);
}

/**
 * Merges elementwise kernels over the same shape into multi-output kernels: a later kernel joins an earlier one that
 * it reads element for element, or shares an input with, when nothing in between reads the earlier one's outputs
 * (the merged kernel runs at the later position). An optimizer update (new moment, new variance, new parameter) then
 * becomes one dispatch reading the gradient once. Likewise a reduction joins an earlier one over the same domain and
 * axes that shares an input and whose results it does not read (BatchNorm's Σdy and Σdy·x̂, or the statistics of
 * branches fed by one tensor), so the shared tensor is read once for both.
 */
export function mergeSiblings(
  kernels: readonly KernelSpec[],
  keep: ReadonlySet<number>,
  maxBindings: number,
): KernelSpec[] {
  const list: KernelSpec[] = [];
  const readers = new Map<number, number>();
  for (const k of kernels) for (const v of new Set(kernelReads(k))) readers.set(v, (readers.get(v) ?? 0) + 1);
  for (const b of kernels) {
    let merged: KernelSpec = b;
    if (b.kind === "elementwise") {
      for (let j = list.length - 1; j >= 0; j--) {
        const a = list[j];
        if (a.kind !== "elementwise" || prod(a.shape) !== prod(b.shape)) continue;
        if (a.expr.nodes.some((n) => n.op === "concat") || b.expr.nodes.some((n) => n.op === "concat")) continue;
        const between = list.slice(j + 1);
        if (between.some((k) => kernelReads(k).some((v) => a.outs.includes(v)))) continue;
        const related = b.srcs.some((v) => a.outs.includes(v) || a.srcs.includes(v));
        if (!related) continue;
        const fromA = b.srcs.map((v) => a.outs.indexOf(v));
        // Both write their outputs in row-major order, so `b` may be re-expressed over `a`'s coordinates.
        const bExpr = a.shape.join() === b.shape.join() ? b.expr : reshapeExpr(b.expr, a.shape);
        const m = mergeExprs(a.expr, a.srcs, bExpr, b.srcs, fromA, prod(b.shape));
        if (!m || m.srcs.length + a.outs.length + b.outs.length > maxBindings || m.expr.nodes.length > MAX_MERGED) {
          continue;
        }
        list.splice(j, 1);
        // An output of `a` that only `b` read is now computed inside the kernel and need not be written.
        const drop = a.outs.map((v) => !keep.has(v) && b.srcs.includes(v) && readers.get(v) === 1);
        const expr = { ...m.expr, outputs: m.expr.outputs.filter((_, i) => i >= a.outs.length || !drop[i]) };
        const outs = [...a.outs.filter((_, i) => !drop[i]), ...b.outs];
        merged = { kind: "elementwise", shape: a.shape, expr, srcs: m.srcs, outs };
        break;
      }
    }
    if (b.kind === "reduce") merged = mergeReduction(list, b, maxBindings) ?? b;
    list.push(merged);
  }
  return list;
}

/** The earlier sibling of reduction `b` in `list` merged with it (and removed from `list`), or null. */
function mergeReduction(
  list: KernelSpec[],
  b: Extract<KernelSpec, { kind: "reduce" }>,
  maxBindings: number,
): KernelSpec | null {
  if (b.epilogue) return null;
  const axesKey = (axes: readonly number[]) => [...axes].sort((x, y) => x - y).join();
  for (let j = list.length - 1; j >= 0; j--) {
    const a = list[j];
    if (a.kind !== "reduce" || a.epilogue || a.op !== b.op || a.shape.join() !== b.shape.join()) continue;
    if (axesKey(a.axes) !== axesKey(b.axes) || a.outs.length + b.outs.length > MAX_REDUCE_OUTPUTS) continue;
    if (!b.srcs.some((v) => a.srcs.includes(v)) || b.srcs.some((v) => a.outs.includes(v))) continue;
    if (list.slice(j + 1).some((k) => kernelReads(k).some((v) => a.outs.includes(v)))) continue;
    const dtypes = [a, b].map((k) => exprDTypes(k.expr)[k.expr.outputs[0]]);
    if (dtypes[0] !== dtypes[1]) continue;
    const m = mergeExprs(a.expr, a.srcs, b.expr, b.srcs, b.srcs.map(() => -1), prod(b.shape));
    if (!m || m.srcs.length + a.outs.length + b.outs.length > maxBindings || m.expr.nodes.length > MAX_MERGED) {
      continue;
    }
    list.splice(j, 1);
    return { ...b, expr: m.expr, srcs: m.srcs, outs: [...a.outs, ...b.outs] };
  }
  return null;
}

/**
 * Fuses a `realDft` into the `complexCorrelate` whose result it alone reads, contiguously, as planes of C channels
 * (the spectral convolution's inverse transform after its correlation, forward and adjoint): one kernel that keeps the
 * correlated spectrum of each plane in workgroup memory, so it is never written to memory and read back. Applies where
 * a plane's spectrum fits (`correlateDftFits`); the fused kernel runs at the transform's position, and takes the
 * transform's epilogue along.
 */
export function fuseCorrelateTransforms(
  kernels: readonly KernelSpec[],
  keep: ReadonlySet<number>,
  maxBindings: number,
): KernelSpec[] {
  const out: (KernelSpec | undefined)[] = [...kernels];
  const readers = new Map<number, number>();
  const producer = new Map<number, number>();
  kernels.forEach((k, i) => {
    for (const v of new Set(kernelReads(k))) readers.set(v, (readers.get(v) ?? 0) + 1);
    for (const v of k.outs) producer.set(v, i);
  });
  kernels.forEach((d, i) => {
    if (d.kind !== "op" || d.prim !== "realDft" || contiguousOffset(d.inputs[0].view) !== 0) return;
    const src = d.inputs[0].src, pi = producer.get(src);
    const c = pi === undefined ? undefined : out[pi];
    if (!c || c.kind !== "op" || c.prim !== "complexCorrelate" || c.epilogue || keep.has(src)) return;
    if (readers.get(src) !== 1 || 2 + (d.epSrcs?.length ?? 0) + 1 > maxBindings) return;
    const [R, P, , W] = c.inputs[0].aval.shape, kw = c.inputs[1].aval.shape[2];
    const planes = prod(d.inputs[0].aval.shape.slice(0, -2)), C = planes / R;
    const cp = c.params as unknown as ComplexCorrelateParams, p = d.params as unknown as RealDftParams;
    if (!Number.isInteger(C) || !correlateDftFits({ R, P, W, kw, C }, cp, p)) return;
    out[pi!] = undefined;
    out[i] = { ...d, prim: CORRELATE_DFT, params: { correlate: cp, dft: p }, inputs: c.inputs, srcs: c.srcs };
  });
  return out.filter((k): k is KernelSpec => k !== undefined);
}

/**
 * Moves each kernel that `pick` selects to the earliest position its inputs allow, keeping the moved kernels in their
 * order (`deps`: what a kernel needs; `gives`: what it provides).
 */
function hoist(
  kernels: readonly KernelSpec[],
  pick: (k: KernelSpec) => boolean,
  deps: (k: KernelSpec) => readonly number[],
  gives: (k: KernelSpec) => readonly number[],
): KernelSpec[] {
  const list: KernelSpec[] = [];
  for (const k of kernels) {
    if (!pick(k)) {
      list.push(k);
      continue;
    }
    const need = new Set(deps(k));
    let at = list.length;
    while (at > 0 && !gives(list[at - 1]).some((v) => need.has(v)) && !pick(list[at - 1])) at--;
    list.splice(at, 0, k);
  }
  return list;
}

/**
 * Schedules the DCLS constructions away from the data path: each forward construction (which reads parameters only)
 * runs as early as its inputs allow, and each construction backward as late as its readers allow (the optimizer
 * update, or the end). Layers' constructions then run back to back instead of one between each layer's
 * data-dependent kernels (on the H100, 1–3 % off a DCLS layer's forward and backward: bench/RESULTS.md run 11).
 */
export function scheduleConstructions(kernels: readonly KernelSpec[]): KernelSpec[] {
  const prim = (name: string) => (k: KernelSpec) => k.kind === "op" && k.prim === name;
  const early = hoist(kernels, prim("dclsGauss"), kernelReads, (k) => k.outs);
  return hoist([...early].reverse(), prim("dclsGaussGrad"), (k) => k.outs, kernelReads).reverse();
}

/**
 * Merges runs of adjacent DCLS constructions (or construction backwards) that share P and SIG and take the per-element
 * kernels (kernels/dcls_gauss_lanes.ts) into one dispatch for all their layers: a stage's layers, whose constructions
 * scheduleConstructions placed back to back, then pay one dispatch instead of one each (each kernel takes at most
 * about twice a dispatch that does almost nothing on the H100: bench/RESULTS.md run 13). Runs are cut where the bindings
 * (each layer's weight and output, and cotangent for the backward, then P and SIG) would pass `maxBindings`.
 */
export function mergeConstructions(kernels: readonly KernelSpec[], maxBindings: number): KernelSpec[] {
  const merged = { dclsGauss: DCLS_GAUSS_LAYERS, dclsGaussGrad: DCLS_GAUSS_GRAD_LAYERS } as Record<string, string>;
  // The shared inputs (P, SIG) come after the per-layer ones: the weight, and the cotangent before it for the backward.
  const perLayer = (prim: string) => (prim === "dclsGauss" ? 1 : 2);
  const key = (k: KernelSpec) => {
    if (k.kind !== "op" || !(k.prim in merged) || k.epilogue) return null;
    const w = k.inputs[perLayer(k.prim) - 1].aval.shape;
    if (w.length !== 3 || !lanesChosen(k.params as unknown as DclsGaussParams, w[2])) return null;
    const shared = k.inputs.slice(perLayer(k.prim)).map((x) => [x.src, x.view]);
    return JSON.stringify([k.prim, k.params, k.inputs.map((x) => x.aval.shape), shared]);
  };
  const out: KernelSpec[] = [];
  let run: OpKernelSpec[] = [];
  let runKey: string | null = null;
  const flush = () => {
    if (run.length === 1) out.push(run[0]);
    if (run.length > 1) {
      const n = perLayer(run[0].prim);
      const inputs = [
        ...Array.from({ length: n }, (_, i) => run.map((k) => k.inputs[i])).flat(),
        ...run[0].inputs.slice(n),
      ];
      out.push({
        ...run[0],
        prim: merged[run[0].prim],
        inputs,
        outs: run.map((k) => k.outs[0]),
        srcs: [...new Set(inputs.map((x) => x.src))],
      });
    }
    run = [];
  };
  for (const k of kernels) {
    const kk = key(k);
    const fits = run.length > 0 && (run.length + 1) * (perLayer(run[0].prim) + 1) + 2 <= maxBindings;
    if (kk === null || !fits || runKey !== kk) flush();
    if (kk === null) out.push(k);
    else {
      run.push(k as OpKernelSpec);
      runKey = kk;
    }
  }
  flush();
  return out;
}
