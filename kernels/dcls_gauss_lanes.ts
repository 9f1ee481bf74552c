/**
 * The Gaussian DCLS construction (`dclsGauss`) and its backward (`dclsGaussGrad`) with one thread per element: a
 * workgroup of one warp (32 threads) per channel, thread k holding element k's row and column profiles, their masses
 * and its gradient sums in named registers, in code unrolled over the grid's lines. The formulas are the primitive's
 * (lib/core/prims/dcls.ts), as in kernels/dcls_gauss.ts, whose 256-thread kernels pass partial results between
 * threads through workgroup memory over five or six barriers; here the backward needs one barrier (after staging the
 * channel's cotangent, which every thread reads whole) and the forward one (the kernel's cells sum over the elements,
 * that is over the threads). They take grids of at most 32 lines a side and at most 32 elements, without a spectrum,
 * and are chosen for small windows (the 8×7 stage's 15×13, see {@link dclsGaussProgram}); the other cases keep the
 * shared-memory kernels.
 *
 * Forward: thread k computes `A[i, k]` and `B[j, k]` on every line, the scale `s = w / (ΣA·ΣB + ε)`, and stores
 * `s·A` on the window's rows and `B` on its columns, vec4s over elements; then thread i (a window row) computes its
 * cells `Σ_k sA[i, k] B[j, k]`, reading each column's vec4s as every other thread does (one broadcast).
 *
 * Backward: with the window's cotangent g staged, thread k accumulates `GA[i] = Σ_j g[i, j] B[j]` and
 * `GB[j] = Σ_i g[i, j] A[i]` in one pass over the cells, then the weight gradient and, over every line of each axis,
 * the position and width gradients.
 *
 * Both take several layers that share P and SIG (a stage's) in one dispatch, a workgroup per (layer, channel), each
 * layer's weight, cotangent and output its own binding: on the H100 each kernel takes at most about twice a dispatch
 * that does almost nothing (bench/RESULTS.md run 13), so a stage's constructions cost about one dispatch each way
 * instead of one a layer.
 *
 * @module
 */
import type { DclsGaussParams } from "../lib/core/primitive.ts";
import { DCLS_NORM_EPS, DCLS_SIGMA_FLOOR, dclsWindow } from "../lib/core/prims/dcls_constants.ts";
import { constructionInputs, dclsGaussGradKernel, dclsGaussKernel } from "./dcls_gauss.ts";
import type { KernelProgram } from "./program.ts";
import { foldGrid, singleDispatchProgram, u32, XYZW } from "./wgsl.ts";

/** Threads per workgroup: one warp, a thread per element. */
const LANES = 32;
/** Most lines a side the unrolled registers take. */
const MAX_LINES = 32;

/** Whether the per-element kernels take `K` elements on this grid and window. */
export function dclsGaussLanesFit(p: DclsGaussParams, K: number): boolean {
  return !p.spectrum && K <= LANES && p.rows.size <= MAX_LINES && p.cols.size <= MAX_LINES;
}

/**
 * Most cells of a window the per-element kernels take by choice. On the H100 (bench/dcls_construct_sweep.ts,
 * bench/RESULTS.md run 12) they ran the 8×7 stage's 15×13 window (195 cells, 768 channels) in 0.019 and 0.024 ms
 * against 0.022 and 0.054 for the shared-memory kernels, and a whole 23×23 grid (529 cells) more slowly: 0.0095 and
 * 0.013 ms against 0.0078 and 0.011 with 96 channels, 0.011 and 0.029 against 0.0092 and 0.028 with 384. In the 8×7
 * layer (bench/dcls_vs_dense.ts) the per-element backward took the layer from 0.125 to 0.118 ms, its forward to 0.117.
 */
const MAX_CHOSEN_CELLS = 256;

/**
 * Plan-level names of the per-element kernels for several layers sharing P and SIG (lib/gpu/fuse_passes.ts
 * `mergeConstructions`): one dispatch builds, or takes back, every layer's kernel.
 */
export const DCLS_GAUSS_LAYERS = "dclsGaussLayers", DCLS_GAUSS_GRAD_LAYERS = "dclsGaussGradLayers";

