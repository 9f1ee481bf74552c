/**
 * Direct depthwise convolutions (groups == C == O), for the large-kernel (7×7 … 23×23) convolutions of ConvNeXt-style
 * blocks and DCLS.
 *
 * Forward (and the stride-1 input gradient, which is the forward with the kernel flipped and padding
 * `(k − 1)·d − p`): a workgroup computes a TH×TW output tile of CPW channels. The input tile plus halo and the
 * kernels are staged in workgroup memory; each thread owns RH rows × VW columns of outputs in named registers, walks
 * the input rows once (each row feeds up to RH output rows), reads its input window as vec4s and the kernel row as
 * vec4s, and issues the VW × kw FMAs fully unrolled. Rows that lie entirely in the padding are skipped; when a thread
 * spans the whole output width (small planes), taps that read padding columns are pruned at generation time.
 *
 * Weight gradient: a workgroup takes one channel, a spatial tile and a run of images; the x tile (+ halo) and the dy
 * tile are staged per image, each thread owns a block of RK×VK taps and a subset of tile rows and slides along the
 * tile width in registers. Partial sums per (workgroup, row subset) go to scratch and a reduction sums them.
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import {
  type BufferRef,
  DEFAULT_LIMITS,
  type KernelLimits,
  type KernelProgram,
  ref,
  remapBindings,
} from "./program.ts";
import { reduceKernel } from "./reduce.ts";
import { contiguousView } from "./view.ts";
import { bindingDecl, foldGrid, shaderSource, u32 } from "./wgsl.ts";

const XYZW = ["x", "y", "z", "w"];
const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;
const i32 = (n: number) => `${n}i`;

/** A depthwise correlation of an Hin×Win plane into an Hout×Wout plane (used for forward and input gradient). */
interface Plane {
  readonly N: number;
  readonly C: number;
  readonly Hin: number;
  readonly Win: number;
  readonly Hout: number;
  readonly Wout: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly dh: number;
  readonly dw: number;
  readonly pt: number;
  readonly pl: number;
}

/** Tile parameters of the direct forward kernel. */
export interface DirectTiles {
  /** Output columns per thread (multiple of 4). */
  readonly VW: number;
  /** Output rows per thread. */
  readonly RH: number;
  /** Threads across a tile's width. */
  readonly TWt: number;
  /** Threads down a tile's height. */
  readonly THt: number;
  /** Channels per workgroup. */
  readonly CPW: number;
}

