/**
 * Reductions (sum, max) over arbitrary axes with a fused elementwise prologue (evaluated per element of the reduced
 * domain) and epilogue (evaluated per output, with the reduced value as `acc`).
 *
 * The domain is first rewritten onto a short canonical shape ordered by the heaviest loads' memory layout
 * (reduce_layout.ts); then one of two mappings reads memory coalesced, in vec4s where the innermost axis allows:
 * - column (innermost axis kept, e.g. a bias gradient summing `[M, C]` over M): TC consecutive threads own
 *   consecutive outputs, TR row lanes of the workgroup interleave over the reduced range, accumulating in registers,
 *   and fold through workgroup memory at the end. When the innermost reduced axis is a multiple of 4, each step
 *   handles four of its positions, so loads contiguous along that axis (a channels-first operand beside a
 *   channels-last one) are read as vec4s and transposed in registers instead of element by element;
 * - row (innermost axis reduced, e.g. LayerNorm statistics over C): T threads (a power of two) share one output and
 *   stride over its contiguous run, folding through workgroup memory.
 * When the outputs alone cannot fill the GPU, the reduced range is split across workgroups: partials go to a scratch
 * buffer `[S, O]` (original output order) that a second, column-mapped reduction combines (and applies the
 * epilogue).
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import { exprInputSpecs, inputDeclWidths, loadCode, vec4Kind } from "./elementwise.ts";
import { emitExpr, type Expr, exprDTypes, helperSource, liveLoads } from "./expr.ts";
import { type BufferRef, bytesOf, type KernelDispatch, type KernelProgram, ref, remapBindings } from "./program.ts";
import { alignedAlong, hasConcat, plainStride, type ReduceLayout, reduceLayout } from "./reduce_layout.ts";
import { contiguousView, emitViewIndex, reshapeView } from "./view.ts";
import { bindingDecl, decodeIndex, foldGrid, literal, prod, shaderSource, storeType, u32 } from "./wgsl.ts";

/**
 * A reduction of `expr` over `axes` of the domain `shape`; reduced axes are kept with size 1. An expression with
 * several outputs makes sibling reductions over the same domain (BatchNorm's Σdy and Σdy·x̂) that read their inputs
 * once: one output buffer each, all of the first output's dtype, and no epilogue.
 */
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

/** How hard the generator tries to fill the GPU (tests lower these to reach the split paths on small shapes). */
export interface ReduceTuning {
  /** Threads that keep every SM busy; the reduced range is split across workgroups until this many run. */
  readonly fillThreads: number;
  /** Loop iterations a thread should at least run before the reduced range is split further. */
  readonly minIters: number;
}

/** An H100: 132 SMs × 2048 resident threads; at least 8 iterations per thread. */
export const DEFAULT_REDUCE_TUNING: ReduceTuning = { fillThreads: 132 * 2048, minIters: 8 };
/** Column lanes that read one 128-byte line of vec4s. */
const LINE_LANES = 8;

function pow2Floor(n: number): number {
  return n < 1 ? 1 : 2 ** Math.floor(Math.log2(n));
}

