/**
 * Fused elementwise kernels: one invocation per output element (or per four elements of the last axis, with `vec4`
 * loads and stores when the layout allows), evaluating an {@link Expr} whose loads fold broadcast / transpose / slice /
 * pad / flip / reshape into index math.
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import { emitExpr, type Expr, exprDTypes, type ExprNode, helperSource, liveLoads } from "./expr.ts";
import { type BufferSpec, bytesOf, type KernelProgram, ref } from "./program.ts";
import { emitViewIndex, emitViewLoad, type View, viewExtent } from "./view.ts";
import { bindingDecl, decodeIndex, foldGrid, prod, regType, shaderSource, u32 } from "./wgsl.ts";

/** A fused elementwise operation: every output of `expr` has `shape` and is written contiguously. */
export interface ElementwiseSpec {
  /** Output shape (every output). */
  readonly shape: readonly number[];
  /** The fused expression; loads see output coordinates. */
  readonly expr: Expr;
  /** Label for the pipeline (profiling). */
  readonly label?: string;
}

const WORKGROUP = 256;

type LoadNode = Extract<ExprNode, { op: "load" }>;

/** How a vec4 invocation reads one load: a whole aligned vec4, one value splatted, or four separate elements. */
export function vec4Kind(view: View): "direct" | "splat" | "gather" {
  const top = view[view.length - 1];
  const last = top.shape.length - 1;
  const lastMasked = top.mask !== undefined && (top.mask[last][0] > 0 || top.mask[last][1] < top.shape[last]);
  if (top.strides[last] === 0 && !lastMasked) return "splat";
  if (
    view.length === 1 && !top.mask && top.strides[last] === 1 && top.offset % 4 === 0 &&
    top.strides.every((s, i) => i === last || top.shape[i] === 1 || s % 4 === 0)
  ) return "direct";
  return "gather";
}

/** Declared width of each input: vec4 when every live load of it can read whole aligned vec4s. */
export function inputDeclWidths(expr: Expr, width: 1 | 4): (1 | 4)[] {
  const loads = liveLoads(expr);
  return expr.inputs.map((_, k) => {
    const mine = loads.filter((n) => n.input === k);
    return width === 4 && mine.length > 0 && mine.every((n) => vec4Kind(n.view) === "direct") ? 4 : 1;
  });
}

/** Minimum element count of each input buffer an expression reads. */
export function exprInputSpecs(expr: Expr): BufferSpec[] {
  const loads = liveLoads(expr);
  return expr.inputs.map((dtype, k) => ({
    dtype,
    size: Math.max(1, ...loads.filter((n) => n.input === k).map((n) => viewExtent(n.view))),
  }));
}

/** Generates the kernel for a fused elementwise expression. */
export function elementwiseKernel(spec: ElementwiseSpec): KernelProgram {
  const { shape, expr } = spec;
  const dts = exprDTypes(expr);
  const size = prod(shape);
  const outputs = expr.outputs.map((o) => ({ dtype: dts[o], size }));
  const inputs = exprInputSpecs(expr);
  const base = { inputs, outputs, scratch: [], flops: 0, bytes: bytesOf(inputs) + bytesOf(outputs) };
  if (size === 0) return { ...base, dispatches: [] };
  const rank = shape.length;
  const width: 1 | 4 = rank > 0 && shape[rank - 1] % 4 === 0 && !expr.nodes.some((n) => n.op === "concat") ? 4 : 1;
  const inWidth = inputDeclWidths(expr, width);
  const threads = size / width;
  const grid = foldGrid(Math.ceil(threads / WORKGROUP));
  const body: string[] = [];
  if (grid.guard) body.push(grid.guard);
  body.push(`let gid = ${grid.flatId} * ${u32(WORKGROUP)} + lid;`);
  body.push(`if (gid >= ${u32(threads)}) { return; }`);
  body.push(`let e = ${width === 4 ? "gid * 4u" : "gid"};`);
  const coords = decodeIndex("e", shape).map((c, i) => {
    if (c === "0u") return c;
    body.push(`let c${i} = ${c};`);
    return `c${i}`;
  });
  const load = (n: LoadNode, id: number) =>
    loadCode(n, `l${id}`, `in${n.input}`, coords, expr.inputs[n.input], width, inWidth[n.input]);
  const em = emitExpr(expr, { width, load, prefix: "v", coord: (axis) => coords[axis] });
  body.push(...em.lines);
  em.values.forEach((v, j) => {
    const dt = dts[expr.outputs[j]];
    const stored = dt === "bool"
      ? (width === 4 ? `select(vec4<u32>(0u), vec4<u32>(1u), ${v})` : `select(0u, 1u, ${v})`)
      : v;
    body.push(`out${j}[gid] = ${stored};`);
  });
  const decls = [
    ...expr.inputs.map((dt, k) => bindingDecl(k, `in${k}`, dt, "read", inWidth[k] as 1 | 4)),
    ...outputs.map((o, j) => bindingDecl(expr.inputs.length + j, `out${j}`, o.dtype, "read_write", width)),
  ];
  const code = shaderSource({ decls, helpers: helperSource(em.helpers), workgroupSize: WORKGROUP, body });
  return {
    ...base,
    dispatches: [{
      label: spec.label ?? "elementwise",
      code,
      bindings: [...expr.inputs.map((_, k) => ref.input(k)), ...outputs.map((_, j) => ref.output(j))],
      workgroups: grid.workgroups,
    }],
  };
}

/**
 * Emits a load of buffer `buf` into a let named `name`, for an invocation that handles one element (`width` 1) or four
 * consecutive elements of the last axis (`width` 4, `coords` at the first of them); `declWidth` is how `buf` is
 * declared.
 */
export function loadCode(
  n: LoadNode,
  name: string,
  buf: string,
  coords: readonly string[],
  dtype: DType,
  width: 1 | 4,
  declWidth: 1 | 4,
): { lines: string[]; value: string } {
  if (width === 1) return emitViewLoad(n.view, coords, buf, dtype, name);
  const kind = vec4Kind(n.view);
  if (kind === "splat") {
    const r = emitViewLoad(n.view, coords, buf, dtype, name);
    return { lines: r.lines, value: `${regType(dtype, 4)}(${r.value})` };
  }
  if (kind === "direct") {
    const ix = emitViewIndex(n.view, coords, name);
    const lines = [...ix.lines];
    if (declWidth === 4) {
      const raw = `${buf}[${ix.index} / 4u]`;
      lines.push(`let ${name} = ${dtype === "bool" ? `(${raw} != vec4<u32>(0u))` : raw};`);
    } else {
      const el = [0, 1, 2, 3].map((c) => `${buf}[${ix.index} + ${c}u]`);
      const raw = `vec4<${dtype === "bool" ? "u32" : dtype}>(${el.join(", ")})`;
      lines.push(`let ${name} = ${dtype === "bool" ? `(${raw} != vec4<u32>(0u))` : raw};`);
    }
    return { lines, value: name };
  }
  const lines: string[] = [];
  const parts: string[] = [];
  const last = coords.length - 1;
  for (let c = 0; c < 4; c++) {
    const cs = coords.map((x, i) => (i === last ? `(${x} + ${c}u)` : x));
    const r = emitViewLoad(n.view, cs, buf, dtype, `${name}_${c}`);
    lines.push(...r.lines);
    parts.push(r.value);
  }
  lines.push(`let ${name} = ${regType(dtype, 4)}(${parts.join(", ")});`);
  return { lines, value: name };
}
