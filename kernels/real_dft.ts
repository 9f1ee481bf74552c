/**
 * WGSL for `realDft` (lib/core/prims/dft.ts): a constant matrix applied along the second-to-last axis of `[B, K, W]`.
 * A thread owns one column (b, w): it loads the column's K values into named registers once, then computes the M
 * outputs with a straight-line program whose coefficients are literals in the shader (kernels/dft_program.ts: the
 * centred form, about half the operations of the dense product). No operand is loaded from memory but the column
 * itself; neighbouring threads read and write neighbouring addresses.
 *
 * Matrices larger than {@link UNROLL_LIMIT} entries (planes taller than the spectral convolution uses) take a loop form
 * that computes each coefficient in the shader, with an exact integer reduction of the angle and polynomials accurate
 * to f32 rounding, so the primitive runs on the GPU at every size.
 *
 * @module
 */
import { dftDims } from "../lib/core/prims/dft_matrix.ts";
import type { RealDftParams } from "../lib/core/primitive.ts";
import type { DType } from "../lib/core/dtype.ts";
import { type BufferSpec, bytesOf, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, decodeIndex, foldGrid, literal, shaderSource, u32 } from "./wgsl.ts";
import { emitExpr, type Expr, exprDTypes, helperSource } from "./expr.ts";
import { exprInputSpecs, loadCode } from "./elementwise.ts";
import { dftProgram, type DftProgramForm } from "./dft_program.ts";
import { emitProgram, programFlops } from "./linear_program.ts";

const THREADS = 64;
/** Largest matrix (entries) whose coefficients are written into the shader as literals. */
export const UNROLL_LIMIT = 8192;

/** Forms of the kernel (for tests and sweeps); the default unrolls whenever the matrix fits {@link UNROLL_LIMIT}. */
export interface RealDftForm {
  /** Coefficients as shader literals (true) or computed in a loop (false). */
  readonly unroll?: boolean;
  /** The unrolled form's operations (kernels/dft_program.ts; default `paired`). */
  readonly program?: DftProgramForm;
}

/** The number of `[K, W]` planes of a `realDft` operand: the product of its leading axes. */
export function realDftPlanes(shape: readonly number[]): number {
  return shape.slice(0, -2).reduce((a, b) => a * b, 1);
}

/** A fused elementwise consumer of the transform's output (bias after the spectral convolution), `acc` its value. */
export interface RealDftEpilogue {
  readonly expr: Expr;
  /** The output's leading axes (all but the last two), to address the epilogue's other inputs. */
  readonly leading: readonly number[];
}

/** One column's transform as shader statements, with what the shader needs around them. */
export interface DftColumn {
  readonly lines: string[];
  /** Helper functions the statements call. */
  readonly helpers: string[];
  /** The output's element type (the epilogue's). */
  readonly outDt: DType;
}

/** The straight-line program of a column's transform, or undefined for the loop form. */
function columnProgram(p: RealDftParams, form: RealDftForm) {
  const { rows, cols } = dftDims(p);
  return form.unroll ?? rows * cols <= UNROLL_LIMIT ? dftProgram(p, form.program) : undefined;
}

/**
 * The transform of one column: `input(j)` reads input row j (a number, or a u32 expression in the loop form), and
 * output row i goes to `y[yb + i·W]` through the epilogue, whose other inputs are bound as `ep0 …` and addressed from
 * the plane `pb` (u32, decoded over `epilogue.leading`) and the column `pw`.
 */
export function dftColumn(
  W: number,
  p: RealDftParams,
  input: (j: number | string) => string,
  form: RealDftForm = {},
  epilogue?: RealDftEpilogue,
): DftColumn {
  const { rows, cols } = dftDims(p), program = columnProgram(p, form);
  const ep = epilogue?.expr;
  const outDt = ep ? exprDTypes(ep, "f32")[ep.outputs[0]] : "f32";
  const helpers = new Set<string>();
  const store = (row: string, v: string): string[] => {
    const at = `yb + ${row} * ${u32(W)}`;
    if (!ep) return [`y[${at}] = ${v};`];
    const coords = [...decodeIndex("pb", epilogue!.leading), row, "pw"];
    const tag = `e${/^\d+u$/.test(row) ? row.slice(0, -1) : "r"}_`;
    const em = emitExpr(ep, {
      width: 1,
      prefix: `${tag}v`,
      acc: v,
      accDType: "f32",
      load: (n, id) => loadCode(n, `${tag}l${id}`, `ep${n.input}`, coords, ep.inputs[n.input], 1, 1),
    });
    for (const h of em.helpers) helpers.add(h);
    const value = outDt === "bool" ? `select(0u, 1u, ${em.values[0]})` : em.values[0];
    return ["{", ...em.lines.map((l) => "  " + l), `  y[${at}] = ${value};`, "}"];
  };
  const lines = program
    ? emitProgram(program, (j) => input(j), (i, v) => store(u32(i), v))
    : loopBody(p, rows, cols, input, (v) => store("i", v));
  return {
    lines,
    helpers: [...(program ? [] : [turnCosSin(p.length)]), ...(helpers.size ? [helperSource(helpers)] : [])],
    outDt,
  };
}

/** The flops of one column's transform. */
export function dftColumnFlops(p: RealDftParams, form: RealDftForm = {}): number {
  const { rows, cols } = dftDims(p), program = columnProgram(p, form);
  return program ? programFlops(program) : 2 * rows * cols;
}

