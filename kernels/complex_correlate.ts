/**
 * WGSL for `complexCorrelate` and `complexCorrelateKernelGrad` (lib/core/prims/complex.ts), fully unrolled over the
 * kernel taps with every value in a named register:
 * - forward, rows at least as long as the kernel: a thread computes {@link OUT_PER_THREAD} consecutive outputs of one
 *   (r, p) row from the `OUT_PER_THREAD + kw − 1` signal values they read (neighbouring threads share them through
 *   the cache);
 * - forward, rows shorter than the kernel: a thread sums over the whole row instead, reading the window of the kernel
 *   its outputs meet, so the taps that fall on padding cost nothing; it takes two rows of one channel, which share
 *   the kernel's loads;
 * - kernel gradient: a workgroup per channel p; each thread accumulates all `2·kw` gradient components over its share
 *   of the (r, output block) pairs, then the workgroup sums the threads' partial sums in workgroup memory.
 *
 * @module
 */
import type { ComplexCorrelateParams } from "../lib/core/primitive.ts";
import type { KernelProgram } from "./program.ts";
import { foldGrid, singleDispatchProgram, u32 } from "./wgsl.ts";

/**
 * Outputs per thread of the forward kernel. On the H100 (bench/complex_sweep.ts, batch 64, 23 taps) 4 ran at 14.9
 * TFLOP/s at 62 outputs a row and 17.1 at 31; 3 at 16.4 and 14.7, 2 at 15.0 and 14.3; 6 to 16 at 5.6–9.7 (more
 * registers, fewer threads to hide the loads). Rows of at least {@link LONG_ROW} outputs take 3.
 *
 * Rows shorter than the kernel take the sum over the row, 2 outputs and 2 rows a thread: at 15 outputs a row (23 taps,
 * 11 padding each side, so 38 % of the tap products fall on padding) 0.057 ms against 0.075 over the taps; the sum over
 * the row with 1 row a thread took 0.062 at 4 outputs and 0.067 at 2; 2 rows a thread over the taps 0.086
 * (bench/RESULTS.md run 11). At 31 outputs a row the sum over the row took 0.111 against 0.090 ms.
 */
const OUT_PER_THREAD = 4;
const LONG_ROW = 48;
const DEFAULT_THREADS = 64;

/**
 * The kernel gradient's default tiles: outputs per (r, block) item, tap groups on separate threads, threads per
 * workgroup. On the H100 (bench/complex_sweep.ts, bench/RESULTS.md run 9) splitting the 23 taps over threads (fewer
 * accumulators and window values a thread, so more threads resident) took 0.190 → 0.140 ms at 62 outputs a row (8
 * outputs an item, 2 groups, 32 threads), 0.123 → 0.091 at 31 (the same tiles) and 0.132 → 0.072 at 15 (4 outputs an
 * item, 4 groups, 64 threads); one group of 64 threads took 0.203, 0.154 and 0.164, one of 128 up to twice as long
 * (the workgroup's partial sums are added up by a serial chain per tap, as long as a group has threads).
 */
function gradTiles(wo: number): Required<Pick<ComplexTiles, "block" | "groups" | "threads">> {
  return wo >= 31 ? { block: 8, groups: 2, threads: 32 } : { block: 4, groups: 4, threads: 64 };
}
/** Taps per pass of the gradient's workgroup reduction (threads × 2 × this floats of workgroup memory). */
const GRAD_TAPS = 32;

/** Geometry of one correlation: R rows of P channels, W signal samples, kw taps, Wo outputs. */
export interface ComplexGeometry {
  /** Independent rows (the batch). */
  readonly R: number;
  /** Channels, one kernel each. */
  readonly P: number;
  /** Signal length. */
  readonly W: number;
  /** Kernel taps. */
  readonly kw: number;
}

/** Outputs of a row. */
export const outLength = (g: ComplexGeometry, p: ComplexCorrelateParams): number =>
  g.W + p.padding[0] + p.padding[1] - g.kw + 1;

/**
 * Statements loading signal samples `x0 + s` (s in [0, n)) of row base `zb` as `zr{tag}{s}`, `zi{tag}{s}`, zero
 * outside.
 */
function loadWindow(n: number, W: number, x0: string, zb: string, tag = ""): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = tag + i;
    lines.push(
      `let x${s} = ${x0} + ${i};`,
      `let ok${s} = x${s} >= 0 && x${s} < ${W};`,
      `let a${s} = ${zb} + u32(clamp(x${s}, 0, ${W - 1}));`,
      `let zr${s} = select(0.0, z[a${s}], ok${s});`,
      `let zi${s} = select(0.0, z[a${s} + ${u32(W)}], ok${s});`,
    );
  }
  return lines;
}

