/**
 * The fused Gaussian DCLS construction (`dclsGauss`) and its backward (`dclsGaussGrad`), one dispatch each, one
 * workgroup of 256 threads per channel. The formulas are the primitive's (lib/core/prims/dcls.ts); the composed
 * construction traced a dozen small kernels per layer, launch-bound on a GPU.
 *
 * Layout in workgroup memory: the channel's row profiles A `[D0, K]`, then its column profiles B `[D1, K]`, each grid
 * line a run of `KV = ⌈K/4⌉` vec4s, element k in lane `k & 3` of vec4 `k >> 2`. The lanes past K hold zero profiles,
 * which zero every term they enter. A work item is a vec4 of four elements, so every phase reads whole vec4s and the
 * per-element phases need a quarter of the threads they would per element.
 *
 * An output window (the axes' `start`, `count`) restricts the kernel's cells and the cotangent to rows r0 … r0 + n0 − 1
 * and columns c0 … c0 + n1 − 1; the profiles still cover every line, since the masses that normalise each element
 * run over the whole grid.
 *
 * Forward, in phases split by barriers: (1) the profiles, a vec4 of a line per thread; (2) the masses ΣA and ΣB, a
 * thread per axis and vec4 of elements; (3) the scales `s = w / (ΣA·ΣB + ε)`, a thread per vec4; (4) the kernel
 * `Σ_k A[i,k] s[k] B[j,k]`, a thread per cell of the window.
 *
 * Backward: (1) the profiles and the window's cotangent g; (2) `GA = g B` and `GB = gᵀ A`, a vec4 of a line per thread,
 * the sums over the window's lines (GA and GB are zero on the lines outside it, which g does not reach);
 * (3) `ΣA·GA`, ΣA and ΣB, each as R partial sums over every R-th line (a thread per axis, vec4 of elements and
 * partial); (4) on the same threads, the scales and the normalisation's gradient from the partials (and the weight
 * gradient), then the partial sums over their lines of `g = dA·A·u` and `g·u` with `dA = s·GA + dDen·m_other`;
 * (5) a thread per axis and vec4 of elements adds the R partials into the position and width gradients. The sums over
 * lines thus take a ⌈D/R⌉-step chain on R times the threads instead of a D-step one on a thread per element, which
 * left the rest of the workgroup idle at the end of the kernel.
 *
 * With a spectrum (the spectral convolution's row transform T, `[2F, n0]`), the forward's phase (4) becomes two: the
 * spectrum's rows of the scaled row profiles, `Â = T·A·diag(s)`, a thread per (frequency, vec4 of elements); then
 * `K̂ = Â·Bᵀ`, a thread per (frequency, column) writing the real and imaginary rows. The backward's phase (1) stages
 * the spectrum's cotangent ĝ in the GA/GB array and takes it back, `g = Tᵀ·ĝ`, a thread per (row, vec4 of columns).
 * Both step T's entries by rotations (see `turnHelper`).
 *
 * @module
 */
import type { DclsGaussParams } from "../lib/core/primitive.ts";
import { DCLS_NORM_EPS, DCLS_SIGMA_FLOOR, dclsWindow } from "../lib/core/prims/dcls_constants.ts";
import type { KernelProgram } from "./program.ts";
import { foldGrid, singleDispatchProgram, u32 } from "./wgsl.ts";

/**
 * Threads per workgroup (one workgroup per channel). On the H100 (bench/dcls_construct_sweep.ts, bench/RESULTS.md run
 * 9) 256 beat 128 and 64 at every ConvNeXt-T stage: the 8×7 stage's windowed backward 0.037 ms against 0.043 and
 * 0.053, its forward 0.019 against 0.020 and 0.022.
 */
const THREADS = 256;

