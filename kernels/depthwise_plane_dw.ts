/**
 * Whole-plane depthwise weight gradient for planes at most 32 wide (the 32×31, 16×15 and 8×7 ConvNeXt stages):
 * `dw[o, ky, kx] = Σ_{n, oy, ox} x[n, ⌊o/M⌋, oy·sh + ky·dh − pt, ox·sw + kx·dw − pl] · dy[n, o, oy, ox]`.
 *
 * Only the window of taps that can reach the plane is computed (at most (2H−1)×(2W−1): 15×13 of a 23×23 kernel on an
 * 8×7 map); the other taps are written as exact zeros. A workgroup takes one output channel and a chunk of samples,
 * staged NB at a time as whole x and dy planes (no halo). Each thread owns RK window rows × all window columns in
 * named registers; the PG thread groups split the (sample, dy row) pairs, and for each pair a thread reads the dy row
 * and its x rows once and issues the (dy column, kernel column) FMAs that read inside the plane, pruned at generation
 * time. The groups' sums are reduced in workgroup memory; several sample chunks add one partial-sum dispatch.
 *
 * Where every x row meets every dy row through exactly one window row (stride 1, a window of 2H − 1 rows: the 8×7
 * stage's 15×13), a (sample, dy row) pair keeps only H of those row threads busy. There the diagonal mapping gives each
 * thread an x row instead and each group of H threads one dy row, so a thread's window row (x row − dy row + H − 1) is
 * fixed and every FMA it issues lands in the window: on the H100 the 8×7 stage's weight gradient took 0.032 ms against
 * 0.048 (bench/RESULTS.md run 13).
 *
 * @module
 */
import type { ConvGeometry } from "./conv2d.ts";
import { windowSumDispatch } from "./depthwise_dw_sum.ts";
import { geometryTag, tapHits, tapWindow } from "./depthwise_geometry.ts";
import { PLANE_MAX_WIDTH } from "./depthwise_plane.ts";
import { oddPitch, stageLines } from "./depthwise_stage.ts";
import { type KernelDispatch, type KernelLimits, type KernelProgram, ref } from "./program.ts";
import { bindingDecl, foldGrid, shaderSource, u32, XYZW } from "./wgsl.ts";

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Tile parameters of the whole-plane weight gradient. */
export interface PlaneWeightGradTiles {
  /** Window rows per thread. */
  readonly RK: number;
  /** Thread groups splitting the (sample, dy row) pairs. */
  readonly PG: number;
  /** Samples staged at once. */
  readonly NB: number;
  /** Sample chunks, one workgroup each per channel (more than one adds a partial-sum dispatch). */
  readonly chunks: number;
  /**
   * Where every x row meets every dy row through one window row ({@link diagonalFits}): a thread per x row, and groups
   * of those threads each on one dy row, so each thread's window row is fixed and every FMA lands in the window (RK 1).
   */
  readonly diagonal?: boolean;
}

/**
 * Whether the window reaches every x row from every dy row through exactly one window row: stride and dilation 1, as
 * many output rows as input rows, and a window of 2H − 1 rows (the 8×7 stage's 15×13 of a 23×23 kernel). With the
 * row-per-thread mapping, a (sample, dy row) pair then keeps only H of the 2H − 1 window rows' threads busy.
 */
export function diagonalFits(g: ConvGeometry): boolean {
  const { KHw, ky0 } = layout(g);
  return g.sh === 1 && g.dh === 1 && g.Ho === g.H && KHw === 2 * g.H - 1 && ky0 - g.pt === 1 - g.H;
}

interface Layout {
  readonly ky0: number;
  readonly kx0: number;
  readonly KHw: number;
  readonly KWw: number;
  /** x and dy row pitches (see oddPitch) and the words of one sample's two planes. */
  readonly Wp: number;
  readonly Wop: number;
  readonly planeWords: number;
}

function layout(g: ConvGeometry): Layout {
  const [ky0, ky1] = tapWindow(g.Ho, g.H, g.sh, g.dh, g.kh, g.pt);
  const [kx0, kx1] = tapWindow(g.Wo, g.W, g.sw, g.dw, g.kw, g.pl);
  const Wp = oddPitch(g.W), Wop = oddPitch(g.Wo);
  return { ky0, kx0, KHw: ky1 - ky0 + 1, KWw: kx1 - kx0 + 1, Wp, Wop, planeWords: g.H * Wp + g.Ho * Wop };
}

