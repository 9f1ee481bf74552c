/**
 * WGSL for `toeplitz` and `toeplitzAdjoint` (lib/core/prims/toeplitz.ts): one thread per output element, with the
 * index arithmetic of the correlation in place of an index tensor. The adjoint's thread sums its tap's diagonal: the
 * output positions whose input for that tap lies inside the plane, a rectangle found without tests per element.
 *
 * @module
 */
import type { ToeplitzParams } from "../lib/core/primitive.ts";
import type { KernelProgram } from "./program.ts";
import { foldGrid, singleDispatchProgram, u32 } from "./wgsl.ts";

const THREADS = 256;

/** `toeplitz`: w `[C, kh, kw]` → T `[C, Ho·Wo, H·W]`. */
export function toeplitzKernel(C: number, [kh, kw]: readonly [number, number], p: ToeplitzParams): KernelProgram {
  const [H, W] = p.plane, [Ho, Wo] = p.out, [top, left] = p.padding;
  const rows = Ho * Wo, cols = H * W, total = C * rows * cols;
  const grid = foldGrid(Math.ceil(total / THREADS));
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let e = ${grid.flatId} * ${u32(THREADS)} + lid;`,
    `if (e >= ${u32(total)}) { return; }`,
    `let c = e / ${u32(rows * cols)};`,
    `let o = (e / ${u32(cols)}) % ${u32(rows)};`,
    `let i = e % ${u32(cols)};`,
    `let u = i32(i / ${u32(W)}) - i32(o / ${u32(Wo)}) + ${top};`,
    `let v = i32(i % ${u32(W)}) - i32(o % ${u32(Wo)}) + ${left};`,
    `let inside = u >= 0 && u < ${kh} && v >= 0 && v < ${kw};`,
    `let at = c * ${u32(kh * kw)} + u32(clamp(u, 0, ${kh - 1})) * ${u32(kw)} + u32(clamp(v, 0, ${kw - 1}));`,
    "t[e] = select(0.0, w[at], inside);",
  ];
  return singleDispatchProgram({
    label: `toeplitz_${C}x${rows}x${cols}_k${kh}x${kw}`,
    names: ["w", "t"],
    inputs: [C * kh * kw],
    output: total,
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: 0,
  });
}

/** `toeplitzAdjoint`: T̄ `[C, Ho·Wo, H·W]` → w̄ `[C, kh, kw]`. */
export function toeplitzAdjointKernel(
  C: number,
  p: ToeplitzParams & { kernel: readonly [number, number] },
): KernelProgram {
  const [H, W] = p.plane, [Ho, Wo] = p.out, [top, left] = p.padding, [kh, kw] = p.kernel;
  const rows = Ho * Wo, cols = H * W, total = C * kh * kw;
  const grid = foldGrid(Math.ceil(total / THREADS));
  // Tap (u, v) pairs output (oh, ow) with input (oh + u − top, ow + v − left): oh ranges over [max(0, top − u),
  // min(Ho, H + top − u)), ow likewise.
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let e = ${grid.flatId} * ${u32(THREADS)} + lid;`,
    `if (e >= ${u32(total)}) { return; }`,
    `let c = e / ${u32(kh * kw)};`,
    `let u = i32((e / ${u32(kw)}) % ${u32(kh)});`,
    `let v = i32(e % ${u32(kw)});`,
    `let h0 = max(0, ${top} - u);`,
    `let h1 = min(${Ho}, ${H + top} - u);`,
    `let w0 = max(0, ${left} - v);`,
    `let w1 = min(${Wo}, ${W + left} - v);`,
    "var s = 0.0;",
    "for (var oh = h0; oh < h1; oh++) {",
    `  let row = c * ${u32(rows * cols)} + u32(oh * ${Wo}) * ${u32(cols)} + u32((oh + u - ${top}) * ${W});`,
    "  for (var ow = w0; ow < w1; ow++) {",
    `    s += t[row + u32(ow) * ${u32(cols)} + u32(ow + v - ${left})];`,
    "  }",
    "}",
    "dw[e] = s;",
  ];
  return singleDispatchProgram({
    label: `toeplitz_adjoint_${C}x${rows}x${cols}_k${kh}x${kw}`,
    names: ["t", "dw"],
    inputs: [C * rows * cols],
    output: total,
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: C * rows * cols,
  });
}
