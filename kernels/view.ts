/**
 * Views: how a kernel reads a tensor through a chain of movement ops without copying it.
 *
 * A {@link View} is a stack of strided views (the idea of tinygrad's ShapeTracker). `view[0]` addresses the buffer;
 * every later layer addresses the logical (row-major) index space of the layer below. A layer maps coordinates to
 * `offset + Σ coord·stride` (strides may be 0 for broadcast or negative for flip) and may carry a mask: coordinates
 * outside it read `padValue` instead of memory. transpose, broadcast, slice, flip and pad always fold into the top
 * layer; reshape folds when the strides allow it and otherwise pushes a new layer (decoded with div/mod in WGSL).
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import { contiguousStrides, decodeIndex, literal, prod, u32 } from "./wgsl.ts";

/** One strided layer of a {@link View}. */
export interface StridedView {
  /** Logical shape of this layer. */
  readonly shape: readonly number[];
  /** Element strides per axis (0 broadcasts, negative flips). */
  readonly strides: readonly number[];
  /** Index of the element at coordinates 0. */
  readonly offset: number;
  /** Per-axis valid half-open ranges `[lo, hi)`; absent means every coordinate is valid. */
  readonly mask?: readonly (readonly [number, number])[];
  /** Value read at masked-out coordinates (pad value); meaningful only with a mask. */
  readonly padValue?: number;
}

/** A stack of strided layers, buffer-facing first; the last layer's shape is the shape the consumer sees. */
export type View = readonly StridedView[];

/** The identity view of a contiguous buffer of `shape`. */
export function contiguousView(shape: readonly number[]): View {
  return [{ shape: [...shape], strides: contiguousStrides(shape), offset: 0 }];
}

/** The logical shape a view presents. */
export function viewShape(view: View): readonly number[] {
  return view[view.length - 1].shape;
}

/** Whether a view reads its buffer in plain row-major order from element `offset` (returned), else null. */
export function contiguousOffset(view: View): number | null {
  if (view.length !== 1) return null;
  const v = view[0];
  if (v.mask && !isTrivialMask(v.mask, v.shape)) return null;
  const cs = contiguousStrides(v.shape);
  for (let i = 0; i < v.shape.length; i++) if (v.shape[i] !== 1 && v.strides[i] !== cs[i]) return null;
  return v.offset;
}

function isTrivialMask(mask: readonly (readonly [number, number])[], shape: readonly number[]): boolean {
  return mask.every(([lo, hi], i) => lo <= 0 && hi >= shape[i]);
}

function withTop(view: View, top: StridedView): View {
  return simplify([...view.slice(0, -1), normalize(top)]);
}

function normalize(v: StridedView): StridedView {
  if (v.mask && isTrivialMask(v.mask, v.shape)) return { shape: v.shape, strides: v.strides, offset: v.offset };
  return v;
}

// An unmasked contiguous layer below another is the identity on flat indices, so it can be dropped.
function simplify(view: View): View {
  const out: StridedView[] = [];
  for (const v of view) {
    const below = out[out.length - 1];
    if (below && below.offset === 0 && !below.mask && contiguousOffset([below]) === 0) out.pop();
    out.push(v);
  }
  return out;
}

function checkRank(view: View, n: number, what: string): StridedView {
  const top = view[view.length - 1];
  if (n !== top.shape.length) throw new Error(`${what}: expected ${top.shape.length} axes, got ${n}`);
  return top;
}

/** Permutes axes: result axis i is input axis `perm[i]`. */
export function transposeView(view: View, perm: readonly number[]): View {
  const t = checkRank(view, perm.length, "transposeView");
  return withTop(view, {
    shape: perm.map((p) => t.shape[p]),
    strides: perm.map((p) => t.strides[p]),
    offset: t.offset,
    mask: t.mask && perm.map((p) => t.mask![p]),
    padValue: t.padValue,
  });
}

