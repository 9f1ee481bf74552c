/**
 * Simple, correct WGSL generators for what kernels/ does not cover: convolutions (and their gradients) of integer
 * dtypes, whose implicit-GEMM kernels are f32-only. One invocation per output element, inputs read through
 * {@link View}s; deliberately plain (no tiling, no workgroup memory).
 *
 * @module
 */
import type { DType } from "../core/dtype.ts";
import type { ConvParams } from "../core/primitive.ts";
import { bytesOf, type KernelProgram, ref } from "../../kernels/program.ts";
import { emitViewLoad, type View } from "../../kernels/view.ts";
import { bindingDecl, decodeIndex, foldGrid, literal, prod, shaderSource, u32 } from "../../kernels/wgsl.ts";

const WORKGROUP = 64;

/** An input of a fallback kernel: its dtype, the view it is read through, and the element count its buffer holds. */
export interface ViewInput {
  readonly dtype: DType;
  readonly view: View;
  readonly size: number;
}

/**
 * A program with one dispatch, one invocation per element of `count`; `body(i)` returns statements that compute
 * and store element(s) of output 0 for flat invocation index `i` (a u32 expression).
 */
function perInvocation(
  label: string,
  count: number,
  inputs: readonly ViewInput[],
  out: { dtype: DType; size: number },
  body: (i: string) => string[],
): KernelProgram {
  const specs = inputs.map((x) => ({ dtype: x.dtype, size: x.size }));
  const outputs = [out];
  const base = { inputs: specs, outputs, scratch: [], flops: 0, bytes: bytesOf(specs) + bytesOf(outputs) };
  if (count === 0) return { ...base, dispatches: [] };
  const grid = foldGrid(Math.ceil(count / WORKGROUP));
  const decls = [
    ...inputs.map((x, k) => bindingDecl(k, `in${k}`, x.dtype, "read")),
    bindingDecl(inputs.length, "out0", out.dtype, "read_write"),
  ];
  const lines = [
    ...(grid.guard ? [grid.guard] : []),
    `let i = ${grid.flatId} * ${u32(WORKGROUP)} + lid;`,
    `if (i >= ${u32(count)}) { return; }`,
    ...body("i"),
  ];
  return {
    ...base,
    dispatches: [{
      label,
      code: shaderSource({ decls, workgroupSize: WORKGROUP, body: lines }),
      bindings: [...inputs.map((_, k) => ref.input(k)), ref.output(0)],
      workgroups: grid.workgroups,
    }],
  };
}

function zero(dtype: DType): string {
  return literal(0, dtype);
}

/** Reads input `k` at coordinates `coords` (u32 WGSL expressions); returns statements and the value's name. */
function load(inputs: readonly ViewInput[], k: number, coords: readonly string[], name: string) {
  return emitViewLoad(inputs[k].view, coords, `in${k}`, inputs[k].dtype, name);
}

/** 2-D convolution, NCHW, weights [O, C/g, kh, kw] (PyTorch semantics). */
export function conv2dFallback(x: ViewInput, w: ViewInput, outShape: readonly number[], p: ConvParams): KernelProgram {
  const [, , H, W] = x.view[x.view.length - 1].shape;
  const [O, Cg, KH, KW] = w.view[w.view.length - 1].shape;
  const dt = x.dtype;
  const og = O / p.groups;
  const ins = [x, w];
  return perInvocation("conv2d_fallback", prod(outShape), ins, { dtype: dt, size: prod(outShape) }, (i) => {
    const [n, oc, y, xo] = decodeIndex(i, outShape);
    const xl = load(ins, 0, [n, "ic", "u32(ih)", "u32(iw)"], "xv");
    const wl = load(ins, 1, [oc, "ci", "ki", "kj"], "wv");
    return [
      `let n = ${n}; let oc = ${oc}; let y = ${y}; let xo = ${xo};`,
      `let grp = oc / ${u32(og)};`,
      `var acc = ${zero(dt)};`,
      `for (var ci = 0u; ci < ${u32(Cg)}; ci++) {`,
      `  let ic = grp * ${u32(Cg)} + ci;`,
      `  for (var ki = 0u; ki < ${u32(KH)}; ki++) {`,
      `    let ih = i32(y * ${u32(p.stride[0])} + ki * ${u32(p.dilation[0])}) - ${p.padding[0][0]}i;`,
      `    if (ih < 0i || ih >= ${H}i) { continue; }`,
      `    for (var kj = 0u; kj < ${u32(KW)}; kj++) {`,
      `      let iw = i32(xo * ${u32(p.stride[1])} + kj * ${u32(p.dilation[1])}) - ${p.padding[1][0]}i;`,
      `      if (iw < 0i || iw >= ${W}i) { continue; }`,
      ...[...xl.lines, ...wl.lines].map((l) => "      " + l),
      `      acc = acc + ${xl.value} * ${wl.value};`,
      "    }",
      "  }",
      "}",
      `out0[i] = acc;`,
    ];
  });
}

