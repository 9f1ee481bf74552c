/**
 * Whole-plane depthwise correlation (forward and stride-1 input gradient) for planes at most 32 outputs wide: the
 * ConvNeXt stage maps 32×31, 16×15 and 8×7, where a 23×23 kernel mostly overhangs the plane.
 *
 * A workgroup takes CPW channels × NB samples. It stages, per channel, only the window of kernel taps that can reach
 * the plane (at most (2H−1)×(2W−1) of them: 15×13 of the 23×23 for an 8×7 map) and the NB input planes without any
 * padding halo. Each thread owns RH output rows × the whole output width in named registers, walks only the input
 * rows its outputs reach, and for each row issues the (output column, kernel column) FMAs that read inside the plane,
 * pruned at generation time, so the work is proportional to the valid taps (56 per output for 8×7, not 529).
 *
 * @module
 */
import {
  type Correlation,
  correlationProgram,
  inChannel,
  kernelSlot,
  summed,
  tapHits,
  tapWindow,
} from "./depthwise_geometry.ts";
import type { KernelLimits, KernelProgram } from "./program.ts";
import { oddPitch, stageLines } from "./depthwise_stage.ts";
import { bindingDecl, foldGrid, u32 } from "./wgsl.ts";

const XYZW = ["x", "y", "z", "w"];
const i32 = (n: number) => `${n}i`;

/** Widest output plane the whole-plane kernel takes (a thread holds RH × Wout accumulators). */
export const PLANE_MAX_WIDTH = 32;

const MAX_PLANE_CHANNELS = 4;

/**
 * Samples per workgroup: enough for about PLANE_THREADS threads (one per output row and sample), at least
 * MIN_PLANE_SAMPLES and at most MAX_PLANE_SAMPLES. On the H100 with its clocks held up (bench/depthwise_sweep.ts,
 * bench/RESULTS.md run 9) four samples were best at 16×15 (16 rows: 64 threads; 8 and 16 samples 2–25 % slower) and
 * eight to sixteen at 8×7 (8 rows: 23×23 forward 0.033 ms with four, 0.028 with eight, 0.026 with sixteen; 7×7 0.024
 * with four or eight, 0.029 with sixteen).
 */
const PLANE_THREADS = 64, MIN_PLANE_SAMPLES = 4, MAX_PLANE_SAMPLES = 16;

/**
 * Whether every input of the plane reaches every output through the kernel window (a stride-1 window of at least
 * (2H−1)×(2W−1) taps, the 8×7 stage's 15×13 of a 23×23 kernel): each staged sample then feeds the most FMAs a thread
 * can issue, and the window staged per workgroup is the largest. There MAX_PLANE_SAMPLES samples per workgroup ran
 * faster than about PLANE_THREADS threads' worth on the H100: 23×23 at 8×7 forward and input gradient 0.026 ms with
 * sixteen against 0.028 with eight, while 7×7 ran 0.025 with eight against 0.032 with sixteen
 * (bench/depthwise_sweep.ts, bench/RESULTS.md run 13; run 9 likewise).
 */
function wholeWindow(c: Correlation, L: Layout): boolean {
  return c.sh === 1 && c.sw === 1 && c.dh === 1 && c.dw === 1 && L.KHw >= 2 * c.Hin - 1 && L.KWw >= 2 * c.Win - 1;
}

/** Tile parameters of the whole-plane correlation. */
export interface PlaneTiles {
  /** Output rows per thread. */
  readonly RH: number;
  /** Samples per workgroup. */
  readonly NB: number;
  /** Channels per workgroup. */
  readonly CPW: number;
}

interface Layout {
  readonly ky0: number;
  readonly kx0: number;
  /** Window rows and columns, and the row pitch in words (see {@link oddPitch}). */
  readonly KHw: number;
  readonly KWw: number;
  readonly KWp: number;
  /** Input row and plane pitches in words (see {@link oddPitch}). */
  readonly Winp: number;
  readonly P: number;
}

function layout(c: Correlation): Layout {
  const [ky0, ky1] = tapWindow(c.Hout, c.Hin, c.sh, c.dh, c.kh, c.pt);
  const [kx0, kx1] = tapWindow(c.Wout, c.Win, c.sw, c.dw, c.kw, c.pl);
  const KWw = kx1 - kx0 + 1, Winp = oddPitch(c.Win);
  return { ky0, kx0, KHw: ky1 - ky0 + 1, KWw, KWp: oddPitch(KWw), Winp, P: oddPitch(c.Hin * Winp) };
}

