/**
 * 2-D convolutions (NCHW, weights `[O, C/groups, kh, kw]`, PyTorch semantics) as implicit GEMMs on the tiled core:
 * the im2col matrix is never materialised, its elements are gathered inside the tile loads (WGSL helper functions
 * `xcol` / `dycol` that return 0 in the padding). Forward, input gradient (transposed convolution) and weight gradient
 * are three GEMM shapes over the same index math. Depthwise convolutions (groups == C == O) go to the direct kernels
 * in depthwise.ts, which the GEMM formulation (M = 1 per group) would waste.
 *
 * @module
 */
import {
  depthwiseForward,
  depthwiseForwardTiles,
  depthwiseInputGrad,
  depthwiseWeightGrad,
  depthwiseWeightGradTiles,
} from "./depthwise.ts";
import { chooseGemm, gemmCode, type GemmOperand, type GemmTiles, gemmWorkgroups } from "./gemm.ts";
import { splitKCombine } from "./matmul.ts";
import { DEFAULT_LIMITS, type KernelLimits, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, foldGrid, u32 } from "./wgsl.ts";

/** Convolution hyper-parameters as the IR carries them. */
export interface Conv2dParams {
  /** [sh, sw]. */
  readonly stride: readonly [number, number];
  /** [[top, bottom], [left, right]]. */
  readonly padding: readonly [readonly [number, number], readonly [number, number]];
  /** [dh, dw]. */
  readonly dilation: readonly [number, number];
  /** Channel groups. */
  readonly groups: number;
}

/** All sizes of one convolution. */
export interface ConvGeometry {
  /** Batch. */
  readonly N: number;
  /** Input channels. */
  readonly C: number;
  /** Input height. */
  readonly H: number;
  /** Input width. */
  readonly W: number;
  /** Output channels. */
  readonly O: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Output height. */
  readonly Ho: number;
  /** Output width. */
  readonly Wo: number;
  /** Groups. */
  readonly G: number;
  /** Input channels per group. */
  readonly Cg: number;
  /** Output channels per group. */
  readonly Og: number;
  /** Vertical stride. */
  readonly sh: number;
  /** Horizontal stride. */
  readonly sw: number;
  /** Vertical dilation. */
  readonly dh: number;
  /** Horizontal dilation. */
  readonly dw: number;
  /** Top padding. */
  readonly pt: number;
  /** Left padding. */
  readonly pl: number;
}