function chooseDirect(p: Plane, limits: KernelLimits): DirectTiles | null {
  const whole = p.Wout <= 16;
  const VW = whole ? roundUp(p.Wout, 4) : 4;
  let RH = Math.min(VW >= 16 ? 2 : 4, p.Hout);
  const budget = limits.maxWorkgroupStorage / 4;
  const words = (THt: number, TWt: number) => {
    const IH = (THt * RH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
    const IW = (TWt * VW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
    return IH * roundUp(IW, 4) + p.kh * roundUp(p.kw, 4);
  };
  let TWt = whole ? 1 : Math.min(16, Math.ceil(p.Wout / VW));
  let THt = Math.max(1, Math.min(Math.ceil(p.Hout / RH), Math.floor(64 / TWt)));
  // Shrink the tile (height, then width, then rows per thread) until the input tile, its halo and the kernel fit.
  while (words(THt, TWt) > budget) {
    if (THt > 1) THt--;
    else if (TWt > 1) TWt--;
    else if (RH > 1) RH--;
    else return null;
  }
  const CPW = Math.max(1, Math.min(p.C, Math.floor(128 / (TWt * THt)), Math.floor(budget / words(THt, TWt))));
  return { VW, RH, TWt, THt, CPW };
}

function directProgram(
  p: Plane,
  flip: boolean,
  label: string,
  limits: KernelLimits,
  tiles?: DirectTiles,
): KernelProgram {
  const t = tiles ?? chooseDirect(p, limits);
  if (!t) {
    throw new Error(
      `depthwise: a ${p.kh}×${p.kw} kernel tile does not fit ${limits.maxWorkgroupStorage} B of workgroup memory`,
    );
  }
  const { VW, RH, TWt, THt, CPW } = t;
  const PER = TWt * THt;
  const NT = PER * CPW;
  const TW = VW * TWt, TH = RH * THt;
  const IH = (TH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const IW = (TW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const IWp = roundUp(IW, 4);
  const kwp = roundUp(p.kw, 4);
  const tilesX = Math.ceil(p.Wout / TW), tilesY = Math.ceil(p.Hout / TH);
  const cBlocks = Math.ceil(p.C / CPW);
  const total = p.N * cBlocks * tilesY * tilesX;
  const grid = foldGrid(total);
  const whole = tilesX === 1 && TWt === 1;
  const LW = (VW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const SPAN = (RH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const b: string[] = [];
  if (grid.guard) b.push(grid.guard);
  b.push(
    `let wid = ${grid.flatId};`,
    `let tx0 = wid % ${u32(tilesX)};`,
    `let ty0 = (wid / ${u32(tilesX)}) % ${u32(tilesY)};`,
    `let cb = (wid / ${u32(tilesX * tilesY)}) % ${u32(cBlocks)};`,
    `let n = wid / ${u32(tilesX * tilesY * cBlocks)};`,
    `let c0 = cb * ${u32(CPW)};`,
    `let iy_t = ty0 * ${u32(TH * p.sh)};`,
    `let ix_t = tx0 * ${u32(TW * p.sw)};`,
    // Stage the input tile (+ halo; zeros outside the plane) and the kernels.
    `for (var i = lid; i < ${u32(CPW * IH * IWp)}; i += ${u32(NT)}) {`,
    `  let cc = c0 + i / ${u32(IH * IWp)};`,
    `  let iy = iy_t + (i / ${u32(IWp)}) % ${u32(IH)} - ${u32(p.pt)};`,
    `  let ix = ix_t + i % ${u32(IWp)} - ${u32(p.pl)};`,
    `  let ok = cc < ${u32(p.C)} && iy < ${u32(p.Hin)} && ix < ${u32(p.Win)};`,
    `  let src = ((n * ${u32(p.C)} + cc) * ${u32(p.Hin)} + iy) * ${u32(p.Win)} + ix;`,
    `  xs[i / 4u][i % 4u] = select(0.0, xin[select(0u, src, ok)], ok);`,
    "}",
    `for (var i = lid; i < ${u32(CPW * p.kh * kwp)}; i += ${u32(NT)}) {`,
    `  let cc = c0 + i / ${u32(p.kh * kwp)};`,
    `  var ky = (i / ${u32(kwp)}) % ${u32(p.kh)};`,
    `  var kx = i % ${u32(kwp)};`,
    `  let ok = cc < ${u32(p.C)} && kx < ${u32(p.kw)};`,
    ...(flip ? [`  ky = ${u32(p.kh - 1)} - ky;`, `  kx = ${u32(p.kw - 1)} - kx;`] : []),
    `  ws[i / 4u][i % 4u] = select(0.0, win[select(0u, (cc * ${u32(p.kh)} + ky) * ${u32(p.kw)} + kx, ok)], ok);`,
    "}",
    "workgroupBarrier();",
    `let ch = lid / ${u32(PER)};`,
    `let t = lid % ${u32(PER)};`,
    `let tyt = t / ${u32(TWt)};`,
    `let txt = t % ${u32(TWt)};`,
    `let c = c0 + ch;`,
    `let ybase = tyt * ${u32(RH * p.sh)};`,
  );
  for (let r = 0; r < RH; r++) for (let j = 0; j < VW; j++) b.push(`var acc${r}_${j} = 0.0;`);
  // Input rows of this thread that lie inside the plane.
  b.push(
    `let iy0 = i32(iy_t + ybase) - ${i32(p.pt)};`,
    `let ir0 = u32(max(0i, -iy0));`,
    `let ir1 = u32(clamp(${i32(p.Hin)} - iy0, 0i, ${i32(SPAN)}));`,
    "for (var ir = ir0; ir < ir1; ir++) {",
    `  let rb = (ch * ${u32(IH)} + ybase + ir) * ${u32(IWp / 4)} + txt * ${u32((VW * p.sw) / 4)};`,
  );
  // Which (j, kx) pairs contribute, and which window vec4s they touch.
  const live = (j: number, kx: number) => {
    if (!whole) return true;
    const col = j * p.sw + kx * p.dw - p.pl;
    return j < p.Wout && col >= 0 && col < p.Win;
  };
  const used = new Set<number>();
  for (let j = 0; j < VW; j++) for (let kx = 0; kx < p.kw; kx++) if (live(j, kx)) used.add((j * p.sw + kx * p.dw) >> 2);
  for (let v = 0; v < Math.ceil(LW / 4); v++) if (used.has(v)) b.push(`  let xv${v} = xs[rb + ${u32(v)}];`);
  for (let r = 0; r < RH; r++) {
    b.push(`  let d${r} = ir - ${u32(r * p.sh)};`);
    const cond = p.dh === 1 ? `d${r} < ${u32(p.kh)}` : `d${r} < ${u32(p.kh * p.dh)} && d${r} % ${u32(p.dh)} == 0u`;
    b.push(
      `  if (${cond}) {`,
      `    let wr = (ch * ${u32(p.kh)} + d${r}${p.dh === 1 ? "" : ` / ${u32(p.dh)}`}) * ${u32(kwp / 4)};`,
    );
    const wUsed = new Set<number>();
    for (let j = 0; j < VW; j++) for (let kx = 0; kx < p.kw; kx++) if (live(j, kx)) wUsed.add(kx >> 2);
    for (const v of [...wUsed].sort((a, z) => a - z)) b.push(`    let wv${v} = ws[wr + ${u32(v)}];`);
    for (let kx = 0; kx < p.kw; kx++) {
      for (let j = 0; j < VW; j++) {
        if (!live(j, kx)) continue;
        const e = j * p.sw + kx * p.dw;
        b.push(`    acc${r}_${j} = fma(xv${e >> 2}.${XYZW[e & 3]}, wv${kx >> 2}.${XYZW[kx & 3]}, acc${r}_${j});`);
      }
    }
    b.push("  }");
  }
  b.push("}");
  for (let r = 0; r < RH; r++) {
    b.push(`let oy${r} = ty0 * ${u32(TH)} + tyt * ${u32(RH)} + ${u32(r)};`);
    const js = Array.from({ length: whole ? Math.min(VW, p.Wout) : VW }, (_, j) => j);
    b.push(`if (c < ${u32(p.C)} && oy${r} < ${u32(p.Hout)}) {`);
    b.push(`  let ob${r} = ((n * ${u32(p.C)} + c) * ${u32(p.Hout)} + oy${r}) * ${u32(p.Wout)};`);
    for (const j of js) {
      const ox = `tx0 * ${u32(TW)} + txt * ${u32(VW)} + ${u32(j)}`;
      if (whole || p.Wout % TW === 0) b.push(`  out[ob${r} + ${ox}] = acc${r}_${j};`);
      else b.push(`  if (${ox} < ${u32(p.Wout)}) { out[ob${r} + ${ox}] = acc${r}_${j}; }`);
    }
    b.push("}");
  }
  const decls = [
    bindingDecl(0, "xin", "f32", "read"),
    bindingDecl(1, "win", "f32", "read"),
    bindingDecl(2, "out", "f32", "read_write"),
    `var<workgroup> xs: array<vec4<f32>, ${(CPW * IH * IWp) / 4}>;`,
    `var<workgroup> ws: array<vec4<f32>, ${(CPW * p.kh * kwp) / 4}>;`,
  ];
  const inSize = p.N * p.C * p.Hin * p.Win, outSize = p.N * p.C * p.Hout * p.Wout;
  return {
    inputs: [{ dtype: "f32", size: inSize }, { dtype: "f32", size: p.C * p.kh * p.kw }],
    outputs: [{ dtype: "f32", size: outSize }],
    scratch: [],
    flops: 2 * outSize * p.kh * p.kw,
    bytes: 4 * (inSize + outSize + p.C * p.kh * p.kw),
    dispatches: [{
      label,
      code: shaderSource({ decls, workgroupSize: NT, body: b }),
      bindings: [ref.input(0), ref.input(1), ref.output(0)],
      workgroups: grid.workgroups,
    }],
  };
}

function tag(g: ConvGeometry): string {
  return `${g.N}x${g.C}x${g.H}x${g.W}_k${g.kh}x${g.kw}`;
}

function forwardPlane(g: ConvGeometry): Plane {
  return { ...g, Hin: g.H, Win: g.W, Hout: g.Ho, Wout: g.Wo };
}

/** Tiles of the direct forward kernel for a geometry, or null when even the smallest tile overflows workgroup memory. */
export function depthwiseForwardTiles(g: ConvGeometry, limits: KernelLimits = DEFAULT_LIMITS): DirectTiles | null {
  return chooseDirect(forwardPlane(g), limits);
}

/** Depthwise forward: inputs (x, w), output y. */
export function depthwiseForward(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
  tiles?: DirectTiles,
): KernelProgram {
  return directProgram(forwardPlane(g), false, `depthwise_${tag(g)}`, limits, tiles);
}

/**
 * Depthwise input gradient: inputs (dy, w), output dx. Stride 1 runs the direct kernel with the kernel flipped;
 * strided convolutions (or tiles that do not fit) use a per-element gather kernel.
 */
export function depthwiseInputGrad(g: ConvGeometry, limits: KernelLimits = DEFAULT_LIMITS): KernelProgram {
  const pt = (g.kh - 1) * g.dh - g.pt, pl = (g.kw - 1) * g.dw - g.pl;
  if (g.sh === 1 && g.sw === 1 && pt >= 0 && pl >= 0) {
    const p: Plane = { ...g, Hin: g.Ho, Win: g.Wo, Hout: g.H, Wout: g.W, pt, pl };
    const tiles = chooseDirect(p, limits);
    if (tiles) return directProgram(p, true, `depthwise_dx_${tag(g)}`, limits, tiles);
  }
  return gatherInputGrad(g);
}

// Strided (or over-padded) depthwise input gradient: one thread per dx element, looping over the taps.
function gatherInputGrad(g: ConvGeometry): KernelProgram {
  const size = g.N * g.C * g.H * g.W;
  const grid = foldGrid(Math.ceil(size / 256));
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let i = ${grid.flatId} * 256u + lid;`,
    `if (i >= ${u32(size)}) { return; }`,
    `let w = i % ${u32(g.W)};`,
    `let h = (i / ${u32(g.W)}) % ${u32(g.H)};`,
    `let nc = i / ${u32(g.H * g.W)};`,
    `let c = nc % ${u32(g.C)};`,
    "var acc = 0.0;",
    `for (var ky = 0u; ky < ${u32(g.kh)}; ky++) {`,
    `  let ty = h + ${u32(g.pt)} - ky * ${u32(g.dh)};`,
    `  let oy = ty / ${u32(g.sh)};`,
    `  if (ty % ${u32(g.sh)} != 0u || oy >= ${u32(g.Ho)}) { continue; }`,
    `  for (var kx = 0u; kx < ${u32(g.kw)}; kx++) {`,
    `    let tx = w + ${u32(g.pl)} - kx * ${u32(g.dw)};`,
    `    let ox = tx / ${u32(g.sw)};`,
    `    if (tx % ${u32(g.sw)} != 0u || ox >= ${u32(g.Wo)}) { continue; }`,
    `    acc = fma(dyin[(nc * ${u32(g.Ho)} + oy) * ${u32(g.Wo)} + ox], win[(c * ${u32(g.kh)} + ky) * ${
      u32(g.kw)
    } + kx], acc);`,
    "  }",
    "}",
    "out[i] = acc;",
  ];
  const decls = [
    bindingDecl(0, "dyin", "f32", "read"),
    bindingDecl(1, "win", "f32", "read"),
    bindingDecl(2, "out", "f32", "read_write"),
  ];
  const dySize = g.N * g.C * g.Ho * g.Wo;
  return {
    inputs: [{ dtype: "f32", size: dySize }, { dtype: "f32", size: g.C * g.kh * g.kw }],
    outputs: [{ dtype: "f32", size }],
    scratch: [],
    flops: 2 * dySize * g.kh * g.kw,
    bytes: 4 * (dySize + size + g.C * g.kh * g.kw),
    dispatches: [{
      label: `depthwise_dx_gather_${tag(g)}`,
      code: shaderSource({ decls, workgroupSize: 256, body }),
      bindings: [ref.input(0), ref.input(1), ref.output(0)],
      workgroups: grid.workgroups,
    }],
  };
}

/** Tile parameters of the weight-gradient kernel. */
export interface WeightGradTiles {
  /** Output tile width (multiple of 4). */
  readonly TW: number;
  /** Output tile height. */
  readonly TH: number;
  /** Kernel rows per thread. */
  readonly RK: number;
  /** Kernel columns per thread (multiple of 4). */
  readonly VK: number;
  /** Row subsets per tap block (threads = tap blocks × PG). */
  readonly PG: number;
  /** Images per workgroup. */
  readonly NB: number;
}

function chooseWeightGrad(g: ConvGeometry, limits: KernelLimits): WeightGradTiles | null {
  let TW = Math.min(16, roundUp(g.Wo, 4));
  let TH = Math.min(16, g.Ho);
  const VK = g.kw >= 8 ? 8 : 4;
  // Thread blocks of RK×VK taps; more kernel rows per thread for large kernels, and at most 256 blocks.
  let RK = g.kh >= 12 ? 2 : 1;
  while (Math.ceil(g.kh / RK) * Math.ceil(g.kw / VK) > 256) RK++;
  const blocks = Math.ceil(g.kh / RK) * Math.ceil(g.kw / VK);
  const words = () =>
    ((TH - 1) * g.sh + (g.kh - 1) * g.dh + 1) * roundUp((TW - 1) * g.sw + (g.kw - 1) * g.dw + 1 + VK, 4) + TH * TW;
  while (words() * 4 > limits.maxWorkgroupStorage) {
    if (TH > 1) TH--;
    else if (TW > 4) TW -= 4;
    else return null;
  }
  const PG = Math.max(1, Math.min(TH, Math.floor(160 / blocks)));
  const tiles = Math.ceil(g.Ho / TH) * Math.ceil(g.Wo / TW);
  const NB = Math.max(1, Math.min(g.N, Math.floor((g.N * g.C * tiles) / 2048)));
  return { TW, TH, RK, VK, PG, NB };
}

/** Tiles of the weight-gradient kernel for a geometry, or null when they overflow workgroup memory. */
export function depthwiseWeightGradTiles(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
): WeightGradTiles | null {
  return chooseWeightGrad(g, limits);
}

/** Depthwise weight gradient: inputs (x, dy), output dw `[C, 1, kh, kw]`. */
export function depthwiseWeightGrad(
  g: ConvGeometry,
  limits: KernelLimits = DEFAULT_LIMITS,
  tiles: WeightGradTiles | null = chooseWeightGrad(g, limits),
): KernelProgram {
  if (!tiles) {
    throw new Error(`depthwise: a ${g.kh}×${g.kw} weight-gradient tile does not fit ${limits.maxWorkgroupStorage} B`);
  }
  const { TW, TH, RK, VK, PG, NB } = tiles;
  const KB = Math.ceil(g.kh / RK), XB = Math.ceil(g.kw / VK);
  const NT = KB * XB * PG;
  const IH = (TH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  // Each thread's window starts at its tap block (kxb·VK·dw) and spans the tile width plus its taps.
  const LW = (TW - 1) * g.sw + (VK - 1) * g.dw + 1;
  const IWp = roundUp(Math.max((XB - 1) * VK * g.dw + LW, (TW - 1) * g.sw + (g.kw - 1) * g.dw + 1), 4);
  const tilesX = Math.ceil(g.Wo / TW), tilesY = Math.ceil(g.Ho / TH);
  const nChunks = Math.ceil(g.N / NB);
  const total = g.C * nChunks * tilesY * tilesX;
  const grid = foldGrid(total);
  const taps = g.kh * g.kw;
  const P = nChunks * tilesY * tilesX * PG;
  const b: string[] = [];
  if (grid.guard) b.push(grid.guard);
  b.push(
    `let wid = ${grid.flatId};`,
    `let tx0 = wid % ${u32(tilesX)};`,
    `let ty0 = (wid / ${u32(tilesX)}) % ${u32(tilesY)};`,
    `let nch = (wid / ${u32(tilesX * tilesY)}) % ${u32(nChunks)};`,
    `let c = wid / ${u32(tilesX * tilesY * nChunks)};`,
    `let pg = lid % ${u32(PG)};`,
    `let blk = lid / ${u32(PG)};`,
    `let kyb = blk / ${u32(XB)};`,
    `let kxb = blk % ${u32(XB)};`,
    `let iy_t = ty0 * ${u32(TH * g.sh)};`,
    `let ix_t = tx0 * ${u32(TW * g.sw)};`,
  );
  for (let rk = 0; rk < RK; rk++) for (let v = 0; v < VK; v++) b.push(`var acc${rk}_${v} = 0.0;`);
  b.push(
    `for (var nb = 0u; nb < ${u32(NB)}; nb++) {`,
    `  let n = nch * ${u32(NB)} + nb;`,
    `  if (n >= ${u32(g.N)}) { break; }`,
    "  workgroupBarrier();",
    `  for (var i = lid; i < ${u32(IH * IWp)}; i += ${u32(NT)}) {`,
    `    let iy = iy_t + i / ${u32(IWp)} - ${u32(g.pt)};`,
    `    let ix = ix_t + i % ${u32(IWp)} - ${u32(g.pl)};`,
    `    let ok = iy < ${u32(g.H)} && ix < ${u32(g.W)};`,
    `    let src = ((n * ${u32(g.C)} + c) * ${u32(g.H)} + iy) * ${u32(g.W)} + ix;`,
    `    xs[i / 4u][i % 4u] = select(0.0, xin[select(0u, src, ok)], ok);`,
    "  }",
    `  for (var i = lid; i < ${u32(TH * TW)}; i += ${u32(NT)}) {`,
    `    let oy = ty0 * ${u32(TH)} + i / ${u32(TW)};`,
    `    let ox = tx0 * ${u32(TW)} + i % ${u32(TW)};`,
    `    let ok = oy < ${u32(g.Ho)} && ox < ${u32(g.Wo)};`,
    `    let src = ((n * ${u32(g.C)} + c) * ${u32(g.Ho)} + oy) * ${u32(g.Wo)} + ox;`,
    `    dys[i / 4u][i % 4u] = select(0.0, dyin[select(0u, src, ok)], ok);`,
    "  }",
    "  workgroupBarrier();",
    `  for (var y = pg; y < ${u32(TH)}; y += ${u32(PG)}) {`,
  );
  for (let v = 0; v < TW / 4; v++) b.push(`    let dv${v} = dys[y * ${u32(TW / 4)} + ${u32(v)}];`);
  for (let rk = 0; rk < RK; rk++) {
    b.push(
      `    let ky${rk} = kyb * ${u32(RK)} + ${u32(rk)};`,
      `    let xr${rk} = y * ${u32(g.sh)} + ky${rk} * ${u32(g.dh)};`,
      // Skip kernel rows past the kernel and input rows inside the padding.
      `    if (ky${rk} < ${u32(g.kh)} && iy_t + xr${rk} - ${u32(g.pt)} < ${u32(g.H)}) {`,
      `      let rb${rk} = (xr${rk} * ${u32(IWp)} + kxb * ${u32(VK * g.dw)}) / 4u;`,
    );
    for (let v = 0; v < Math.ceil(LW / 4); v++) b.push(`      let xv${rk}_${v} = xs[rb${rk} + ${u32(v)}];`);
    for (let x = 0; x < TW; x++) {
      for (let v = 0; v < VK; v++) {
        const e = x * g.sw + v * g.dw;
        b.push(
          `      acc${rk}_${v} = fma(dv${x >> 2}.${XYZW[x & 3]}, xv${rk}_${e >> 2}.${XYZW[e & 3]}, acc${rk}_${v});`,
        );
      }
    }
    b.push("    }");
  }
  b.push("  }", "}");
  // Partials: part[(chunk·PG + pg), c, ky, kx], chunk enumerating (image run, tile).
  b.push(`let slot = ((nch * ${u32(tilesY)} + ty0) * ${u32(tilesX)} + tx0) * ${u32(PG)} + pg;`);
  for (let rk = 0; rk < RK; rk++) {
    b.push(`let oky${rk} = kyb * ${u32(RK)} + ${u32(rk)};`);
    for (let v = 0; v < VK; v++) {
      b.push(
        `if (oky${rk} < ${u32(g.kh)} && kxb * ${u32(VK)} + ${u32(v)} < ${u32(g.kw)}) {`,
        `  part[(slot * ${u32(g.C)} + c) * ${u32(taps)} + oky${rk} * ${u32(g.kw)} + kxb * ${u32(VK)} + ${
          u32(v)
        }] = acc${rk}_${v};`,
        "}",
      );
    }
  }
  const decls = [
    bindingDecl(0, "xin", "f32", "read"),
    bindingDecl(1, "dyin", "f32", "read"),
    bindingDecl(2, "part", "f32", "read_write"),
    `var<workgroup> xs: array<vec4<f32>, ${(IH * IWp) / 4}>;`,
    `var<workgroup> dys: array<vec4<f32>, ${(TH * TW) / 4}>;`,
  ];
  const main = {
    label: `depthwise_dw_${tag(g)}`,
    code: shaderSource({ decls, workgroupSize: NT, body: b }),
    bindings: [ref.input(0), ref.input(1), ref.scratch(0, true)],
    workgroups: grid.workgroups,
  };
  const sum = reduceKernel({
    shape: [P, g.C * taps],
    axes: [0],
    op: "sum",
    expr: { inputs: ["f32"], nodes: [{ op: "load", input: 0, view: contiguousView([P, g.C * taps]) }], outputs: [0] },
    label: `depthwise_dw_sum_${tag(g)}`,
  });
  const rest = remapBindings(
    sum.dispatches,
    (r): BufferRef =>
      r.kind === "input"
        ? { kind: "scratch", index: 0 }
        : r.kind === "scratch"
        ? { kind: "scratch", index: r.index + 1 }
        : r,
  );
  const xSize = g.N * g.C * g.H * g.W, dySize = g.N * g.C * g.Ho * g.Wo;
  return {
    inputs: [{ dtype: "f32", size: xSize }, { dtype: "f32", size: dySize }],
    outputs: [{ dtype: "f32", size: g.C * taps }],
    scratch: [{ dtype: "f32", size: P * g.C * taps }, ...sum.scratch],
    flops: 2 * dySize * taps,
    bytes: 4 * (xSize + dySize + g.C * taps),
    dispatches: [main, ...rest],
  };
}