/** Generates a (possibly two-pass) reduction program. */
export function reduceKernel(spec: ReduceSpec, tuning: ReduceTuning = DEFAULT_REDUCE_TUNING): KernelProgram {
  const { shape, op } = spec;
  const rank = shape.length;
  const axes = [...new Set(spec.axes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  if (axes.some((a) => a < 0 || a >= rank)) {
    throw new Error(`reduceKernel: axes [${spec.axes}] out of range for rank ${rank}`);
  }
  const K = spec.expr.outputs.length;
  if (K < 1) throw new Error("reduceKernel: the prologue has no output");
  const inDt = exprDTypes(spec.expr)[spec.expr.outputs[0]];
  if (K > 1 && (spec.epilogue || spec.expr.outputs.some((o) => exprDTypes(spec.expr)[o] !== inDt))) {
    throw new Error("reduceKernel: sibling outputs need one dtype and no epilogue");
  }
  if (op === "sum" && inDt === "bool") throw new Error("reduceKernel: sum of bool; cast to i32 or f32 first");
  const outDt: DType = spec.epilogue ? exprDTypes(spec.epilogue, inDt)[spec.epilogue.outputs[0]] : inDt;
  const O = prod(shape.filter((_, i) => !axes.includes(i)));
  const R = prod(axes.map((i) => shape[i]));
  const ep = spec.epilogue;
  const inputs = [...exprInputSpecs(spec.expr), ...(ep ? exprInputSpecs(ep) : [])];
  const outputs = Array.from({ length: K }, () => ({ dtype: outDt, size: O }));
  const base = { inputs, outputs, flops: 0, bytes: bytesOf(inputs) + bytesOf(outputs) };
  if (O === 0) return { ...base, scratch: [], dispatches: [] };
  const label = spec.label ?? `reduce_${op}`;
  const nIn = spec.expr.inputs.length;
  const job: Job = { op, inDt, outDt, nIn, label, tuning, K };
  if (R === 0) {
    // Nothing to reduce: every output is the identity (through the epilogue); the prologue is never evaluated.
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const none: Expr = { inputs: spec.expr.inputs, nodes: [], outputs: [] };
    const d = pass(job, reduceLayout(outShape, [], none, ep), false, true);
    return { ...base, scratch: [], dispatches: d.dispatches };
  }

  const layout = reduceLayout(shape, axes, spec.expr, ep);
  const first = pass(job, layout, true, false);
  if (first.S === 1) return { ...base, scratch: [], dispatches: first.dispatches };

  // Second pass: a column reduction of each output's partials [S, O] over S, with the epilogue.
  const accDt: DType = inDt === "bool" ? "u32" : inDt;
  const partView = contiguousView([first.S, O]);
  const partExpr: Expr = inDt === "bool"
    ? {
      inputs: ["u32"],
      nodes: [{ op: "load", input: 0, view: partView }, { op: "const", value: 0, dtype: "u32" }, {
        op: "ne",
        args: [0, 1],
      }],
      outputs: [2],
    }
    : { inputs: [accDt], nodes: [{ op: "load", input: 0, view: partView }], outputs: [0] };
  const lifted = ep && {
    ...ep,
    nodes: ep.nodes.map((n) => (n.op === "load" ? { ...n, view: reshapeView(n.view, [1, O]) } : n)),
  };
  const second = pass(
    { ...job, nIn: 1, label: `${label}_combine`, K: 1 },
    reduceLayout([first.S, O], [0], partExpr, lifted),
    false,
    false,
  );
  const combines = Array.from({ length: K }, (_, k) =>
    remapBindings(second.dispatches, (r): BufferRef => {
      if (r.kind === "output") return { kind: "output", index: k };
      if (r.kind !== "input") return r;
      return r.index === 0 ? { kind: "scratch", index: k } : { kind: "input", index: nIn + r.index - 1 };
    }));
  return {
    ...base,
    scratch: Array.from({ length: K }, () => ({ dtype: accDt, size: first.S * O })),
    dispatches: [...first.dispatches, ...combines.flat()],
  };
}

interface Job {
  readonly op: "sum" | "max";
  /** Dtype of the prologue's value (bool accumulates as u32). */
  readonly inDt: DType;
  readonly outDt: DType;
  /** Inputs of the prologue (the epilogue's bind after them). */
  readonly nIn: number;
  readonly label: string;
  readonly tuning: ReduceTuning;
  /** Sibling outputs (each its own accumulator, output buffer and, when split, scratch buffer). */
  readonly K: number;
}

/**
 * One dispatch reducing `lay` (split into S partials when `allowSplit` and the outputs cannot fill the GPU). Bindings:
 * prologue inputs, epilogue inputs, then the output, or, when split, the prologue inputs then scratch 0.
 */
function pass(
  job: Job,
  lay: ReduceLayout,
  allowSplit: boolean,
  empty: boolean,
): { dispatches: KernelDispatch[]; S: number } {
  const { op, inDt, outDt, nIn, K } = job;
  const ks = Array.from({ length: K }, (_, k) => k);
  const { fillThreads, minIters } = job.tuning;
  const cshape = lay.shape;
  const rank = cshape.length;
  const keptAx = cshape.map((_, i) => i).filter((i) => !lay.reduced[i]);
  const redAx = cshape.map((_, i) => i).filter((i) => lay.reduced[i]);
  const keptShape = keptAx.map((a) => cshape[a]);
  const redShape = redAx.map((a) => cshape[a]);
  const O = prod(keptShape);
  const R = empty ? 0 : prod(redShape);
  const ep = lay.epilogue;
  const nEp = ep ? ep.inputs.length : 0;
  const scalarOnly = hasConcat(lay.expr) || hasConcat(ep);
  const column = lay.mode === "column" || empty;
  const X = rank - 1;
  const Y = redAx.length ? redAx[redAx.length - 1] : -1;
  const w: 1 | 4 = !scalarOnly && cshape[X] % 4 === 0 ? 4 : 1;
  const Q = column && !scalarOnly && Y >= 0 && cshape[Y] % 4 === 0 ? 4 : 1;

  const accT = storeType(inDt);
  const vt = (n: 1 | 4) => (n === 4 ? `vec4<${accT}>` : accT);
  const idScalar = op === "sum" ? literal(0, inDt === "bool" ? "u32" : inDt) : minValue(inDt);
  const identity = (n: 1 | 4) => (n === 4 ? `${vt(4)}(${idScalar})` : idScalar);
  const combine = (a: string, b: string) => (op === "sum" ? `${a} + ${b}` : `max(${a}, ${b})`);
  const toAcc = (v: string, n: 1 | 4) =>
    inDt === "bool" ? (n === 4 ? `select(vec4<u32>(0u), vec4<u32>(1u), ${v})` : `select(0u, 1u, ${v})`) : v;
  const fromAcc = (
    v: string,
    n: 1 | 4,
  ) => (inDt === "bool" ? (n === 4 ? `(${v} != vec4<u32>(0u))` : `(${v} != 0u)`) : v);
  const collapse = (v: string) =>
    op === "sum" ? `(${v}.x + ${v}.y) + (${v}.z + ${v}.w)` : `max(max(${v}.x, ${v}.y), max(${v}.z, ${v}.w))`;

  // Thread mapping and split.
  let TC = 1, TR = 1, T = 1, G = 1, S = 1, chunk = 0, blocks: number, wgSize: number;
  if (column) {
    const Ov = O / w;
    const Ru = R / Q;
    const minTC = Math.min(Ov, LINE_LANES);
    TR = Math.max(1, Math.min(Math.ceil(fillThreads / Ov), Math.floor(256 / minTC), Math.floor(Ru / 4)));
    TC = Math.min(Ov, Math.floor(256 / TR));
    if (TC > LINE_LANES && TC < Ov) TC = Math.floor(TC / LINE_LANES) * LINE_LANES;
    blocks = Math.ceil(Ov / TC);
    wgSize = TC * TR;
    if (allowSplit && blocks * wgSize < fillThreads) {
      S = Math.max(1, Math.min(Math.ceil(fillThreads / (blocks * wgSize)), Math.floor(Ru / (TR * minIters))));
      if (S >= 8) S = Math.ceil(S / 4) * 4;
    }
    chunk = Math.ceil(Ru / S);
  } else {
    const Rv = R / w;
    T = Math.min(256, pow2Floor(Rv / 4));
    G = Math.max(1, Math.min(Math.floor(256 / T), O));
    blocks = Math.ceil(O / G);
    wgSize = T * G;
    if (allowSplit && blocks * wgSize < fillThreads) {
      S = Math.max(1, Math.min(Math.ceil(fillThreads / (blocks * wgSize)), Math.floor(Rv / (T * minIters))));
      if (S >= 8) S = Math.ceil(S / 4) * 4;
    }
    chunk = Math.ceil(Rv / S);
  }
  const split = S > 1;

  // Coordinates of the canonical domain: kept ones from `o`, reduced ones from `r`.
  const body: string[] = [];
  const helpers = new Set<string>();
  const keptCoords = (flat: string): string[] => {
    const cs = decodeIndex(flat, keptShape);
    return cs.map((c, j) => {
      if (c === "0u" || c === flat) return c;
      body.push(`let k${j} = ${c};`);
      return `k${j}`;
    });
  };
  const origCoord = (coords: readonly string[]) => (axis: number): string => {
    const m = lay.original[axis];
    if (m.mod === 1) return "0u";
    return `((${coords[m.axis]} / ${u32(m.div)}) % ${u32(m.mod)})`;
  };

  // Output side: epilogue and store of the value `a` (width n) at canonical output coordinates.
  const outWidth: 1 | 4 = column ? w : 1;
  const outVec = outWidth === 4 && vec4Kind(lay.outView) === "direct";
  const epWidths = ep ? inputDeclWidths(ep, outWidth) : [];
  const outIndex = (oc: readonly string[], name: string, lines: string[]) => {
    const ix = emitViewIndex(lay.outView, oc, name);
    lines.push(...ix.lines);
    return ix.index;
  };
  let nIdx = 0;
  const componentCoords = (oc: readonly string[], i: number) =>
    oc.map((x, k) => (k === X && i > 0 ? `(${x} + ${u32(i)})` : x));
  const storeAt = (oc: readonly string[], a: string, n: 1 | 4, k: number): string[] => {
    const lines: string[] = [];
    if (split) {
      const at = (c: readonly string[]) => `${u32(O)} * s + ${outIndex(c, `pi${nIdx++}`, lines)}`;
      if (n === 4 && outVec) lines.push(`part${k}[(${at(oc)}) / 4u] = ${a};`);
      else if (n === 4) {
        ["x", "y", "z", "w"].forEach((cmp, i) => lines.push(`part${k}[${at(componentCoords(oc, i))}] = ${a}.${cmp};`));
      } else lines.push(`part${k}[${at(oc)}] = ${a};`);
      return lines;
    }
    let v: string;
    if (ep) {
      lines.push(`let accv = ${fromAcc(a, n)};`);
      const em = emitExpr(ep, {
        width: n,
        prefix: "q",
        acc: "accv",
        accDType: inDt,
        load: (ln, id) => loadCode(ln, `m${id}`, `ep${ln.input}`, oc, ep.inputs[ln.input], n, epWidths[ln.input]),
        coord: origCoord(oc),
      });
      for (const h of em.helpers) helpers.add(h);
      lines.push(...em.lines);
      v = em.values[0];
    } else v = inDt === "bool" ? (n === 4 ? `min(${a}, vec4<u32>(1u))` : `min(${a}, 1u)`) : a;
    if (outDt === "bool" && ep) v = n === 4 ? `select(vec4<u32>(0u), vec4<u32>(1u), ${v})` : `select(0u, 1u, ${v})`;
    if (n === 4 && outVec) lines.push(`out${k}[${outIndex(oc, `oi${nIdx++}`, lines)} / 4u] = ${v};`);
    else if (n === 4) {
      lines.push(`let ov4_${k} = ${v};`);
      ["x", "y", "z", "w"].forEach((cmp, i) => {
        lines.push(`out${k}[${outIndex(componentCoords(oc, i), `oi${nIdx++}`, lines)}] = ov4_${k}.${cmp};`);
      });
    } else lines.push(`out${k}[${outIndex(oc, `oi${nIdx++}`, lines)}] = ${v};`);
    return lines;
  };

  // Prologue evaluation: loads of one step (Q positions along Y) and the accumulation.
  const loads = liveLoads(lay.expr);
  type Kind = "inv" | "x" | "y" | "const" | "each";
  const kinds = new Map<number, Kind>();
  for (const n of lay.expr.nodes) {
    if (n.op !== "load" || !loads.includes(n)) continue;
    const idx = lay.expr.nodes.indexOf(n);
    let k: Kind = "each";
    // Loads that broadcast over every reduced axis (a per-channel weight in a column sum) are read once per thread.
    if (!scalarOnly && redAx.every((a) => plainStride(n.view, a) === 0)) k = "inv";
    else if (column && Q === 4) {
      const sx = plainStride(n.view, X), sy = plainStride(n.view, Y);
      if (w === 4 && vec4Kind(n.view) === "direct") k = "x";
      else if (sy === 1 && sx !== 1) k = "y";
      else if (sy === 0 && sx !== null) k = "const";
    }
    kinds.set(idx, k);
  }
  const inWidths: (1 | 4)[] = column && Q === 4
    ? lay.expr.inputs.map((_, input) => {
      const mine = lay.expr.nodes.map((n, i) => [n, i] as const).filter(([n, i]) =>
        n.op === "load" && n.input === input && kinds.has(i)
      );
      const ok = mine.length > 0 && mine.every(([n, i]) =>
        n.op === "load" &&
        ((kinds.get(i) === "x") || (kinds.get(i) === "inv" && w === 4 && vec4Kind(n.view) === "direct") ||
          (kinds.get(i) === "y" && alignedAlong(n.view, Y)))
      );
      return ok ? 4 : 1;
    })
    : inputDeclWidths(lay.expr, w);
  const accumulate = (coords: string[], yCoord: string | null, hoist: string[]): string[] => {
    const lines: string[] = [];
    const invCoords = coords.map((c, a) => (lay.reduced[a] ? "0u" : c));
    const shared = new Map<number, string>();
    const tiles = new Map<number, string[]>();
    for (let j = 0; j < Q; j++) {
      const cj = coords.map((c, a) => (a === Y && j > 0 ? `(${yCoord} + ${u32(j)})` : c));
      const em = emitExpr(lay.expr, {
        width: w,
        prefix: `p${j}_`,
        coord: origCoord(cj),
        load: (n, id) => {
          const dt = lay.expr.inputs[n.input];
          const buf = `in${n.input}`;
          const kind = kinds.get(id) ?? "each";
          if (kind === "inv") {
            if (!shared.has(id)) {
              const r = loadCode(n, `h${id}`, buf, invCoords, dt, w, inWidths[n.input]);
              hoist.push(...r.lines);
              shared.set(id, r.value);
            }
            return { lines: [], value: shared.get(id)! };
          }
          if (kind === "const") {
            if (!shared.has(id)) {
              const r = loadCode(n, `c${id}`, buf, coords, dt, w, inWidths[n.input]);
              lines.push(...r.lines);
              shared.set(id, r.value);
            }
            return { lines: [], value: shared.get(id)! };
          }
          if (kind === "y") {
            if (!tiles.has(id)) {
              const cols = plainStride(n.view, X) === 0 ? 1 : w;
              const st = storeType(dt, 4);
              const names: string[] = [];
              for (let i = 0; i < cols; i++) {
                const ci = coords.map((c, a) => (a === X && i > 0 ? `(${c} + ${u32(i)})` : c));
                const ix = emitViewIndex(n.view, ci, `t${id}_${i}`);
                lines.push(...ix.lines);
                const raw = inWidths[n.input] === 4
                  ? `${buf}[${ix.index} / 4u]`
                  : `${st}(${[0, 1, 2, 3].map((e) => `${buf}[${ix.index}${e ? ` + ${e}u` : ""}]`).join(", ")})`;
                lines.push(`let t${id}_${i} = ${raw};`);
                names.push(`t${id}_${i}`);
              }
              tiles.set(id, names);
            }
            const names = tiles.get(id)!;
            const cmp = ["x", "y", "z", "w"][j];
            const st = storeType(dt);
            let v = w === 4
              ? `vec4<${st}>(${(names.length === 1 ? [0, 0, 0, 0] : [0, 1, 2, 3]).map((i) => `${names[i]}.${cmp}`)})`
              : `${names[0]}.${cmp}`;
            if (dt === "bool") v = w === 4 ? `(${v} != vec4<u32>(0u))` : `(${v} != 0u)`;
            return { lines: [], value: v };
          }
          return loadCode(n, `l${j}_${id}`, buf, cj, dt, w, inWidths[n.input]);
        },
      });
      for (const h of em.helpers) helpers.add(h);
      lines.push(...em.lines, ...ks.map((k) => `acc${k} = ${combine(`acc${k}`, toAcc(em.values[k], w))};`));
    }
    return lines;
  };

  const grid = foldGrid(blocks * S);
  if (grid.guard) body.push(grid.guard);
  body.push(`let wid = ${grid.flatId};`, `let s = wid / ${u32(blocks)};`);
  const decls = lay.expr.inputs.map((dt, k) => bindingDecl(k, `in${k}`, dt, "read", inWidths[k]));
  let workgroupDecl: string;
  if (column) {
    const Ru = R / Q;
    body.push(
      `let tc = lid % ${u32(TC)};`,
      `let tr = lid / ${u32(TC)};`,
      `let ov = (wid % ${u32(blocks)}) * ${u32(TC)} + tc;`,
      `let live = ov < ${u32(O / w)};`,
      `let o = ov * ${u32(w)};`,
    );
    const kc = keptCoords("o");
    const coords: string[] = new Array(rank);
    keptAx.forEach((a, j) => (coords[a] = kc[j]));
    body.push(...ks.map((k) => `var acc${k} = ${identity(w)};`));
    if (Ru > 0) {
      const inner: string[] = [`let r = u * ${u32(Q)};`];
      const rc = decodeIndex("r", redShape);
      redAx.forEach((a, j) => {
        if (rc[j] === "0u" || rc[j] === "r") coords[a] = rc[j];
        else {
          inner.push(`let rc${j} = ${rc[j]};`);
          coords[a] = `rc${j}`;
        }
      });
      const hoist: string[] = [];
      inner.push(...accumulate(coords, Y >= 0 ? coords[Y] : null, hoist));
      body.push(
        "if (live) {",
        ...hoist.map((l) => "  " + l),
        `  let u1 = min(s * ${u32(chunk)} + ${u32(chunk)}, ${u32(Ru)});`,
        `  for (var u = s * ${u32(chunk)} + tr; u < u1; u += ${u32(TR)}) {`,
        ...inner.map((l) => "    " + l),
        "  }",
        "}",
      );
    }
    workgroupDecl = `var<workgroup> red: array<${vt(w)}, ${wgSize}>;`;
    if (TR > 1) {
      // One workgroup array folds each sibling in turn.
      for (const k of ks) {
        if (k > 0) body.push("workgroupBarrier();");
        body.push(`red[lid] = acc${k};`, "workgroupBarrier();");
        for (let st = pow2Floor(TR - 1); st >= 1; st /= 2) {
          body.push(`if (tr < ${u32(st)} && tr + ${u32(st)} < ${u32(TR)}) {`);
          body.push(`  red[lid] = ${combine("red[lid]", `red[lid + ${u32(st * TC)}]`)};`);
          body.push("}", "workgroupBarrier();");
        }
        body.push(`acc${k} = red[lid];`);
      }
    }
    const oc = lay.outShape.map((_, a) => (lay.reduced[a] ? "0u" : coords[a]));
    body.push("if (tr == 0u && live) {", ...ks.flatMap((k) => storeAt(oc, `acc${k}`, w, k)).map((l) => "  " + l), "}");
  } else {
    const Rv = R / w;
    body.push(
      `let t = lid % ${u32(T)};`,
      `let o = (wid % ${u32(blocks)}) * ${u32(G)} + lid / ${u32(T)};`,
      `let live = o < ${u32(O)};`,
    );
    const kc = keptCoords("o");
    const coords: string[] = new Array(rank);
    keptAx.forEach((a, j) => (coords[a] = kc[j]));
    body.push(...ks.map((k) => `var acc${k} = ${identity(w)};`));
    const inner: string[] = [`let r = v * ${u32(w)};`];
    const rc = decodeIndex("r", redShape);
    redAx.forEach((a, j) => {
      if (rc[j] === "0u" || rc[j] === "r") coords[a] = rc[j];
      else {
        inner.push(`let rc${j} = ${rc[j]};`);
        coords[a] = `rc${j}`;
      }
    });
    const hoist: string[] = [];
    inner.push(...accumulate(coords, null, hoist));
    body.push(
      "if (live) {",
      ...hoist.map((l) => "  " + l),
      `  let v1 = min(s * ${u32(chunk)} + ${u32(chunk)}, ${u32(Rv)});`,
      `  for (var v = s * ${u32(chunk)} + t; v < v1; v += ${u32(T)}) {`,
      ...inner.map((l) => "    " + l),
      "  }",
      "}",
    );
    body.push(...ks.map((k) => `var a${k} = ${w === 4 ? collapse(`acc${k}`) : `acc${k}`};`));
    workgroupDecl = `var<workgroup> red: array<${accT}, ${wgSize}>;`;
    if (T > 1) {
      for (const k of ks) {
        if (k > 0) body.push("workgroupBarrier();");
        body.push(`red[lid] = a${k};`, "workgroupBarrier();");
        for (let st = T / 2; st >= 1; st /= 2) {
          body.push(`if (t < ${u32(st)}) { red[lid] = ${combine("red[lid]", `red[lid + ${u32(st)}]`)}; }`);
          body.push("workgroupBarrier();");
        }
        body.push(`a${k} = red[lid];`);
      }
    }
    const oc = lay.outShape.map((_, a) => (lay.reduced[a] ? "0u" : coords[a]));
    body.push("if (t == 0u && live) {", ...ks.flatMap((k) => storeAt(oc, `a${k}`, 1, k)).map((l) => "  " + l), "}");
  }
  if (wgSize > 1 && (column ? TR > 1 : T > 1)) decls.push(workgroupDecl);
  const bindings = lay.expr.inputs.map((_, k) => ref.input(k));
  if (split) {
    for (const k of ks) {
      decls.push(`@group(0) @binding(${nIn + k}) var<storage, read_write> part${k}: array<${outVec ? vt(4) : accT}>;`);
      bindings.push(ref.scratch(k, true));
    }
  } else {
    if (ep) ep.inputs.forEach((dt, k) => decls.push(bindingDecl(nIn + k, `ep${k}`, dt, "read", epWidths[k])));
    for (const k of ks) decls.push(bindingDecl(nIn + nEp + k, `out${k}`, outDt, "read_write", outVec ? 4 : 1));
    bindings.push(...Array.from({ length: nEp }, (_, k) => ref.input(nIn + k)), ...ks.map((k) => ref.output(k)));
  }
  const code = shaderSource({ decls, helpers: helperSource(helpers), workgroupSize: wgSize, body });
  const dispatch: KernelDispatch = {
    label: split ? `${job.label}_partial` : job.label,
    code,
    bindings,
    workgroups: grid.workgroups,
  };
  return { dispatches: [dispatch], S };
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
