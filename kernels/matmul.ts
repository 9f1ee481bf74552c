/**
 * Batched matmul `[...B, M, K] @ [...B, K, N] → [...B, M, N]` on the tiled GEMM core, with operands optionally
 * stored transposed or broadcast over the batch (so VJPs and `linear` need no transpose/broadcast copies) and an
 * optional fused elementwise epilogue (bias, activation, scaling) applied before the store.
 *
 * @module
 */
import { exprInputSpecs, inputDeclWidths, loadCode } from "./elementwise.ts";
import { emitExpr, type Expr, exprDTypes, helperSource } from "./expr.ts";
import {
  chooseGemm,
  gemmCode,
  type GemmOperand,
  type GemmTiles,
  gemmWorkgroups,
  tilesForB,
  usableSplit,
} from "./gemm.ts";
import { type BufferSpec, bytesOf, type KernelDispatch, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, decodeIndex, foldGrid, prod, shaderSource, u32 } from "./wgsl.ts";

/** Memory layout of one matmul operand. */
export interface MatmulOperandLayout {
  /** A stored as `[K, M]` / B stored as `[N, K]` (e.g. a PyTorch `[out, in]` weight) instead of `[M, K]` / `[K, N]`. */
  readonly transposed?: boolean;
  /** Elements between consecutive batch matrices; 0 reuses one matrix for the whole batch. Default: one matrix. */
  readonly batchStride?: number;
  /** Element offset of the first matrix. Default 0. */
  readonly offset?: number;
}

/** A batched matmul, optionally with an epilogue. */
export interface MatmulSpec {
  /** Batch dimensions of the output (the operands are flattened over them via `batchStride`). */
  readonly batchShape: readonly number[];
  /** Rows of A and of the output. */
  readonly M: number;
  /** Columns of B and of the output. */
  readonly N: number;
  /** Contraction length. */
  readonly K: number;
  /** Element type (f32 default). */
  readonly dtype?: "f32" | "i32" | "u32";
  /** Layout of A (row-major, one matrix per batch element, by default). */
  readonly a?: MatmulOperandLayout;
  /** Layout of B (row-major, one matrix per batch element, by default). */
  readonly b?: MatmulOperandLayout;
  /** One output; `acc` is the product; loads see output coordinates `[...batchShape, M, N]`; inputs bind after a, b. */
  readonly epilogue?: Expr;
  /** Override the tile choice (benchmarks, tests). */
  readonly tiles?: GemmTiles;
  /** Override the K split. */
  readonly splitK?: number;
  /** Label for the pipeline (profiling). */
  readonly label?: string;
}

