/**
 * How a reduction walks memory: the domain's axes are reordered by the strides of the loads that move the most bytes,
 * size-1 axes dropped and neighbours that every load reads contiguously merged, so the generator sees a short
 * canonical domain (e.g. `[M, C]` reduced over M, or `[N, C, H·W]` reduced over C) and every view is rewritten onto it.
 * The layout also picks the thread mapping:
 * - "column": the innermost canonical axis is kept, so consecutive threads own consecutive outputs (vec4 of them) and
 *   each thread loops over the reduced range;
 * - "row": the innermost canonical axis is reduced, so a group of threads strides over one output's contiguous run.
 * When loads disagree on the innermost axis (a channels-first tensor read channels-last beside a channels-last one),
 * the column mapping wins if a large enough share of the bytes wants it; the other loads are then read as vec4 along
 * their own contiguous (reduced) axis and transposed in registers (see reduce.ts).
 *
 * @module
 */
import { type Expr, liveLoads } from "./expr.ts";
import { contiguousView, reshapeView, transposeView, type View } from "./view.ts";
import { prod } from "./wgsl.ts";

/** A reduction rewritten onto its canonical domain. */
export interface ReduceLayout {
  /** Canonical domain (every axis > 1, except a single axis of 1 for a one-element domain). */
  readonly shape: readonly number[];
  /** Per canonical axis: whether it is reduced. */
  readonly reduced: readonly boolean[];
  /** Thread mapping (see the module comment). */
  readonly mode: "column" | "row";
  /** The prologue with every load's view over {@link ReduceLayout.shape}. */
  readonly expr: Expr;
  /** The epilogue with every load's view over {@link ReduceLayout.outShape}. */
  readonly epilogue?: Expr;
  /** The canonical domain with reduced axes set to 1 (what epilogue loads and `outView` see). */
  readonly outShape: readonly number[];
  /** Maps canonical output coordinates to the flat index of the output in the original (row-major) output shape. */
  readonly outView: View;
  /** For each original axis: the canonical axis holding it and the divisor and modulus that extract it (concat). */
  readonly original: readonly { readonly axis: number; readonly div: number; readonly mod: number }[];
}

interface LoadInfo {
  /** Strides over the non-trivial original axes, or null for views of several layers. */
  readonly strides: readonly number[] | null;
  /** Elements the load touches (product of the non-broadcast axes). */
  readonly footprint: number;
  /** Index (among the non-trivial axes) of the axis with the smallest non-zero stride; -1 when none. */
  readonly inner: number;
  /** Per non-trivial axis: whether a mask restricts it. */
  readonly masked: readonly boolean[];
}

/** Loads smaller than this fraction of the largest are ignored when choosing the layout. */
const HEAVY_FRACTION = 1 / 8;
/** Share of the heavy loads' elements that must want a kept innermost axis for the column mapping. */
const COLUMN_SHARE = 0.25;

function analyse(view: View, axes: readonly number[]): LoadInfo {
  const sizes = axes.map((a) => view[view.length - 1].shape[a]);
  if (view.length !== 1) {
    return { strides: null, footprint: prod(sizes), inner: axes.length - 1, masked: axes.map(() => true) };
  }
  const v = view[0];
  const strides = axes.map((a) => v.strides[a]);
  const masked = axes.map((a) => v.mask !== undefined && (v.mask[a][0] > 0 || v.mask[a][1] < v.shape[a]));
  let inner = -1;
  strides.forEach((s, i) => {
    if (s !== 0 && (inner < 0 || Math.abs(s) <= Math.abs(strides[inner]))) inner = i;
  });
  const footprint = prod(sizes.filter((_, i) => strides[i] !== 0));
  return { strides, footprint, inner, masked };
}

function mapViews(expr: Expr, f: (v: View) => View): Expr {
  return { ...expr, nodes: expr.nodes.map((n) => (n.op === "load" ? { ...n, view: f(n.view) } : n)) };
}

