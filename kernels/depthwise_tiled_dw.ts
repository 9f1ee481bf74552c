/**
 * Tiled depthwise weight gradient for planes wider than the whole-plane kernel takes (the 64×62 ConvNeXt stage).
 *
 * A workgroup takes one output channel, a spatial tile and a run of images; the x tile (+ halo) and the dy tile are
 * staged per image, each thread owns a block of RK×VK taps and a subset of tile rows and slides along the tile width
 * in registers. Partial sums per (workgroup, row subset) go to scratch and a second dispatch sums them.
 *
 * Row subsets are either interleaved rows (y ≡ pg mod PG: per output row, one x row per kernel row of the block is
 * read) or, with `bands`, contiguous bands of rows walked in x-row order, fully unrolled: each x row of the band's
 * window is read from workgroup memory once and meets the dy rows (held in registers) of every kernel row it feeds,
 * so a thread reads TB + RK − 1 x rows instead of TB·RK.
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import { windowSumDispatch } from "./depthwise_dw_sum.ts";
import { geometryTag } from "./depthwise_geometry.ts";
import { stageLines } from "./depthwise_stage.ts";
import { type KernelLimits, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, foldGrid, shaderSource, u32, XYZW } from "./wgsl.ts";

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
  /** Contiguous bands of ⌈TH / PG⌉ rows walked in x-row order (see the module doc), instead of interleaved rows. */
  readonly bands?: boolean;
}

/** Tiles for a geometry, or null when they overflow workgroup memory. */
export function chooseTiledWeightGrad(g: ConvGeometry, limits: KernelLimits): WeightGradTiles | null {
  let TW = Math.min(16, roundUp(g.Wo, 4));
  let TH = Math.min(16, g.Ho);
  // Eight kernel columns per thread from 7×7 up (H100 sweep: 12 % faster than four at 7×7 and 23×23); twelve from 12
  // columns (23×23 at 64×62: two blocks of 12, 1.12 ms against 1.47 for three of 8 in run 6's sweeps).
  const VK = g.kw >= 12 ? 12 : g.kw >= 7 ? 8 : 4;
  // One kernel row per thread (two or four were slower at every geometry swept), more only past 256 tap blocks.
  let RK = 1;
  while (Math.ceil(g.kh / RK) * Math.ceil(g.kw / VK) > 256) RK++;
  const blocks = Math.ceil(g.kh / RK) * Math.ceil(g.kw / VK);
  const words = () =>
    ((TH - 1) * g.sh + (g.kh - 1) * g.dh + 1) * roundUp((TW - 1) * g.sw + (g.kw - 1) * g.dw + 1 + VK, 4) + TH * TW;
  while (words() * 4 > limits.maxWorkgroupStorage) {
    if (TH > 1) TH--;
    else if (TW > 4) TW -= 4;
    else return null;
  }
  // Row groups: the most that divide the tile's rows evenly within the device's invocations (and 256).
  let PG = Math.max(1, Math.min(TH, Math.floor(Math.min(256, limits.maxInvocations) / blocks)));
  while (TH % PG !== 0) PG--;
  const tiles = Math.ceil(g.Ho / TH) * Math.ceil(g.Wo / TW);
  // Images per workgroup: about 2048 workgroups' worth, rounded up to equal runs (64 images in runs of 48 left the
  // second run a third full; one run of 64 was 21 % faster for 7×7 at 64×62 on the H100, two of 32 25 % at 32×31).
  const NB0 = Math.max(1, Math.min(g.N, Math.floor((g.N * g.O * tiles) / 2048)));
  const NB = Math.ceil(g.N / Math.max(1, Math.floor(g.N / NB0)));
  return { TW, TH, RK, VK, PG, NB };
}

