/**
 * Reductions (sum, max) over arbitrary axes with a fused elementwise prologue (evaluated per element of the reduced
 * domain) and epilogue (evaluated per output, with the reduced value as `acc`).
 *
 * Two layouts, chosen by which axis is innermost in memory-order of the domain:
 * - the innermost non-trivial axis is reduced: groups of T threads (T a power of two ≤ 256) stride over one output's
 *   elements, then combine through a workgroup-memory tree;
 * - the innermost axis is kept: one thread per output walks its elements, so neighbouring threads read neighbouring
 *   addresses.
 * When there are too few outputs to fill the GPU the reduced range is split; partial results go to a scratch buffer and
 * a second dispatch combines them (and applies the epilogue).
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import { exprInputSpecs } from "./elementwise.ts";
import { emitExpr, type Expr, exprDTypes, helperSource } from "./expr.ts";
import { bytesOf, type KernelDispatch, type KernelProgram, ref } from "./program.ts";
import { emitViewLoad } from "./view.ts";
import { bindingDecl, decodeIndex, foldGrid, literal, prod, shaderSource, storeType, u32 } from "./wgsl.ts";

/** A reduction of `expr` (one output) over `axes` of the domain `shape`; reduced axes are kept with size 1. */
export interface ReduceSpec {
  /** Shape of the reduced domain. */
  readonly shape: readonly number[];
  /** Axes to reduce (negative counts from the end). */
  readonly axes: readonly number[];
  /** Combining operation. */
  readonly op: "sum" | "max";
  /** Evaluated at each domain element; loads see domain coordinates. */
  readonly expr: Expr;
  /** Optional, one output: `acc` is the reduced value; loads see output coordinates. Its inputs bind after `expr`'s. */
  readonly epilogue?: Expr;
  /** Label for the pipeline (profiling). */
  readonly label?: string;
}

