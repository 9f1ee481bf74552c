/**
 * Tiled depthwise correlation (forward and stride-1 input gradient) for planes wider than the whole-plane kernel
 * takes (the 64×62 ConvNeXt stage).
 *
 * A workgroup computes a TH×TW output tile of CPW channels. The input tile plus halo and the kernels are staged in
 * workgroup memory; each thread owns RH rows × VW columns of outputs in named registers, walks the input rows once
 * (each row feeds up to RH output rows), reads its input window as vec4s and the kernel row as vec4s, and issues the
 * VW × kw FMAs fully unrolled. Rows that lie entirely in the padding are skipped; when a thread spans the whole output
 * width, taps that read padding columns are pruned at generation time.
 *
 * @module
 */
import { type Correlation, correlationProgram, inChannel, kernelSlot, summed } from "./depthwise_geometry.ts";
import { stageLines } from "./depthwise_stage.ts";
import type { KernelLimits, KernelProgram } from "./program.ts";
import { bindingDecl, foldGrid, u32, XYZW } from "./wgsl.ts";

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;
const i32 = (n: number) => `${n}i`;

/** Tile parameters of the tiled correlation. */
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
  /**
   * Fully unrolled kernel rows: each thread walks the kernel rows once, holding each staged input row it reads in
   * registers while the RH output rows it feeds use it, with constant workgroup-memory offsets and no per-row bounds.
   */
  readonly unroll?: boolean;
}

/**
 * Tiles for a correlation, or null when even the smallest tile overflows workgroup memory. From the H100 sweep
 * (bench/depthwise_sweep.ts): kernels up to 7×7 unroll their rows with two output rows per thread (1.8× the looped
 * form at 64×62) on 128 threads; larger kernels keep the row loop, whose body stays in the instruction cache (the
 * unrolled 23×23 ran 2× slower), with one row of eight outputs per thread on 256 threads (28.6 TFLOP/s at 64×62, 1.8×
 * the former 4×4 outputs on 64 threads). Both take one channel and a tile as tall as the threads allow; strided
 * correlations (FastViT's channel-doubling patch embeddings) ran fastest as 64 threads on each of two channels.
 */
export function chooseTiled(p: Correlation, limits: KernelLimits): DirectTiles | null {
  const whole = p.Wout <= 16;
  const large = p.kh * p.kw > 49;
  const strided = p.sh > 1 || p.sw > 1;
  const VW = whole ? roundUp(p.Wout, 4) : large ? 8 : 4;
  let RH = Math.min(whole || large ? 1 : 2, p.Hout);
  const budget = limits.maxWorkgroupStorage / 4;
  const words = (THt: number, TWt: number) => tiledWords(p, { VW, RH, TWt, THt, CPW: 1 });
  let TWt = whole ? 1 : Math.min(16, Math.ceil(p.Wout / VW));
  const T = Math.min(strided ? 64 : large ? 256 : 128, limits.maxInvocations);
  let THt = Math.max(1, Math.min(Math.ceil(p.Hout / RH), Math.floor(T / TWt)));
  // Shrink the tile (height, then width, then rows per thread) until the input tile, its halo and the kernel fit.
  while (words(THt, TWt) > budget) {
    if (THt > 1) THt--;
    else if (TWt > 1) TWt--;
    else if (RH > 1) RH--;
    else return null;
  }
  const wanted = strided ? 2 : Math.min(2, Math.max(1, Math.floor(T / (TWt * THt))));
  const CPW = Math.max(
    1,
    Math.min(p.Cout, wanted, Math.floor(limits.maxInvocations / (TWt * THt)), Math.floor(budget / words(THt, TWt))),
  );
  return { VW, RH, TWt, THt, CPW, unroll: !large };
}