/** The tiled weight gradient: inputs (x, dy), output dw `[O, 1, kh, kw]`. */
export function tiledWeightGrad(g: ConvGeometry, tiles: WeightGradTiles): KernelProgram {
  const { TW, TH, RK, VK, PG, NB } = tiles;
  const KB = Math.ceil(g.kh / RK), XB = Math.ceil(g.kw / VK);
  const NT = KB * XB * PG;
  const TB = Math.ceil(TH / PG);
  const bands = !!tiles.bands && g.sh === 1 && g.dh === 1;
  // Bands read x rows up to the last kernel-row block's end (KB·RK rows, zeros past the kernel) for every band row.
  const IH = bands ? PG * TB + KB * RK - 1 : (TH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
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
      count: (bands ? PG * TB : TH) * TW,
      from: "dyin",
      into: "dys",
      threads: NT,
      decode: (i, x) => ({
        lines: [
          `let oy${x} = ty0 * ${u32(TH)} + ${i} / ${u32(TW)};`,
          `let ox${x} = tx0 * ${u32(TW)} + ${i} % ${u32(TW)};`,
        ],
        ok: `oy${x} < ${u32(g.Ho)} && ox${x} < ${u32(g.Wo)}${
          bands && PG * TB > TH ? ` && ${i} < ${u32(TH * TW)}` : ""
        }`,
        src: `((n * ${u32(g.O)} + c) * ${u32(g.Ho)} + oy${x}) * ${u32(g.Wo)} + ox${x}`,
        dst: i,
      }),
    }).map((l) => `  ${l}`),
    "  workgroupBarrier();",
  );
  if (bands) bandLines(b, g, tiles, TB, IWp, LW);
  else interleavedLines(b, g, tiles, IWp, LW);
  b.push("}");
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
    `var<workgroup> dys: array<vec4<f32>, ${((bands ? PG * TB : TH) * TW) / 4}>;`,
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

/**
 * The unrolled band walk: thread (kyb, kxb, pg) owns output rows [pg·TB, pg·TB + TB) of the tile and kernel rows
 * kyb·RK + rk. X row j of its window (tile row pg·TB + kyb·RK + j) feeds output row t = j − rk for each rk; it is read
 * once, and the band's dy rows stay in registers.
 */
function bandLines(b: string[], g: ConvGeometry, t: WeightGradTiles, TB: number, IWp: number, LW: number): void {
  const { TW, RK, VK } = t;
  b.push(`  let yb = pg * ${u32(TB)};`);
  for (let r = 0; r < TB; r++) {
    for (let v = 0; v < TW / 4; v++) b.push(`  let dv${r}_${v} = dys[(yb + ${u32(r)}) * ${u32(TW / 4)} + ${u32(v)}];`);
  }
  b.push(`  let xb = yb + kyb * ${u32(RK)};`);
  for (let j = 0; j < TB + RK - 1; j++) {
    // Input rows inside the padding hold staged zeros: skip them.
    b.push(
      `  if (iy_t + xb + ${u32(j)} - ${u32(g.pt)} < ${u32(g.H)}) {`,
      `    let rb${j} = ((xb + ${u32(j)}) * ${u32(IWp)} + kxb * ${u32(VK * g.dw)}) / 4u;`,
    );
    for (let v = 0; v < Math.ceil(LW / 4); v++) b.push(`    let xv${j}_${v} = xs[rb${j} + ${u32(v)}];`);
    for (let rk = 0; rk < RK; rk++) {
      const r = j - rk;
      if (r < 0 || r >= TB) continue;
      for (let x = 0; x < TW; x++) {
        for (let v = 0; v < VK; v++) {
          const e = x * g.sw + v * g.dw;
          b.push(
            `    acc${rk}_${v} = fma(dv${r}_${x >> 2}.${XYZW[x & 3]}, xv${j}_${e >> 2}.${XYZW[e & 3]}, acc${rk}_${v});`,
          );
        }
      }
    }
    b.push("  }");
  }
}

/** The interleaved walk: thread (kyb, kxb, pg) takes output rows y ≡ pg (mod PG), one x row per kernel row each. */
function interleavedLines(b: string[], g: ConvGeometry, t: WeightGradTiles, IWp: number, LW: number): void {
  const { TW, TH, RK, VK, PG } = t;
  b.push(`  for (var y = pg; y < ${u32(TH)}; y += ${u32(PG)}) {`);
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
  b.push("  }");
}