/** Generates a matmul program. */
export function matmulKernel(spec: MatmulSpec): KernelProgram {
  const { M, N, K } = spec;
  const dtype = spec.dtype ?? "f32";
  const batch = prod(spec.batchShape);
  const la = { transposed: false, batchStride: M * K, offset: 0, ...spec.a };
  const lb = { transposed: false, batchStride: K * N, offset: 0, ...spec.b };
  const extent = (l: typeof la, size: number) => l.offset + (batch - 1) * l.batchStride + size;
  const ep = spec.epilogue;
  const outDt = ep ? exprDTypes(ep, dtype)[ep.outputs[0]] : dtype;
  const outShape = [...spec.batchShape, M, N];
  const inputs: BufferSpec[] = [
    { dtype, size: batch ? extent(la, M * K) : 0 },
    { dtype, size: batch ? extent(lb, K * N) : 0 },
    ...(ep ? exprInputSpecs(ep) : []),
  ];
  const outputs = [{ dtype: outDt, size: batch * M * N }];
  const base = { inputs, outputs, flops: 2 * batch * M * N * K, bytes: bytesOf(inputs) + bytesOf(outputs) };
  if (batch * M * N === 0) return { ...base, scratch: [], dispatches: [] };

  const choice = chooseGemm(batch, M, N, K);
  const tiles = spec.tiles ?? tilesForB(choice.tiles, lb.transposed ? "k" : "mn");
  const splitK = usableSplit(K, spec.splitK ?? (spec.tiles ? 1 : choice.splitK), tiles.BK);
  const split = splitK > 1;

  const operand = (name: string, l: typeof la, rows: number, trans: boolean): { op: GemmOperand; vec: boolean } => {
    // A: element (m, k) at m·K + k, or k·M + m when transposed. B: (n, k) at k·N + n, or n·K + k when transposed.
    const isA = name === "a";
    const idx = (b: string, i: string, k: string) => {
      const inner = isA !== trans ? `${i} * ${u32(K)} + ${k}` : `${k} * ${u32(rows)} + ${i}`;
      const bterm = l.batchStride === 0 ? "" : `${b} * ${u32(l.batchStride)} + `;
      return `${bterm}${inner}${l.offset ? ` + ${u32(l.offset)}` : ""}`;
    };
    const contiguous = isA !== trans ? "k" : "mn";
    const vec = l.offset % 4 === 0 && l.batchStride % 4 === 0 && (contiguous === "k" ? K % 4 === 0 : rows % 4 === 0);
    return {
      op: {
        contiguous,
        element: (b, i, k) => `${name}[${idx(b, i, k)}]`,
        vec4: vec ? (b, i, k) => `${name}[(${idx(b, i, k)}) / 4u]` : undefined,
      },
      vec,
    };
  };
  const A = operand("a", la, M, la.transposed);
  const B = operand("b", lb, N, lb.transposed);
  const inputDecls = [
    bindingDecl(0, "a", dtype, "read", A.vec ? 4 : 1),
    bindingDecl(1, "b", dtype, "read", B.vec ? 4 : 1),
  ];
  const storeWidth: 1 | 4 = N % 4 === 0 ? 4 : 1;
  const epWidths = ep ? inputDeclWidths(ep, storeWidth) : [];
  let epCount = 0;
  const helpers = new Set<string>();
  const store = (b: string, row: string, col: string, v: string, width: 1 | 4): string[] => {
    const flat = `(${b} * ${u32(M)} + ${row}) * ${u32(N)} + ${col}`;
    const lines: string[] = [];
    let value = v;
    if (ep) {
      const coords = [...decodeIndex(b, spec.batchShape), row, col];
      const tag = `e${epCount++}_`;
      const em = emitExpr(ep, {
        width,
        prefix: `${tag}v`,
        acc: v,
        accDType: dtype,
        load: (n, id) =>
          loadCode(n, `${tag}l${id}`, `ep${n.input}`, coords, ep.inputs[n.input], width, epWidths[n.input]),
      });
      for (const h of em.helpers) helpers.add(h);
      lines.push(...em.lines);
      value = em.values[0];
    }
    const stored = outDt === "bool"
      ? `select(${width === 4 ? "vec4<u32>(0u), vec4<u32>(1u)" : "0u, 1u"}, ${value})`
      : value;
    lines.push(width === 4 ? `c[(${flat}) / 4u] = ${stored};` : `c[${flat}] = ${stored};`);
    return ["{", ...lines.map((l) => "  " + l), "}"];
  };
  const nEp = ep ? ep.inputs.length : 0;
  const gemm = {
    dtype,
    batch,
    M,
    N,
    K,
    tiles,
    a: A.op,
    b: B.op,
    inputDecls: split ? inputDecls : [
      ...inputDecls,
      ...(ep ? ep.inputs.map((dt, j) => bindingDecl(2 + j, `ep${j}`, dt, "read", epWidths[j])) : []),
    ],
    splitK,
    outputDecls: [bindingDecl(2 + nEp, "c", outDt, "read_write", storeWidth)],
    store,
    storeVec4: true,
  };
  const grid = foldGrid(gemmWorkgroups(gemm));
  // The store callbacks run inside gemmCode; helpers they need are collected, then prepended.
  let code = gemmCode(gemm, grid.flatId, grid.guard);
  if (helpers.size) code = code.replace("\n@compute", `\n${helperSource(helpers)}\n\n@compute`);
  const label = spec.label ?? `matmul_${M}x${N}x${K}${batch > 1 ? `_b${batch}` : ""}`;
  const main = {
    label,
    code,
    bindings: split ? [ref.input(0), ref.input(1), ref.scratch(0, true)] : [
      ref.input(0),
      ref.input(1),
      ...Array.from({ length: nEp }, (_, j) => ref.input(2 + j)),
      ref.output(0),
    ],
    workgroups: grid.workgroups,
  };
  if (!split) return { ...base, scratch: [], dispatches: [main] };

  const combine = splitKCombine(label, dtype, splitK, outShape, ep);
  return {
    ...base,
    scratch: [{ dtype, size: splitK * batch * M * N }, ...combine.scratch],
    dispatches: [main, ...combine.dispatches],
  };
}