/** Gradient of conv2d with respect to its input: dy [N,O,Ho,Wo], w → dx of `inputShape`. */
export function conv2dInputGradFallback(
  dy: ViewInput,
  w: ViewInput,
  inputShape: readonly number[],
  p: ConvParams,
): KernelProgram {
  const [, , HO, WO] = dy.view[dy.view.length - 1].shape;
  const [O, Cg, KH, KW] = w.view[w.view.length - 1].shape;
  const dt = dy.dtype;
  const og = O / p.groups;
  const ins = [dy, w];
  const [sh, sw] = p.stride, [dh, dw] = p.dilation;
  return perInvocation(
    "conv2d_input_grad_fallback",
    prod(inputShape),
    ins,
    { dtype: dt, size: prod(inputShape) },
    (i) => {
      const [n, ic, ih, iw] = decodeIndex(i, inputShape);
      const gl = load(ins, 0, [n, "oc", "u32(yq)", "u32(xq)"], "gv");
      const wl = load(ins, 1, ["oc", "ci", "ki", "kj"], "wv");
      return [
        `let n = ${n}; let ic = ${ic}; let ih = i32(${ih}); let iw = i32(${iw});`,
        `let grp = ic / ${u32(Cg)};`,
        `let ci = ic % ${u32(Cg)};`,
        `var acc = ${zero(dt)};`,
        `for (var oc = grp * ${u32(og)}; oc < (grp + 1u) * ${u32(og)}; oc++) {`,
        `  for (var ki = 0u; ki < ${u32(KH)}; ki++) {`,
        `    let ty = ih + ${p.padding[0][0]}i - i32(ki * ${u32(dh)});`,
        `    if (ty < 0i || ty % ${sh}i != 0i) { continue; }`,
        `    let yq = ty / ${sh}i;`,
        `    if (yq >= ${HO}i) { continue; }`,
        `    for (var kj = 0u; kj < ${u32(KW)}; kj++) {`,
        `      let tx = iw + ${p.padding[1][0]}i - i32(kj * ${u32(dw)});`,
        `      if (tx < 0i || tx % ${sw}i != 0i) { continue; }`,
        `      let xq = tx / ${sw}i;`,
        `      if (xq >= ${WO}i) { continue; }`,
        ...[...gl.lines, ...wl.lines].map((l) => "      " + l),
        `      acc = acc + ${gl.value} * ${wl.value};`,
        "    }",
        "  }",
        "}",
        `out0[i] = acc;`,
      ];
    },
  );
}

/** Gradient of conv2d with respect to its weight: x, dy [N,O,Ho,Wo] → dw of `weightShape`. */
export function conv2dWeightGradFallback(
  x: ViewInput,
  dy: ViewInput,
  weightShape: readonly number[],
  p: ConvParams,
): KernelProgram {
  const [N, , H, W] = x.view[x.view.length - 1].shape;
  const [, , HO, WO] = dy.view[dy.view.length - 1].shape;
  const [O, Cg] = weightShape;
  const dt = x.dtype;
  const og = O / p.groups;
  const ins = [x, dy];
  const size = prod(weightShape);
  return perInvocation("conv2d_weight_grad_fallback", size, ins, { dtype: dt, size }, (i) => {
    const [oc, ci, ki, kj] = decodeIndex(i, weightShape);
    const xl = load(ins, 0, ["n", "ic", "u32(ih)", "u32(iw)"], "xv");
    const gl = load(ins, 1, ["n", "oc", "y", "xo"], "gv");
    return [
      `let oc = ${oc}; let ci = ${ci}; let ki = ${ki}; let kj = ${kj};`,
      `let ic = (oc / ${u32(og)}) * ${u32(Cg)} + ci;`,
      `var acc = ${zero(dt)};`,
      `for (var n = 0u; n < ${u32(N)}; n++) {`,
      `  for (var y = 0u; y < ${u32(HO)}; y++) {`,
      `    let ih = i32(y * ${u32(p.stride[0])} + ki * ${u32(p.dilation[0])}) - ${p.padding[0][0]}i;`,
      `    if (ih < 0i || ih >= ${H}i) { continue; }`,
      `    for (var xo = 0u; xo < ${u32(WO)}; xo++) {`,
      `      let iw = i32(xo * ${u32(p.stride[1])} + kj * ${u32(p.dilation[1])}) - ${p.padding[1][0]}i;`,
      `      if (iw < 0i || iw >= ${W}i) { continue; }`,
      ...[...xl.lines, ...gl.lines].map((l) => "      " + l),
      `      acc = acc + ${xl.value} * ${gl.value};`,
      "    }",
      "  }",
      "}",
      `out0[i] = acc;`,
    ];
  });
}