/** `realDft` of x `[planes, K, W]` into `[planes, M, W]`, optionally through an epilogue. */
export function realDftKernel(
  planes: number,
  W: number,
  p: RealDftParams,
  form: RealDftForm = {},
  epilogue?: RealDftEpilogue,
): KernelProgram {
  const { rows, cols } = dftDims(p);
  const total = planes * W, grid = foldGrid(Math.ceil(total / THREADS));
  const column = dftColumn(
    W,
    p,
    (j) => `x[xb + ${typeof j === "number" ? u32(j * W) : `${j} * ${u32(W)}`}]`,
    form,
    epilogue,
  );
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let t = ${grid.flatId} * ${u32(THREADS)} + lid;`,
    `if (t >= ${u32(total)}) { return; }`,
    `let pb = t / ${u32(W)};`,
    `let pw = t % ${u32(W)};`,
    `let xb = pb * ${u32(cols * W)} + pw;`,
    `let yb = pb * ${u32(rows * W)} + pw;`,
    ...column.lines,
  ];
  const label = `real_dft_${planes}x${cols}x${W}_to_${rows}${p.inverse ? "_inverse" : ""}${p.transpose ? "_t" : ""}`;
  return dftColumnProgram({
    label,
    own: [{ name: "x", size: planes * cols * W }],
    epilogue,
    column,
    outSize: planes * rows * W,
    threads: THREADS,
    body,
    workgroups: grid.workgroups,
    flops: planes * W * dftColumnFlops(p, form),
  });
}

/** A kernel that ends in column transforms ({@link dftColumn}), for {@link dftColumnProgram}. */
export interface DftColumnKernel {
  readonly label: string;
  /** The kernel's own f32 inputs, bound first, in order. */
  readonly own: readonly { readonly name: string; readonly size: number }[];
  /** The transform's epilogue, whose inputs are bound next as `ep0 …`. */
  readonly epilogue?: RealDftEpilogue;
  readonly column: DftColumn;
  /** Elements of the output `y`, bound last. */
  readonly outSize: number;
  /** `var<workgroup>` declarations. */
  readonly shared?: readonly string[];
  readonly threads: number;
  readonly body: readonly string[];
  readonly workgroups: readonly [number, number, number];
  readonly flops: number;
}

/** The one-dispatch program of a kernel that ends in column transforms. */
export function dftColumnProgram(d: DftColumnKernel): KernelProgram {
  const epInputs = d.epilogue ? exprInputSpecs(d.epilogue.expr) : [];
  const inputs: BufferSpec[] = [...d.own.map((o) => ({ dtype: "f32" as const, size: o.size })), ...epInputs];
  const outputs: BufferSpec[] = [{ dtype: d.column.outDt, size: d.outSize }];
  const decls = [
    ...d.own.map((o, i) => bindingDecl(i, o.name, "f32", "read")),
    ...epInputs.map((b, j) => bindingDecl(d.own.length + j, `ep${j}`, b.dtype, "read")),
    bindingDecl(d.own.length + epInputs.length, "y", d.column.outDt, "read_write"),
    ...(d.shared ?? []),
  ];
  return {
    dispatches: [{
      label: d.label,
      code: shaderSource({
        decls,
        helpers: d.column.helpers.length ? d.column.helpers.join("\n\n") : undefined,
        workgroupSize: d.threads,
        body: d.body,
      }),
      bindings: [...inputs.map((_, i) => ref.input(i)), ref.output(0)],
      workgroups: d.workgroups,
    }],
    inputs,
    outputs,
    scratch: [],
    flops: d.flops,
    bytes: bytesOf([...inputs, ...outputs]),
  };
}

function loopBody(
  p: RealDftParams,
  rows: number,
  cols: number,
  input: (j: string) => string,
  store: (value: string) => string[],
): string[] {
  // (spectrum index r, signal index s) of matrix entry (i, j), as in dftMatrix.
  const [r, s] = dftDims(p).spectrumRows ? ["i", "j"] : ["j", "i"];
  const scale = p.inverse ? `select(${literal(2 / p.length, "f32")}, ${literal(1 / p.length, "f32")}, f == 0u)` : "1.0";
  return [
    `for (var i = 0u; i < ${u32(rows)}; i++) {`,
    "  var a = 0.0;",
    `  for (var j = 0u; j < ${u32(cols)}; j++) {`,
    `    let f = ${r} >> 1u;`,
    `    let cs = turn_cos_sin((f * ${s}) % ${u32(p.length)});`,
    `    let c = ${scale} * select(cs.x, -cs.y, (${r} & 1u) == 1u);`,
    `    a = fma(c, ${input("j")}, a);`,
    "  }",
    ...store("a").map((l) => "  " + l),
    "}",
  ];
}

/**
 * `(cos, sin)` of 2π·m/N for an integer m < N: quarter turns taken out exactly, the remaining angle (at most π/4) by
 * Taylor polynomials whose truncation error is below f32 rounding.
 */
function turnCosSin(N: number): string {
  return [
    "fn turn_cos_sin(m: u32) -> vec2<f32> {",
    `  let q = (4u * m + ${u32((N - 1) / 2)}) / ${u32(N)};`,
    `  let a = f32(i32(4u * m) - i32(q * ${u32(N)})) * ${literal((Math.PI / 2) / N, "f32")};`,
    "  let a2 = a * a;",
    "  let s = a * (1.0 + a2 * (-1.0 / 6.0 + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 / 362880.0))));",
    "  let c = 1.0 + a2 * (-0.5 + a2 * (1.0 / 24.0 + a2 * (-1.0 / 720.0 + a2 / 40320.0)));",
    "  switch (q & 3u) {",
    "    case 0u: { return vec2<f32>(c, s); }",
    "    case 1u: { return vec2<f32>(-s, c); }",
    "    case 2u: { return vec2<f32>(-c, -s); }",
    "    default: { return vec2<f32>(s, -c); }",
    "  }",
    "}",
  ].join("\n");
}
