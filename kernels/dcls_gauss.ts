/**
 * The fused Gaussian DCLS construction (`dclsGauss`) and its backward (`dclsGaussGrad`), one dispatch each: a
 * workgroup per channel builds the channel's row and column profiles in workgroup memory, then the kernel as
 * `Σ_k A[i,k] s[k] B[j,k]` (forward), or the profile gradients and from them the weight, position and width gradients
 * (backward). The formulas are the primitive's (lib/core/prims/dcls.ts); the composed construction traced a dozen
 * small kernels per layer, launch-bound on a GPU.
 *
 * @module
 */
import type { DclsGaussParams } from "../lib/core/primitive.ts";
import { DCLS_NORM_EPS, DCLS_SIGMA_FLOOR } from "../lib/core/prims/dcls_constants.ts";
import type { KernelProgram } from "./program.ts";
import { foldGrid, singleDispatchProgram, u32 } from "./wgsl.ts";

const THREADS = 128;

/**
 * Workgroup arrays are declared as vec4s and indexed per component: llvmpipe, the software adapter the tests run on,
 * took 6 s to compile a kernel with one scalar workgroup array of 1,196 floats and 0.01 s with the same memory as 299
 * vec4s; the backward's three arrays took a minute as scalars and 8 s as vec4s. On the H100 the per-component
 * addressing costs about 0.13 ms of ConvNeXt-T DCLS's 94 ms step (construction 0.77 → 0.90 ms).
 */
const wg = (name: string, index: string) => `${name}[(${index}) >> 2u][(${index}) & 3u]`;
const wgDecl = (name: string, n: number) => `var<workgroup> ${name}: array<vec4<f32>, ${Math.ceil(n / 4)}>;`;

/** Workgroup memory the backward's arrays take, in bytes (the forward needs less). */
export function dclsGaussWorkgroupBytes(p: DclsGaussParams, K: number): number {
  const vec4s = (n: number) => Math.ceil(n / 4);
  return 16 * (2 * vec4s((p.rows.size + p.cols.size) * K) + vec4s(p.rows.size * p.cols.size));
}

/** Statements filling `prof` with the row profiles (A, `[D0, K]`) then the column profiles (B, `[D1, K]`). */
function profileLines(p: DclsGaussParams, C: number, K: number): string[] {
  const NA = p.rows.size * K, N = NA + p.cols.size * K;
  const axis = (a: DclsGaussParams["rows"], q: string) => [
    `  k = ${q} % ${u32(K)};`,
    `  x = f32(${q} / ${u32(K)});`,
    `  at = ${u32(a.param * C * K)} + c * ${u32(K)} + k;`,
    `  sh = ${a.shift}.0;`,
  ];
  return [
    `for (var t = lid; t < ${u32(N)}; t += ${u32(THREADS)}) {`,
    "  var k: u32; var x: f32; var at: u32; var sh: f32;",
    `  if (t < ${u32(NA)}) {`,
    ...axis(p.rows, "t").map((l) => "  " + l),
    "  } else {",
    ...axis(p.cols, `(t - ${u32(NA)})`).map((l) => "  " + l),
    "  }",
    `  let u = (x - pos[at] - sh) / (abs(sig[at]) + ${DCLS_SIGMA_FLOOR});`,
    `  ${wg("prof", "t")} = exp(-0.5 * u * u);`,
    "}",
  ];
}

/** Element counts of weight `[C, K]`, P and SIG `[2, C, K]`. */
const inputs = (C: number, K: number) => [C * K, 2 * C * K, 2 * C * K];