/** Expands size-1 axes to `shape` (same rank) with stride 0. */
export function broadcastView(view: View, shape: readonly number[]): View {
  const t = checkRank(view, shape.length, "broadcastView");
  shape.forEach((d, i) => {
    if (t.shape[i] !== d && t.shape[i] !== 1) {
      throw new Error(`broadcastView: cannot expand axis ${i} of [${t.shape}] to ${d}`);
    }
  });
  return withTop(view, {
    shape: [...shape],
    strides: t.strides.map((s, i) => (t.shape[i] === shape[i] ? s : 0)),
    offset: t.offset,
    mask: t.mask &&
      t.mask.map(([lo, hi], i) => (t.shape[i] === shape[i] ? [lo, hi] : lo < hi ? [0, shape[i]] : [0, 0])),
    padValue: t.padValue,
  });
}

/** Strided slice per axis (`steps` ≥ 1): result length `ceil((stop - start) / step)`. */
export function sliceView(
  view: View,
  starts: readonly number[],
  stops: readonly number[],
  steps?: readonly number[],
): View {
  const t = checkRank(view, starts.length, "sliceView");
  const st = steps ?? starts.map(() => 1);
  const shape = starts.map((s, i) => Math.max(0, Math.ceil((stops[i] - s) / st[i])));
  starts.forEach((s, i) => {
    if (st[i] < 1 || s < 0 || stops[i] > t.shape[i]) {
      throw new Error(`sliceView: bad range ${s}:${stops[i]}:${st[i]} on axis ${i} of size ${t.shape[i]}`);
    }
  });
  return withTop(view, {
    shape,
    strides: t.strides.map((s, i) => s * st[i]),
    offset: t.offset + starts.reduce((o, s, i) => o + s * t.strides[i], 0),
    mask: t.mask && t.mask.map(([lo, hi], i) => {
      const a = Math.min(shape[i], Math.max(0, Math.ceil((lo - starts[i]) / st[i])));
      const b = Math.min(shape[i], Math.max(0, Math.ceil((hi - starts[i]) / st[i])));
      return [a, Math.max(a, b)] as const;
    }),
    padValue: t.padValue,
  });
}

/** Reverses the listed axes. */
export function flipView(view: View, axes: readonly number[]): View {
  const t = view[view.length - 1];
  const f = t.shape.map((_, i) => axes.includes(i));
  return withTop(view, {
    shape: t.shape,
    strides: t.strides.map((s, i) => (f[i] ? -s : s)),
    offset: t.offset + t.shape.reduce((o, d, i) => o + (f[i] && d > 0 ? (d - 1) * t.strides[i] : 0), 0),
    mask: t.mask && t.mask.map(([lo, hi], i) => (f[i] ? [t.shape[i] - hi, t.shape[i] - lo] : [lo, hi])),
    padValue: t.padValue,
  });
}

/**
 * Pads each axis with `lo[i]` / `hi[i]` elements (non-negative) reading `value`, and `interior[i]` elements between
 * neighbours (XLA's interior padding; done as a reshape through a padded extra axis).
 */
export function padView(
  view: View,
  lo: readonly number[],
  hi: readonly number[],
  value: number,
  interior?: readonly number[],
): View {
  if (interior?.some((g) => g > 0)) {
    let v = view;
    const shape = [...viewShape(v)];
    interior.forEach((g, axis) => {
      const d = shape[axis];
      if (g <= 0 || d === 0) return;
      const split = [...shape.slice(0, axis), d, 1, ...shape.slice(axis + 1)];
      v = padView(reshapeView(v, split), split.map(() => 0), split.map((_, i) => (i === axis + 1 ? g : 0)), value);
      const merged = [...shape.slice(0, axis), d * (g + 1), ...shape.slice(axis + 1)];
      const stops = merged.map((n, i) => (i === axis ? (d - 1) * (g + 1) + 1 : n));
      v = sliceView(reshapeView(v, merged), merged.map(() => 0), stops);
      shape[axis] = (d - 1) * (g + 1) + 1;
    });
    return padView(v, lo, hi, value);
  }
  let t = checkRank(view, lo.length, "padView");
  if (lo.some((l) => l < 0) || hi.some((h) => h < 0)) throw new Error("padView: pad widths must be non-negative");
  if (lo.every((l) => l === 0) && hi.every((h) => h === 0)) return view;
  let base = view;
  // A mask with another pad value cannot merge with this one: read the existing view through a fresh layer.
  if (t.mask && !Object.is(t.padValue ?? 0, value)) {
    base = [...view, contiguousView(t.shape)[0]];
    t = base[base.length - 1];
  }
  const shape = t.shape.map((d, i) => d + lo[i] + hi[i]);
  return withTop(base, {
    shape,
    strides: t.strides,
    offset: t.offset - lo.reduce((o, l, i) => o + l * t.strides[i], 0),
    mask: t.shape.map((d, i) => {
      const [a, b] = t.mask ? t.mask[i] : [0, d];
      return [a + lo[i], b + lo[i]] as const;
    }),
    padValue: value,
  });
}

