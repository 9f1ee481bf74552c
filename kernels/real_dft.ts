/**
 * WGSL for `realDft` (lib/core/prims/dft.ts): a constant matrix applied along the second-to-last axis of `[B, K, W]`.
 * A thread owns one column (b, w): it loads the column's K values into named registers once, then writes each of the
 * M outputs as a chain of fused multiply-adds whose coefficients are literals in the shader. No operand of the product
 * is loaded from memory but the column itself, so the kernel streams at the rate of its fma units or of memory,
 * whichever binds; neighbouring threads read and write neighbouring addresses.
 *
 * Matrices larger than {@link UNROLL_LIMIT} entries (planes taller than the spectral convolution uses) take a loop form
 * that computes each coefficient in the shader, with an exact integer reduction of the angle and polynomials accurate
 * to f32 rounding, so the primitive runs on the GPU at every size.
 *
 * @module
 */
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";
import type { RealDftParams } from "../lib/core/primitive.ts";
import type { KernelProgram } from "./program.ts";
import { foldGrid, literal, singleDispatchProgram, u32 } from "./wgsl.ts";

const THREADS = 64;
/** Largest matrix (entries) whose coefficients are written into the shader as literals. */
export const UNROLL_LIMIT = 8192;
/** Output rows computed side by side, so each thread has independent fma chains in flight. */
const ROWS_IN_FLIGHT = 4;

/** Forms of the kernel (for tests and sweeps); the default unrolls whenever the matrix fits {@link UNROLL_LIMIT}. */
export interface RealDftForm {
  /** Coefficients as shader literals (true) or computed in a loop (false). */
  readonly unroll?: boolean;
}

/** The number of `[K, W]` planes of a `realDft` operand: the product of its leading axes. */
export function realDftPlanes(shape: readonly number[]): number {
  return shape.slice(0, -2).reduce((a, b) => a * b, 1);
}

/** `realDft` of x `[planes, K, W]` into `[planes, M, W]`. */
export function realDftKernel(planes: number, W: number, p: RealDftParams, form: RealDftForm = {}): KernelProgram {
  const m = dftMatrix(p), { rows, cols } = m;
  const total = planes * W, grid = foldGrid(Math.ceil(total / THREADS));
  const unroll = form.unroll ?? rows * cols <= UNROLL_LIMIT;
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let t = ${grid.flatId} * ${u32(THREADS)} + lid;`,
    `if (t >= ${u32(total)}) { return; }`,
    `let xb = (t / ${u32(W)}) * ${u32(cols * W)} + t % ${u32(W)};`,
    `let yb = (t / ${u32(W)}) * ${u32(rows * W)} + t % ${u32(W)};`,
    ...(unroll ? unrolledBody(m, W) : loopBody(p, rows, cols, u32(W))),
  ];
  return singleDispatchProgram({
    label: `real_dft_${planes}x${cols}x${W}_to_${rows}${p.inverse ? "_inverse" : ""}${p.transpose ? "_t" : ""}`,
    names: ["x", "y"],
    inputs: [planes * cols * W],
    output: planes * rows * W,
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    helpers: unroll ? undefined : turnCosSin(p.length),
    flops: 2 * planes * rows * cols * W,
  });
}

function unrolledBody({ rows, cols, data }: { rows: number; cols: number; data: Float64Array }, W: number): string[] {
  const lines = Array.from({ length: cols }, (_, j) => `let x${j} = x[xb + ${u32(j * W)}];`);
  for (let i0 = 0; i0 < rows; i0 += ROWS_IN_FLIGHT) {
    const group = Array.from({ length: Math.min(ROWS_IN_FLIGHT, rows - i0) }, (_, d) => i0 + d);
    lines.push("{", ...group.map((i) => `var a${i - i0} = 0.0;`));
    for (let j = 0; j < cols; j++) {
      for (const i of group) {
        const c = Math.fround(data[i * cols + j]);
        // Exact zeros (sin 0, the imaginary row of frequency 0) cost nothing.
        if (c !== 0) lines.push(`a${i - i0} = fma(${literal(c, "f32")}, x${j}, a${i - i0});`);
      }
    }
    lines.push(...group.map((i) => `y[yb + ${u32(i * W)}] = a${i - i0};`), "}");
  }
  return lines;
}

function loopBody(p: RealDftParams, rows: number, cols: number, W: string): string[] {
  const spectrumRows = p.inverse === p.transpose;
  // (spectrum index r, signal index s) of matrix entry (i, j), as in dftMatrix.
  const [r, s] = spectrumRows ? ["i", "j"] : ["j", "i"];
  const scale = p.inverse ? `select(${literal(2 / p.length, "f32")}, ${literal(1 / p.length, "f32")}, f == 0u)` : "1.0";
  return [
    `for (var i = 0u; i < ${u32(rows)}; i++) {`,
    "  var a = 0.0;",
    `  for (var j = 0u; j < ${u32(cols)}; j++) {`,
    `    let f = ${r} >> 1u;`,
    `    let cs = turn_cos_sin((f * ${s}) % ${u32(p.length)});`,
    `    let c = ${scale} * select(cs.x, -cs.y, (${r} & 1u) == 1u);`,
    `    a = fma(c, x[xb + j * ${W}], a);`,
    "  }",
    `  y[yb + i * ${W}] = a;`,
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
