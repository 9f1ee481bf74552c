/**
 * Depthwise (or channel-multiplier) input gradient by gathering, for strided convolutions (the FastViT patch
 * embeddings: 7×7 and 3×3, stride 2, channel multiplier 2) and geometries the correlation kernels do not take.
 *
 * One thread per dx element sums, over the M output channels of its group, the dy elements its taps reach. With no
 * dilation only the taps congruent to the element's position modulo the stride are visited (a quarter of them at
 * stride 2), so no thread loops over taps that cannot hit.
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import { geometryTag } from "./depthwise_geometry.ts";
import { type KernelProgram, ref } from "./program.ts";
import { bindingDecl, foldGrid, shaderSource, u32 } from "./wgsl.ts";

/** Input gradient by gathering: inputs (dy, w), output dx. */
export function gatherInputGrad(g: ConvGeometry): KernelProgram {
  const size = g.N * g.C * g.H * g.W;
  const grid = foldGrid(Math.ceil(size / 256));
  const M = g.Og;
  // Taps visited along one axis: stepped by the stride from the element's phase when undilated, else all, checked.
  const axis = (k: "ky" | "kx", pos: string, pad: number, s: number, d: number, kn: number, n: number, o: string) => {
    const phased = d === 1 && s > 1;
    const t = k === "ky" ? "ty" : "tx";
    return [
      phased
        ? `for (var ${k} = (${pos} + ${u32(pad)}) % ${u32(s)}; ${k} < ${u32(kn)}; ${k} += ${u32(s)}) {`
        : `for (var ${k} = 0u; ${k} < ${u32(kn)}; ${k}++) {`,
      `  let ${t} = ${pos} + ${u32(pad)} - ${k} * ${u32(d)};`,
      `  let ${o} = ${t} / ${u32(s)};`,
      `  if (${phased || s === 1 ? "" : `${t} % ${u32(s)} != 0u || `}${o} >= ${u32(n)}) { continue; }`,
    ];
  };
  const oc = M === 1 ? "c" : `c * ${u32(M)} + m`;
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let i = ${grid.flatId} * 256u + lid;`,
    `if (i >= ${u32(size)}) { return; }`,
    `let w = i % ${u32(g.W)};`,
    `let h = (i / ${u32(g.W)}) % ${u32(g.H)};`,
    `let c = (i / ${u32(g.H * g.W)}) % ${u32(g.C)};`,
    `let n = i / ${u32(g.C * g.H * g.W)};`,
    "var acc = 0.0;",
    ...(M === 1 ? ["{"] : [`for (var m = 0u; m < ${u32(M)}; m++) {`]),
    `  let o = ${oc};`,
    ...axis("ky", "h", g.pt, g.sh, g.dh, g.kh, g.Ho, "oy").map((l) => "  " + l),
    ...axis("kx", "w", g.pl, g.sw, g.dw, g.kw, g.Wo, "ox").map((l) => "    " + l),
    `      acc = fma(dyin[((n * ${u32(g.O)} + o) * ${u32(g.Ho)} + oy) * ${u32(g.Wo)} + ox], win[(o * ${
      u32(g.kh)
    } + ky) * ${u32(g.kw)} + kx], acc);`,
    "    }",
    "  }",
    "}",
    "out[i] = acc;",
  ];
  const decls = [
    bindingDecl(0, "dyin", "f32", "read"),
    bindingDecl(1, "win", "f32", "read"),
    bindingDecl(2, "out", "f32", "read_write"),
  ];
  const dySize = g.N * g.O * g.Ho * g.Wo;
  return {
    inputs: [{ dtype: "f32", size: dySize }, { dtype: "f32", size: g.O * g.kh * g.kw }],
    outputs: [{ dtype: "f32", size }],
    scratch: [],
    flops: 2 * dySize * g.kh * g.kw,
    bytes: 4 * (dySize + size + g.O * g.kh * g.kw),
    dispatches: [{
      label: `depthwise_dx_gather_${geometryTag(g)}`,
      code: shaderSource({ decls, workgroupSize: 256, body }),
      bindings: [ref.input(0), ref.input(1), ref.output(0)],
      workgroups: grid.workgroups,
    }],
  };
}