/**
 * Workgroup arrays are declared as vec4s. llvmpipe, the software adapter the tests (and CI) run on, compiles the
 * zero-initialisation of workgroup memory (wgpu's GL backend emits an array constructor) in time that grows with the
 * number of array elements, and faster than linearly: a kernel with one scalar workgroup array of 1,196 floats took 6 s
 * against 0.01 s for the same memory as 299 vec4s (the backward's three arrays: a minute as scalars, 8 s as vec4s);
 * even as vec4s, two arrays of 322 took 3 s and two of 644 took 13 s. Its compile time also grows with the workgroup
 * loads in fully unrolled loops: a first version of this layout, with a 23-step loop per element sum, compiled twice as
 * slowly as the per-element kernels before it. Hence one loop body for rows and columns where the grid is square, and
 * short loops over every R-th line for the per-element sums. The cotangent, read one cell at a time, is indexed per
 * component (`wg`); on the H100 that addressing cost about 0.13 ms of ConvNeXt-T DCLS's 94 ms step (construction
 * 0.77 → 0.90 ms) when the profiles were addressed that way too.
 */
const wg = (name: string, index: string) => `${name}[(${index}) >> 2u][(${index}) & 3u]`;
const vecDecl = (name: string, n: number) => `var<workgroup> ${name}: array<vec4<f32>, ${n}>;`;

/** Partial sums per element sum in the backward: four threads per vec4 of elements, fewer where too few fit. */
const PARTIALS = 4;

/** The shape of one channel's work. */
interface Layout {
  readonly D0: number;
  readonly D1: number;
  /** The output window: rows r0 … r0 + n0 − 1, columns c0 … c0 + n1 − 1. */
  readonly r0: number;
  readonly n0: number;
  readonly c0: number;
  readonly n1: number;
  /** Vec4s per grid line. */
  readonly KV: number;
  /** Vec4s of the row profiles, and of both. */
  readonly NA: number;
  readonly N: number;
  /** Partial sums per element sum (backward). */
  readonly R: number;
  /** Vec4s of the backward's cotangent array, which then holds the partial sums. */
  readonly scratch: number;
  /** Threads per workgroup. */
  readonly T: number;
  /** Rows of the output: the window's n0, or the spectrum's length + 1. */
  readonly M: number;
  /** Vec4s of the forward's spectrum array and of the backward's GA/GB array (which first holds the cotangent). */
  readonly spec: number;
  readonly gab: number;
}

/** The layout of `K` elements on the grid `p`; throws where the backward's per-element threads do not fit. */
function layout(p: DclsGaussParams, K: number, T = THREADS): Layout {
  const D0 = p.rows.size, D1 = p.cols.size, KV = Math.ceil(K / 4);
  const [r0, n0] = dclsWindow(p.rows), [c0, n1] = dclsWindow(p.cols);
  // The backward's threads per axis and vec4 of elements hold R partials each, written back over the first 2·KV·R
  // vec4s of the profiles.
  const R = Math.min(PARTIALS, Math.floor(T / (2 * KV)), Math.floor((D0 + D1) / 2));
  if (R < 1) throw new Error(`dclsGauss: ${K} elements per channel exceed the kernel's ${2 * T}`);
  const NA = D0 * KV, N = NA + D1 * KV, M = p.spectrum ? p.spectrum.length + 1 : n0;
  return {
    D0,
    D1,
    r0,
    n0,
    c0,
    n1,
    KV,
    NA,
    N,
    R,
    scratch: Math.max(Math.ceil((n0 * n1) / 4), 3 * KV * R),
    T,
    M,
    spec: p.spectrum ? M * KV : 0,
    gab: p.spectrum ? Math.max(N, M * Math.ceil(n1 / 4)) : N,
  };
}

/**
 * Workgroup memory the kernels' arrays take, in bytes: the backward's, or with a spectrum the larger of the two;
 * Infinity for more than 512 elements, which the kernels cannot take, so that callers choosing by memory take another
 * path.
 */
export function dclsGaussWorkgroupBytes(p: DclsGaussParams, K: number): number {
  if (K > 2 * THREADS) return Infinity;
  const { N, scratch, spec, gab } = layout(p, K);
  return 16 * (N + Math.max(gab + scratch, spec + 2 * Math.ceil(K / 4)));
}

/**
 * A `vec4` of `f(k)` over the elements of vec4 `kv`; lanes past K read element K − 1 instead, so every index stays in
 * range (their values are masked or never stored).
 */
function lanes(K: number, f: (k: string) => string): string {
  const k = (l: number) => K % 4 === 0 || l < K % 4 ? `4u * kv + ${u32(l)}` : `min(4u * kv + ${u32(l)}, ${u32(K - 1)})`;
  return `vec4<f32>(${[0, 1, 2, 3].map((l) => f(k(l))).join(", ")})`;
}