/** Reorders, squeezes and merges the domain of a reduction (see the module comment). */
export function reduceLayout(
  shape: readonly number[],
  axes: readonly number[],
  expr: Expr,
  epilogue?: Expr,
): ReduceLayout {
  const isRed = shape.map((_, i) => axes.includes(i));
  const outShapeOrig = shape.map((d, i) => (isRed[i] ? 1 : d));
  // Non-trivial original axes, and the squeezed shapes.
  const nt = shape.map((_, i) => i).filter((i) => shape[i] > 1);
  const sq = nt.map((i) => shape[i]);
  const sqOut = nt.map((i) => (isRed[i] ? 1 : shape[i]));
  const loads = liveLoads(expr);
  const infos = loads.map((n) => analyse(n.view, nt));
  const epInfos = epilogue ? liveLoads(epilogue).map((n) => analyse(n.view, nt)) : [];
  const outInfo = analyse(contiguousView(outShapeOrig), nt);

  // The load whose layout the canonical order follows, and the mapping.
  const maxFoot = Math.max(0, ...infos.map((l) => l.footprint));
  const heavy = infos.filter((l) => l.inner >= 0 && l.footprint >= maxFoot * HEAVY_FRACTION);
  const weight = new Map<number, number>();
  for (const l of heavy) weight.set(l.inner, (weight.get(l.inner) ?? 0) + l.footprint);
  const total = [...weight.values()].reduce((a, b) => a + b, 0);
  let colAxis = -1;
  for (const [axis, w] of weight) {
    if (!isRed[nt[axis]] && w >= COLUMN_SHARE * total && (colAxis < 0 || w > weight.get(colAxis)!)) colAxis = axis;
  }
  const byFoot = [...heavy].sort((a, b) => b.footprint - a.footprint);
  const primary = colAxis >= 0 ? byFoot.find((l) => l.inner === colAxis)! : byFoot[0];
  const priority = [primary, ...infos.filter((l) => l !== primary).sort((a, b) => b.footprint - a.footprint)]
    .filter((l) => l && l.strides);

  // Order: larger strides outside; a load that broadcasts either axis has no say.
  const before = (a: number, b: number): boolean => {
    for (const l of priority) {
      const sa = Math.abs(l.strides![a]), sb = Math.abs(l.strides![b]);
      if (sa !== 0 && sb !== 0 && sa !== sb) return sa > sb;
    }
    return a < b;
  };
  const perm: number[] = [];
  for (let a = 0; a < nt.length; a++) {
    let k = perm.length;
    while (k > 0 && before(a, perm[k - 1])) k--;
    perm.splice(k, 0, a);
  }
  const innermost = colAxis >= 0 ? colAxis : primary ? primary.inner : -1;
  if (innermost >= 0) {
    perm.splice(perm.indexOf(innermost), 1);
    perm.push(innermost);
  }

  // Merge neighbours of the same kind that every strided load (and the output, for kept axes) reads contiguously.
  const groups: number[][] = [];
  for (const a of perm) {
    const g = groups[groups.length - 1];
    const b = g?.[g.length - 1];
    const mergeable = g !== undefined && isRed[nt[a]] === isRed[nt[b]] &&
      [...infos, ...(isRed[nt[a]] ? [] : [...epInfos, outInfo])].every((l) =>
        !l.strides || (!l.masked[a] && !l.masked[b] && l.strides[b] === l.strides[a] * sq[a])
      );
    if (mergeable) g.push(a);
    else groups.push([a]);
  }
  let cshape = groups.map((g) => prod(g.map((a) => sq[a])));
  let reduced = groups.map((g) => isRed[nt[g[0]]]);
  if (cshape.length === 0) {
    cshape = [1];
    reduced = [false];
  }
  const coutShape = cshape.map((d, i) => (reduced[i] ? 1 : d));
  const flatPerm = groups.flat();
  const toCanon = (v: View, squeezed: readonly number[], canon: readonly number[]): View =>
    reshapeView(
      transposeView(reshapeView(v, squeezed.length ? squeezed : [1]), flatPerm.length ? flatPerm : [0]),
      canon,
    );
  const original = shape.map((_, i) => {
    const j = nt.indexOf(i);
    if (j < 0) return { axis: 0, div: 1, mod: 1 };
    const gi = groups.findIndex((g) => g.includes(j));
    const g = groups[gi];
    const div = prod(g.slice(g.indexOf(j) + 1).map((a) => sq[a]));
    return { axis: gi, div, mod: sq[j] };
  });
  return {
    shape: cshape,
    reduced,
    mode: reduced[reduced.length - 1] ? "row" : "column",
    expr: mapViews(expr, (v) => toCanon(v, sq, cshape)),
    epilogue: epilogue && mapViews(epilogue, (v) => toCanon(v, sqOut, coutShape)),
    outShape: coutShape,
    outView: toCanon(contiguousView(outShapeOrig), sqOut, coutShape),
    original,
  };
}

/** Whether any live node of an expression is a concat (which needs scalar code with coordinates). */
export function hasConcat(expr: Expr | undefined): boolean {
  return expr !== undefined && expr.nodes.some((n) => n.op === "concat");
}

/**
 * Whether a load through `view` at coordinates whose `axis` coordinate is a multiple of 4 reads an aligned vec4 of
 * consecutive elements along `axis`.
 */
export function alignedAlong(view: View, axis: number): boolean {
  if (view.length !== 1) return false;
  const v = view[0];
  if (v.mask && v.mask.some(([lo, hi], i) => lo > 0 || hi < v.shape[i])) return false;
  return v.strides[axis] === 1 && v.offset % 4 === 0 && v.shape[axis] % 4 === 0 &&
    v.strides.every((s, i) => i === axis || v.shape[i] === 1 || s % 4 === 0);
}

/** The stride of a single-layer, unmasked view along `axis`, or null. */
export function plainStride(view: View, axis: number): number | null {
  if (view.length !== 1) return null;
  const v = view[0];
  if (v.mask && v.mask.some(([lo, hi], i) => lo > 0 || hi < v.shape[i])) return null;
  return v.strides[axis];
}