/** Tiles for a correlation, or null when the plane is too wide or one sample and its kernel window do not fit. */
export function choosePlane(c: Correlation, limits: KernelLimits): PlaneTiles | null {
  if (c.Wout > PLANE_MAX_WIDTH) return null;
  // A strided map wider than the plane limit stages a whole wide input per sample for few outputs: the tiled kernel
  // ran it twice as fast (FastViT's 64×62 → 32×31 patch embedding on the H100).
  if ((c.sh > 1 || c.sw > 1) && c.Win > PLANE_MAX_WIDTH) return null;
  const L = layout(c);
  const kWords = L.KHw * L.KWp;
  const budget = Math.floor(limits.maxWorkgroupStorage / 4);
  const T = Math.min(256, limits.maxInvocations);
  // One output row per thread: two or four (each input row read from workgroup memory then feeding more FMAs) ran
  // 1.4–2.3× slower at 8×7 and 1.6× at 16×15 (run 9; fewer threads in flight).
  const RH = 1;
  const RB = c.Hout;
  if (RB > T) return null;
  // Samples first (they share the staged kernel window), then channels, up to T threads; then shrink to fit.
  const samples = wholeWindow(c, L)
    ? MAX_PLANE_SAMPLES
    : Math.min(MAX_PLANE_SAMPLES, Math.max(MIN_PLANE_SAMPLES, Math.floor(PLANE_THREADS / RB)));
  let NB = Math.min(c.N, samples, Math.max(1, Math.floor(T / RB)));
  // More channels (at most four) only where a workgroup would otherwise hold fewer than 16 threads (single clips):
  // the measured tiles (four samples) ran one channel per workgroup, and on a software adapter compile time grows
  // steeply with the channels staged per workgroup (an 8×7 map: 31 s for 28 channels, 0.5 s for 4).
  let CPW = Math.min(c.Cout, MAX_PLANE_CHANNELS, Math.max(1, Math.floor(16 / (RB * NB))));
  while (CPW * (kWords + NB * L.P) > budget) {
    if (CPW > 1) CPW--;
    else if (NB > 1) NB--;
    else return null;
  }
  NB = Math.ceil(c.N / Math.ceil(c.N / NB));
  return { RH, NB, CPW };
}