/** `v` with the lanes past K of vec4 `kv` zeroed. */
const masked = (K: number, v: string) =>
  K % 4 === 0 ? v : `select(vec4<f32>(), ${v}, vec4<u32>(4u * kv) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(${u32(K)}))`;

/** Statements storing the lanes of `v` (vec4 `kv`) that are elements, at `grad[at + k]`. */
function storeLanes(K: number, at: string, v: string): string[] {
  return ["x", "y", "z", "w"].map((c, l) => {
    const store = `grad[${at} + 4u * kv + ${u32(l)}] = ${v}.${c};`;
    return K % 4 === 0 || l < K % 4 ? store : `if (4u * kv + ${u32(l)} < ${u32(K)}) { ${store} }`;
  });
}

/**
 * `a` where `cond` holds and `b` otherwise: a constant where they agree (square grids and windows), so that one loop
 * body serves both axes and still unrolls.
 */
const either = (a: number, b: number, cond: string) => a === b ? u32(a) : `select(${u32(b)}, ${u32(a)}, ${cond})`;

/** D0 where `cond` holds and D1 otherwise. */
const lineCount = (L: Layout, cond: string) => either(L.D0, L.D1, cond);

/** `${n}u + ` where n > 0: the offset of a window that does not start at the first line. */
const offset = (n: number) => n === 0 ? "" : `${u32(n)} + `;

/** Whether the output window leaves out some of the grid. */
const windowed = (L: Layout) => L.n0 !== L.D0 || L.n1 !== L.D1;

/** The label's window and spectrum parts: empty for the whole grid, as is. */
const windowTag = (L: Layout, p: DclsGaussParams) =>
  (windowed(L) ? `_w${L.r0}+${L.n0}x${L.c0}+${L.n1}` : "") + (p.spectrum ? `_s${p.spectrum.length}` : "");

/**
 * The WGSL helper `turn(q)`: the angle 2π·q/N reduced to [−π, π] (q < N an exact integer reduction of f·(u − top)).
 * The spectrum's entries along a line are then a rotation by a fixed angle from a start, (cos, sin) of
 * 2π f (u − top) / N: cheaper than a trigonometric call per entry, and within f32 rounding over the ≤ 38 steps the
 * models take (kernelSpectrumMatrix in lib/core/prims/dft_matrix.ts is the float64 definition).
 */
function turnHelper(N: number): string {
  return [
    "fn turn(q: u32) -> f32 {",
    `  return select(f32(q), f32(q) - ${N}.0, 2u * q > ${u32(N)}) * ${Math.fround((2 * Math.PI) / N)};`,
    "}",
  ].join("\n");
}

/** Statements advancing the rotation (`c`, `s`) by the angle whose (cos, sin) is (`dc`, `ds`). */
const rotate = ["let c2 = fma(c, dc, -s * ds);", "s = fma(s, dc, c * ds);", "c = c2;"];

/** Statements filling `prof` with the row profiles (A) then the column profiles (B), a vec4 per thread. */
function profileLines(p: DclsGaussParams, L: Layout, C: number, K: number): string[] {
  const axis = (a: DclsGaussParams["rows"], line: string) => [
    `    x = f32(${line} / ${u32(L.KV)});`,
    `    at = ${u32(a.param * C * K)} + c * ${u32(K)};`,
    `    sh = ${a.shift}.0;`,
  ];
  const profile = "exp(-0.5 * u * u)";
  return [
    `for (var t = lid; t < ${u32(L.N)}; t += ${u32(L.T)}) {`,
    `  let kv = t % ${u32(L.KV)};`,
    "  var x: f32; var at: u32; var sh: f32;",
    `  if (t < ${u32(L.NA)}) {`,
    ...axis(p.rows, "t"),
    "  } else {",
    ...axis(p.cols, `(t - ${u32(L.NA)})`),
    "  }",
    `  let u = (x - ${lanes(K, (k) => `pos[at + ${k}]`)} - sh) / (abs(${
      lanes(K, (k) => `sig[at + ${k}]`)
    }) + ${DCLS_SIGMA_FLOOR});`,
    `  prof[t] = ${masked(K, profile)};`,
    "}",
  ];
}