/** Whether the construction of `K` elements takes the per-element kernels (see {@link MAX_CHOSEN_CELLS}). */
export function lanesChosen(p: DclsGaussParams, K: number): boolean {
  return dclsGaussLanesFit(p, K) && dclsWindow(p.rows)[1] * dclsWindow(p.cols)[1] <= MAX_CHOSEN_CELLS;
}

/** The `dclsGauss` kernel for `C` channels of `K` elements: per element where chosen, else in shared memory. */
export function dclsGaussProgram(C: number, K: number, p: DclsGaussParams): KernelProgram {
  return (lanesChosen(p, K) ? dclsGaussLanesKernel : dclsGaussKernel)(C, K, p);
}

/** The `dclsGaussGrad` kernel for `C` channels of `K` elements, chosen as {@link dclsGaussProgram}'s. */
export function dclsGaussGradProgram(C: number, K: number, p: DclsGaussParams): KernelProgram {
  return (lanesChosen(p, K) ? dclsGaussGradLanesKernel : dclsGaussGradKernel)(C, K, p);
}

/** Binding names of a per-layer array: `base` for one layer, else `base0`, `base1`, … */
function layerNames(base: string, layers: number): string[] {
  return layers === 1 ? [base] : Array.from({ length: layers }, (_, l) => `${base}${l}`);
}

/**
 * Statements running `f` on the workgroup's layer's array of a per-layer binding (`layer`, uniform over the
 * workgroup, picks it: bindings cannot be indexed).
 */
function onLayer(base: string, layers: number, f: (array: string) => string[]): string[] {
  if (layers === 1) return f(base);
  return [
    "switch layer {",
    ...Array.from({ length: layers }, (_, l) => [`  case ${l}u: {`, ...f(`${base}${l}`).map((x) => `    ${x}`), "  }"])
      .flat(),
    "  default: {}",
    "}",
  ];
}

/** Statements naming the workgroup's channel `c` (and `layer` when there are several). */
function channelOf(flatId: string, C: number, layers: number): string[] {
  return layers === 1
    ? [`let c = ${flatId};`]
    : [`let layer = ${flatId} / ${u32(C)};`, `let c = ${flatId} % ${u32(C)};`];
}

/** Statements loading thread k's weight (zero past K), shifted positions and widths; `ir`, `ic` are 1 / width. */
function elementLoads(p: DclsGaussParams, C: number, K: number, layers: number): string[] {
  const at = (param: number) => `${u32(param * C * K)} + c * ${u32(K)} + k`;
  return [
    `let k = min(lid, ${u32(K - 1)});`,
    "var wk = 0.0;",
    ...onLayer("w", layers, (w) => [`wk = ${w}[c * ${u32(K)} + k];`]),
    `wk = select(0.0, wk, lid < ${u32(K)});`,
    `let pr = pos[${at(p.rows.param)}] + ${p.rows.shift}.0;`,
    `let pc = pos[${at(p.cols.param)}] + ${p.cols.shift}.0;`,
    `let sr = sig[${at(p.rows.param)}];`,
    `let sc = sig[${at(p.cols.param)}];`,
    `let ir = 1.0 / (abs(sr) + ${DCLS_SIGMA_FLOOR});`,
    `let ic = 1.0 / (abs(sc) + ${DCLS_SIGMA_FLOOR});`,
  ];
}

/** Statements computing the profiles `a0 … a{D0−1}`, `b0 … b{D1−1}` and their masses `ma`, `mb`. */
function profiles(p: DclsGaussParams): string[] {
  const axis = (v: string, n: number, at: string, inv: string, m: string) => [
    ...Array.from(
      { length: n },
      (_, i) => `let ${v}${i} = exp(-0.5 * (${i}.0 - ${at}) * ${inv} * ((${i}.0 - ${at}) * ${inv}));`,
    ),
    `let ${m} = ${Array.from({ length: n }, (_, i) => `${v}${i}`).join(" + ")};`,
  ];
  return [...axis("a", p.rows.size, "pr", "ir", "ma"), ...axis("b", p.cols.size, "pc", "ic", "mb")];
}

/**
 * `dclsGauss` with a thread per element: output the kernel's window `[C, n0, n1]`. With `layers` > 1, the
 * constructions of that many layers that share P and SIG in one dispatch: inputs (weight of each layer, P, SIG),
 * outputs each layer's window.
 */
