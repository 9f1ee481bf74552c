/**
 * Tiled depthwise weight gradient for planes wider than the whole-plane kernel takes (the 64×62 ConvNeXt stage).
 *
 * A workgroup takes one output channel, a spatial tile and a run of images; the x tile (+ halo) and the dy tile are
 * staged per image, each thread owns a block of RK×VK taps and a subset of tile rows and slides along the tile width
 * in registers. Partial sums per (workgroup, row subset) go to scratch and a second dispatch sums them.
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import { windowSumDispatch } from "./depthwise_dw_sum.ts";
import { geometryTag } from "./depthwise_geometry.ts";
import { stageLines } from "./depthwise_stage.ts";
import { type KernelLimits, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, foldGrid, shaderSource, u32 } from "./wgsl.ts";

const XYZW = ["x", "y", "z", "w"];
const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Tile parameters of the tiled weight-gradient kernel. */
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

/** Tiles for a geometry, or null when they overflow workgroup memory. */
export function chooseTiledWeightGrad(g: ConvGeometry, limits: KernelLimits): WeightGradTiles | null {
  let TW = Math.min(16, roundUp(g.Wo, 4));
  let TH = Math.min(16, g.Ho);
  // Eight kernel columns per thread from 7×7 up (H100 sweep: 12 % faster than four at 7×7 and 23×23).
  const VK = g.kw >= 7 ? 8 : 4;
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
  const NB = Math.max(1, Math.min(g.N, Math.floor((g.N * g.O * tiles) / 2048)));
  return { TW, TH, RK, VK, PG, NB };
}

/** The tiled weight gradient: inputs (x, dy), output dw `[O, 1, kh, kw]`. */
export function tiledWeightGrad(g: ConvGeometry, tiles: WeightGradTiles): KernelProgram {
  const { TW, TH, RK, VK, PG, NB } = tiles;
  const KB = Math.ceil(g.kh / RK), XB = Math.ceil(g.kw / VK);
  const NT = KB * XB * PG;
  const IH = (TH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  // Each thread's window starts at its tap block (kxb·VK·dw) and spans the tile width plus its taps.
  const LW = (TW - 1) * g.sw + (VK - 1) * g.dw + 1;
  const IWp = roundUp(Math.max((XB - 1) * VK * g.dw + LW, (TW - 1) * g.sw + (g.kw - 1) * g.dw + 1), 4);
  const tilesX = Math.ceil(g.Wo / TW), tilesY = Math.ceil(g.Ho / TH);
  const nChunks = Math.ceil(g.N / NB);
  const total = g.O * nChunks * tilesY * tilesX;
  const grid = foldGrid(total);
  const taps = g.kh * g.kw;
  const P = nChunks * tilesY * tilesX * PG;
  const xc = g.Og === 1 ? "c" : `c / ${u32(g.Og)}`;
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
    ...stageLines({
      count: IH * IWp,
      from: "xin",
      into: "xs",
      threads: NT,
      decode: (i, x) => ({
        lines: [
          `let iy${x} = iy_t + ${i} / ${u32(IWp)} - ${u32(g.pt)};`,
          `let ix${x} = ix_t + ${i} % ${u32(IWp)} - ${u32(g.pl)};`,
        ],
        ok: `iy${x} < ${u32(g.H)} && ix${x} < ${u32(g.W)}`,
        src: `((n * ${u32(g.C)} + ${xc}) * ${u32(g.H)} + iy${x}) * ${u32(g.W)} + ix${x}`,
        dst: i,
      }),
    }).map((l) => `  ${l}`),
    ...stageLines({
      count: TH * TW,
      from: "dyin",
      into: "dys",
      threads: NT,
      decode: (i, x) => ({
        lines: [
          `let oy${x} = ty0 * ${u32(TH)} + ${i} / ${u32(TW)};`,
          `let ox${x} = tx0 * ${u32(TW)} + ${i} % ${u32(TW)};`,
        ],
        ok: `oy${x} < ${u32(g.Ho)} && ox${x} < ${u32(g.Wo)}`,
        src: `((n * ${u32(g.O)} + c) * ${u32(g.Ho)} + oy${x}) * ${u32(g.Wo)} + ox${x}`,
        dst: i,
      }),
    }).map((l) => `  ${l}`),
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
        `  part[(slot * ${u32(g.O)} + c) * ${u32(taps)} + oky${rk} * ${u32(g.kw)} + kxb * ${u32(VK)} + ${
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
  const tag = geometryTag(g);
  const main = {
    label: `depthwise_dw_${tag}`,
    code: shaderSource({ decls, workgroupSize: NT, body: b }),
    bindings: [ref.input(0), ref.input(1), ref.scratch(0, true)],
    workgroups: grid.workgroups,
  };
  const window = { ky0: 0, kx0: 0, KHw: g.kh, KWw: g.kw };
  const xSize = g.N * g.C * g.H * g.W, dySize = g.N * g.O * g.Ho * g.Wo;
  return {
    inputs: [{ dtype: "f32", size: xSize }, { dtype: "f32", size: dySize }],
    outputs: [{ dtype: "f32", size: g.O * taps }],
    scratch: [{ dtype: "f32", size: P * g.O * taps }],
    flops: 2 * dySize * taps,
    bytes: 4 * (xSize + dySize + g.O * taps),
    dispatches: [main, windowSumDispatch(`depthwise_dw_sum_${tag}`, P, g.O, g.kh, g.kw, window)],
  };
}
