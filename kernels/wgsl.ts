/**
 * Small WGSL building blocks shared by the generators: type names, literals, bindings, grid folding.
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import { type BufferSpec, bytesOf, type KernelProgram, MAX_WORKGROUPS_PER_DIM, ref } from "./program.ts";

/** Number of elements of a shape. */
export function prod(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major element strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Rejects dtypes a GPU kernel cannot hold. */
export function assertGpuDType(dtype: DType, where: string): void {
  if (dtype === "f64") throw new Error(`${where}: f64 is CPU-only; cast to f32 before running on the GPU`);
}

/** WGSL type of a value in registers (`bool` stays `bool`), as a scalar or a `vec4`. */
export function regType(dtype: DType, width: 1 | 4 = 1): string {
  assertGpuDType(dtype, "regType");
  return width === 1 ? dtype : `vec4<${dtype}>`;
}

/** WGSL element type of a storage buffer holding `dtype` (bool is widened to u32). */
export function storeType(dtype: DType, width: 1 | 4 = 1): string {
  const s = dtype === "bool" ? "u32" : dtype;
  assertGpuDType(dtype, "storeType");
  return width === 1 ? s : `vec4<${s}>`;
}

/** The component names of a vec4, lane by lane. */
export const XYZW: readonly string[] = ["x", "y", "z", "w"];

/** A u32 literal; negative numbers wrap modulo 2³², which index arithmetic relies on for negative strides. */
export function u32(n: number): string {
  if (!Number.isInteger(n)) throw new Error(`u32: ${n} is not an integer`);
  return `${n >>> 0}u`;
}

/** A WGSL literal of `dtype` for a JS number (f32 rounding, infinities and NaN via bit patterns). */
export function literal(value: number, dtype: DType): string {
  switch (dtype) {
    case "f32": {
      const f = Math.fround(value);
      if (Number.isNaN(f)) return "bitcast<f32>(0x7fc00000u)";
      if (f === Infinity) return "bitcast<f32>(0x7f800000u)";
      if (f === -Infinity) return "bitcast<f32>(0xff800000u)";
      if (Object.is(f, -0)) return "bitcast<f32>(0x80000000u)";
      // Shortest round-trip digits of the f32 value; WGSL rounds the literal to the same f32.
      let s = String(f);
      if (!/[.e]/.test(s)) s += ".0";
      return `${s}f`;
    }
    case "i32": {
      const i = Math.trunc(value) | 0;
      // -2147483648 is not a valid i32 literal (the minus applies to an out-of-range 2147483648i).
      return i === -2147483648 ? "i32(-2147483647 - 1)" : `${i}i`;
    }
    case "u32":
      return `${Math.trunc(value) >>> 0}u`;
    case "bool":
      return value ? "true" : "false";
    case "f64":
      throw new Error("literal: f64 is CPU-only");
  }
}

/** A `var<storage>` declaration at binding `index`. */
export function bindingDecl(
  index: number,
  name: string,
  dtype: DType,
  access: "read" | "read_write",
  width: 1 | 4 = 1,
): string {
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${storeType(dtype, width)}>;`;
}

/** How a flat workgroup count is laid onto a dispatch grid, and how a shader recovers the flat workgroup id. */
export interface FoldedGrid {
  readonly workgroups: readonly [number, number, number];
  /** WGSL expression of the flat workgroup id, given `@builtin(workgroup_id) wg: vec3<u32>`. */
  readonly flatId: string;
  /** WGSL statement returning early for padding workgroups that a 2-D fold adds ("" when none are added). */
  readonly guard: string;
}

/** Folds `total` workgroups into `[x, y, 1]` with x, y ≤ 65535 (WebGPU's per-dimension limit). */
export function foldGrid(total: number): FoldedGrid {
  if (total < 1) total = 1;
  if (total <= MAX_WORKGROUPS_PER_DIM) return { workgroups: [total, 1, 1], flatId: "wg.x", guard: "" };
  const y = Math.ceil(total / MAX_WORKGROUPS_PER_DIM);
  const x = Math.ceil(total / y);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new Error(`foldGrid: ${total} workgroups exceed 65535²`);
  const flatId = `(wg.x + wg.y * ${u32(x)})`;
  const guard = x * y === total ? "" : `if (${flatId} >= ${u32(total)}) { return; }`;
  return { workgroups: [x, y, 1], flatId, guard };
}

/** Decomposes a flat row-major index expression into per-axis coordinate expressions (constant 0 for size-1 axes). */
export function decodeIndex(flat: string, shape: readonly number[]): string[] {
  const strides = contiguousStrides(shape);
  return shape.map((d, i) => {
    if (d === 1) return "0u";
    const q = strides[i] === 1 ? flat : `(${flat} / ${u32(strides[i])})`;
    return i === 0 ? q : `(${q} % ${u32(d)})`;
  });
}

/** Indents a block of WGSL lines. */
export function indent(lines: readonly string[], by = "  "): string {
  return lines.map((l) => (l === "" ? l : by + l)).join("\n");
}

/** Pieces of a compute shader with entry point `main(wg: workgroup_id, lid: local_invocation_index)`. */
export interface ShaderParts {
  /** Binding and `var<workgroup>` declarations. */
  readonly decls: readonly string[];
  /** Helper functions (may be empty). */
  readonly helpers?: string;
  readonly workgroupSize: number;
  /** Statements of `main`. */
  readonly body: readonly string[];
}

/** Assembles a complete WGSL compute module. */
export function shaderSource(p: ShaderParts): string {
  return [
    ...p.decls,
    "",
    ...(p.helpers ? [p.helpers, ""] : []),
    `@compute @workgroup_size(${p.workgroupSize})`,
    "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
    indent(p.body),
    "}",
    "",
  ].join("\n");
}

/** One f32 dispatch of a program: its inputs (bound read, in order), then one output. */
export interface SingleDispatch {
  /** Pipeline label. */
  readonly label: string;
  /** Binding names: one per input, then the outputs'. */
  readonly names: readonly string[];
  /** Element counts of the inputs. */
  readonly inputs: readonly number[];
  /** Element count of the output, or of each output. */
  readonly output: number | readonly number[];
  /** `var<workgroup>` declarations. */
  readonly shared?: readonly string[];
  readonly workgroupSize: number;
  readonly workgroups: readonly [number, number, number];
  /** Statements of `main`. */
  readonly body: readonly string[];
  /** Helper functions placed before `main`. */
  readonly helpers?: string;
  /** For throughput reports. */
  readonly flops: number;
}

/** A program of one dispatch over f32 buffers, for kernels that read their inputs and write their outputs. */
export function singleDispatchProgram(d: SingleDispatch): KernelProgram {
  const ins: BufferSpec[] = d.inputs.map((size) => ({ dtype: "f32", size }));
  const outs: BufferSpec[] = (typeof d.output === "number" ? [d.output] : d.output).map((size) => ({
    dtype: "f32",
    size,
  }));
  const decls = d.names.map((n, i) => bindingDecl(i, n, "f32", i < ins.length ? "read" : "read_write"));
  return {
    dispatches: [{
      label: d.label,
      code: shaderSource({
        decls: [...decls, ...(d.shared ?? [])],
        helpers: d.helpers,
        workgroupSize: d.workgroupSize,
        body: d.body,
      }),
      bindings: [...ins.map((_, i) => ref.input(i)), ...outs.map((_, i) => ref.output(i))],
      workgroups: d.workgroups,
    }],
    inputs: ins,
    outputs: outs,
    scratch: [],
    flops: d.flops,
    bytes: bytesOf([...ins, ...outs]),
  };
}