/** Work split of the complex correlation kernels (for sweeps); the defaults are the measured choice. */
export interface ComplexTiles {
  /** Consecutive outputs per thread (forward) or per (row, block) item (kernel gradient). */
  readonly block?: number;
  /** Taps per pass of the kernel gradient (each pass rereads the signal; fewer taps hold fewer accumulators). */
  readonly taps?: number;
  /** Threads per workgroup. */
  readonly threads?: number;
  /** Kernel gradient: groups of taps computed on separate threads (dividing the threads). */
  readonly groups?: number;
  /**
   * Forward: a thread sums over the kernel's taps, reading a window of the row (`taps`), or over the whole row,
   * reading a window of the kernel (`signal`). The default takes the shorter of the two.
   */
  readonly form?: "taps" | "signal";
  /** Forward: rows of one channel per thread (1 or 2), which share the kernel's loads. */
  readonly rows?: number;
}

/** The forward's form and tiles with the defaults filled in. */
export interface CorrelateForm {
  readonly form: "taps" | "signal";
  /** Consecutive outputs per thread. */
  readonly T: number;
  /** Rows of one channel per thread. */
  readonly H: number;
}

/** The forward's form at this geometry: the measured defaults, overridden by `tiles`. */
export function correlateForm(g: ComplexGeometry, p: ComplexCorrelateParams, tiles: ComplexTiles = {}): CorrelateForm {
  const wo = outLength(g, p), form = tiles.form ?? (g.W < g.kw ? "signal" : "taps");
  const T = tiles.block ?? (form === "signal" ? 2 : wo >= LONG_ROW ? 3 : OUT_PER_THREAD);
  return { form, T, H: tiles.rows ?? (form === "signal" ? 2 : 1) };
}

/**
 * Statements computing outputs `j0 … j0 + T − 1` of the thread's rows (`rp{h}`: signal row index, h < H) with the
 * kernel at float `kb` of `k`, signal in `z`; `store(h, t, re, im)` gives the statements storing output t of row h.
 * Expects `j0` and `kb` (u32) and `rp0 …` in scope.
 */
export function correlateItem(
  g: ComplexGeometry,
  p: ComplexCorrelateParams,
  { form, T, H }: CorrelateForm,
  store: (h: number, t: number, re: string, im: string) => string[],
): string[] {
  const { W, kw } = g, hs = Array.from({ length: H }, (_, h) => h);
  const body = hs.flatMap((h) => Array.from({ length: T }, (_, t) => `var ar${h}_${t} = 0.0; var ai${h}_${t} = 0.0;`));
  const mac = (t: number, m: number, s: number) => {
    for (const h of hs) {
      body.push(
        `ar${h}_${t} = fma(kr${m}, zr${h}_${s}, fma(-ki${m}, zi${h}_${s}, ar${h}_${t}));`,
        `ai${h}_${t} = fma(ki${m}, zr${h}_${s}, fma(kr${m}, zi${h}_${s}, ai${h}_${t}));`,
      );
    }
  };
  if (form === "signal") {
    // Output j0 + t is Σₓ z[x]·κ[x − j0 − t + left] over the whole row: the thread loads the row and the T + W − 1
    // taps its outputs meet (zero past the kernel), W products an output instead of kw.
    for (const h of hs) {
      body.push(
        ...Array.from({ length: W }, (_, x) => [
          `let zr${h}_${x} = z[rp${h} * ${u32(2 * W)} + ${u32(x)}];`,
          `let zi${h}_${x} = z[rp${h} * ${u32(2 * W)} + ${u32(W + x)}];`,
        ]).flat(),
      );
    }
    for (let m = 1 - T; m < W; m++) {
      // The adjoint's taps are the kernel's reversed and conjugated.
      const u = p.adjoint ? `${u32(kw - 1)} - u32(v${m + T})` : `u32(v${m + T})`, neg = p.adjoint ? "-" : "";
      body.push(
        `let v${m + T} = ${m + p.padding[0]} - i32(j0);`,
        `let okv${m + T} = v${m + T} >= 0 && v${m + T} < ${kw};`,
        `let ku${m + T} = kb + min(${u}, ${u32(kw - 1)});`,
        `let kr${m + T} = select(0.0, k[ku${m + T}], okv${m + T});`,
        `let ki${m + T} = select(0.0, ${neg}k[ku${m + T} + ${u32(kw)}], okv${m + T});`,
      );
      for (let t = Math.max(0, -m); t < T && m + t < W; t++) mac(t, m + T, m + t);
    }
  } else {
    for (const h of hs) {
      body.push(...loadWindow(T + kw - 1, W, `i32(j0) - ${p.padding[0]}`, `rp${h} * ${u32(2 * W)}`, `${h}_`));
    }
    for (let v = 0; v < kw; v++) {
      const u = p.adjoint ? kw - 1 - v : v;
      body.push(`let kr${v} = k[kb + ${u32(u)}];`, `let ki${v} = ${p.adjoint ? "-" : ""}k[kb + ${u32(kw + u)}];`);
      for (let t = 0; t < T; t++) mac(t, v, t + v);
    }
  }
  for (const h of hs) for (let t = 0; t < T; t++) body.push(...store(h, t, `ar${h}_${t}`, `ai${h}_${t}`));
  return body;
}

