/**
 * 2-D convolutions (NCHW, weights `[O, C/groups, kh, kw]`, PyTorch semantics) as implicit GEMMs on the tiled core:
 * the im2col matrix is never materialised, its elements are gathered inside the tile loads (WGSL helper functions
 * `xcol` / `dycol` that return 0 in the padding). One GEMM per group, with the batch folded into the pixel columns so
 * small planes (8×7) still fill whole tiles.
 *
 * - Forward: rows O/G, columns N·Ho·Wo, depth C/G·kh·kw. Pointwise (1×1, stride 1) convolutions read x as vec4s.
 * - Input gradient, strided (dilation 1): a transposed convolution touches each input pixel from only the taps that
 *   divide its offset, so the gradient is split by output phase `(y mod sh, x mod sw)`; each phase is a GEMM over its
 *   own taps (no zero taps multiplied). When the kernel equals the stride (patchify stems and downsampling) every
 *   pixel receives from exactly one output pixel and all phases share one GEMM: rows `(c, i, j)` = C/G·kh·kw,
 *   columns the output pixels, depth O/G, stored to `(oy·kh + i, ox·kw + j)`.
 * - Input gradient, stride 1: rows C/G, columns N·H·W, depth O/G·kh·kw.
 * - Weight gradient: rows O/G, columns C/G·kh·kw, depth N·Ho·Wo (split-K when the output is small).
 * Channel-wise convolutions (groups == C, any multiplier) go to the direct kernels in depthwise.ts, which the GEMM
 * formulation (one row per group) would waste.
 *
 * @module
 */
import {
  depthwiseForward,
  depthwiseForwardTiles,
  depthwiseInputGrad,
  depthwiseWeightGrad,
  depthwiseWeightGradTiles,
  isChannelwise,
} from "./depthwise.ts";
import { chooseGemm, gemmCode, type GemmOperand, type GemmTiles, gemmWorkgroups, tilesForB } from "./gemm.ts";
import { splitKCombine } from "./matmul.ts";
import { DEFAULT_LIMITS, type KernelDispatch, type KernelLimits, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, foldGrid, shaderSource, u32 } from "./wgsl.ts";

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
  /** Use the implicit GEMM even for channel-wise (depthwise) convolutions. */
  readonly forceGemm?: boolean;
  /** Override the GEMM tile choice. */
  readonly tiles?: GemmTiles;
  /** Override the K split (weight gradient only). */
  readonly splitK?: number;
  /** Device limits for tile sizing (workgroup memory); WebGPU's defaults otherwise. */
  readonly limits?: KernelLimits;
}

/** Output channels per group up to which a channel-wise convolution runs direct (beyond, the GEMM's rows fill up). */
const DIRECT_MAX_MULTIPLIER = 8;

// The stem (one input channel, 64–96 outputs) is channel-wise too, but as a GEMM its O rows fill whole tiles.
function useDirect(g: ConvGeometry, opts: ConvOptions): boolean {
  return isChannelwise(g) && g.Og <= DIRECT_MAX_MULTIPLIER && !opts.forceGemm;
}

/** 1×1, stride 1, no padding: the im2col matrix is the input itself, read as vec4s. */
function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pt === 0 && g.pl === 0 && g.Ho === g.H &&
    g.Wo === g.W;
}

