/**
 * Data movement: copies through a view (reshape / transpose / slice / pad / flip / broadcast materialised), concat,
 * gather and scatter-add. Copies and concat are elementwise kernels over loads with views; gather reads its index
 * per element; scatter-add gives each output element one invocation that loops over the indices (deterministic, no
 * atomics).
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import { elementwiseKernel } from "./elementwise.ts";
import type { ExprNode } from "./expr.ts";
import { bytesOf, type KernelProgram, ref } from "./program.ts";
import { applyMovement, contiguousView, emitViewLoad, padView, type View, viewExtent, viewShape } from "./view.ts";
import { bindingDecl, decodeIndex, foldGrid, literal, prod, shaderSource, u32 } from "./wgsl.ts";

/** Materialises `view` of a buffer of `dtype` into a contiguous output of the view's shape. */
export function copyKernel(view: View, dtype: DType, label = "copy"): KernelProgram {
  return elementwiseKernel({
    shape: viewShape(view),
    expr: { inputs: [dtype], nodes: [{ op: "load", input: 0, view }], outputs: [0] },
    label,
  });
}

/** One movement primitive (reshape, transpose, broadcast, slice, pad, flip) on a contiguous input of `shape`. */
export function movementKernel(
  shape: readonly number[],
  dtype: DType,
  prim: string,
  params: Readonly<Record<string, unknown>>,
): KernelProgram {
  return copyKernel(applyMovement(contiguousView(shape), prim, params), dtype, prim);
}

/** Concatenates contiguous inputs of `shapes` along `axis` (each input is a masked load; a select picks one). */
export function concatKernel(shapes: readonly (readonly number[])[], dtype: DType, axis: number): KernelProgram {
  if (shapes.length === 0) throw new Error("concatKernel: nothing to concatenate");
  const sizes = shapes.map((s) => s[axis]);
  const total = sizes.reduce((a, b) => a + b, 0);
  const outShape = shapes[0].map((d, i) => (i === axis ? total : d));
  const nodes: ExprNode[] = [];
  let before = 0;
  shapes.forEach((s, k) => {
    const lo = s.map((_, i) => (i === axis ? before : 0));
    const hi = s.map((_, i) => (i === axis ? total - before - s[axis] : 0));
    nodes.push({ op: "load", input: k, view: padView(contiguousView(s), lo, hi, 0) });
    before += s[axis];
  });
  nodes.push({ op: "concat", axis, sizes, args: shapes.map((_, k) => k) });
  return elementwiseKernel({
    shape: outShape,
    expr: { inputs: shapes.map(() => dtype), nodes, outputs: [shapes.length] },
    label: "concat",
  });
}

/** Inputs of gather / scatter-add: shapes, and optionally the views they are read through (contiguous otherwise). */
export interface IndexedSpec {
  /** Shape of the data operand (x for gather, updates for scatter-add). */
  readonly shape: readonly number[];
  /** Element type of the data operand. */
  readonly dtype: DType;
  /** Shape of the i32 index operand. */
  readonly idxShape: readonly number[];
  /** Axis of the data operand that the indices address. */
  readonly axis: number;
  /** View the data operand is read through (contiguous if absent). */
  readonly view?: View;
  /** View the index operand is read through (contiguous if absent). */
  readonly idxView?: View;
}

/**
 * `gather {axis}`: out = x[..., idx[j…], ...] with shape `x[:axis] ++ idx ++ x[axis+1:]`. Negative indices count from
 * the end; indices still out of range are clamped (the CPU reference throws instead).
 */
export function gatherKernel(s: IndexedSpec): KernelProgram {
  const { shape, axis, idxShape } = s;
  const n = shape[axis];
  const outShape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
  const xv = s.view ?? contiguousView(shape);
  const iv = s.idxView ?? contiguousView(idxShape);
  return perElement("gather", outShape, [{ dtype: s.dtype, view: xv }, { dtype: "i32", view: iv }], s.dtype, (c) => {
    const il = emitViewLoad(iv, c.slice(axis, axis + idxShape.length), "in1", "i32", "at");
    const k = `u32(clamp(select(${il.value}, ${il.value} + ${n}i, ${il.value} < 0i), 0i, ${n - 1}i))`;
    const xl = emitViewLoad(xv, [...c.slice(0, axis), "k", ...c.slice(axis + idxShape.length)], "in0", s.dtype, "xv");
    return { lines: [...il.lines, `let k = ${k};`, ...xl.lines], value: xl.value };
  });
}