/** Reshapes to `shape` (same element count), folding into the strides when possible. */
export function reshapeView(view: View, shape: readonly number[]): View {
  const t = view[view.length - 1];
  if (prod(shape) !== prod(t.shape)) throw new Error(`reshapeView: cannot reshape [${t.shape}] to [${shape}]`);
  if (shape.length === t.shape.length && shape.every((d, i) => d === t.shape[i])) return view;
  const folded = foldReshape(t, shape);
  if (folded) return withTop(view, folded);
  return simplify([...view, contiguousView(shape)[0]]);
}

// Groups old and new axes into runs of equal size; a run folds when its old axes are mutually contiguous in memory
// (and unmasked, unless the run is a single axis on both sides).
function foldReshape(t: StridedView, shape: readonly number[]): StridedView | null {
  if (prod(shape) === 0) return null;
  const oldAxes = t.shape.map((_, i) => i).filter((i) => t.shape[i] !== 1);
  if (t.mask && t.shape.some((d, i) => d === 1 && t.mask![i][0] >= t.mask![i][1])) return null;
  const strides = new Array<number>(shape.length).fill(0);
  const mask: [number, number][] = shape.map((d) => [0, d]);
  let i = 0;
  let j = 0;
  while (j < shape.length || i < oldAxes.length) {
    while (j < shape.length && shape[j] === 1) j++;
    if (j >= shape.length && i >= oldAxes.length) break;
    const groupOld = [oldAxes[i++]];
    const groupNew = [j++];
    let po = t.shape[groupOld[0]];
    let pn = shape[groupNew[0]];
    while (po !== pn) {
      if (po < pn) groupOld.push(oldAxes[i++]);
      else groupNew.push(j++);
      po = prod(groupOld.map((a) => t.shape[a]));
      pn = prod(groupNew.map((a) => shape[a]));
    }
    for (let k = 0; k + 1 < groupOld.length; k++) {
      const a = groupOld[k], b = groupOld[k + 1];
      if (t.strides[a] !== t.strides[b] * t.shape[b]) return null;
    }
    if (t.mask) {
      const realNew = groupNew.filter((a) => shape[a] !== 1);
      const trivial = groupOld.every((a) => t.mask![a][0] <= 0 && t.mask![a][1] >= t.shape[a]);
      if (!trivial) {
        if (groupOld.length !== 1 || realNew.length !== 1) return null;
        mask[realNew[0]] = [t.mask[groupOld[0]][0], t.mask[groupOld[0]][1]];
      }
    }
    let s = t.strides[groupOld[groupOld.length - 1]];
    for (let k = groupNew.length - 1; k >= 0; k--) {
      strides[groupNew[k]] = s;
      s *= shape[groupNew[k]];
    }
  }
  const hasMask = t.mask !== undefined;
  return { shape: [...shape], strides, offset: t.offset, mask: hasMask ? mask : undefined, padValue: t.padValue };
}

/**
 * Applies one IR movement primitive (reshape, transpose, broadcast, slice, pad, flip) to a view, with the IR's params.
 */
export function applyMovement(view: View, prim: string, params: Readonly<Record<string, unknown>>): View {
  switch (prim) {
    case "reshape":
      return reshapeView(view, params.shape as number[]);
    case "transpose":
      return transposeView(view, params.perm as number[]);
    case "broadcast":
      return broadcastView(view, params.shape as number[]);
    case "slice":
      return sliceView(view, params.starts as number[], params.stops as number[], params.steps as number[]);
    case "pad":
      return padView(
        view,
        params.lo as number[],
        params.hi as number[],
        (params.value as number) ?? 0,
        params.interior as number[] | undefined,
      );
    case "flip":
      return flipView(view, params.axes as number[]);
    default:
      throw new Error(`applyMovement: ${prim} is not a movement primitive`);
  }
}