/**
 * Workgroups the chunking aims for (enough to spread over a large GPU's multiprocessors a few times). On the H100
 * (bench/RESULTS.md run 9) 23×23 at 8×7 with 768 channels took 0.040 ms in one chunk against 0.046 in two (which also
 * need the partial-sum dispatch), and at 16×15 with 384 channels 0.155 in two against 0.159 in three.
 */
const TARGET_WORKGROUPS = 768;

/** Tiles for a geometry, or null when the planes are too wide or one sample's planes do not fit. */
export function choosePlaneWeightGrad(g: ConvGeometry, limits: KernelLimits): PlaneWeightGradTiles | null {
  if (g.W > PLANE_MAX_WIDTH || g.Wo > PLANE_MAX_WIDTH) return null;
  const L = layout(g);
  // Staged like WebGPU's default 16 KiB even where the device allows more: on the H100 the larger batches of samples
  // ran 1.3–1.7× slower (fewer workgroups resident per SM) at the 32×31 … 8×7 stages.
  const budget = Math.floor(Math.min(limits.maxWorkgroupStorage, 16384) / 4);
  const T = Math.min(256, limits.maxInvocations);
  // Two window rows per thread on narrow planes (each dy row read then feeds twice the FMAs).
  const RK = Math.min(L.KHw, g.W <= 8 ? 2 : 1);
  const KB = Math.ceil(L.KHw / RK);
  if (KB > T || KB * RK * L.KWw > budget || L.planeWords > budget) return null;
  let chunks = Math.min(g.N, Math.max(1, Math.ceil(TARGET_WORKGROUPS / g.O)));
  const NC = Math.ceil(g.N / chunks);
  chunks = Math.ceil(g.N / NC);
  let NB = Math.min(NC, Math.floor(budget / L.planeWords));
  NB = Math.ceil(NC / Math.ceil(NC / NB));
  const PG = Math.max(1, Math.min(Math.floor(T / KB), NB * g.Ho));
  // On the diagonal, groups of H threads, a whole number of them per dy row.
  const PGd = Math.floor(T / g.H / g.Ho) * g.Ho;
  if (diagonalFits(g) && PGd >= g.Ho && L.KHw * L.KWw <= budget) return { RK: 1, PG: PGd, NB, chunks, diagonal: true };
  return { RK, PG, NB, chunks };
}

