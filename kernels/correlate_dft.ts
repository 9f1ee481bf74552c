/**
 * The spectral convolution's correlation and the transform that reads its result, in one kernel (the GPU plan fuses a
 * `realDft` into the `complexCorrelate` it alone reads: lib/gpu/fuse_passes.ts). A workgroup takes one plane: first
 * its threads compute the plane's F correlated frequency rows as the correlation kernel does
 * (kernels/complex_correlate.ts), writing them to workgroup memory instead of a buffer; then, after a barrier, a thread
 * per column applies the transform (kernels/real_dft.ts) to the column held in workgroup memory, through the
 * transform's epilogue. The correlation's result never goes to memory: at 32×31 that is 67 MB written and read again
 * per pass. Planes whose spectrum exceeds 16 KiB (64×62's 76 rows of 62) keep the two kernels: split into chunks of
 * columns, the fused forward took 0.398 ms against 0.283 for the two (bench/RESULTS.md run 11), its long per-column
 * transforms running on a quarter of the threads.
 *
 * @module
 */
import type { ComplexCorrelateParams, RealDftParams } from "../lib/core/primitive.ts";
import { dftDims } from "../lib/core/prims/dft_matrix.ts";
import { type ComplexGeometry, correlateForm, correlateItem, outLength } from "./complex_correlate.ts";
import type { KernelProgram } from "./program.ts";
import { dftColumn, dftColumnFlops, dftColumnProgram, type RealDftEpilogue } from "./real_dft.ts";
import { foldGrid, u32 } from "./wgsl.ts";

/** The name of the plan-level kernel that computes a `realDft` of a `complexCorrelate`'s result. */
export const CORRELATE_DFT = "correlateDft";

/** Floats of workgroup memory a plane's spectrum may take (16 KiB, WebGPU's guaranteed minimum). */
export const CORRELATE_DFT_WORDS = 4096;

/**
 * Threads per workgroup (one plane). On the H100 (bench/complex_sweep.ts, bench/RESULTS.md run 11) the forward fused
 * with its inverse took 0.118 ms at 31 outputs a row with 128 threads, 0.134 with 64 and 0.138 with 32; at 15, 0.088,
 * 0.100 and 0.087.
 */
const DEFAULT_THREADS = 128;

/** The fused kernel's geometry: the correlation's, and C channels of F frequency rows (P = C·F). */
export interface CorrelateDftGeometry extends ComplexGeometry {
  readonly C: number;
}

/** Whether the fused kernel applies: the transform reads the correlation's 2F rows, and a plane's fit. */
export function correlateDftFits(g: CorrelateDftGeometry, cp: ComplexCorrelateParams, p: RealDftParams): boolean {
  const F = g.P / g.C;
  return Number.isInteger(F) && dftDims(p).cols === 2 * F && 2 * F * outLength(g, cp) <= CORRELATE_DFT_WORDS;
}

/**
 * `realDft(reshape(complexCorrelate(z, k), [R, C, 2F, Wo]))`: inputs z `[R, C·F, 2, W]`, k `[C·F, 2, kw]` and the
 * epilogue's; output `[R, C, M, Wo]`.
 */
export function correlateDftKernel(
  g: CorrelateDftGeometry,
  cp: ComplexCorrelateParams,
  p: RealDftParams,
  epilogue?: RealDftEpilogue,
  tiles: { readonly threads?: number } = {},
): KernelProgram {
  const THREADS = tiles.threads ?? DEFAULT_THREADS;
  if (!correlateDftFits(g, cp, p)) {
    throw new Error(`correlateDft: ${g.P} rows of ${g.C} channels are not the transform's input, or exceed memory`);
  }
  const { R, P, W, kw, C } = g, F = P / C, wo = outLength(g, cp), planes = R * C, { rows } = dftDims(p);
  // One row a thread (the rows of a workgroup are one sample's); the sum over the row takes 4 outputs, which ran
  // faster than 2 with one row a thread (bench/RESULTS.md run 11).
  const base = correlateForm(g, cp), form = { ...base, H: 1, T: base.form === "signal" ? 4 : base.T };
  const blocks = Math.ceil(wo / form.T), grid = foldGrid(planes);
  const sh = (index: string) => `sh[(${index}) >> 2u][(${index}) & 3u]`;
  const column = dftColumn(
    wo,
    p,
    (j) => sh(typeof j === "number" ? `${u32(j * wo)} + pw` : `${j} * ${u32(wo)} + pw`),
    {},
    epilogue,
  );
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let pb = ${grid.flatId};`,
    `let r = pb / ${u32(C)};`,
    `let c = pb % ${u32(C)};`,
    `for (var it = lid; it < ${u32(F * blocks)}; it += ${u32(THREADS)}) {`,
    `  let f = it / ${u32(blocks)};`,
    `  let j0 = (it % ${u32(blocks)}) * ${u32(form.T)};`,
    `  let rp0 = r * ${u32(P)} + c * ${u32(F)} + f;`,
    `  let kb = (c * ${u32(F)} + f) * ${u32(2 * kw)};`,
    // Frequency f's real and imaginary rows are rows 2f and 2f + 1 of the transform's input.
    `  let sb = f * ${u32(2 * wo)} + j0;`,
    ...correlateItem(g, cp, form, (_, t, re, im) => [
      `if (j0 + ${u32(t)} < ${u32(wo)}) { ${sh(`sb + ${u32(t)}`)} = ${re}; ${sh(`sb + ${u32(wo + t)}`)} = ${im}; }`,
    ]).map((l) => "  " + l),
    "}",
    "workgroupBarrier();",
    `for (var pw = lid; pw < ${u32(wo)}; pw += ${u32(THREADS)}) {`,
    `  let yb = pb * ${u32(rows * wo)} + pw;`,
    ...column.lines.map((l) => "  " + l),
    "}",
  ];
  const label = `correlate_dft_${R}x${P}x${W}_k${kw}${cp.adjoint ? "_adjoint" : ""}_to_${rows}${
    p.inverse ? "_inverse" : ""
  }${p.transpose ? "_t" : ""}`;
  return dftColumnProgram({
    label,
    own: [{ name: "z", size: R * P * 2 * W }, { name: "k", size: P * 2 * kw }],
    epilogue,
    column,
    outSize: planes * rows * wo,
    shared: [`var<workgroup> sh: array<vec4<f32>, ${Math.ceil((2 * F * wo) / 4)}>;`],
    threads: THREADS,
    body,
    workgroups: grid.workgroups,
    flops: 8 * R * P * wo * kw + planes * wo * dftColumnFlops(p),
  });
}
