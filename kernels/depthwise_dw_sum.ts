/**
 * The last step of the depthwise weight gradients: sums the P partial kernels `part[p, o, window]` that the main
 * dispatch wrote for the window of taps that can reach the plane, and writes the full `[O, kh, kw]` gradient with
 * exact zeros outside that window (taps that only ever read padding).
 *
 * @module
 */
import { type KernelDispatch, ref } from "./program.ts";
import { bindingDecl, foldGrid, shaderSource, u32 } from "./wgsl.ts";

/** Where the partials' tap window sits in the kernel. */
export interface TapWindow {
  /** First kernel row of the window. */
  readonly ky0: number;
  /** First kernel column of the window. */
  readonly kx0: number;
  /** Window rows. */
  readonly KHw: number;
  /** Window columns. */
  readonly KWw: number;
}

/** A dispatch reading scratch 0 (`[P, O, KHw·KWw]`) and writing output 0 (`[O, kh, kw]`). */
export function windowSumDispatch(
  label: string,
  P: number,
  O: number,
  kh: number,
  kw: number,
  win: TapWindow,
): KernelDispatch {
  const size = O * kh * kw, KT = win.KHw * win.KWw;
  const grid = foldGrid(Math.ceil(size / 256));
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let i = ${grid.flatId} * 256u + lid;`,
    `if (i >= ${u32(size)}) { return; }`,
    `let wy = (i / ${u32(kw)}) % ${u32(kh)} - ${u32(win.ky0)};`,
    `let wx = i % ${u32(kw)} - ${u32(win.kx0)};`,
    `let o = i / ${u32(kh * kw)};`,
    "var acc = 0.0;",
    // Outside the window (u32 wrap makes taps before it huge) the sum stays 0.
    `if (wy < ${u32(win.KHw)} && wx < ${u32(win.KWw)}) {`,
    `  let base = o * ${u32(KT)} + wy * ${u32(win.KWw)} + wx;`,
    `  for (var p = 0u; p < ${u32(P)}; p++) { acc += part[p * ${u32(O * KT)} + base]; }`,
    "}",
    "out[i] = acc;",
  ];
  return {
    label,
    code: shaderSource({
      decls: [bindingDecl(0, "part", "f32", "read"), bindingDecl(1, "out", "f32", "read_write")],
      workgroupSize: 256,
      body,
    }),
    bindings: [ref.scratch(0, false), ref.output(0)],
    workgroups: grid.workgroups,
  };
}