/**
 * `scatterAdd {axis, size}`: the transpose of gather. Updates `x[:axis] ++ idx ++ x[axis+1:]` are summed into an
 * output with `size` slots on `axis`; duplicate indices accumulate, out-of-range ones are dropped. Each output
 * element loops over all indices, so the cost is output size × index count (fine for the batch-sized index vectors
 * of mixup and embeddings of modest size).
 */
export function scatterAddKernel(s: IndexedSpec & { readonly size: number }): KernelProgram {
  const { shape, axis, idxShape } = s;
  const r = idxShape.length;
  const outShape = [...shape.slice(0, axis), s.size, ...shape.slice(axis + r)];
  const uv = s.view ?? contiguousView(shape);
  const iv = s.idxView ?? contiguousView(idxShape);
  if (s.dtype === "bool") throw new Error("scatterAddKernel: cannot add bool updates");
  const J = prod(idxShape);
  return perElement(
    "scatter_add",
    outShape,
    [{ dtype: s.dtype, view: uv }, { dtype: "i32", view: iv }],
    s.dtype,
    (c) => {
      const jc = decodeIndex("j", idxShape);
      const il = emitViewLoad(iv, jc, "in1", "i32", "at");
      const ul = emitViewLoad(uv, [...c.slice(0, axis), ...jc, ...c.slice(axis + 1)], "in0", s.dtype, "uv");
      return {
        lines: [
          `let slot = i32(${c[axis]});`,
          `var acc = ${literal(0, s.dtype)};`,
          `for (var j = 0u; j < ${u32(J)}; j++) {`,
          ...il.lines.map((l) => "  " + l),
          `  if (select(${il.value}, ${il.value} + ${s.size}i, ${il.value} < 0i) != slot) { continue; }`,
          ...ul.lines.map((l) => "  " + l),
          `  acc = acc + ${ul.value};`,
          "}",
        ],
        value: "acc",
      };
    },
  );
}

// One invocation per output element; `body(coords)` computes the element's value.
function perElement(
  label: string,
  outShape: readonly number[],
  inputs: readonly { dtype: DType; view: View }[],
  outDt: DType,
  body: (coords: string[]) => { lines: string[]; value: string },
): KernelProgram {
  const size = prod(outShape);
  const specs = inputs.map((x) => ({ dtype: x.dtype, size: Math.max(1, viewExtent(x.view)) }));
  const outputs = [{ dtype: outDt, size }];
  const base = { inputs: specs, outputs, scratch: [], flops: 0, bytes: bytesOf(specs) + bytesOf(outputs) };
  if (size === 0) return { ...base, dispatches: [] };
  const grid = foldGrid(Math.ceil(size / 256));
  const lines = [
    ...(grid.guard ? [grid.guard] : []),
    `let e = ${grid.flatId} * 256u + lid;`,
    `if (e >= ${u32(size)}) { return; }`,
  ];
  const coords = decodeIndex("e", outShape).map((c, i) => {
    if (c === "0u") return c;
    lines.push(`let c${i} = ${c};`);
    return `c${i}`;
  });
  const b = body(coords);
  lines.push(...b.lines, `out0[e] = ${outDt === "bool" ? `select(0u, 1u, ${b.value})` : b.value};`);
  const decls = [
    ...inputs.map((x, k) => bindingDecl(k, `in${k}`, x.dtype, "read")),
    bindingDecl(inputs.length, "out0", outDt, "read_write"),
  ];
  return {
    ...base,
    dispatches: [{
      label,
      code: shaderSource({ decls, workgroupSize: 256, body: lines }),
      bindings: [...inputs.map((_, k) => ref.input(k)), ref.output(0)],
      workgroups: grid.workgroups,
    }],
  };
}