export function dclsGaussLanesKernel(C: number, K: number, p: DclsGaussParams, layers = 1): KernelProgram {
  if (!dclsGaussLanesFit(p, K)) throw new Error(`dclsGaussLanes: ${K} elements on this grid do not fit its registers`);
  const [r0, n0] = dclsWindow(p.rows), [c0, n1] = dclsWindow(p.cols);
  const KV = Math.ceil(K / 4), grid = foldGrid(C * layers);
  // sA on the window's rows, then B on its columns: line l's elements at vec4s l·KV … l·KV + KV − 1.
  const store = (v: string, line: number) => `${v}[${u32(line * KV)} + lid / 4u][lid % 4u]`;
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    ...channelOf(grid.flatId, C, layers),
    ...elementLoads(p, C, K, layers),
    ...profiles(p),
    `let s = wk / (ma * mb + ${DCLS_NORM_EPS});`,
    `if (lid < ${u32(4 * KV)}) {`,
    ...Array.from({ length: n0 }, (_, i) => `  ${store("sa", i)} = s * a${r0 + i};`),
    ...Array.from({ length: n1 }, (_, j) => `  ${store("sb", j)} = b${c0 + j};`),
    "}",
    "workgroupBarrier();",
    `if (lid < ${u32(n0)}) {`,
    ...Array.from({ length: KV }, (_, v) => `  let r${v} = sa[lid * ${u32(KV)} + ${u32(v)}];`),
    `  let o = c * ${u32(n0 * n1)} + lid * ${u32(n1)};`,
    ...Array.from({ length: n1 }, (_, j) => {
      const terms = Array.from({ length: KV }, (_, v) => `r${v} * sb[${u32(j * KV + v)}]`).join(" + ");
      return `  let t${j} = ${terms};`;
    }),
    ...onLayer(
      "out",
      layers,
      (out) =>
        Array.from({ length: n1 }, (_, j) => `${out}[o + ${u32(j)}] = (t${j}.x + t${j}.y) + (t${j}.z + t${j}.w);`),
    )
      .map((l) => `  ${l}`),
    "}",
  ];
  const [weight, ...params] = constructionInputs(C, K);
  return singleDispatchProgram({
    label: `dcls_gauss_lanes_${p.rows.size}x${p.cols.size}_w${r0}+${n0}x${c0}+${n1}_k${K}${
      layers > 1 ? `_x${layers}` : ""
    }`,
    names: [...layerNames("w", layers), "pos", "sig", ...layerNames("out", layers)],
    inputs: [...Array(layers).fill(weight), ...params],
    output: Array(layers).fill(C * n0 * n1),
    shared: [`var<workgroup> sa: array<vec4<f32>, ${n0 * KV}>;`, `var<workgroup> sb: array<vec4<f32>, ${n1 * KV}>;`],
    workgroupSize: LANES,
    workgroups: grid.workgroups,
    body,
    flops: 2 * layers * C * K * (n0 * n1 + p.rows.size + p.cols.size),
  });
}

/**
 * `dclsGaussGrad` with a thread per element: inputs (cotangent `[C, n0, n1]` of the window, weight, P, SIG), output
 * `[5, C, K]`: dw, dP[0], dP[1], dSIG[0], dSIG[1]. With `layers` > 1, the backward of that many layers' constructions
 * that share P and SIG in one dispatch: inputs (each layer's cotangent, each layer's weight, P, SIG), outputs each
 * layer's gradients.
 */