/**
 * `wv`: this channel's weights of vec4 `kv`, loaded where `cond` holds before anything else, so their latency hides
 * behind the profiles. The lanes past K are zero, which keeps their scales zero and finite.
 */
const weightPrefetch = (K: number, cond: string, kv: string) => [
  "var wv = vec4<f32>();",
  `if (${cond}) {`,
  `  let kv = ${kv};`,
  `  wv = ${masked(K, lanes(K, (k) => `w[c * ${u32(K)} + ${k}]`))};`,
  "}",
];

/** Element counts of weight `[C, K]`, P and SIG `[2, C, K]`: the construction's inputs. */
export const constructionInputs = (C: number, K: number): number[] => [C * K, 2 * C * K, 2 * C * K];

/**
 * `dclsGauss`: inputs (weight `[C, K]`, P `[2, C, K]`, SIG `[2, C, K]`), output the kernel's window `[C, n0, n1]`, or
 * its spectrum `[C, 2F, n1]`.
 */
export function dclsGaussKernel(C: number, K: number, p: DclsGaussParams, threads = THREADS): KernelProgram {
  const L = layout(p, K, threads), { D0, D1, r0, n0, c0, n1, KV, NA, N, T, M } = L;
  const grid = foldGrid(C);
  // The window's cells Σ_k A[i,k] s[k] B[j,k], a thread per cell.
  const cells = [
    `for (var t = lid; t < ${u32(n0 * n1)}; t += ${u32(T)}) {`,
    `  let a = ${offset(r0 * KV)}(t / ${u32(n1)}) * ${u32(KV)};`,
    `  let b = ${u32(NA + c0 * KV)} + (t % ${u32(n1)}) * ${u32(KV)};`,
    "  var acc = vec4<f32>();",
    `  for (var kv = 0u; kv < ${u32(KV)}; kv++) { acc = fma(prof[a + kv] * sc[kv], prof[b + kv], acc); }`,
    `  out[c * ${u32(n0 * n1)} + t] = (acc.x + acc.y) + (acc.z + acc.w);`,
    "}",
  ];
  // With a spectrum, its rows of the scaled row profiles first: Â[2f + (0, 1)] = Σ_i (cos, sin)(2π f (i − top) / N)
  // A[r0 + i] s, a thread per (frequency, vec4 of elements) rotating along i.
  const spectral = p.spectrum
    ? [
      `for (var t = lid; t < ${u32((M / 2) * KV)}; t += ${u32(T)}) {`,
      `  let f = t / ${u32(KV)};`,
      `  let kv = t % ${u32(KV)};`,
      `  let a0 = turn(f * ${u32(p.spectrum.length - p.spectrum.top)} % ${u32(p.spectrum.length)});`,
      `  let da = turn(f);`,
      "  var c = cos(a0); var s = sin(a0);",
      "  let dc = cos(da); let ds = sin(da);",
      "  var re = vec4<f32>(); var im = vec4<f32>();",
      `  for (var i = 0u; i < ${u32(n0)}; i++) {`,
      `    let a = prof[${offset(r0 * KV)}i * ${u32(KV)} + kv];`,
      "    re = fma(vec4<f32>(c), a, re);",
      "    im = fma(vec4<f32>(s), a, im);",
      ...rotate.map((l) => "    " + l),
      "  }",
      `  ahat[2u * t - kv] = re * sc[kv];`,
      `  ahat[2u * t - kv + ${u32(KV)}] = im * sc[kv];`,
      "}",
      "workgroupBarrier();",
      // A thread per (frequency, column): the real and imaginary rows share the column's profile.
      `for (var t = lid; t < ${u32((M / 2) * n1)}; t += ${u32(T)}) {`,
      `  let f = t / ${u32(n1)};`,
      `  let j = t % ${u32(n1)};`,
      `  let a = f * ${u32(2 * KV)};`,
      `  let b = ${u32(NA + c0 * KV)} + j * ${u32(KV)};`,
      "  var re = vec4<f32>(); var im = vec4<f32>();",
      `  for (var kv = 0u; kv < ${u32(KV)}; kv++) {`,
      "    let bv = prof[b + kv];",
      "    re = fma(ahat[a + kv], bv, re);",
      `    im = fma(ahat[a + ${u32(KV)} + kv], bv, im);`,
      "  }",
      `  out[c * ${u32(M * n1)} + 2u * f * ${u32(n1)} + j] = (re.x + re.y) + (re.z + re.w);`,
      `  out[c * ${u32(M * n1)} + (2u * f + 1u) * ${u32(n1)} + j] = (im.x + im.y) + (im.z + im.w);`,
      "}",
    ]
    : cells;
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let c = ${grid.flatId};`,
    ...weightPrefetch(K, `lid < ${u32(KV)}`, "lid"),
    ...profileLines(p, L, C, K),
    "workgroupBarrier();",
    // sc = [ΣA | ΣB], then the scales over ΣA.
    `if (lid < ${u32(2 * KV)}) {`,
    `  let base = select(${u32(NA)}, 0u, lid < ${u32(KV)}) + lid % ${u32(KV)};`,
    "  var m = vec4<f32>();",
    `  for (var q = 0u; q < ${lineCount(L, `lid < ${u32(KV)}`)}; q++) { m += prof[base + q * ${u32(KV)}]; }`,
    "  sc[lid] = m;",
    "}",
    "workgroupBarrier();",
    `if (lid < ${u32(KV)}) { sc[lid] = wv / (sc[lid] * sc[${u32(KV)} + lid] + ${DCLS_NORM_EPS}); }`,
    "workgroupBarrier();",
    ...spectral,
  ];
  return singleDispatchProgram({
    label: `dcls_gauss_${D0}x${D1}${windowTag(L, p)}_k${K}`,
    names: ["w", "pos", "sig", "out"],
    inputs: constructionInputs(C, K),
    output: C * M * n1,
    shared: [vecDecl("prof", N), vecDecl("sc", 2 * KV), ...(p.spectrum ? [vecDecl("ahat", L.spec)] : [])],
    helpers: p.spectrum ? turnHelper(p.spectrum.length) : undefined,
    workgroupSize: T,
    workgroups: grid.workgroups,
    body,
    flops: 2 * C * K * (M * n1 + (D0 + D1) * K + (p.spectrum ? M * n0 : 0)),
  });
}

/**
 * `dclsGaussGrad`: inputs (cotangent `[C, n0, n1]` of the window, or `[C, 2F, n1]` of its spectrum, weight, P, SIG),
 * output `[5, C, K]`: dw, dP[0], dP[1], dSIG[0], dSIG[1].
 */
export function dclsGaussGradKernel(C: number, K: number, p: DclsGaussParams, threads = THREADS): KernelProgram {
  const L = layout(p, K, threads), { D0, D1, r0, n0, c0, n1, KV, NA, N, R, T, M } = L;
  const grid = foldGrid(C);
  // The window's cotangent into gk: as given, or from the spectrum's, g[i, j] = Σ_r T[r, i] ĝ[r, j] (ĝ staged in gab,
  // which phase 2 overwrites after the barrier that follows).
  const n1v = Math.ceil(n1 / 4);
  const cotangent = p.spectrum
    ? [
      // ĝ's rows padded to n1v vec4s, so that a thread takes four columns at once.
      `for (var t = lid; t < ${u32(M * n1)}; t += ${u32(T)}) {`,
      `  ${wg("gab", `t / ${u32(n1)} * ${u32(4 * n1v)} + t % ${u32(n1)}`)} = dk[c * ${u32(M * n1)} + t];`,
      "}",
      "workgroupBarrier();",
      // A thread per (row, vec4 of columns), rotating along the frequencies by 2π (i − top) / N from (1, 0).
      `for (var t = lid; t < ${u32(n0 * n1v)}; t += ${u32(T)}) {`,
      `  let i = t / ${u32(n1v)};`,
      `  let jv = t % ${u32(n1v)};`,
      `  let da = turn((i + ${u32(p.spectrum.length - p.spectrum.top)}) % ${u32(p.spectrum.length)});`,
      "  let dc = cos(da); let ds = sin(da);",
      "  var c = 1.0; var s = 0.0;",
      "  var acc = vec4<f32>();",
      `  for (var f = 0u; f < ${u32(M / 2)}; f++) {`,
      `    let at = 2u * f * ${u32(n1v)} + jv;`,
      `    acc = fma(vec4<f32>(c), gab[at], fma(vec4<f32>(s), gab[at + ${u32(n1v)}], acc));`,
      ...rotate.map((l) => "    " + l),
      "  }",
      ...["x", "y", "z", "w"].map((lane, l) => {
        const store = `${wg("gk", `i * ${u32(n1)} + 4u * jv + ${u32(l)}`)} = acc.${lane};`;
        return n1 % 4 === 0 || l === 0 ? `  ${store}` : `  if (4u * jv + ${u32(l)} < ${u32(n1)}) { ${store} }`;
      }),
      "}",
    ]
    : [`for (var t = lid; t < ${u32(n0 * n1)}; t += ${u32(T)}) { ${wg("gk", "t")} = dk[c * ${u32(n0 * n1)} + t]; }`];
  const CK = C * K, KR = KV * R, steps = Math.ceil(Math.max(D0, D1) / R);
  // Phases 3 to 5 run on thread (axis, kv, r) = lid / KR, lid / R % KV, lid % R for lid < 2·KR.
  const onItems = `lid < ${u32(2 * KR)}`, onRows = `lid < ${u32(KR)}`;
  // Line q·R + r of the thread's axis, for q < steps; `at` is its vec4 of elements.
  const ownLines = (stmts: string[]) => {
    const guard = D0 !== D1 || D0 % R !== 0;
    return [
      `  for (var q = 0u; q < ${u32(steps)}; q++) {`,
      `    let line = q * ${u32(R)} + r;`,
      ...(guard ? [`    if (line < ${lineCount(L, onRows)}) {`] : []),
      ...[`let at = base + line * ${u32(KV)} + kv;`, ...stmts].map((l) => (guard ? "      " : "    ") + l),
      ...(guard ? ["    }"] : []),
      "  }",
    ];
  };
  const item = [
    `  let kv = lid / ${u32(R)} % ${u32(KV)};`,
    `  let r = lid % ${u32(R)};`,
    `  let base = select(${u32(NA)}, 0u, ${onRows});`,
  ];
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let c = ${grid.flatId};`,
    // The weights, positions (shifted) and raw widths phases 4 and 5 need, loaded while the rest runs.
    ...weightPrefetch(K, onItems, `lid / ${u32(R)} % ${u32(KV)}`),
    "var pv = vec4<f32>();",
    "var sv = vec4<f32>();",
    "var pat = 0u;",
    `if (${onItems}) {`,
    `  let kv = lid / ${u32(R)} % ${u32(KV)};`,
    "  var sh: f32;",
    `  if (${onRows}) {`,
    `    pat = ${u32(p.rows.param * CK)} + c * ${u32(K)};`,
    `    sh = ${p.rows.shift}.0;`,
    "  } else {",
    `    pat = ${u32(p.cols.param * CK)} + c * ${u32(K)};`,
    `    sh = ${p.cols.shift}.0;`,
    "  }",
    `  pv = ${lanes(K, (k) => `pos[pat + ${k}]`)} + sh;`,
    `  sv = ${lanes(K, (k) => `sig[pat + ${k}]`)};`,
    "}",
    `let sg = abs(sv) + ${DCLS_SIGMA_FLOOR};`,
    ...profileLines(p, L, C, K),
    ...cotangent,
    "workgroupBarrier();",
    // Row i: GA[i] = Σ_j g[i,j] B[j]; column j: GB[j] = Σ_i g[i,j] A[i], over the window's lines j (or i).
    `for (var t = lid; t < ${u32(N)}; t += ${u32(T)}) {`,
    `  let kv = t % ${u32(KV)};`,
    // `line` counts from the window's first line; above it, the u32 difference wraps past the window's end.
    "  var line: u32; var g0: u32; var gs: u32; var base: u32;",
    `  if (t < ${u32(NA)}) {`,
    `    line = t / ${u32(KV)}${r0 ? ` - ${u32(r0)}` : ""};`,
    `    g0 = line * ${u32(n1)};`,
    "    gs = 1u;",
    `    base = ${u32(NA + c0 * KV)} + kv;`,
    "  } else {",
    `    line = (t - ${u32(NA)}) / ${u32(KV)}${c0 ? ` - ${u32(c0)}` : ""};`,
    "    g0 = line;",
    `    gs = ${u32(n1)};`,
    `    base = ${offset(r0 * KV)}kv;`,
    "  }",
    "  var acc = vec4<f32>();",
    ...(windowed(L) ? [`  if (line < ${either(n0, n1, `t < ${u32(NA)}`)}) {`] : []),
    ...[
      `for (var q = 0u; q < ${either(n0, n1, `t >= ${u32(NA)}`)}; q++) {`,
      `  acc = fma(vec4<f32>(${wg("gk", "g0 + q * gs")}), prof[base + q * ${u32(KV)}], acc);`,
      "}",
    ].map((l) => (windowed(L) ? "    " : "  ") + l),
    ...(windowed(L) ? ["  }"] : []),
    "  gab[t] = acc;",
    "}",
    "workgroupBarrier();",
    // gk = [ΣA partials | ΣB partials | ΣA·GA partials], KR vec4s each.
    `if (${onItems}) {`,
    ...item,
    "  var m = vec4<f32>();",
    "  var ds = vec4<f32>();",
    ...ownLines(["let a = prof[at];", "m += a;", "ds = fma(a, gab[at], ds);"]),
    "  gk[lid] = m;",
    `  if (${onRows}) { gk[${u32(2 * KR)} + lid] = ds; }`,
    "}",
    "workgroupBarrier();",
    "var dp = vec4<f32>();",
    "var dq = vec4<f32>();",
    `if (${onItems}) {`,
    ...item,
    // Each of the R threads of a vec4 adds up the partials itself, which costs R loads and saves a barrier.
    "  var ma = vec4<f32>();",
    "  var mb = vec4<f32>();",
    "  var ds = vec4<f32>();",
    `  for (var q = 0u; q < ${u32(R)}; q++) {`,
    `    let at = kv * ${u32(R)} + q;`,
    "    ma += gk[at];",
    `    mb += gk[${u32(KR)} + at];`,
    `    ds += gk[${u32(2 * KR)} + at];`,
    "  }",
    `  let den = ma * mb + ${DCLS_NORM_EPS};`,
    "  let s = wv / den;",
    "  let dden = -ds * wv / (den * den);",
    `  if (lid < ${u32(KR)} && r == 0u) {`,
    "    let dw = ds / den;",
    ...storeLanes(K, `c * ${u32(K)}`, "dw").map((l) => "    " + l),
    "  }",
    `  let other = select(ma, mb, ${onRows});`,
    ...ownLines([
      "let u = (f32(line) - pv) / sg;",
      "let g = (s * gab[at] + dden * other) * prof[at] * u;",
      "dp += g;",
      "dq += g * u;",
    ]),
    "}",
    // The partials go over the profiles, once no thread reads them: the cotangent's array still holds the masses.
    "workgroupBarrier();",
    `if (${onItems}) {`,
    "  prof[lid] = dp;",
    "  gab[lid] = dq;",
    "}",
    "workgroupBarrier();",
    `if (${onItems} && lid % ${u32(R)} == 0u) {`,
    `  let kv = lid / ${u32(R)} % ${u32(KV)};`,
    `  for (var q = 1u; q < ${u32(R)}; q++) {`,
    "    dp += prof[lid + q];",
    "    dq += gab[lid + q];",
    "  }",
    "  let gp = dp / sg;",
    "  let gw = dq / sg * sign(sv);",
    ...storeLanes(K, `pat + ${u32(CK)}`, "gp").map((l) => "  " + l),
    ...storeLanes(K, `pat + ${u32(3 * CK)}`, "gw").map((l) => "  " + l),
    "}",
  ];
  return singleDispatchProgram({
    label: `dcls_gauss_grad_${D0}x${D1}${windowTag(L, p)}_k${K}`,
    names: ["dk", "w", "pos", "sig", "grad"],
    inputs: [C * M * n1, ...constructionInputs(C, K)],
    output: 5 * C * K,
    shared: [vecDecl("prof", N), vecDecl("gab", L.gab), vecDecl("gk", L.scratch)],
    helpers: p.spectrum ? turnHelper(p.spectrum.length) : undefined,
    workgroupSize: T,
    workgroups: grid.workgroups,
    body,
    flops: 2 * C * K * (2 * n0 * n1 + 6 * (D0 + D1)) + (p.spectrum ? 2 * C * M * n0 * n1 : 0),
  });
}