/** Bindings 0 (x or dy) and 1 (w) of a convolution GEMM, as vec4 arrays where every load of them is a vec4. */
function convDecls(first: string, firstVec: boolean, wVec: boolean): string[] {
  return [bindingDecl(0, first, "f32", "read", firstVec ? 4 : 1), bindingDecl(1, "win", "f32", "read", wVec ? 4 : 1)];
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
  if (useDirect(g, opts) && depthwiseForwardTiles(g, limits)) return depthwiseForward(g, limits);
  const K = g.Cg * g.kh * g.kw;
  const P = g.Ho * g.Wo;
  const wVec = K % 4 === 0;
  const xVec = isPointwise(g) && P % 4 === 0;
  const A: GemmOperand = {
    contiguous: "k",
    element: (_b, m, k) => `win[(cg * ${u32(g.Og)} + ${m}) * ${u32(K)} + ${k}]`,
    vec4: wVec ? (_b, m, k) => `win[((cg * ${u32(g.Og)} + ${m}) * ${u32(K)} + ${k}) / 4u]` : undefined,
  };
  const xAt = (q: string, c: string) =>
    `((${q} / ${u32(P)}) * ${u32(g.C)} + cg * ${u32(g.Cg)} + ${c}) * ${u32(P)} + ${q} % ${u32(P)}`;
  // Non-overlapping windows (the stem, patchify downsampling): neighbouring output pixels read input far apart, while
  // neighbouring im2col rows (kx) read adjacent inputs, so walk k with consecutive threads.
  const B: GemmOperand = xVec
    ? { contiguous: "mn", element: (_b, q, k) => `xin[${xAt(q, k)}]`, vec4: (_b, q, k) => `xin[(${xAt(q, k)}) / 4u]` }
    : {
      contiguous: g.sw > 1 && g.sw >= g.kw ? "k" : "mn",
      element: (_b, q, k) => `xcol(${q} / ${u32(P)}, cg, (${q} % ${u32(P)}) / ${u32(g.Wo)}, ${q} % ${u32(g.Wo)}, ${k})`,
    };
  const outAt = (m: string, q: string) =>
    `((${q} / ${u32(P)}) * ${u32(g.O)} + cg * ${u32(g.Og)} + ${m}) * ${u32(P)} + ${q} % ${u32(P)}`;
  return convProgram({
    label: `conv2d_${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}_o${g.O}`,
    gemms: [{
      batch: g.G,
      M: g.Og,
      N: g.N * P,
      K,
      A,
      B,
      decls: convDecls("xin", xVec, wVec),
      helpers: xVec ? "" : xcolSource(g),
      store: flatStore(outAt, P % 4 === 0),
    }],
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
  if (useDirect(g, opts)) return depthwiseInputGrad(g, opts.limits ?? DEFAULT_LIMITS);
  const common = {
    label: `conv2d_dx_${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}_o${g.O}`,
    inputs: [{ dtype: "f32" as const, size: g.N * g.O * g.Ho * g.Wo }, {
      dtype: "f32" as const,
      size: g.O * g.Cg * g.kh * g.kw,
    }],
    outSize: g.N * g.C * g.H * g.W,
    flops: 2 * g.N * g.O * g.Ho * g.Wo * g.Cg * g.kh * g.kw,
    splittable: false,
    opts,
  };
  if (g.dh === 1 && g.dw === 1 && (g.sh > 1 || g.sw > 1)) {
    if (g.kh === g.sh && g.kw === g.sw) return convProgram({ ...common, gemms: [patchInputGrad(g)] });
    return convProgram({ ...common, gemms: phaseInputGrads(g) });
  }
  const KK = g.kh * g.kw;
  const K = g.Og * KK;
  const HW = g.H * g.W;
  // w[g·Og + o, c, ky, kx] for row c and depth k = (o, ky, kx): contiguous along k in runs of kh·kw, along c for 1×1.
  const wAt = (c: string, k: string) =>
    KK === 1
      ? `(cg * ${u32(g.Og)} + ${k}) * ${u32(g.Cg)} + ${c}`
      : `((cg * ${u32(g.Og)} + ${k} / ${u32(KK)}) * ${u32(g.Cg)} + ${c}) * ${u32(KK)} + ${k} % ${u32(KK)}`;
  const wVec = KK === 1 && g.Cg % 4 === 0;
  const A: GemmOperand = {
    contiguous: KK === 1 ? "mn" : "k",
    element: (_b, c, k) => `win[${wAt(c, k)}]`,
    vec4: wVec ? (_b, c, k) => `win[(${wAt(c, k)}) / 4u]` : undefined,
  };
  const dyVec = isPointwise(g) && HW % 4 === 0;
  const dyAt = (q: string, o: string) =>
    `((${q} / ${u32(HW)}) * ${u32(g.O)} + cg * ${u32(g.Og)} + ${o}) * ${u32(HW)} + ${q} % ${u32(HW)}`;
  const B: GemmOperand = dyVec
    ? {
      contiguous: "mn",
      element: (_b, q, k) => `dyin[${dyAt(q, k)}]`,
      vec4: (_b, q, k) => `dyin[(${dyAt(q, k)}) / 4u]`,
    }
    : {
      contiguous: "mn",
      element: (_b, q, k) =>
        `dycol(${q} / ${u32(HW)}, cg, (${q} % ${u32(HW)}) / ${u32(g.W)}, ${q} % ${u32(g.W)}, ${k})`,
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
  const outAt = (c: string, q: string) =>
    `((${q} / ${u32(HW)}) * ${u32(g.C)} + cg * ${u32(g.Cg)} + ${c}) * ${u32(HW)} + ${q} % ${u32(HW)}`;
  return convProgram({
    ...common,
    gemms: [{
      batch: g.G,
      M: g.Cg,
      N: g.N * HW,
      K,
      A,
      B,
      decls: convDecls("dyin", dyVec, wVec),
      helpers: dyVec ? "" : dycol,
      store: flatStore(outAt, HW % 4 === 0),
    }],
  });
}

/**
 * Kernel == stride (dilation 1): pixel `(oy·kh + i − pt, ox·kw + j − pl)` of channel c receives only from output pixel
 * `(oy, ox)` through tap `(i, j)`, so dx is one GEMM: rows `(c, i, j)`, columns `(n, oy, ox)` over a grid that covers
 * the whole input (outputs beyond Ho×Wo read zeros, so uncovered pixels get their zeros from the same store), depth o.
 */
function patchInputGrad(g: ConvGeometry): ConvGemm {
  const KK = g.kh * g.kw;
  const M = g.Cg * KK;
  const Hv = Math.ceil((g.H + g.pt) / g.kh), Wv = Math.ceil((g.W + g.pl) / g.kw), Pv = Hv * Wv;
  const exact = Hv === g.Ho && Wv === g.Wo;
  const dyVec = exact && Pv % 4 === 0;
  const wVec = M % 4 === 0;
  const wAt = (m: string, o: string) => `(cg * ${u32(g.Og)} + ${o}) * ${u32(M)} + ${m}`;
  const A: GemmOperand = {
    contiguous: "mn",
    element: (_b, m, o) => `win[${wAt(m, o)}]`,
    vec4: wVec ? (_b, m, o) => `win[(${wAt(m, o)}) / 4u]` : undefined,
  };
  const dyAt = (q: string, o: string) =>
    `((${q} / ${u32(Pv)}) * ${u32(g.O)} + cg * ${u32(g.Og)} + ${o}) * ${u32(Pv)} + ${q} % ${u32(Pv)}`;
  const B: GemmOperand = dyVec
    ? {
      contiguous: "mn",
      element: (_b, q, o) => `dyin[${dyAt(q, o)}]`,
      vec4: (_b, q, o) => `dyin[(${dyAt(q, o)}) / 4u]`,
    }
    : { contiguous: "mn", element: (_b, q, o) => (exact ? `dyin[${dyAt(q, o)}]` : `dyv(${q}, cg, ${o})`) };
  const dyv = `fn dyv(q: u32, grp: u32, o: u32) -> f32 {
  let p = q % ${u32(Pv)};
  let oy = p / ${u32(Wv)};
  let ox = p % ${u32(Wv)};
  let ok = oy < ${u32(g.Ho)} && ox < ${u32(g.Wo)};
  let i = (((q / ${u32(Pv)}) * ${u32(g.O)} + grp * ${u32(g.Og)} + o) * ${u32(g.Ho)} + oy) * ${u32(g.Wo)} + ox;
  return select(0.0, dyin[select(0u, i, ok)], ok);
}`;
  const store = (m: string, q: string, v: string): string[] => [
    `let sp = ${q} % ${u32(Pv)};`,
    `let sy = (sp / ${u32(Wv)}) * ${u32(g.kh)} + (${m} / ${u32(g.kw)}) % ${u32(g.kh)} - ${u32(g.pt)};`,
    `let sx = (sp % ${u32(Wv)}) * ${u32(g.kw)} + ${m} % ${u32(g.kw)} - ${u32(g.pl)};`,
    `if (sy < ${u32(g.H)} && sx < ${u32(g.W)}) {`,
    `  out[(((${q} / ${u32(Pv)}) * ${u32(g.C)} + cg * ${u32(g.Cg)} + ${m} / ${u32(KK)}) * ${u32(g.H)} + sy) * ${
      u32(g.W)
    } + sx] = ${v};`,
    "}",
  ];
  return {
    batch: g.G,
    M,
    N: g.N * Pv,
    K: g.Og,
    A,
    B,
    decls: convDecls("dyin", dyVec, wVec),
    helpers: dyVec || exact ? "" : dyv,
    store: { scalar: store },
  };
}

/**
 * Strided input gradient (dilation 1) by output phase: pixels `y = py + sh·a` receive only from taps
 * `ky = ky0 + sh·u` (ky0 = (py + pt) mod sh) through `oy = a + ⌊(py + pt)/sh⌋ − u`, and likewise along x, so each
 * phase is a stride-1 correlation with its own taps: rows c, columns `(n, a, b)`, depth `(o, u, v)`. Phases no tap
 * reaches (kernel smaller than the stride) are zero-filled.
 */
function phaseInputGrads(g: ConvGeometry): (ConvGemm | ZeroFill)[] {
  const out: (ConvGemm | ZeroFill)[] = [];
  const KK = g.kh * g.kw;
  for (let py = 0; py < Math.min(g.sh, g.H); py++) {
    for (let px = 0; px < Math.min(g.sw, g.W); px++) {
      const Hp = Math.ceil((g.H - py) / g.sh), Wp = Math.ceil((g.W - px) / g.sw), Pp = Hp * Wp;
      const ky0 = (py + g.pt) % g.sh, kx0 = (px + g.pl) % g.sw;
      const nky = ky0 < g.kh ? Math.ceil((g.kh - ky0) / g.sh) : 0;
      const nkx = kx0 < g.kw ? Math.ceil((g.kw - kx0) / g.sw) : 0;
      const cy = Math.floor((py + g.pt) / g.sh), cx = Math.floor((px + g.pl) / g.sw);
      const outAt = (c: string, q: string) =>
        `((${q} / ${u32(Pp)}) * ${u32(g.C)} + cg * ${u32(g.Cg)} + ${c}) * ${u32(g.H)} * ${u32(g.W)} + (${u32(py)} + ${
          u32(g.sh)
        } * ((${q} / ${u32(Wp)}) % ${u32(Hp)})) * ${u32(g.W)} + ${u32(px)} + ${u32(g.sw)} * (${q} % ${u32(Wp)})`;
      if (nky === 0 || nkx === 0) {
        const CP = g.C * Pp;
        out.push({
          zeros: g.N * CP,
          at: (e) =>
            `((${e} / ${u32(CP)}) * ${u32(g.C)} + (${e} / ${u32(Pp)}) % ${u32(g.C)}) * ${u32(g.H * g.W)} + (${
              u32(py)
            } + ${u32(g.sh)} * ((${e} / ${u32(Wp)}) % ${u32(Hp)})) * ${u32(g.W)} + ${u32(px)} + ${
              u32(g.sw)
            } * (${e} % ${u32(Wp)})`,
        });
        continue;
      }
      const T = nky * nkx;
      const A: GemmOperand = {
        contiguous: "k",
        element: (_b, c, k) =>
          `win[((cg * ${u32(g.Og)} + ${k} / ${u32(T)}) * ${u32(g.Cg)} + ${c}) * ${u32(KK)} + ${
            u32(ky0 * g.kw + kx0)
          } + ((${k} / ${u32(nkx)}) % ${u32(nky)}) * ${u32(g.sh * g.kw)} + (${k} % ${u32(nkx)}) * ${u32(g.sw)}]`,
      };
      const B: GemmOperand = { contiguous: "mn", element: (_b, q, k) => `dyp(${q}, cg, ${k})` };
      const dyp = `fn dyp(q: u32, grp: u32, k: u32) -> f32 {
  let oy = (q / ${u32(Wp)}) % ${u32(Hp)} + ${u32(cy)} - (k / ${u32(nkx)}) % ${u32(nky)};
  let ox = q % ${u32(Wp)} + ${u32(cx)} - k % ${u32(nkx)};
  let ok = oy < ${u32(g.Ho)} && ox < ${u32(g.Wo)};
  let i = (((q / ${u32(Pp)}) * ${u32(g.O)} + grp * ${u32(g.Og)} + k / ${u32(T)}) * ${u32(g.Ho)} + oy) * ${
        u32(g.Wo)
      } + ox;
  return select(0.0, dyin[select(0u, i, ok)], ok);
}`;
      out.push({
        batch: g.G,
        M: g.Cg,
        N: g.N * Pp,
        K: g.Og * T,
        A,
        B,
        decls: convDecls("dyin", false, false),
        helpers: dyp,
        store: flatStore(outAt, false),
        tag: `_p${py}${px}`,
      });
    }
  }
  return out;
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
  const tiles = useDirect(g, opts) ? depthwiseWeightGradTiles(g, limits) : null;
  if (tiles) return depthwiseWeightGrad(g, limits, tiles);
  const KK = g.kh * g.kw;
  const P = g.Ho * g.Wo;
  const Ncols = g.Cg * KK;
  const dyVec = P % 4 === 0;
  const dyAt = (b: string, o: string, k: string) =>
    `((${k} / ${u32(P)}) * ${u32(g.O)} + ${b} * ${u32(g.Og)} + ${o}) * ${u32(P)} + ${k} % ${u32(P)}`;
  const A: GemmOperand = {
    contiguous: "k",
    element: (b, o, k) => `dyin[${dyAt(b, o, k)}]`,
    vec4: dyVec ? (b, o, k) => `dyin[(${dyAt(b, o, k)}) / 4u]` : undefined,
  };
  // Pointwise: x[n, g·Cg + c, p] for depth k = (n, p) is contiguous along k.
  const xVec = isPointwise(g) && P % 4 === 0;
  const xAt = (b: string, c: string, k: string) =>
    `((${k} / ${u32(P)}) * ${u32(g.C)} + ${b} * ${u32(g.Cg)} + ${c}) * ${u32(P)} + ${k} % ${u32(P)}`;
  const B: GemmOperand = xVec
    ? {
      contiguous: "k",
      element: (b, c, k) => `xin[${xAt(b, c, k)}]`,
      vec4: (b, c, k) => `xin[(${xAt(b, c, k)}) / 4u]`,
    }
    : {
      contiguous: "k",
      element: (b, j, k) =>
        `xcol(${k} / ${u32(P)}, ${b}, (${k} % ${u32(P)}) / ${u32(g.Wo)}, ${k} % ${u32(g.Wo)}, ${j})`,
    };
  return convProgram({
    label: `conv2d_dw_${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}_o${g.O}`,
    gemms: [{
      batch: g.G,
      M: g.Og,
      N: Ncols,
      K: g.N * P,
      A,
      B,
      decls: [bindingDecl(0, "xin", "f32", "read", xVec ? 4 : 1), bindingDecl(1, "dyin", "f32", "read", dyVec ? 4 : 1)],
      helpers: xVec ? "" : xcolSource(g),
      store: flatStore((o, j) => `(cg * ${u32(g.Og)} + ${o}) * ${u32(Ncols)} + ${j}`, Ncols % 4 === 0),
    }],
    inputs: [{ dtype: "f32", size: g.N * g.C * g.H * g.W }, { dtype: "f32", size: g.N * g.O * P }],
    outSize: g.O * Ncols,
    flops: 2 * g.N * g.O * P * Ncols,
    splittable: true,
    opts,
  });
}

/** How a convolution GEMM writes its results: a flat index (vec4 when 4 columns are contiguous), or statements. */
type ConvStore =
  | { readonly flat: (row: string, col: string) => string; readonly vec4: boolean }
  | { readonly scalar: (row: string, col: string, v: string) => string[] };

function flatStore(flat: (row: string, col: string) => string, vec4: boolean): ConvStore {
  return { flat, vec4 };
}

/** One GEMM of a convolution; `cg` (the group, the GEMM batch index) is in scope of the operands and the store. */
interface ConvGemm {
  readonly batch: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly A: GemmOperand;
  readonly B: GemmOperand;
  readonly decls: string[];
  readonly helpers: string;
  readonly store: ConvStore;
  /** Label suffix (one GEMM of several). */
  readonly tag?: string;
}

/** A dispatch writing zeros to `zeros` outputs: `at(e)` is the flat output index of the e-th (WGSL, u32). */
interface ZeroFill {
  readonly zeros: number;
  readonly at: (e: string) => string;
}

interface ConvJob {
  readonly label: string;
  readonly gemms: readonly (ConvGemm | ZeroFill)[];
  readonly inputs: { dtype: "f32"; size: number }[];
  readonly outSize: number;
  readonly flops: number;
  /** Whether split-K may be used: only for one GEMM whose output is the contiguous `[batch, M, N]`. */
  readonly splittable: boolean;
  readonly opts: ConvOptions;
}

function convProgram(c: ConvJob): KernelProgram {
  const outputs = [{ dtype: "f32" as const, size: c.outSize }];
  const bytes = (c.inputs[0].size + c.inputs[1].size + c.outSize) * 4;
  const base = { inputs: c.inputs, outputs, flops: c.flops, bytes };
  const dispatches: KernelDispatch[] = [];
  let splitK = 1;
  let splitShape: number[] = [];
  for (const gm of c.gemms) {
    if ("zeros" in gm) {
      const grid = foldGrid(Math.ceil(gm.zeros / 256));
      const body = [
        ...(grid.guard ? [grid.guard] : []),
        `let e = ${grid.flatId} * 256u + lid;`,
        `if (e >= ${u32(gm.zeros)}) { return; }`,
        `out[${gm.at("e")}] = 0.0;`,
      ];
      dispatches.push({
        label: `${c.label}_zero`,
        code: shaderSource({ decls: [bindingDecl(0, "out", "f32", "read_write")], workgroupSize: 256, body }),
        bindings: [ref.output(0)],
        workgroups: grid.workgroups,
      });
      continue;
    }
    const choice = chooseGemm(gm.batch, gm.M, gm.N, gm.K);
    const tiles = c.opts.tiles ?? tilesForB(choice.tiles, gm.B.contiguous);
    const split = c.splittable && c.gemms.length === 1 ? (c.opts.splitK ?? (c.opts.tiles ? 1 : choice.splitK)) : 1;
    const st = gm.store;
    const vec = "flat" in st && st.vec4;
    const spec = {
      dtype: "f32" as const,
      batch: gm.batch,
      M: gm.M,
      N: gm.N,
      K: gm.K,
      tiles,
      a: gm.A,
      b: gm.B,
      inputDecls: gm.decls,
      prelude: (bi: string) => [`let cg = ${bi};`],
      splitK: split,
      outputDecls: [bindingDecl(2, "out", "f32", "read_write", vec ? 4 : 1)],
      store: (_b: string, row: string, col: string, v: string, width: 1 | 4): string[] => {
        if ("scalar" in st) return ["{", ...st.scalar(row, col, v).map((l) => "  " + l), "}"];
        return [width === 4 ? `out[(${st.flat(row, col)}) / 4u] = ${v};` : `out[${st.flat(row, col)}] = ${v};`];
      },
      storeVec4: vec,
      helpers: gm.helpers,
    };
    const grid = foldGrid(gemmWorkgroups(spec));
    dispatches.push({
      label: c.label + (gm.tag ?? ""),
      code: gemmCode(spec, grid.flatId, grid.guard),
      bindings: [ref.input(0), ref.input(1), split > 1 ? ref.scratch(0, true) : ref.output(0)],
      workgroups: grid.workgroups,
    });
    splitK = split;
    splitShape = [gm.batch, gm.M, gm.N];
  }
  if (splitK === 1) return { ...base, scratch: [], dispatches };
  const combine = splitKCombine(c.label, "f32", splitK, splitShape);
  return {
    ...base,
    scratch: [{ dtype: "f32", size: splitK * splitShape[0] * splitShape[1] * splitShape[2] }, ...combine.scratch],
    dispatches: [...dispatches, ...combine.dispatches],
  };
}