export function dclsGaussGradLanesKernel(C: number, K: number, p: DclsGaussParams, layers = 1): KernelProgram {
  if (!dclsGaussLanesFit(p, K)) throw new Error(`dclsGaussLanes: ${K} elements on this grid do not fit its registers`);
  const [r0, n0] = dclsWindow(p.rows), [c0, n1] = dclsWindow(p.cols);
  const D0 = p.rows.size, D1 = p.cols.size, CK = C * K, grid = foldGrid(C * layers);
  // The cotangent's rows padded to whole vec4s; each vec4 is read once, into a register, by every thread.
  const NV = Math.ceil(n1 / 4);
  const cells: string[] = [];
  for (let i = 0; i < n0; i++) {
    for (let v = 0; v < NV; v++) {
      cells.push(`{ let g = gk[${u32(i * NV + v)}];`);
      for (let l = 0; l < 4 && 4 * v + l < n1; l++) {
        const j = 4 * v + l, e = `g.${XYZW[l]}`;
        cells.push(`  ga${i} = fma(${e}, b${c0 + j}, ga${i});`, `  gb${j} = fma(${e}, a${r0 + i}, gb${j});`);
      }
      cells.push("}");
    }
  }
  // Σ over an axis's lines of (s·G + dden·m_other)·prof·u and its product with u, G zero outside the window.
  const lineSums = (v: string, n: number, at: string, inv: string, other: string, g: string, w0: number, wn: number) =>
    Array.from({ length: n }, (_, i) => {
      const d = i >= w0 && i < w0 + wn ? `fma(s, ${g}${i - w0}, dden * ${other})` : `dden * ${other}`;
      return `{ let u = (${i}.0 - ${at}) * ${inv}; let t = ${d} * ${v}${i} * u; dp_${v} += t; dq_${v} = fma(t, u, dq_${v}); }`;
    });
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    ...channelOf(grid.flatId, C, layers),
    `for (var t = lid; t < ${u32(n0 * n1)}; t += ${u32(LANES)}) {`,
    "  var g = 0.0;",
    ...onLayer("dk", layers, (dk) => [`g = ${dk}[c * ${u32(n0 * n1)} + t];`]).map((l) => `  ${l}`),
    `  gk[t / ${u32(n1)} * ${u32(NV)} + t % ${u32(n1)} / 4u][t % ${u32(n1)} % 4u] = g;`,
    "}",
    // The profiles first, while the cotangent's loads are in flight.
    ...elementLoads(p, C, K, layers),
    ...profiles(p),
    "workgroupBarrier();",
    ...Array.from({ length: n0 }, (_, i) => `var ga${i} = 0.0;`),
    ...Array.from({ length: n1 }, (_, j) => `var gb${j} = 0.0;`),
    ...cells,
    `let ds = ${Array.from({ length: n0 }, (_, i) => `a${r0 + i} * ga${i}`).join(" + ")};`,
    `let den = ma * mb + ${DCLS_NORM_EPS};`,
    "let s = wk / den;",
    "let dden = -ds * wk / (den * den);",
    "var dp_a = 0.0; var dq_a = 0.0; var dp_b = 0.0; var dq_b = 0.0;",
    ...lineSums("a", D0, "pr", "ir", "mb", "ga", r0, n0),
    ...lineSums("b", D1, "pc", "ic", "ma", "gb", c0, n1),
    `if (lid < ${u32(K)}) {`,
    `  let e = c * ${u32(K)} + lid;`,
    ...onLayer("grad", layers, (grad) => [
      `${grad}[e] = ds / den;`,
      `${grad}[${u32((1 + p.rows.param) * CK)} + e] = dp_a * ir;`,
      `${grad}[${u32((1 + p.cols.param) * CK)} + e] = dp_b * ic;`,
      `${grad}[${u32((3 + p.rows.param) * CK)} + e] = dq_a * ir * sign(sr);`,
      `${grad}[${u32((3 + p.cols.param) * CK)} + e] = dq_b * ic * sign(sc);`,
    ]).map((l) => `  ${l}`),
    "}",
  ];
  const [weight, ...params] = constructionInputs(C, K);
  return singleDispatchProgram({
    label: `dcls_gauss_grad_lanes_${D0}x${D1}_w${r0}+${n0}x${c0}+${n1}_k${K}${layers > 1 ? `_x${layers}` : ""}`,
    names: [...layerNames("dk", layers), ...layerNames("w", layers), "pos", "sig", ...layerNames("grad", layers)],
    inputs: [...Array(layers).fill(C * n0 * n1), ...Array(layers).fill(weight), ...params],
    output: Array(layers).fill(5 * CK),
    shared: [`var<workgroup> gk: array<vec4<f32>, ${n0 * NV}>;`],
    workgroupSize: LANES,
    workgroups: grid.workgroups,
    body,
    flops: 2 * layers * CK * (2 * n0 * n1 + 6 * (D0 + D1)),
  });
}