/**
 * The second pass of a split-K GEMM: sums scratch 0 (`[splitK, ...outShape]`) into output 0, applying `epilogue`
 * (whose inputs are the program's inputs from 2 on). Returns its dispatches and the extra scratch it needs (scratch
 * indices from 1 on; none). One invocation per output element, or per four of the last axis when it is a multiple of
 * 4; consecutive invocations read consecutive partials of each split, so every read is coalesced.
 */
export function splitKCombine(
  label: string,
  dtype: "f32" | "i32" | "u32",
  splitK: number,
  outShape: readonly number[],
  epilogue?: Expr,
): { dispatches: KernelDispatch[]; scratch: BufferSpec[] } {
  const size = prod(outShape);
  const last = outShape.length ? outShape[outShape.length - 1] : 1;
  const width: 1 | 4 = last % 4 === 0 ? 4 : 1;
  const threads = size / width;
  const ep = epilogue;
  const outDt = ep ? exprDTypes(ep, dtype)[ep.outputs[0]] : dtype;
  const epWidths = ep ? inputDeclWidths(ep, width) : [];
  const grid = foldGrid(Math.ceil(threads / COMBINE_WORKGROUP));
  const body: string[] = [];
  if (grid.guard) body.push(grid.guard);
  body.push(
    `let gid = ${grid.flatId} * ${u32(COMBINE_WORKGROUP)} + lid;`,
    `if (gid >= ${u32(threads)}) { return; }`,
    "var s = part[gid];",
    `for (var j = 1u; j < ${u32(splitK)}; j++) { s = s + part[gid + j * ${u32(threads)}]; }`,
  );
  let value = "s";
  let helpers = "";
  if (ep) {
    body.push(`let e = ${width === 4 ? "gid * 4u" : "gid"};`);
    const coords = decodeIndex("e", outShape);
    const em = emitExpr(ep, {
      width,
      prefix: "v",
      acc: "s",
      accDType: dtype,
      coord: (axis) => coords[axis],
      load: (n, id) => loadCode(n, `l${id}`, `ep${n.input}`, coords, ep.inputs[n.input], width, epWidths[n.input]),
    });
    body.push(...em.lines);
    value = em.values[0];
    helpers = helperSource(em.helpers);
  }
  const stored = outDt === "bool"
    ? `select(${width === 4 ? "vec4<u32>(0u), vec4<u32>(1u)" : "0u, 1u"}, ${value})`
    : value;
  body.push(`c[gid] = ${stored};`);
  const nEp = ep ? ep.inputs.length : 0;
  const decls = [
    bindingDecl(0, "part", dtype, "read", width),
    ...(ep ? ep.inputs.map((dt, j) => bindingDecl(1 + j, `ep${j}`, dt, "read", epWidths[j])) : []),
    bindingDecl(1 + nEp, "c", outDt, "read_write", width),
  ];
  return {
    dispatches: [{
      label: `${label}_splitk`,
      code: shaderSource({ decls, helpers, workgroupSize: COMBINE_WORKGROUP, body }),
      bindings: [
        ref.scratch(0, false),
        ...Array.from({ length: nEp }, (_, j) => ref.input(2 + j)),
        ref.output(0),
      ],
      workgroups: grid.workgroups,
    }],
    scratch: [],
  };
}

const COMBINE_WORKGROUP = 256;
