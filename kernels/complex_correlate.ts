/**
 * WGSL for `complexCorrelate` and `complexCorrelateKernelGrad` (lib/core/prims/complex.ts), fully unrolled over the
 * kernel taps with every value in a named register:
 * - forward: a thread computes {@link OUT_PER_THREAD} consecutive outputs of one (r, p) row from the
 *   `OUT_PER_THREAD + kw − 1` signal values they read (neighbouring threads share them through the cache);
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

const outLength = (g: ComplexGeometry, p: ComplexCorrelateParams) => g.W + p.padding[0] + p.padding[1] - g.kw + 1;

/** Statements loading signal samples `x0 + s` (s in [0, n)) of row base `zb` as `zr{s}`, `zi{s}`, zero outside. */
function loadWindow(n: number, W: number, x0: string, zb: string): string[] {
  const lines: string[] = [];
  for (let s = 0; s < n; s++) {
    lines.push(
      `let x${s} = ${x0} + ${s};`,
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
}

/** `complexCorrelate`: inputs z `[R, P, 2, W]`, k `[P, 2, kw]`; output `[R, P, 2, Wo]`. */
export function complexCorrelateKernel(
  g: ComplexGeometry,
  p: ComplexCorrelateParams,
  tiles: ComplexTiles = {},
): KernelProgram {
  const { R, P, W, kw } = g, wo = outLength(g, p), T = tiles.block ?? (wo >= LONG_ROW ? 3 : OUT_PER_THREAD);
  const blocks = Math.ceil(wo / T), total = R * P * blocks, THREADS = tiles.threads ?? DEFAULT_THREADS;
  const grid = foldGrid(Math.ceil(total / THREADS));
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let t = ${grid.flatId} * ${u32(THREADS)} + lid;`,
    `if (t >= ${u32(total)}) { return; }`,
    `let rp = t / ${u32(blocks)};`,
    `let j0 = (t % ${u32(blocks)}) * ${u32(T)};`,
    `let kb = (rp % ${u32(P)}) * ${u32(2 * kw)};`,
    ...loadWindow(T + kw - 1, W, `i32(j0) - ${p.padding[0]}`, `rp * ${u32(2 * W)}`),
    ...Array.from({ length: T }, (_, t) => `var ar${t} = 0.0; var ai${t} = 0.0;`),
  ];
  for (let v = 0; v < kw; v++) {
    const u = p.adjoint ? kw - 1 - v : v;
    body.push(`let kr${v} = k[kb + ${u32(u)}];`, `let ki${v} = ${p.adjoint ? "-" : ""}k[kb + ${u32(kw + u)}];`);
    for (let t = 0; t < T; t++) {
      const s = t + v;
      body.push(
        `ar${t} = fma(kr${v}, zr${s}, fma(-ki${v}, zi${s}, ar${t}));`,
        `ai${t} = fma(ki${v}, zr${s}, fma(kr${v}, zi${s}, ai${t}));`,
      );
    }
  }
  body.push(`let yb = rp * ${u32(2 * wo)} + j0;`);
  for (let t = 0; t < T; t++) {
    body.push(`if (j0 + ${u32(t)} < ${u32(wo)}) { y[yb + ${u32(t)}] = ar${t}; y[yb + ${u32(wo + t)}] = ai${t}; }`);
  }
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