/** Target workgroup counts below which the reduced range is split across workgroups. */
const FILL_WORKGROUPS = 1024;
const FILL_THREADS = 32768;

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** Generates a (possibly two-pass) reduction program. */
export function reduceKernel(spec: ReduceSpec): KernelProgram {
  const { shape, op } = spec;
  const rank = shape.length;
  const axes = [...new Set(spec.axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (axes.some((a) => a < 0 || a >= rank)) {
    throw new Error(`reduceKernel: axes [${spec.axes}] out of range for rank ${rank}`);
  }
  const inDt = exprDTypes(spec.expr)[spec.expr.outputs[0]];
  if (spec.expr.outputs.length !== 1) throw new Error("reduceKernel: the prologue must have exactly one output");
  if (op === "sum" && inDt === "bool") throw new Error("reduceKernel: sum of bool; cast to i32 or f32 first");
  const accT = storeType(inDt); // bool accumulates as u32 (max = any)
  const outDt: DType = spec.epilogue ? exprDTypes(spec.epilogue, inDt)[spec.epilogue.outputs[0]] : inDt;
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => shape[i]);
  const redShape = axes.map((i) => shape[i]);
  const O = prod(keptShape);
  const R = prod(redShape);
  const ep = spec.epilogue;
  const inputs = [...exprInputSpecs(spec.expr), ...(ep ? exprInputSpecs(ep) : [])];
  const outputs = [{ dtype: outDt, size: O }];
  const base = { inputs, outputs, flops: 0, bytes: bytesOf(inputs) + bytesOf(outputs) };
  if (O === 0) return { ...base, scratch: [], dispatches: [] };

  const identity = op === "sum" ? literal(0, inDt === "bool" ? "u32" : inDt) : minValue(inDt);
  const combine = (a: string, b: string) => (op === "sum" ? `${a} + ${b}` : `max(${a}, ${b})`);
  const toAcc = (v: string) => (inDt === "bool" ? `select(0u, 1u, ${v})` : v);
  const fromAcc = (v: string) => (inDt === "bool" ? `(${v} != 0u)` : v);
  const innermost = [...shape.keys()].filter((i) => shape[i] > 1).pop();
  const tree = innermost !== undefined && axes.includes(innermost);
  const nIn = spec.expr.inputs.length;
  const nEp = ep ? ep.inputs.length : 0;

  // Layout and split.
  let T = 1, G = 1, S = 1;
  if (tree) {
    T = Math.min(256, Math.max(32, nextPow2(Math.ceil(R / 4))));
    G = 256 / T;
    const baseWg = Math.ceil(O / G);
    if (baseWg < FILL_WORKGROUPS) {
      S = Math.max(1, Math.min(Math.ceil(FILL_WORKGROUPS / baseWg), Math.floor(R / (T * 16))));
    }
  } else if (O < FILL_THREADS) S = Math.max(1, Math.min(Math.ceil(FILL_THREADS / O), Math.floor(R / 128)));
  const chunk = Math.max(1, Math.ceil(R / S));
  S = Math.max(1, Math.ceil(R / chunk));
  const split = S > 1;

  // Statements computing `acc` over r in [r0, r1) stepping `step`, for output `o`.
  const accumulate = (step: string): string[] => {
    if (R === 0) return [];
    const oc = decodeIndex("o", keptShape);
    const coords: string[] = new Array(rank);
    kept.forEach((ax, j) => (coords[ax] = oc[j]));
    const rc = decodeIndex("r", redShape);
    axes.forEach((ax, j) => (coords[ax] = rc[j]));
    const em = emitExpr(spec.expr, {
      width: 1,
      prefix: "p",
      load: (n, id) => emitViewLoad(n.view, coords, `in${n.input}`, spec.expr.inputs[n.input], `l${id}`),
      coord: (a) => coords[a],
    });
    helpers = em.helpers;
    return [
      `for (var r = r0; r < r1; r += ${step}) {`,
      ...em.lines.map((l) => "  " + l),
      `  acc = ${combine("acc", toAcc(em.values[0]))};`,
      "}",
    ];
  };
  let helpers = new Set<string>();
  // Statements writing the final value of output `o` from accumulator expression `a`.
  const finish = (a: string): string[] => {
    if (!ep) return [`out0[o] = ${inDt === "bool" ? `min(${a}, 1u)` : a};`];
    const oc = decodeIndex("o", outShape);
    const em = emitExpr(ep, {
      width: 1,
      prefix: "q",
      acc: "accv",
      accDType: inDt,
      load: (n, id) => emitViewLoad(n.view, oc, `ep${n.input}`, ep.inputs[n.input], `m${id}`),
      coord: (x) => oc[x],
    });
    for (const h of em.helpers) helpers.add(h);
    const v = em.values[0];
    return [`let accv = ${fromAcc(a)};`, ...em.lines, `out0[o] = ${outDt === "bool" ? `select(0u, 1u, ${v})` : v};`];
  };

  const inDecls = spec.expr.inputs.map((dt, k) => bindingDecl(k, `in${k}`, dt, "read"));
  const epDecls = (first: number) => (ep ? ep.inputs.map((dt, k) => bindingDecl(first + k, `ep${k}`, dt, "read")) : []);
  const inRefs = spec.expr.inputs.map((_, k) => ref.input(k));
  const epRefs = ep ? ep.inputs.map((_, k) => ref.input(nIn + k)) : [];
  const dispatches: KernelDispatch[] = [];
  const label = spec.label ?? `reduce_${op}`;

  // Pass 1.
  {
    const body: string[] = [];
    const decls = [...inDecls];
    let grid;
    if (tree) {
      const baseWg = Math.ceil(O / G);
      grid = foldGrid(baseWg * S);
      decls.push(`var<workgroup> red: array<${accT}, 256>;`);
      if (grid.guard) body.push(grid.guard);
      body.push(
        `let wid = ${grid.flatId};`,
        `let o = (wid % ${u32(baseWg)}) * ${u32(G)} + lid / ${u32(T)};`,
        `let t = lid % ${u32(T)};`,
        `let r0 = (wid / ${u32(baseWg)}) * ${u32(chunk)} + t;`,
        `let r1 = min((wid / ${u32(baseWg)}) * ${u32(chunk)} + ${u32(chunk)}, ${u32(R)});`,
        `var acc = ${identity};`,
        `if (o < ${u32(O)}) {`,
        ...accumulate(u32(T)).map((l) => "  " + l),
        "}",
        "red[lid] = acc;",
        "workgroupBarrier();",
      );
      for (let s = T / 2; s >= 1; s /= 2) {
        body.push(`if (t < ${u32(s)}) { red[lid] = ${combine("red[lid]", `red[lid + ${u32(s)}]`)}; }`);
        body.push("workgroupBarrier();");
      }
      body.push(`if (t == 0u && o < ${u32(O)}) {`);
      if (split) body.push(`  part[(wid / ${u32(baseWg)}) * ${u32(O)} + o] = red[lid];`);
      else body.push(...finish("red[lid]").map((l) => "  " + l));
      body.push("}");
    } else {
      grid = foldGrid(Math.ceil((O * S) / 256));
      if (grid.guard) body.push(grid.guard);
      body.push(
        `let gid = ${grid.flatId} * 256u + lid;`,
        `if (gid >= ${u32(O * S)}) { return; }`,
        `let o = gid % ${u32(O)};`,
        `let r0 = (gid / ${u32(O)}) * ${u32(chunk)};`,
        `let r1 = min(r0 + ${u32(chunk)}, ${u32(R)});`,
        `var acc = ${identity};`,
        ...accumulate("1u"),
      );
      if (split) body.push(`part[(gid / ${u32(O)}) * ${u32(O)} + o] = acc;`);
      else body.push(...finish("acc"));
    }
    const bindings = [...inRefs];
    if (split) {
      decls.push(`@group(0) @binding(${nIn}) var<storage, read_write> part: array<${accT}>;`);
      bindings.push(ref.scratch(0, true));
    } else {
      decls.push(...epDecls(nIn), bindingDecl(nIn + nEp, "out0", outDt, "read_write"));
      bindings.push(...epRefs, ref.output(0));
    }
    const code = shaderSource({ decls, helpers: helperSource(helpers), workgroupSize: 256, body });
    dispatches.push({ label: split ? `${label}_partial` : label, code, bindings, workgroups: grid.workgroups });
  }

  // Pass 2: combine the S partials of each output.
  if (split) {
    helpers = new Set();
    const grid = foldGrid(Math.ceil(O / 256));
    const body = [
      ...(grid.guard ? [grid.guard] : []),
      `let o = ${grid.flatId} * 256u + lid;`,
      `if (o >= ${u32(O)}) { return; }`,
      `var acc = ${identity};`,
      `for (var s = 0u; s < ${u32(S)}; s++) { acc = ${combine("acc", `part[s * ${u32(O)} + o]`)}; }`,
      ...finish("acc"),
    ];
    const decls = [
      `@group(0) @binding(0) var<storage, read> part: array<${accT}>;`,
      ...epDecls(1),
      bindingDecl(1 + nEp, "out0", outDt, "read_write"),
    ];
    const code = shaderSource({ decls, helpers: helperSource(helpers), workgroupSize: 256, body });
    dispatches.push({
      label: `${label}_combine`,
      code,
      bindings: [ref.scratch(0, false), ...epRefs, ref.output(0)],
      workgroups: grid.workgroups,
    });
  }
  return { ...base, scratch: split ? [{ dtype: inDt === "bool" ? "u32" : inDt, size: S * O }] : [], dispatches };
}

function minValue(dt: DType): string {
  switch (dt) {
    case "f32":
      return literal(-Infinity, "f32");
    case "i32":
      return literal(-2147483648, "i32");
    default:
      return "0u";
  }
}