/** `complexCorrelate`: inputs z `[R, P, 2, W]`, k `[P, 2, kw]`; output `[R, P, 2, Wo]`. */
export function complexCorrelateKernel(
  g: ComplexGeometry,
  p: ComplexCorrelateParams,
  tiles: ComplexTiles = {},
): KernelProgram {
  const { R, P, W, kw } = g, wo = outLength(g, p), form = correlateForm(g, p, tiles), { T, H } = form;
  const blocks = Math.ceil(wo / T), total = Math.ceil(R / H) * P * blocks, THREADS = tiles.threads ?? DEFAULT_THREADS;
  const grid = foldGrid(Math.ceil(total / THREADS));
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let t = ${grid.flatId} * ${u32(THREADS)} + lid;`,
    `if (t >= ${u32(total)}) { return; }`,
    `let q = t / ${u32(blocks)};`,
    `let j0 = (t % ${u32(blocks)}) * ${u32(T)};`,
    `let kb = (q % ${u32(P)}) * ${u32(2 * kw)};`,
    // Row h of the thread is sample r0 + h of channel q % P; past the batch it recomputes row 0 and stores nothing.
    `let r0 = (q / ${u32(P)}) * ${u32(H)};`,
    ...Array.from(
      { length: H },
      (_, h) =>
        `let rp${h} = ${
          h ? `select(rp0, rp0 + ${u32(h * P)}, r0 + ${u32(h)} < ${u32(R)})` : `r0 * ${u32(P)} + q % ${u32(P)}`
        };`,
    ),
    ...Array.from({ length: H }, (_, h) => `let yb${h} = rp${h} * ${u32(2 * wo)} + j0;`),
    ...correlateItem(g, p, form, (h, t, re, im) => {
      const guard = h ? ` && r0 + ${u32(h)} < ${u32(R)}` : "";
      return [
        `if (j0 + ${u32(t)} < ${u32(wo)}${guard}) { y[yb${h} + ${u32(t)}] = ${re}; y[yb${h} + ${
          u32(wo + t)
        }] = ${im}; }`,
      ];
    }),
  ];
  return singleDispatchProgram({
    label: `complex_correlate_${R}x${P}x${W}_k${kw}${p.adjoint ? "_adjoint" : ""}`,
    names: ["z", "k", "y"],
    inputs: [R * P * 2 * W, P * 2 * kw],
    output: R * P * 2 * wo,
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: 8 * R * P * wo * kw,
  });
}

/** `complexCorrelateKernelGrad`: inputs z `[R, P, 2, W]`, ȳ `[R, P, 2, Wo]`; output `[P, 2, kw]`. */
export function complexCorrelateKernelGradKernel(
  g: ComplexGeometry,
  p: ComplexCorrelateParams,
  tiles: ComplexTiles = {},
): KernelProgram {
  const { R, P, W, kw } = g, wo = outLength(g, p), auto = gradTiles(wo), taps = tiles.taps ?? GRAD_TAPS;
  const T = tiles.block ?? auto.block, THREADS = tiles.threads ?? auto.threads;
  const blocks = Math.ceil(wo / T), items = R * blocks;
  const grid = foldGrid(P);
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let ch = ${grid.flatId};`,
  ];
  // Taps in passes of GRAD_TAPS so the reduction array stays within 16 KiB of workgroup memory; within a pass, G groups
  // of nG taps each on their own threads (thread lid takes group lid % G), so a thread holds fewer accumulators.
  const G = tiles.groups ?? auto.groups;
  if (!(Number.isInteger(G) && G >= 1 && THREADS % G === 0)) {
    throw new Error(`complexCorrelateKernelGrad: ${G} tap groups do not divide ${THREADS} threads`);
  }
  let redWords = 0;
  for (let v0 = 0; v0 < kw; v0 += taps) {
    const v1 = Math.min(kw, v0 + taps), n = v1 - v0, nG = Math.ceil(n / G);
    redWords = Math.max(redWords, THREADS * 2 * nG);
    const shift = G > 1 ? ` + i32(gi * ${u32(nG)})` : "";
    body.push(
      "{",
      ...(G > 1 ? [`let gi = lid % ${u32(G)};`] : []),
      ...Array.from({ length: nG }, (_, i) => `var dr${i} = 0.0; var di${i} = 0.0;`),
      `for (var it = ${G > 1 ? `lid / ${u32(G)}` : "lid"}; it < ${u32(items)}; it += ${u32(THREADS / G)}) {`,
      `  let r = it / ${u32(blocks)};`,
      `  let j0 = (it % ${u32(blocks)}) * ${u32(T)};`,
      `  let rp = r * ${u32(P)} + ch;`,
      `  let gb = rp * ${u32(2 * wo)} + j0;`,
      ...Array.from({ length: T }, (_, t) => [
        `  let gok${t} = j0 + ${u32(t)} < ${u32(wo)};`,
        `  let gr${t} = select(0.0, y[min(gb + ${u32(t)}, ${u32(R * P * 2 * wo - 1)})], gok${t});`,
        `  let gi${t} = select(0.0, y[min(gb + ${u32(wo + t)}, ${u32(R * P * 2 * wo - 1)})], gok${t});`,
      ]).flat(),
      ...loadWindow(T + nG - 1, W, `i32(j0) + ${v0 - p.padding[0]}${shift}`, `rp * ${u32(2 * W)}`).map((l) => "  " + l),
    );
    for (let i = 0; i < nG; i++) {
      for (let t = 0; t < T; t++) {
        const s = t + i;
        body.push(
          `  dr${i} = fma(gr${t}, zr${s}, fma(gi${t}, zi${s}, dr${i}));`,
          `  di${i} = fma(gi${t}, zr${s}, fma(-gr${t}, zi${s}, di${i}));`,
        );
      }
    }
    body.push("}");
    // Partial sums to workgroup memory (vec4s indexed per component: fast to compile on software adapters).
    for (let i = 0; i < nG; i++) {
      for (const [q, name] of [[i, `dr${i}`], [nG + i, `di${i}`]] as const) {
        const at = `${u32(q * THREADS)} + lid`;
        body.push(`red[(${at}) >> 2u][(${at}) & 3u] = ${name};`);
      }
    }
    // Slot q: group q % G, component q / G (tap q / G % nG of the group, imaginary past nG), summed over the
    // group's threads.
    body.push(
      "workgroupBarrier();",
      `for (var q = lid; q < ${u32(2 * nG * G)}; q += ${u32(THREADS)}) {`,
      `  let comp = q / ${u32(G)};`,
      `  let v = ${u32(v0)} + (q % ${u32(G)}) * ${u32(nG)} + comp % ${u32(nG)};`,
      "  var s = 0.0;",
      `  for (var m = q % ${u32(G)}; m < ${u32(THREADS)}; m += ${u32(G)}) {`,
      `    let at = comp * ${u32(THREADS)} + m;`,
      "    s += red[at >> 2u][at & 3u];",
      "  }",
      `  let im = comp >= ${u32(nG)};`,
      // The gradient of κ maps back to k reversed and conjugated when adjoint.
      `  let u = ${p.adjoint ? `${u32(kw - 1)} - v` : "v"};`,
      `  if (v < ${u32(v1)}) {`,
      `    out[ch * ${u32(2 * kw)} + select(0u, ${u32(kw)}, im) + u] = ${p.adjoint ? "select(s, -s, im)" : "s"};`,
      "  }",
      "}",
      "workgroupBarrier();",
      "}",
    );
  }
  return singleDispatchProgram({
    label: `complex_correlate_dk_${R}x${P}x${W}_k${kw}${p.adjoint ? "_adjoint" : ""}`,
    names: ["z", "y", "out"],
    inputs: [R * P * 2 * W, R * P * 2 * wo],
    output: P * 2 * kw,
    shared: [`var<workgroup> red: array<vec4<f32>, ${Math.ceil(redWords / 4)}>;`],
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: 8 * R * P * wo * kw,
  });
}