/** The whole-plane correlation: inputs (x, w), output y (see the module doc). */
export function planeProgram(c: Correlation, label: string, t: PlaneTiles): KernelProgram {
  const { RH, NB, CPW } = t;
  const L = layout(c);
  const { ky0, kx0, KHw, KWw, KWp, Winp, P } = L;
  const RB = Math.ceil(c.Hout / RH);
  const NT = CPW * NB * RB;
  const KWORDS = CPW * KHw * KWp, XWORDS = CPW * NB * P;
  const cBlocks = Math.ceil(c.Cout / CPW), nChunks = Math.ceil(c.N / NB);
  const grid = foldGrid(cBlocks * nChunks);
  const S = summed(c);
  const s = S > 1 ? "s" : "0u";
  const b: string[] = [];
  if (grid.guard) b.push(grid.guard);
  b.push(
    `let wid = ${grid.flatId};`,
    `let c0 = (wid % ${u32(cBlocks)}) * ${u32(CPW)};`,
    `let n0 = (wid / ${u32(cBlocks)}) * ${u32(NB)};`,
    `let ch = lid / ${u32(NB * RB)};`,
    `let nb = (lid / ${u32(RB)}) % ${u32(NB)};`,
    `let rb = lid % ${u32(RB)};`,
    "let c = c0 + ch;",
    "let n = n0 + nb;",
    `let oyb = i32(rb * ${u32(RH)});`,
    // Input rows reached by this thread's output rows through the kernel window, clipped to the plane.
    `let lo = max(0i, oyb * ${i32(c.sh)} + ${i32(ky0 * c.dh - c.pt)});`,
    `let hi = min(${i32(c.Hin)}, oyb * ${i32(c.sh)} + ${i32((RH - 1) * c.sh + (ky0 + KHw - 1) * c.dh - c.pt + 1)});`,
  );
  for (let r = 0; r < RH; r++) for (let j = 0; j < c.Wout; j++) b.push(`var acc${r}_${j} = 0.0;`);
  if (S > 1) b.push(`for (var s = 0u; s < ${u32(S)}; s++) {`, "workgroupBarrier();");
  const ky = (wy: string) => c.flip ? `${u32(c.kh - 1 - ky0)} - ${wy}` : `${u32(ky0)} + ${wy}`;
  const kx = (wx: string) => c.flip ? `${u32(c.kw - 1 - kx0)} - ${wx}` : `${u32(kx0)} + ${wx}`;
  const HW = c.Hin * c.Win;
  b.push(
    // The kernel window, then the input planes (zeros for channels and samples past the end).
    ...stageLines({
      count: CPW * KHw * KWw,
      from: "win",
      threads: NT,
      decode: (i, x) => ({
        lines: [
          `let cc${x} = ${i} / ${u32(KHw * KWw)};`,
          `let wy${x} = (${i} / ${u32(KWw)}) % ${u32(KHw)};`,
          `let wx${x} = ${i} % ${u32(KWw)};`,
        ],
        ok: `c0 + cc${x} < ${u32(c.Cout)}`,
        src: `(${kernelSlot(c, `(c0 + cc${x})`, s)} * ${u32(c.kh)} + ${ky(`wy${x}`)}) * ${u32(c.kw)} + ${kx(`wx${x}`)}`,
        dst: `(cc${x} * ${u32(KHw)} + wy${x}) * ${u32(KWp)} + wx${x}`,
      }),
    }),
    ...stageLines({
      count: CPW * NB * HW,
      from: "xin",
      threads: NT,
      decode: (i, x) => ({
        lines: [
          `let cc${x} = ${i} / ${u32(NB * HW)};`,
          `let nb${x} = (${i} / ${u32(HW)}) % ${u32(NB)};`,
          `let q${x} = ${i} % ${u32(HW)};`,
        ],
        ok: `c0 + cc${x} < ${u32(c.Cout)} && n0 + nb${x} < ${u32(c.N)}`,
        src: `((n0 + nb${x}) * ${u32(c.Cin)} + ${inChannel(c, `(c0 + cc${x})`, s)}) * ${u32(HW)} + q${x}`,
        dst: `${u32(KWORDS)} + (cc${x} * ${u32(NB)} + nb${x}) * ${u32(P)} + q${x} / ${u32(c.Win)} * ${
          u32(Winp)
        } + q${x} % ${u32(c.Win)}`,
      }),
    }),
    "workgroupBarrier();",
    "for (var iy = lo; iy < hi; iy++) {",
    `  let xb = ${u32(KWORDS / 4)} + (ch * ${u32(NB)} + nb) * ${u32(P / 4)} + u32(iy) * ${u32(Winp / 4)};`,
  );
  // (output column, kernel column) pairs that read inside the plane; the vec4s of input row and kernel row they use.
  const pairs: [number, number][] = [];
  for (let k = kx0; k < kx0 + KWw; k++) {
    for (let j = 0; j < c.Wout; j++) if (tapHits(j, k, c.sw, c.dw, c.pl, c.Win)) pairs.push([j, k]);
  }
  const col = (j: number, k: number) => j * c.sw + k * c.dw - c.pl;
  const xUsed = [...new Set(pairs.map(([j, k]) => col(j, k) >> 2))].sort((a, z) => a - z);
  const kUsed = [...new Set(pairs.map(([, k]) => (k - kx0) >> 2))].sort((a, z) => a - z);
  for (const v of xUsed) b.push(`  let xv${v} = sm[xb + ${u32(v)}];`);
  // With one row per thread and no dilation, the row range above already selects exactly the window rows.
  const always = RH === 1 && c.dh === 1;
  for (let r = 0; r < RH; r++) {
    b.push(`  let d${r} = u32(iy - oyb * ${i32(c.sh)} + ${i32(c.pt - ky0 * c.dh - r * c.sh)});`);
    const cond = c.dh === 1 ? `d${r} < ${u32(KHw)}` : `d${r} < ${u32(KHw * c.dh)} && d${r} % ${u32(c.dh)} == 0u`;
    b.push(always ? "  {" : `  if (${cond}) {`);
    b.push(`    let kb${r} = (ch * ${u32(KHw)} + d${r}${c.dh === 1 ? "" : ` / ${u32(c.dh)}`}) * ${u32(KWp / 4)};`);
    for (const v of kUsed) b.push(`    let kv${r}_${v} = sm[kb${r} + ${u32(v)}];`);
    for (const [j, k] of pairs) {
      const e = col(j, k), w = k - kx0;
      b.push(`    acc${r}_${j} = fma(xv${e >> 2}.${XYZW[e & 3]}, kv${r}_${w >> 2}.${XYZW[w & 3]}, acc${r}_${j});`);
    }
    b.push("  }");
  }
  b.push("}");
  if (S > 1) b.push("}");
  for (let r = 0; r < RH; r++) {
    const rowOk = c.Hout % RH === 0 ? "" : ` && oyb + ${i32(r)} < ${i32(c.Hout)}`;
    b.push(
      `if (c < ${u32(c.Cout)} && n < ${u32(c.N)}${rowOk}) {`,
      `  let ob${r} = ((n * ${u32(c.Cout)} + c) * ${u32(c.Hout)} + u32(oyb) + ${u32(r)}) * ${u32(c.Wout)};`,
    );
    for (let j = 0; j < c.Wout; j++) b.push(`  out[ob${r} + ${u32(j)}] = acc${r}_${j};`);
    b.push("}");
  }
  const decls = [
    bindingDecl(0, "xin", "f32", "read"),
    bindingDecl(1, "win", "f32", "read"),
    bindingDecl(2, "out", "f32", "read_write"),
    `var<workgroup> sm: array<vec4<f32>, ${(KWORDS + XWORDS) / 4}>;`,
  ];
  return correlationProgram(c, label, decls, b, NT, grid.workgroups);
}