/** Whether applyMovement understands a primitive. */
export function isMovement(prim: string): boolean {
  return ["reshape", "transpose", "broadcast", "slice", "pad", "flip"].includes(prim);
}

/** WGSL for a view's buffer index at the given top-layer coordinates. */
export interface ViewIndex {
  /** `let` statements to emit before using `index` / `masks`. */
  readonly lines: string[];
  /** u32 buffer index (only meaningful when every mask holds). */
  readonly index: string;
  /** Mask conditions from the buffer-facing layer outwards, each with the value read where it fails. */
  readonly masks: readonly { readonly cond: string; readonly padValue: number }[];
}

/** Sum of coordinate × stride terms plus offset, with u32 wrap-around for negative strides and offsets. */
function affine(coords: readonly string[], strides: readonly number[], offset: number): string {
  const terms: string[] = [];
  coords.forEach((c, i) => {
    if (strides[i] === 0 || c === "0u") return;
    terms.push(strides[i] === 1 ? c : `${c} * ${u32(strides[i])}`);
  });
  if (offset !== 0 || terms.length === 0) terms.push(u32(offset));
  return terms.join(" + ");
}

/** Emits the index computation of `view` at top-layer `coords` (u32 WGSL expressions); `name` prefixes the lets. */
export function emitViewIndex(view: View, coords: readonly string[], name: string): ViewIndex {
  const lines: string[] = [];
  const masks: { cond: string; padValue: number }[] = [];
  let cs = coords;
  for (let k = view.length - 1; k >= 0; k--) {
    const v = view[k];
    if (v.mask) {
      const conds: string[] = [];
      v.mask.forEach(([lo, hi], i) => {
        if (lo >= hi) conds.push("false");
        else {
          if (lo > 0) conds.push(`${cs[i]} >= ${u32(lo)}`);
          if (hi < v.shape[i]) conds.push(`${cs[i]} < ${u32(hi)}`);
        }
      });
      if (conds.length) {
        lines.push(`let ${name}_m${k} = ${conds.join(" && ")};`);
        masks.unshift({ cond: `${name}_m${k}`, padValue: v.padValue ?? 0 });
      }
    }
    const flat = affine(cs, v.strides, v.offset);
    lines.push(`let ${name}_i${k} = ${flat};`);
    if (k > 0) cs = decodeIndex(`${name}_i${k}`, view[k - 1].shape);
  }
  return { lines, index: `${name}_i0`, masks };
}

/**
 * Emits a load of `buffer[view(coords)]` as register type of `dtype`, honouring masks (out-of-mask reads use index 0
 * and are replaced by the pad value). Returns the statements and the name of the loaded value.
 */
export function emitViewLoad(
  view: View,
  coords: readonly string[],
  buffer: string,
  dtype: DType,
  name: string,
): { lines: string[]; value: string } {
  const ix = emitViewIndex(view, coords, name);
  const lines = [...ix.lines];
  const raw = (i: string) => (dtype === "bool" ? `(${buffer}[${i}] != 0u)` : `${buffer}[${i}]`);
  if (ix.masks.length === 0) {
    lines.push(`let ${name} = ${raw(ix.index)};`);
    return { lines, value: name };
  }
  const all = ix.masks.map((m) => m.cond).join(" && ");
  let v = raw(`select(0u, ${ix.index}, ${all})`);
  for (const m of ix.masks) v = `select(${literal(m.padValue, dtype)}, ${v}, ${m.cond})`;
  lines.push(`let ${name} = ${v};`);
  return { lines, value: name };
}

/** One more than the largest buffer index a view can read (the buffer elements it needs). */
export function viewExtent(view: View): number {
  const v = view[0];
  let hiIdx = v.offset;
  for (let i = 0; i < v.shape.length; i++) {
    const [lo, hi] = v.mask ? v.mask[i] : [0, v.shape[i]];
    if (lo >= hi) return 0;
    hiIdx += v.strides[i] > 0 ? (hi - 1) * v.strides[i] : lo * v.strides[i];
  }
  return hiIdx + 1;
}