/** `dclsGauss`: inputs (weight `[C, K]`, P `[2, C, K]`, SIG `[2, C, K]`), output the kernel `[C, D0, D1]`. */
export function dclsGaussKernel(C: number, K: number, p: DclsGaussParams): KernelProgram {
  const D0 = p.rows.size, D1 = p.cols.size, NA = D0 * K, NB = D1 * K;
  const grid = foldGrid(C);
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let c = ${grid.flatId};`,
    ...profileLines(p, C, K),
    "workgroupBarrier();",
    `if (lid < ${u32(K)}) {`,
    "  var ma = 0.0;",
    `  for (var i = 0u; i < ${u32(D0)}; i++) { ma += ${wg("prof", `i * ${u32(K)} + lid`)}; }`,
    "  var mb = 0.0;",
    `  for (var j = 0u; j < ${u32(D1)}; j++) { mb += ${wg("prof", `${u32(NA)} + j * ${u32(K)} + lid`)}; }`,
    `  sc[lid] = w[c * ${u32(K)} + lid] / (ma * mb + ${DCLS_NORM_EPS});`,
    "}",
    "workgroupBarrier();",
    `for (var t = lid; t < ${u32(D0 * D1)}; t += ${u32(THREADS)}) {`,
    `  let a = (t / ${u32(D1)}) * ${u32(K)};`,
    `  let b = ${u32(NA)} + (t % ${u32(D1)}) * ${u32(K)};`,
    "  var acc = 0.0;",
    `  for (var k = 0u; k < ${u32(K)}; k++) { acc = fma(${wg("prof", "a + k")} * sc[k], ${
      wg("prof", "b + k")
    }, acc); }`,
    `  out[c * ${u32(D0 * D1)} + t] = acc;`,
    "}",
  ];
  return singleDispatchProgram({
    label: `dcls_gauss_${D0}x${D1}_k${K}`,
    names: ["w", "pos", "sig", "out"],
    inputs: inputs(C, K),
    output: C * D0 * D1,
    shared: [wgDecl("prof", NA + NB), `var<workgroup> sc: array<f32, ${K}>;`],
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: 2 * C * K * (D0 * D1 + NA + NB),
  });
}

/**
 * `dclsGaussGrad`: inputs (cotangent `[C, D0, D1]`, weight, P, SIG), output `[5, C, K]`: dw, dP[0], dP[1], dSIG[0],
 * dSIG[1].
 */
export function dclsGaussGradKernel(C: number, K: number, p: DclsGaussParams): KernelProgram {
  const D0 = p.rows.size, D1 = p.cols.size, NA = D0 * K, NB = D1 * K;
  const grid = foldGrid(C);
  // Per element k (one thread each): position and width gradients of one axis from dA = s·GA + dDen·m_other.
  const axisGrad = (a: DclsGaussParams["rows"], base: number, n: number, other: string, dp: string, ds: string) => [
    `  let at${dp} = ${u32(a.param * C * K)} + c * ${u32(K)} + k;`,
    `  let p${dp} = pos[at${dp}] + ${a.shift}.0;`,
    `  let sg${dp} = abs(sig[at${dp}]) + ${DCLS_SIGMA_FLOOR};`,
    `  var ${dp} = 0.0;`,
    `  var ${ds} = 0.0;`,
    `  for (var i = 0u; i < ${u32(n)}; i++) {`,
    `    let q = ${u32(base)} + i * ${u32(K)} + k;`,
    `    let u = (f32(i) - p${dp}) / sg${dp};`,
    `    let g = (s * ${wg("gab", "q")} + dden * ${other}) * ${wg("prof", "q")} * u;`,
    `    ${dp} += g;`,
    `    ${ds} += g * u;`,
    "  }",
    `  grad[${u32((1 + a.param) * C * K)} + c * ${u32(K)} + k] = ${dp} / sg${dp};`,
    `  grad[${u32((3 + a.param) * C * K)} + c * ${u32(K)} + k] = ${ds} / sg${dp} * sign(sig[at${dp}]);`,
  ];
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let c = ${grid.flatId};`,
    ...profileLines(p, C, K),
    `for (var t = lid; t < ${u32(D0 * D1)}; t += ${u32(THREADS)}) { ${wg("gk", "t")} = dk[c * ${u32(D0 * D1)} + t]; }`,
    "workgroupBarrier();",
    // GA[i,k] = Σ_j g[i,j] B[j,k] into gab[0, NA); GB[j,k] = Σ_i g[i,j] A[i,k] into gab[NA, NA + NB).
    `for (var t = lid; t < ${u32(NA + NB)}; t += ${u32(THREADS)}) {`,
    "  var acc = 0.0;",
    `  if (t < ${u32(NA)}) {`,
    `    let i = t / ${u32(K)};`,
    `    let k = t % ${u32(K)};`,
    `    for (var j = 0u; j < ${u32(D1)}; j++) { acc = fma(${wg("gk", `i * ${u32(D1)} + j`)}, ${
      wg("prof", `${u32(NA)} + j * ${u32(K)} + k`)
    }, acc); }`,
    "  } else {",
    `    let j = (t - ${u32(NA)}) / ${u32(K)};`,
    `    let k = t % ${u32(K)};`,
    `    for (var i = 0u; i < ${u32(D0)}; i++) { acc = fma(${wg("gk", `i * ${u32(D1)} + j`)}, ${
      wg("prof", `i * ${u32(K)} + k`)
    }, acc); }`,
    "  }",
    `  ${wg("gab", "t")} = acc;`,
    "}",
    "workgroupBarrier();",
    `if (lid < ${u32(K)}) {`,
    "  let k = lid;",
    "  var ma = 0.0;",
    "  var ds = 0.0;",
    `  for (var i = 0u; i < ${u32(D0)}; i++) {`,
    `    let q = i * ${u32(K)} + k;`,
    `    ma += ${wg("prof", "q")};`,
    `    ds = fma(${wg("prof", "q")}, ${wg("gab", "q")}, ds);`,
    "  }",
    "  var mb = 0.0;",
    `  for (var j = 0u; j < ${u32(D1)}; j++) { mb += ${wg("prof", `${u32(NA)} + j * ${u32(K)} + k`)}; }`,
    `  let den = ma * mb + ${DCLS_NORM_EPS};`,
    `  let wk = w[c * ${u32(K)} + k];`,
    "  let s = wk / den;",
    "  let dden = -ds * wk / (den * den);",
    `  grad[c * ${u32(K)} + k] = ds / den;`,
    ...axisGrad(p.rows, 0, D0, "mb", "dpa", "dsa"),
    ...axisGrad(p.cols, NA, D1, "ma", "dpb", "dsb"),
    "}",
  ];
  return singleDispatchProgram({
    label: `dcls_gauss_grad_${D0}x${D1}_k${K}`,
    names: ["dk", "w", "pos", "sig", "grad"],
    inputs: [C * D0 * D1, ...inputs(C, K)],
    output: 5 * C * K,
    shared: [wgDecl("prof", NA + NB), wgDecl("gab", NA + NB), wgDecl("gk", D0 * D1)],
    workgroupSize: THREADS,
    workgroups: grid.workgroups,
    body,
    flops: 2 * C * K * (2 * D0 * D1 + 6 * (D0 + D1)),
  });
}