/** Workgroup words (f32) the tiled correlation stages for tiles: each channel's input tile with its halo, and kernel. */
export function tiledWords(p: Correlation, t: Pick<DirectTiles, "VW" | "RH" | "TWt" | "THt" | "CPW">): number {
  const IH = (t.THt * t.RH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const IW = (t.TWt * t.VW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  return t.CPW * (IH * roundUp(IW, 4) + p.kh * roundUp(p.kw, 4));
}

/** The tiled correlation: inputs (x, w), output y (see the module doc). */
export function tiledProgram(p: Correlation, label: string, t: DirectTiles): KernelProgram {
  const { VW, RH, TWt, THt, CPW } = t;
  const PER = TWt * THt;
  const NT = PER * CPW;
  const TW = VW * TWt, TH = RH * THt;
  const IH = (TH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const IW = (TW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const IWp = roundUp(IW, 4);
  const kwp = roundUp(p.kw, 4);
  const tilesX = Math.ceil(p.Wout / TW), tilesY = Math.ceil(p.Hout / TH);
  const cBlocks = Math.ceil(p.Cout / CPW);
  const total = p.N * cBlocks * tilesY * tilesX;
  const grid = foldGrid(total);
  const whole = tilesX === 1 && TWt === 1;
  const LW = (VW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const SPAN = (RH - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  const S = summed(p);
  const s = S > 1 ? "s" : "0u";
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
    `let ch = lid / ${u32(PER)};`,
    `let t = lid % ${u32(PER)};`,
    `let tyt = t / ${u32(TWt)};`,
    `let txt = t % ${u32(TWt)};`,
    `let c = c0 + ch;`,
    `let ybase = tyt * ${u32(RH * p.sh)};`,
  );
  if (!t.unroll) {
    b.push(
      // Input rows of this thread that lie inside the plane.
      `let iy0 = i32(iy_t + ybase) - ${i32(p.pt)};`,
      `let ir0 = u32(max(0i, -iy0));`,
      `let ir1 = u32(clamp(${i32(p.Hin)} - iy0, 0i, ${i32(SPAN)}));`,
    );
  }
  for (let r = 0; r < RH; r++) for (let j = 0; j < VW; j++) b.push(`var acc${r}_${j} = 0.0;`);
  if (S > 1) b.push(`for (var s = 0u; s < ${u32(S)}; s++) {`, "workgroupBarrier();");
  b.push(
    // Stage the input tile (+ halo; zeros outside the plane) and the kernels.
    ...stageLines({
      count: CPW * IH * IWp,
      from: "xin",
      into: "xs",
      threads: NT,
      decode: (i, x) => ({
        lines: [
          `let cc${x} = c0 + ${i} / ${u32(IH * IWp)};`,
          `let iy${x} = iy_t + (${i} / ${u32(IWp)}) % ${u32(IH)} - ${u32(p.pt)};`,
          `let ix${x} = ix_t + ${i} % ${u32(IWp)} - ${u32(p.pl)};`,
        ],
        ok: `cc${x} < ${u32(p.Cout)} && iy${x} < ${u32(p.Hin)} && ix${x} < ${u32(p.Win)}`,
        src: `((n * ${u32(p.Cin)} + ${inChannel(p, `cc${x}`, s)}) * ${u32(p.Hin)} + iy${x}) * ${u32(p.Win)} + ix${x}`,
        dst: i,
      }),
    }),
    ...stageLines({
      count: CPW * p.kh * kwp,
      from: "win",
      into: "ws",
      threads: NT,
      decode: (i, x) => {
        const ky = `(${i} / ${u32(kwp)}) % ${u32(p.kh)}`, kx = `${i} % ${u32(kwp)}`;
        return {
          lines: [
            `let cc${x} = c0 + ${i} / ${u32(p.kh * kwp)};`,
            `let ky${x} = ${p.flip ? `${u32(p.kh - 1)} - ${ky}` : ky};`,
            `let kx${x} = ${p.flip ? `${u32(p.kw - 1)} - ${kx}` : kx};`,
          ],
          // Flipped, the pitch padding kx ≥ kw wraps to huge values, so one bound serves both orientations.
          ok: `cc${x} < ${u32(p.Cout)} && kx${x} < ${u32(p.kw)}`,
          src: `(${kernelSlot(p, `cc${x}`, s)} * ${u32(p.kh)} + ky${x}) * ${u32(p.kw)} + kx${x}`,
          dst: i,
        };
      },
    }),
    "workgroupBarrier();",
  );
  // Which (j, kx) pairs contribute, and which window vec4s they touch.
  const live = (j: number, kx: number) => {
    if (!whole) return true;
    const col = j * p.sw + kx * p.dw - p.pl;
    return j < p.Wout && col >= 0 && col < p.Win;
  };
  const used = new Set<number>();
  for (let j = 0; j < VW; j++) for (let kx = 0; kx < p.kw; kx++) if (live(j, kx)) used.add((j * p.sw + kx * p.dw) >> 2);
  const wUsed = new Set<number>();
  for (let j = 0; j < VW; j++) for (let kx = 0; kx < p.kw; kx++) if (live(j, kx)) wUsed.add(kx >> 2);
  const fmas = (pad: string, acc: (j: number) => string, xv: (v: number) => string, wv: (v: number) => string) => {
    for (let kx = 0; kx < p.kw; kx++) {
      for (let j = 0; j < VW; j++) {
        if (!live(j, kx)) continue;
        const e = j * p.sw + kx * p.dw;
        b.push(`${pad}${acc(j)} = fma(${xv(e >> 2)}.${XYZW[e & 3]}, ${wv(kx >> 2)}.${XYZW[kx & 3]}, ${acc(j)});`);
      }
    }
  };
  if (t.unroll) {
    // Kernel rows in order; input row `r·sh + ky·dh` of the thread's window is loaded at its first use and reused by
    // the later (r, ky) pairs reading it (with sh = dh = 1, one new row per kernel row). Padding rows are staged zeros.
    b.push(
      `let rb = (ch * ${u32(IH)} + ybase) * ${u32(IWp / 4)} + txt * ${u32((VW * p.sw) / 4)};`,
      `let wr = ch * ${u32((p.kh * kwp) / 4)};`,
    );
    const loaded = new Set<number>();
    for (let ky = 0; ky < p.kh; ky++) {
      for (const v of [...wUsed].sort((a, z) => a - z)) {
        b.push(`let w${ky}_${v} = ws[wr + ${u32((ky * kwp) / 4 + v)}];`);
      }
      for (let r = 0; r < RH; r++) {
        const row = r * p.sh + ky * p.dh;
        if (!loaded.has(row)) {
          loaded.add(row);
          for (const v of [...used].sort((a, z) => a - z)) {
            b.push(`let x${row}_${v} = xs[rb + ${u32((row * IWp) / 4 + v)}];`);
          }
        }
        fmas("", (j) => `acc${r}_${j}`, (v) => `x${row}_${v}`, (v) => `w${ky}_${v}`);
      }
    }
  } else {
    b.push(
      "for (var ir = ir0; ir < ir1; ir++) {",
      `  let rb = (ch * ${u32(IH)} + ybase + ir) * ${u32(IWp / 4)} + txt * ${u32((VW * p.sw) / 4)};`,
    );
    for (let v = 0; v < Math.ceil(LW / 4); v++) if (used.has(v)) b.push(`  let xv${v} = xs[rb + ${u32(v)}];`);
    for (let r = 0; r < RH; r++) {
      b.push(`  let d${r} = ir - ${u32(r * p.sh)};`);
      const cond = p.dh === 1 ? `d${r} < ${u32(p.kh)}` : `d${r} < ${u32(p.kh * p.dh)} && d${r} % ${u32(p.dh)} == 0u`;
      b.push(
        `  if (${cond}) {`,
        `    let wr = (ch * ${u32(p.kh)} + d${r}${p.dh === 1 ? "" : ` / ${u32(p.dh)}`}) * ${u32(kwp / 4)};`,
      );
      for (const v of [...wUsed].sort((a, z) => a - z)) b.push(`    let wv${v} = ws[wr + ${u32(v)}];`);
      fmas("    ", (j) => `acc${r}_${j}`, (v) => `xv${v}`, (v) => `wv${v}`);
      b.push("  }");
    }
    b.push("}");
  }
  if (S > 1) b.push("}");
  for (let r = 0; r < RH; r++) {
    b.push(`let oy${r} = ty0 * ${u32(TH)} + tyt * ${u32(RH)} + ${u32(r)};`);
    const js = Array.from({ length: whole ? Math.min(VW, p.Wout) : VW }, (_, j) => j);
    b.push(`if (c < ${u32(p.Cout)} && oy${r} < ${u32(p.Hout)}) {`);
    b.push(`  let ob${r} = ((n * ${u32(p.Cout)} + c) * ${u32(p.Hout)} + oy${r}) * ${u32(p.Wout)};`);
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
  return correlationProgram(p, label, decls, b, NT, grid.workgroups);
}
