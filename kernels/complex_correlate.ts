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
/** Outputs per (r, block) item of the gradient kernel (4 measured best against 2 and 8). */
const GRAD_BLOCK = 4;
const DEFAULT_THREADS = 64;
/**
 * Threads per workgroup of the kernel gradient: one warp. On the H100 (bench/complex_sweep.ts, run 9) 32 took 0.124 ms
 * at 32×31 against 0.155 for 64 and 0.272 for 128, and 0.189 against 0.202 at 64×62: the workgroup's partial sums are
 * added up by a serial chain per tap, as long as the workgroup is wide.
 */
const GRAD_THREADS = 32;
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
  const { R, P, W, kw } = g, wo = outLength(g, p), T = tiles.block ?? GRAD_BLOCK, taps = tiles.taps ?? GRAD_TAPS;
  const blocks = Math.ceil(wo / T), items = R * blocks, THREADS = tiles.threads ?? GRAD_THREADS;
  const grid = foldGrid(P);
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let ch = ${grid.flatId};`,
  ];
  // Taps in passes of GRAD_TAPS so the reduction array stays within 16 KiB of workgroup memory.
  for (let v0 = 0; v0 < kw; v0 += taps) {
    const v1 = Math.min(kw, v0 + taps), n = v1 - v0;
    body.push(
      "{",
      ...Array.from({ length: n }, (_, i) => `var dr${i} = 0.0; var di${i} = 0.0;`),
      `for (var it = lid; it < ${u32(items)}; it += ${u32(THREADS)}) {`,
      `  let r = it / ${u32(blocks)};`,
      `  let j0 = (it % ${u32(blocks)}) * ${u32(T)};`,
      `  let rp = r * ${u32(P)} + ch;`,
      `  let gb = rp * ${u32(2 * wo)} + j0;`,
      ...Array.from({ length: T }, (_, t) => [
        `  let gok${t} = j0 + ${u32(t)} < ${u32(wo)};`,
        `  let gr${t} = select(0.0, y[min(gb + ${u32(t)}, ${u32(R * P * 2 * wo - 1)})], gok${t});`,
        `  let gi${t} = select(0.0, y[min(gb + ${u32(wo + t)}, ${u32(R * P * 2 * wo - 1)})], gok${t});`,
      ]).flat(),
      ...loadWindow(T + n - 1, W, `i32(j0) + ${v0 - p.padding[0]}`, `rp * ${u32(2 * W)}`).map((l) => "  " + l),
    );
    for (let i = 0; i < n; i++) {
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
    for (let i = 0; i < n; i++) {
      for (const [q, name] of [[i, `dr${i}`], [n + i, `di${i}`]] as const) {
        const at = `${u32(q * THREADS)} + lid`;
        body.push(`red[(${at}) >> 2u][(${at}) & 3u] = ${name};`);
      }
    }
    body.push(
      "workgroupBarrier();",
      `for (var q = lid; q < ${u32(2 * n)}; q += ${u32(THREADS)}) {`,
      "  var s = 0.0;",
      `  for (var m = 0u; m < ${u32(THREADS)}; m++) { let at = q * ${u32(THREADS)} + m; s += red[at >> 2u][at & 3u]; }`,
      `  let v = ${u32(v0)} + q % ${u32(n)};`,
      `  let im = q >= ${u32(n)};`,
      // The gradient of κ maps back to k reversed and conjugated when adjoint.
      `  let u = ${p.adjoint ? `${u32(kw - 1)} - v` : "v"};`,
      `  out[ch * ${u32(2 * kw)} + select(0u, ${u32(kw)}, im) + u] = ${p.adjoint ? "select(s, -s, im)" : "s"};`,
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
    shared: [`var<workgroup> red: array<vec4<f32>, ${(THREADS * 2 * Math.min(kw, taps)) / 4}>;`],
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: 8 * R * P * wo * kw,
  });
}