/** The whole-plane weight gradient: inputs (x, dy), output dw `[O, 1, kh, kw]` (see the module doc). */
export function planeWeightGrad(g: ConvGeometry, t: PlaneWeightGradTiles): KernelProgram {
  const { RK, PG, NB, chunks } = t;
  const { ky0, kx0, KHw, KWw, Wp, Wop, planeWords } = layout(g);
  const diagonal = t.diagonal === true;
  if (diagonal && (RK !== 1 || PG % g.Ho !== 0 || !diagonalFits(g))) {
    throw new Error(`planeWeightGrad: diagonal tiles ${JSON.stringify(t)} do not fit this geometry`);
  }
  // Threads per group: window rows (RK each), or on the diagonal x rows.
  const KB = diagonal ? g.H : Math.ceil(KHw / RK);
  const NT = KB * PG;
  const NC = Math.ceil(g.N / chunks);
  const batches = Math.ceil(NC / NB);
  const XW = NB * g.H * Wp, HW = g.H * g.W, HWo = g.Ho * g.Wo;
  // Reduction slots: each group's sums over (KB·RK) × KWw taps (the whole window on the diagonal); as many groups at once
  // as the staging area holds.
  const KT = diagonal ? KHw * KWw : KB * RK * KWw;
  const SM = roundUp(Math.max(NB * planeWords, KT), 4);
  const G = Math.min(PG, Math.floor(SM / KT));
  const grid = foldGrid(g.O * chunks);
  const xc = g.Og === 1 ? "o" : `o / ${u32(g.Og)}`;
  const b: string[] = [];
  if (grid.guard) b.push(grid.guard);
  b.push(
    `let wid = ${grid.flatId};`,
    `let o = wid % ${u32(g.O)};`,
    `let chunk = wid / ${u32(g.O)};`,
    `let kb = lid % ${u32(KB)};`,
    `let pg = lid / ${u32(KB)};`,
  );
  // On the diagonal group pg takes dy row oyg of every (PG / Ho)-th sample; its thread kb, x row kb, which meets that dy
  // row through window row kb − oyg + H − 1.
  if (diagonal) {
    b.push(
      `let oyg = pg % ${u32(g.Ho)};`,
      `let wyd = kb + ${u32(g.H - 1)} - oyg;`,
    );
  }
  for (let rk = 0; rk < RK; rk++) for (let v = 0; v < KWw; v++) b.push(`var acc${rk}_${v} = 0.0;`);
  b.push(
    `for (var bt = 0u; bt < ${u32(batches)}; bt++) {`,
    `  let m0 = bt * ${u32(NB)};`,
    `  let n0 = chunk * ${u32(NC)} + m0;`,
    "  workgroupBarrier();",
    // Whole x and dy planes; zeros past the chunk and the batch (so those samples add nothing).
    ...stageLines({
      count: NB * HW,
      from: "xin",
      threads: NT,
      decode: (i, x) => ({
        lines: [`let nb${x} = ${i} / ${u32(HW)};`, `let q${x} = ${i} % ${u32(HW)};`],
        ok: `m0 + nb${x} < ${u32(NC)} && n0 + nb${x} < ${u32(g.N)}`,
        src: `((n0 + nb${x}) * ${u32(g.C)} + ${xc}) * ${u32(HW)} + q${x}`,
        dst: `(nb${x} * ${u32(g.H)} + q${x} / ${u32(g.W)}) * ${u32(Wp)} + q${x} % ${u32(g.W)}`,
      }),
    }).map((l) => `  ${l}`),
    ...stageLines({
      count: NB * HWo,
      from: "dyin",
      threads: NT,
      decode: (i, x) => ({
        lines: [`let nb${x} = ${i} / ${u32(HWo)};`, `let q${x} = ${i} % ${u32(HWo)};`],
        ok: `m0 + nb${x} < ${u32(NC)} && n0 + nb${x} < ${u32(g.N)}`,
        src: `((n0 + nb${x}) * ${u32(g.O)} + o) * ${u32(HWo)} + q${x}`,
        dst: `${u32(XW)} + (nb${x} * ${u32(g.Ho)} + q${x} / ${u32(g.Wo)}) * ${u32(Wop)} + q${x} % ${u32(g.Wo)}`,
      }),
    }).map((l) => `  ${l}`),
    "  workgroupBarrier();",
    ...(diagonal
      ? [
        `  for (var nb = pg / ${u32(g.Ho)}; nb < ${u32(NB)}; nb += ${u32(PG / g.Ho)}) {`,
        `    let db = ${u32(XW / 4)} + (nb * ${u32(g.Ho)} + oyg) * ${u32(Wop / 4)};`,
      ]
      : [
        `  for (var t = pg; t < ${u32(NB * g.Ho)}; t += ${u32(PG)}) {`,
        `    let nb = t / ${u32(g.Ho)};`,
        `    let oy = t % ${u32(g.Ho)};`,
        `    let db = ${u32(XW / 4)} + t * ${u32(Wop / 4)};`,
      ]),
  );
  // (dy column, kernel column) pairs that read inside the plane, and the vec4s of the dy and x rows they use.
  const pairs: [number, number][] = [];
  for (let k = kx0; k < kx0 + KWw; k++) {
    for (let ox = 0; ox < g.Wo; ox++) if (tapHits(ox, k, g.sw, g.dw, g.pl, g.W)) pairs.push([ox, k]);
  }
  const col = (ox: number, k: number) => ox * g.sw + k * g.dw - g.pl;
  const dUsed = [...new Set(pairs.map(([ox]) => ox >> 2))].sort((a, z) => a - z);
  const xUsed = [...new Set(pairs.map(([ox, k]) => col(ox, k) >> 2))].sort((a, z) => a - z);
  for (const v of dUsed) b.push(`    let dv${v} = sm[db + ${u32(v)}];`);
  for (let rk = 0; rk < RK; rk++) {
    if (diagonal) {
      // The thread's x row kb, always inside the plane.
      b.push("    {", `      let xb${rk} = (nb * ${u32(g.H)} + kb) * ${u32(Wp / 4)};`);
    } else {
      const rowOk = KHw % RK === 0 ? "" : `wy${rk} < ${u32(KHw)} && `;
      b.push(
        `    let wy${rk} = kb * ${u32(RK)} + ${u32(rk)};`,
        `    let iy${rk} = oy * ${u32(g.sh)} + wy${rk} * ${u32(g.dh)} + ${u32(ky0 * g.dh - g.pt)};`,
        `    if (${rowOk}iy${rk} < ${u32(g.H)}) {`,
        `      let xb${rk} = (nb * ${u32(g.H)} + iy${rk}) * ${u32(Wp / 4)};`,
      );
    }
    for (const v of xUsed) b.push(`      let xv${rk}_${v} = sm[xb${rk} + ${u32(v)}];`);
    for (const [ox, k] of pairs) {
      const e = col(ox, k), w = k - kx0;
      b.push(
        `      acc${rk}_${w} = fma(dv${ox >> 2}.${XYZW[ox & 3]}, xv${rk}_${e >> 2}.${XYZW[e & 3]}, acc${rk}_${w});`,
      );
    }
    b.push("    }");
  }
  b.push("  }", "}");
  // Fold the PG groups' sums into G slots of workgroup memory, G groups per round. On the diagonal a group covers
  // only the window rows its dy row reaches, so the slots start at zero and every round adds.
  if (diagonal) {
    b.push(
      "workgroupBarrier();",
      `for (var i = lid; i < ${u32(G * KT)}; i += ${u32(NT)}) { sm[i / 4u][i % 4u] = 0.0; }`,
    );
  }
  for (let q = 0; q < Math.ceil(PG / G); q++) {
    b.push("workgroupBarrier();", `if (pg / ${u32(G)} == ${u32(q)}) {`);
    b.push(`  let rs = (pg % ${u32(G)}) * ${u32(KT)} + ${diagonal ? "wyd" : "kb"} * ${u32(RK * KWw)};`);
    for (let rk = 0; rk < RK; rk++) {
      for (let v = 0; v < KWw; v++) {
        const at = `rs + ${u32(rk * KWw + v)}`;
        b.push(
          q === 0 && !diagonal
            ? `  sm[(${at}) / 4u][(${at}) % 4u] = acc${rk}_${v};`
            : `  sm[(${at}) / 4u][(${at}) % 4u] += acc${rk}_${v};`,
        );
      }
    }
    b.push("}");
  }
  b.push("workgroupBarrier();");
  const sumSlots = (idx: string) =>
    Array.from({ length: G }, (_, s) => `sm[(${idx} + ${u32(s * KT)}) / 4u][(${idx} + ${u32(s * KT)}) % 4u]`)
      .join(" + ");
  const direct = chunks === 1;
  if (direct) {
    // The full kernel of channel o: window taps from the slots, exact zeros elsewhere.
    b.push(
      `for (var i = lid; i < ${u32(g.kh * g.kw)}; i += ${u32(NT)}) {`,
      `  let wy = i / ${u32(g.kw)} - ${u32(ky0)};`,
      `  let wx = i % ${u32(g.kw)} - ${u32(kx0)};`,
      "  var v = 0.0;",
      `  if (wy < ${u32(KHw)} && wx < ${u32(KWw)}) {`,
      `    let r = wy * ${u32(KWw)} + wx;`,
      `    v = ${sumSlots("r")};`,
      "  }",
      `  out[o * ${u32(g.kh * g.kw)} + i] = v;`,
      "}",
    );
  } else {
    b.push(
      `for (var i = lid; i < ${u32(KHw * KWw)}; i += ${u32(NT)}) {`,
      `  part[(chunk * ${u32(g.O)} + o) * ${u32(KHw * KWw)} + i] = ${sumSlots("i")};`,
      "}",
    );
  }
  const decls = [
    bindingDecl(0, "xin", "f32", "read"),
    bindingDecl(1, "dyin", "f32", "read"),
    bindingDecl(2, direct ? "out" : "part", "f32", "read_write"),
    `var<workgroup> sm: array<vec4<f32>, ${SM / 4}>;`,
  ];
  const tag = geometryTag(g);
  const main: KernelDispatch = {
    label: `depthwise_dw_${tag}`,
    code: shaderSource({ decls, workgroupSize: NT, body: b }),
    bindings: [ref.input(0), ref.input(1), direct ? ref.output(0) : ref.scratch(0, true)],
    workgroups: grid.workgroups,
  };
  const taps = g.kh * g.kw;
  const xSize = g.N * g.C * g.H * g.W, dySize = g.N * g.O * g.Ho * g.Wo;
  const window = { ky0, kx0, KHw, KWw };
  return {
    inputs: [{ dtype: "f32", size: xSize }, { dtype: "f32", size: dySize }],
    outputs: [{ dtype: "f32", size: g.O * taps }],
    scratch: direct ? [] : [{ dtype: "f32", size: chunks * g.O * KHw * KWw }],
    flops: 2 * dySize * taps,
    bytes: 4 * (xSize + dySize + g.O * taps),
    dispatches: direct ? [main] : [main, windowSumDispatch(`depthwise_dw_sum_${tag}`, chunks, g.O, g.kh, g.kw, window)],
  };
}