/** Derives (and validates) the geometry from input and weight shapes. */
export function convGeometry(x: readonly number[], w: readonly number[], p: Conv2dParams): ConvGeometry {
  if (x.length !== 4 || w.length !== 4) {
    throw new Error(`conv2d: expected x [N,C,H,W] and w [O,C/g,kh,kw], got [${x}] and [${w}]`);
  }
  const [N, C, H, W] = x;
  const [O, Cg, kh, kw] = w;
  const G = p.groups;
  if (C % G || O % G || C / G !== Cg) {
    throw new Error(`conv2d: channels ${C} → ${O} with ${G} groups do not match w [${w}]`);
  }
  const [sh, sw] = p.stride;
  const [dh, dw] = p.dilation;
  const [[pt, pb], [pl, pr]] = p.padding;
  const Ho = Math.floor((H + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`conv2d: empty output for input [${x}] and kernel ${kh}×${kw}`);
  return { N, C, H, W, O, kh, kw, Ho, Wo, G, Cg, Og: O / G, sh, sw, dh, dw, pt, pl };
}

/** Generator options (for tests and benchmarks). */
export interface ConvOptions {
  /** Use the implicit GEMM even for depthwise convolutions. */
  readonly forceGemm?: boolean;
  /** Override the GEMM tile choice. */
  readonly tiles?: GemmTiles;
  /** Override the K split (weight gradient only). */
  readonly splitK?: number;
  /** Device limits for tile sizing (workgroup memory); WebGPU's defaults otherwise. */
  readonly limits?: KernelLimits;
}

function isDepthwise(g: ConvGeometry): boolean {
  return g.G === g.C && g.G === g.O && g.Cg === 1;
}

// x[n, g·Cg + c, y·sh + ky·dh − pt, x·sw + kx·dw − pl] for im2col row k = (c, ky, kx); u32 wrap makes negatives huge.
function xcolSource(g: ConvGeometry): string {
  return `fn xcol(n: u32, grp: u32, y: u32, x: u32, k: u32) -> f32 {
  let c = k / ${u32(g.kh * g.kw)};
  let ky = (k / ${u32(g.kw)}) % ${u32(g.kh)};
  let kx = k % ${u32(g.kw)};
  let iy = y * ${u32(g.sh)} + ky * ${u32(g.dh)} - ${u32(g.pt)};
  let ix = x * ${u32(g.sw)} + kx * ${u32(g.dw)} - ${u32(g.pl)};
  let ok = iy < ${u32(g.H)} && ix < ${u32(g.W)};
  let i = ((n * ${u32(g.C)} + grp * ${u32(g.Cg)} + c) * ${u32(g.H)} + iy) * ${u32(g.W)} + ix;
  return select(0.0, xin[select(0u, i, ok)], ok);
}`;
}

/** Forward convolution: inputs (x, w), output y `[N, O, Ho, Wo]`. */
export function conv2dKernel(
  xShape: readonly number[],
  wShape: readonly number[],
  p: Conv2dParams,
  opts: ConvOptions = {},
): KernelProgram {
  const g = convGeometry(xShape, wShape, p);
  const limits = opts.limits ?? DEFAULT_LIMITS;
  if (isDepthwise(g) && !opts.forceGemm && depthwiseForwardTiles(g, limits)) return depthwiseForward(g, limits);
  const K = g.Cg * g.kh * g.kw;
  const P = g.Ho * g.Wo;
  const wVec = K % 4 === 0;
  const yVec = P % 4 === 0;
  const A: GemmOperand = {
    contiguous: "k",
    element: (_b, m, k) => `win[(cg * ${u32(g.Og)} + ${m}) * ${u32(K)} + ${k}]`,
    vec4: wVec ? (_b, m, k) => `win[((cg * ${u32(g.Og)} + ${m}) * ${u32(K)} + ${k}) / 4u]` : undefined,
  };
  // Non-overlapping windows (the stem, patchify downsampling): neighbouring output pixels read input far apart, while
  // neighbouring im2col rows (kx) read adjacent inputs, so walk k with consecutive threads.
  const B: GemmOperand = {
    contiguous: g.sw > 1 && g.sw >= g.kw ? "k" : "mn",
    element: (_b, q, k) => `xcol(cn, cg, ${q} / ${u32(g.Wo)}, ${q} % ${u32(g.Wo)}, ${k})`,
  };
  return convGemm({
    label: `conv2d_${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}_o${g.O}`,
    batch: g.N * g.G,
    M: g.Og,
    N: P,
    K,
    A,
    B,
    decls: [bindingDecl(0, "xin", "f32", "read"), bindingDecl(1, "win", "f32", "read", wVec ? 4 : 1)],
    helpers: xcolSource(g),
    prelude: (bi) => [`let cn = ${bi} / ${u32(g.G)};`, `let cg = ${bi} % ${u32(g.G)};`],
    outFlat: (m, q) => `(cn * ${u32(g.O)} + cg * ${u32(g.Og)} + ${m}) * ${u32(P)} + ${q}`,
    outVec: yVec,
    inputs: [{ dtype: "f32", size: g.N * g.C * g.H * g.W }, { dtype: "f32", size: g.O * K }],
    outSize: g.N * g.O * P,
    flops: 2 * g.N * g.O * P * K,
    splittable: false,
    opts,
  });
}

/** Input gradient (transposed convolution): inputs (dy, w), output dx with `inputShape`. */
export function conv2dInputGradKernel(
  dyShape: readonly number[],
  wShape: readonly number[],
  p: Conv2dParams & { readonly inputShape: readonly number[] },
  opts: ConvOptions = {},
): KernelProgram {
  const g = convGeometry(p.inputShape, wShape, p);
  if (dyShape.join() !== [g.N, g.O, g.Ho, g.Wo].join()) {
    throw new Error(`conv2dInputGrad: dy [${dyShape}] does not match the geometry`);
  }
  if (isDepthwise(g) && !opts.forceGemm) return depthwiseInputGrad(g, opts.limits ?? DEFAULT_LIMITS);
  const KK = g.kh * g.kw;
  const K = g.Og * KK;
  const HW = g.H * g.W;
  const A: GemmOperand = {
    contiguous: "k",
    element: (_b, c, k) =>
      `win[((cg * ${u32(g.Og)} + ${k} / ${u32(KK)}) * ${u32(g.Cg)} + ${c}) * ${u32(KK)} + ${k} % ${u32(KK)}]`,
  };
  const B: GemmOperand = {
    contiguous: "mn",
    element: (_b, q, k) => `dycol(cn, cg, ${q} / ${u32(g.W)}, ${q} % ${u32(g.W)}, ${k})`,
  };
  // dy[n, g·Og + o, oy, ox] with oy·sh = h + pt − ky·dh (only where it divides) for im2col row k = (o, ky, kx).
  const dycol = `fn dycol(n: u32, grp: u32, h: u32, w: u32, k: u32) -> f32 {
  let o = k / ${u32(KK)};
  let ky = (k / ${u32(g.kw)}) % ${u32(g.kh)};
  let kx = k % ${u32(g.kw)};
  let ty = h + ${u32(g.pt)} - ky * ${u32(g.dh)};
  let tx = w + ${u32(g.pl)} - kx * ${u32(g.dw)};
  let oy = ty / ${u32(g.sh)};
  let ox = tx / ${u32(g.sw)};
  let ok = ty % ${u32(g.sh)} == 0u && tx % ${u32(g.sw)} == 0u && oy < ${u32(g.Ho)} && ox < ${u32(g.Wo)};
  let i = ((n * ${u32(g.O)} + grp * ${u32(g.Og)} + o) * ${u32(g.Ho)} + oy) * ${u32(g.Wo)} + ox;
  return select(0.0, dyin[select(0u, i, ok)], ok);
}`;
  return convGemm({
    label: `conv2d_dx_${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}_o${g.O}`,
    batch: g.N * g.G,
    M: g.Cg,
    N: HW,
    K,
    A,
    B,
    decls: [bindingDecl(0, "dyin", "f32", "read"), bindingDecl(1, "win", "f32", "read")],
    helpers: dycol,
    prelude: (bi) => [`let cn = ${bi} / ${u32(g.G)};`, `let cg = ${bi} % ${u32(g.G)};`],
    outFlat: (c, q) => `(cn * ${u32(g.C)} + cg * ${u32(g.Cg)} + ${c}) * ${u32(HW)} + ${q}`,
    outVec: HW % 4 === 0,
    inputs: [{ dtype: "f32", size: g.N * g.O * g.Ho * g.Wo }, { dtype: "f32", size: g.O * g.Cg * KK }],
    outSize: g.N * g.C * HW,
    flops: 2 * g.N * g.O * g.Ho * g.Wo * g.Cg * KK,
    splittable: false,
    opts,
  });
}

/** Weight gradient: inputs (x, dy), output dw with `weightShape`. */
export function conv2dWeightGradKernel(
  xShape: readonly number[],
  dyShape: readonly number[],
  p: Conv2dParams & { readonly weightShape: readonly number[] },
  opts: ConvOptions = {},
): KernelProgram {
  const g = convGeometry(xShape, p.weightShape, p);
  if (dyShape.join() !== [g.N, g.O, g.Ho, g.Wo].join()) {
    throw new Error(`conv2dWeightGrad: dy [${dyShape}] does not match the geometry`);
  }
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const tiles = isDepthwise(g) && !opts.forceGemm ? depthwiseWeightGradTiles(g, limits) : null;
  if (tiles) return depthwiseWeightGrad(g, limits, tiles);
  const KK = g.kh * g.kw;
  const P = g.Ho * g.Wo;
  const Ncols = g.Cg * KK;
  const dyVec = P % 4 === 0;
  const A: GemmOperand = {
    contiguous: "k",
    element: (b, o, k) =>
      `dyin[((${k} / ${u32(P)}) * ${u32(g.O)} + ${b} * ${u32(g.Og)} + ${o}) * ${u32(P)} + ${k} % ${u32(P)}]`,
    vec4: dyVec
      ? (b, o, k) =>
        `dyin[(((${k} / ${u32(P)}) * ${u32(g.O)} + ${b} * ${u32(g.Og)} + ${o}) * ${u32(P)} + ${k} % ${u32(P)}) / 4u]`
      : undefined,
  };
  const B: GemmOperand = {
    contiguous: "k",
    element: (b, j, k) => `xcol(${k} / ${u32(P)}, ${b}, (${k} % ${u32(P)}) / ${u32(g.Wo)}, ${k} % ${u32(g.Wo)}, ${j})`,
  };
  return convGemm({
    label: `conv2d_dw_${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}_o${g.O}`,
    batch: g.G,
    M: g.Og,
    N: Ncols,
    K: g.N * P,
    A,
    B,
    decls: [bindingDecl(0, "xin", "f32", "read"), bindingDecl(1, "dyin", "f32", "read", dyVec ? 4 : 1)],
    helpers: xcolSource(g),
    outFlat: (o, j) => `(bi * ${u32(g.Og)} + ${o}) * ${u32(Ncols)} + ${j}`,
    outVec: Ncols % 4 === 0,
    inputs: [{ dtype: "f32", size: g.N * g.C * g.H * g.W }, { dtype: "f32", size: g.N * g.O * P }],
    outSize: g.O * Ncols,
    flops: 2 * g.N * g.O * P * Ncols,
    splittable: true,
    opts,
  });
}

interface ConvGemm {
  readonly label: string;
  readonly batch: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly A: GemmOperand;
  readonly B: GemmOperand;
  readonly decls: string[];
  readonly helpers: string;
  readonly prelude?: (bi: string) => string[];
  /** Flat output index of (row, col) in the current batch (WGSL). */
  readonly outFlat: (row: string, col: string) => string;
  readonly outVec: boolean;
  readonly inputs: { dtype: "f32"; size: number }[];
  readonly outSize: number;
  readonly flops: number;
  /** Whether split-K may be used: only when the output is the contiguous `[batch, M, N]` of the GEMM. */
  readonly splittable: boolean;
  readonly opts: ConvOptions;
}

function convGemm(c: ConvGemm): KernelProgram {
  const choice = chooseGemm(c.batch, c.M, c.N, c.K);
  const tiles = c.opts.tiles ?? choice.tiles;
  const splitK = c.splittable ? (c.opts.splitK ?? (c.opts.tiles ? 1 : choice.splitK)) : 1;
  const spec = {
    dtype: "f32" as const,
    batch: c.batch,
    M: c.M,
    N: c.N,
    K: c.K,
    tiles,
    a: c.A,
    b: c.B,
    inputDecls: c.decls,
    prelude: c.prelude,
    splitK,
    outputDecls: [bindingDecl(2, "out", "f32", "read_write", c.outVec ? 4 : 1)],
    store: (
      _b: string,
      row: string,
      col: string,
      v: string,
      width: 1 | 4,
    ) => [width === 4 ? `out[(${c.outFlat(row, col)}) / 4u] = ${v};` : `out[${c.outFlat(row, col)}] = ${v};`],
    storeVec4: c.outVec,
    helpers: c.helpers,
  };
  const grid = foldGrid(gemmWorkgroups(spec));
  const main = {
    label: c.label,
    code: gemmCode(spec, grid.flatId, grid.guard),
    bindings: [ref.input(0), ref.input(1), splitK > 1 ? ref.scratch(0, true) : ref.output(0)],
    workgroups: grid.workgroups,
  };
  const outputs = [{ dtype: "f32" as const, size: c.outSize }];
  const bytes = (c.inputs[0].size + c.inputs[1].size + c.outSize) * 4;
  const base = { inputs: c.inputs, outputs, flops: c.flops, bytes };
  if (splitK === 1) return { ...base, scratch: [], dispatches: [main] };
  const combine = splitKCombine(c.label, "f32", splitK, [c.batch, c.M, c.N]);
  return {
    ...base,
    scratch: [{ dtype: "f32", size: splitK * c.batch * c.M * c.N }, ...combine.scratch],
    dispatches: [main, ...combine.dispatches],
  };
}
