/**
 * GEMM configuration sweep: times a list of tile/option candidates of the GEMM core (kernels/gemm.ts) at 4096³ in
 * the plain ([M,K]·[K,N]) and the Bᵀ layout, ranks them, then times the current chooser's pick against the best
 * candidates (each with its own K split), the chooser's tiles with the winner's options, and 128×64 / 64×128 tiles
 * with the winner's options at the ConvNeXt-T pointwise shapes (forward, input and weight gradient, batch 64).
 *
 * Correctness, before anything is timed: every candidate runs two ragged problems (both operand layouts in both
 * roles) against a float64 CPU reference; a failing one is reported and left out. Every timed output is then compared
 * on the GPU with the chooser's output of the same shape (max |Δ| / max |ref|, on the output cleared beforehand).
 *
 * Timing: all pipelines of a phase are compiled first (compile ms recorded), the clocks are warmed with the reference
 * kernel, then each shape's variants run interleaved for `--rounds` rounds; a variant's time is the minimum over rounds
 * of the median of its timestamp-query samples (wall clock without timestamps). `--budget` seconds bound the whole
 * run: shapes that would start past it are skipped (and listed). Prints markdown tables (per shape, the best per shape,
 * the ranking); writes $OUT/gemm_sweep.json after each shape when OUT is set.
 *
 *   deno run -A bench/gemm_sweep.ts [--small] [--only=substring] [--budget=200] [--top=6] [--limit=N] [--rounds=3]
 *
 * `--top`: candidates carried from the 4096³ ranking to the pointwise shapes; `--limit`: time only the first N
 * candidates (all are verified). `--small` shrinks every shape for a software adapter (llvmpipe), whose shader
 * compiles are slow (top 1, limit 6, and only the chooser's tiles with the winner's options as a derived variant),
 * and also checks each shape's reference output against the CPU.
 */
import { requestGpu } from "../lib/gpu/device.ts";
import {
  chooseGemm,
  type GemmCandidate,
  gemmCost,
  type GemmTiles,
  gemmWorkgroupBytes,
  TILES_128,
  tilesForB,
  usableSplit,
} from "../kernels/gemm.ts";
import { matmulKernel, type MatmulSpec } from "../kernels/matmul.ts";
import type { KernelProgram } from "../kernels/program.ts";
import { KernelRunner, type PreparedProgram } from "../kernels/runner.ts";
import { pseudoRandom, timeInterleaved } from "./gpu_timing.ts";

const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (Deno.args.includes("--help")) {
  console.log(
    "deno run -A bench/gemm_sweep.ts [--small] [--only=substring] [--budget=S] [--top=N] [--limit=N] [--rounds=R]",
  );
  Deno.exit(0);
}
const small = Deno.args.includes("--small");
const only = arg("only");
const budgetS = Number(arg("budget") ?? 200);
const topN = Number(arg("top") ?? (small ? 1 : 6));
/** Candidates timed (all are verified): the first `limit` of the list. */
const limit = Number(arg("limit") ?? (small ? 6 : Infinity));
const ROUNDS = Number(arg("rounds") ?? 3);
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;

const gpu = await requestGpu();
const runner = new KernelRunner(gpu);
console.error(`device: ${gpu.description}; timestamps: ${gpu.features.timestampQuery}; small: ${small}`);

// --- candidates.

/** Short name of a tile configuration: `BMxBNxBK/TMxTN` and its options. */
function tilesName(t: GemmTiles): string {
  const opts = [
    t.stages === 2 ? "s2" : "",
    t.nested ? "nest" : "",
    t.kUnroll !== undefined && t.kUnroll < t.BK ? `u${t.kUnroll}${t.kBound === "opaque" ? "o" : ""}` : "",
    t.kLayout && t.kLayout !== "plain" ? t.kLayout : "",
    t.groupM !== undefined ? `g${t.groupM}` : "",
    t.aKMajor ? "akm" : "",
  ].filter((s) => s);
  return `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}${opts.length ? " " + opts.join(" ") : ""}`;
}

const T = (BM: number, BN: number, BK: number, TM: number, TN: number, o: Partial<GemmTiles> = {}): GemmTiles => ({
  BM,
  BN,
  BK,
  TM,
  TN,
  ...o,
});
const nest = { nested: true } as const;
const loop = (kUnroll: number, opaque = true): Partial<GemmTiles> => ({
  nested: true,
  kUnroll,
  ...(opaque ? { kBound: "opaque" as const } : {}),
});

/**
 * The candidates (the default first). Why each: the flat default clamps a distinct index per workgroup read (nest),
 * full unrolling lets the compiler hoist a whole K-step of reads into registers (u*: K-blocks in a loop; o: a bound
 * it cannot unroll back), two stages halve the barriers, larger per-thread tiles halve the workgroup-memory reads per
 * FMA once they no longer spill, the raster group size trades L2 reuse between the operands, and a k-major A (akm)
 * stores A's tile without transposing it (the plain layout ran 10 % slower than both-m/n-contiguous Aᵀ).
 */
const CANDIDATES: GemmTiles[] = [
  // Representative first (`--limit` times only the first ones; the expensive compiles come last).
  TILES_128,
  T(128, 128, 8, 8, 8, nest),
  T(128, 128, 8, 8, 8, loop(2)),
  { ...T(128, 128, 8, 8, 8, loop(2)), nested: false }, // flat arrays, looped: separates the loop from the nesting
  T(128, 128, 8, 8, 8, { ...nest, aKMajor: true }),
  T(128, 128, 8, 8, 8, { ...nest, stages: 2 }),
  T(128, 128, 8, 8, 8, { ...loop(4), aKMajor: true }),
  T(128, 256, 8, 8, 16, loop(2)),
  T(128, 128, 8, 8, 8, { stages: 2 }),
  T(128, 128, 16, 8, 8),
  T(128, 128, 16, 8, 8, nest),
  T(128, 128, 16, 8, 8, { ...nest, stages: 2 }),
  T(128, 128, 8, 8, 8, loop(1, false)),
  T(128, 128, 8, 8, 8, loop(2, false)),
  T(128, 128, 8, 8, 8, loop(4, false)),
  T(128, 128, 8, 8, 8, loop(1)),
  T(128, 128, 8, 8, 8, loop(4)),
  T(128, 128, 8, 8, 8, { ...loop(2), stages: 2 }),
  T(128, 128, 16, 8, 8, loop(4, false)),
  T(128, 128, 16, 8, 8, loop(2)),
  T(128, 128, 16, 8, 8, { ...loop(4), stages: 2 }),
  T(128, 128, 4, 8, 8, nest),
  T(128, 128, 8, 8, 8, { ...nest, kLayout: "pad" }),
  T(128, 128, 8, 8, 8, { ...nest, kLayout: "swizzle" }),
  T(128, 128, 8, 8, 8, { aKMajor: true }),
  T(128, 128, 8, 8, 8, { ...nest, aKMajor: true, stages: 2 }),
  T(128, 128, 8, 8, 8, { ...nest, groupM: 1 }),
  T(128, 128, 8, 8, 8, { ...nest, groupM: 4 }),
  T(128, 128, 8, 8, 8, { ...nest, groupM: 16 }),
  T(128, 64, 8, 8, 8, nest),
  T(64, 128, 8, 8, 8, nest),
  T(128, 256, 8, 8, 16, nest),
  T(128, 256, 8, 8, 16, loop(1)),
  T(256, 128, 8, 16, 8, loop(2)),
  T(128, 128, 8, 8, 16, nest),
  T(128, 128, 8, 8, 16, loop(2)),
  T(128, 128, 8, 16, 8, loop(2)),
  T(128, 128, 16, 8, 8, loop(8)),
  T(128, 128, 32, 8, 8, loop(4)),
  T(128, 128, 32, 8, 8, loop(8)),
  T(128, 128, 16, 8, 16, { ...loop(4), stages: 2 }),
];

/** Whether the device can run a tile configuration (workgroup memory and size). */
function runnable(t: GemmTiles, spec: MatmulSpec): boolean {
  const trans = (l?: { transposed?: boolean }) => l?.transposed ?? false;
  const op = (k: boolean) => ({ contiguous: k ? "k" as const : "mn" as const, element: () => "" });
  const bytes = gemmWorkgroupBytes({ tiles: t, a: op(!trans(spec.a)), b: op(trans(spec.b)) });
  const threads = (t.BM / t.TM) * (t.BN / t.TN);
  return bytes <= gpu.limits.maxComputeWorkgroupStorageSize && threads <= gpu.limits.maxComputeInvocationsPerWorkgroup;
}

// --- verification on small problems against a float64 CPU reference.

/** Max of |got − ref| / (Σ|a·b| + 1) over the product, for `a`, `b` in the layouts ta / tb. */
function cpuError(
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  a: Float32Array,
  b: Float32Array,
  got: ArrayLike<number>,
): number {
  let worst = 0;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, t = 0;
      for (let k = 0; k < K; k++) {
        const p = a[ta ? k * M + i : i * K + k] * b[tb ? j * K + k : k * N + j];
        s += p;
        t += Math.abs(p);
      }
      const e = Math.abs(got[i * N + j] - s) / (t + 1);
      worst = Math.max(worst, Number.isNaN(e) ? Infinity : e);
    }
  }
  return worst;
}

/** Runs a candidate on two ragged problems (plain and both-transposed layouts); returns an error message or "". */
async function verify(t: GemmTiles): Promise<string> {
  const M = t.BM + (t.BM >> 1) + 3, N = t.BN + 5, K = 3 * t.BK + 4;
  for (const [ta, tb] of [[false, false], [true, true]]) {
    const spec: MatmulSpec = { batchShape: [], M, N, K, a: { transposed: ta }, b: { transposed: tb } };
    if (!runnable(t, spec)) return "exceeds the device's workgroup limits";
    const a = pseudoRandom(M * K, 11 + M), b = pseudoRandom(K * N, 13 + N);
    try {
      const [y] = await runner.run(matmulKernel({ ...spec, tiles: t, splitK: 1 }), [a, b]);
      const err = cpuError(M, N, K, ta, tb, a, b, y);
      if (!(err <= 2e-6)) return `${M}x${N}x${K} ta=${ta} tb=${tb}: relative error ${err.toExponential(2)}`;
    } catch (e) {
      return (e as Error).message.split("\n")[0].slice(0, 300);
    }
  }
  return "";
}

// --- shapes and variants.

interface Variant {
  readonly name: string;
  readonly tiles?: GemmTiles;
  readonly splitK: number;
  readonly program: KernelProgram;
}

interface Row {
  phase: "square" | "pointwise";
  shape: string;
  variant: string;
  tiles: GemmTiles | null;
  splitK: number;
  ms: number;
  msRounds: number[];
  tflops: number;
  err: number;
  compileMs: number;
  dispatches: number;
}

const rows: Row[] = [];
const skipped: string[] = [];
const broken: { name: string; tiles: GemmTiles; error: string }[] = [];
const verified = new Map<string, boolean>();
/** Milliseconds each candidate's verification took (two compiles and runs: an upper bound on compile time). */
const verifyMs: Record<string, number> = {};

async function isVerified(t: GemmTiles): Promise<boolean> {
  const key = JSON.stringify(t);
  let ok = verified.get(key);
  if (ok === undefined) {
    const w = performance.now();
    // Past half the budget, the rest is left for timing what is verified.
    const error = elapsed() > budgetS / 2 ? "not verified: past half the time budget" : await verify(t);
    ok = error === "";
    verifyMs[tilesName(t)] = performance.now() - w;
    console.error(`verify ${tilesName(t)}: ${ok ? "ok" : "BROKEN"} (${(performance.now() - w).toFixed(0)} ms)`);
    verified.set(key, ok);
    if (!ok) broken.push({ name: tilesName(t), tiles: t, error });
  }
  return ok;
}

/** The chooser's pick for a shape, then each (verified, runnable) tile with its splits; identical code once. */
async function variants(spec: MatmulSpec, cands: readonly { tiles: GemmTiles; splits: number[] }[]) {
  const c = chooseGemm(1, spec.M, spec.N, spec.K);
  const auto = tilesForB(c.tiles, spec.b?.transposed ? "k" : "mn");
  const out: Variant[] = [{
    name: `AUTO ${tilesName(auto)} split ${c.splitK}`,
    splitK: c.splitK,
    tiles: auto,
    program: matmulKernel(spec),
  }];
  const seen = new Set([out[0].program.dispatches.map((d) => d.code).join("\n")]);
  for (const { tiles, splits } of cands) {
    if (!runnable(tiles, spec) || !(await isVerified(tiles))) continue;
    for (const s of splits) {
      const splitK = usableSplit(spec.K, s, tiles.BK);
      const program = matmulKernel({ ...spec, tiles, splitK });
      const key = program.dispatches.map((d) => d.code).join("\n");
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ name: `${tilesName(tiles)} split ${splitK}`, tiles, splitK, program });
    }
  }
  return out;
}

/** K splits worth trying for a tile: the cost model's pick assuming one and two resident workgroups per SM. */
function splitsFor(t: GemmTiles, M: number, N: number, K: number): number[] {
  const out = new Set<number>();
  for (const perSM of [1, 2]) {
    const c: GemmCandidate = { tiles: t, efficiency: 1, perSM };
    let best = 1, bestCost = Infinity, prev = 0;
    const top = Math.max(1, Math.min(256, Math.floor(K / (8 * t.BK))));
    for (let s = 1; s <= top; s++) {
      const split = usableSplit(K, s, t.BK);
      if (split === prev) continue;
      prev = split;
      const cost = gemmCost(c, 1, M, N, K, split);
      if (cost < bestCost * 0.995) [best, bestCost] = [split, cost];
    }
    out.add(best);
  }
  return [...out];
}

const out = Deno.env.get("OUT");
let ranking: { name: string; tiles: GemmTiles; tflops: number[]; geomean: number }[] = [];
async function save() {
  if (!out) return;
  const json = {
    device: gpu.description,
    small,
    timestamps: gpu.features.timestampQuery,
    elapsedS: elapsed(),
    rounds: ROUNDS,
    broken,
    skipped,
    verifyMs,
    ranking,
    best: bestPerShape(),
    rows,
  };
  await Deno.writeTextFile(`${out}/gemm_sweep.json`, JSON.stringify(json, null, 1));
}

function bestPerShape() {
  const shapes = [...new Set(rows.map((r) => r.shape))];
  return shapes.map((shape) => {
    const rs = rows.filter((r) => r.shape === shape && r.err <= 1e-3);
    const auto = rows.find((r) => r.shape === shape && r.variant.startsWith("AUTO"));
    const best = rs.reduce((a, b) => (b.ms < a.ms ? b : a), rs[0]);
    return {
      shape,
      auto: auto?.variant,
      autoTflops: auto?.tflops ?? NaN,
      best: best?.variant,
      bestTflops: best?.tflops ?? NaN,
      speedup: auto && best ? auto.ms / best.ms : NaN,
    };
  });
}

/** Compiles every variant of the given shapes, recording compile times; with `guard`, none past the budget. */
async function compileAll(
  list: { variants: Variant[] }[],
  guard: boolean,
): Promise<Map<Variant, { p: PreparedProgram; ms: number }>> {
  const m = new Map<Variant, { p: PreparedProgram; ms: number }>();
  const c0 = performance.now();
  for (const s of list) {
    for (const v of s.variants) {
      if (guard && elapsed() > budgetS) break; // its shape is then measured without it
      const w = performance.now();
      try {
        m.set(v, { p: await runner.prepare(v.program), ms: performance.now() - w });
      } catch (e) {
        broken.push({ name: v.name, tiles: v.tiles ?? TILES_128, error: (e as Error).message.split("\n")[0] });
      }
    }
  }
  console.error(`compiled ${m.size} programs in ${((performance.now() - c0) / 1000).toFixed(1)} s`);
  return m;
}

/** Times a shape's variants interleaved over rounds; the first variant's output is the reference. */
async function measure(
  phase: Row["phase"],
  shape: string,
  spec: MatmulSpec,
  vs: Variant[],
  compiled: Map<Variant, { p: PreparedProgram; ms: number }>,
) {
  const live = vs.filter((v) => compiled.has(v));
  if (!live.length) return;
  const { times, errs } = await timeInterleaved(
    runner,
    live.map((v) => compiled.get(v)!.p),
    { rounds: ROUNDS, warmS: phase === "square" ? 1 : 0.4, batchS: 0.04 },
    small ? (inputs, ref) => checkReference(spec, inputs, ref) : undefined,
  );
  live.forEach((v, i) => {
    const best = Math.min(...times[i]);
    const r: Row = {
      phase,
      shape,
      variant: v.name,
      tiles: v.tiles ?? null,
      splitK: v.splitK,
      ms: best * 1e3,
      msRounds: times[i].map((t) => t * 1e3),
      tflops: v.program.flops / best / 1e12,
      err: errs[i],
      compileMs: compiled.get(v)!.ms,
      dispatches: v.program.dispatches.length,
    };
    rows.push(r);
    console.error(
      `${shape} | ${v.name} | ${r.ms.toFixed(3)} ms [${r.msRounds.map((x) => x.toFixed(3)).join(" ")}] | ${
        r.tflops.toFixed(2)
      } TF | err ${r.err.toExponential(1)}${r.err > 1e-3 ? " BAD" : ""} | compile ${r.compileMs.toFixed(0)} ms`,
    );
  });
  await save();
}

/** --small: the reference output against the CPU (the reference is the chooser's pick, tested elsewhere too). */
async function checkReference(spec: MatmulSpec, inputs: readonly GPUBuffer[], ref: GPUBuffer) {
  const { M, N, K } = spec;
  const ta = spec.a?.transposed ?? false, tb = spec.b?.transposed ?? false;
  const a = await runner.read(inputs[0], { dtype: "f32", size: M * K }) as Float32Array;
  const b = await runner.read(inputs[1], { dtype: "f32", size: K * N }) as Float32Array;
  const y = await runner.read(ref, { dtype: "f32", size: M * N });
  const err = cpuError(M, N, K, ta, tb, a, b, y);
  if (!(err <= 2e-6)) throw new Error(`reference ${M}x${N}x${K}: relative error ${err.toExponential(2)}`);
}

// --- phase 1: every candidate verified, then timed (the first `limit`) at n³, plain and Bᵀ.

for (const t of CANDIDATES) await isVerified(t);

const n = small ? 256 : 4096;
const square: { name: string; spec: MatmulSpec; variants: Variant[] }[] = [];
for (const [name, tb] of [[`${n}³`, false], [`${n}³ Bᵀ`, true]] as const) {
  if (only && !name.includes(only) && !only.startsWith("pw")) continue;
  const spec: MatmulSpec = { batchShape: [], M: n, N: n, K: n, b: { transposed: tb } };
  const cands = CANDIDATES.slice(0, limit).map((tiles) => ({ tiles, splits: [1] }));
  square.push({ name, spec, variants: await variants(spec, cands) });
}
console.error(`verified ${verified.size} candidates (${broken.length} broken) at ${elapsed().toFixed(1)} s`);
await save();
{
  const compiled = await compileAll(square, false);
  for (const s of square) await measure("square", s.name, s.spec, s.variants, compiled);
}

// Ranking by the geometric mean over the square shapes (unsplit runs: the chooser's pick counts as its tiles).
{
  const byName = new Map<string, { tiles: GemmTiles; tflops: number[] }>();
  for (const r of rows) {
    if (r.phase !== "square" || !r.tiles || r.splitK !== 1 || r.err > 1e-3) continue;
    const name = tilesName(r.tiles);
    const e = byName.get(name) ?? { tiles: r.tiles, tflops: [] };
    e.tflops.push(r.tflops);
    byName.set(name, e);
  }
  const shapes = square.length;
  ranking = [...byName.entries()]
    .filter(([, e]) => e.tflops.length === shapes)
    .map(([name, e]) => ({ name, ...e, geomean: Math.exp(e.tflops.reduce((s, x) => s + Math.log(x), 0) / shapes) }))
    .sort((a, b) => b.geomean - a.geomean);
}

// --- phase 2: ConvNeXt-T pointwise shapes.

const B = small ? 2 : 64;
const stages: [number, number, number][] = small
  ? [[16, 15, 24], [8, 7, 48]]
  : [[64, 62, 96], [32, 31, 192], [16, 15, 384], [8, 7, 768]];
const top = ranking.slice(0, topN).map((r) => r.tiles);
/** The winner's options (not its tile sizes) on other tiles. */
const withBestOptions = (t: GemmTiles): GemmTiles | undefined => {
  const w = top[0];
  if (!w) return undefined;
  const r: GemmTiles = { ...t, BK: w.BK };
  for (const key of ["stages", "kLayout", "nested", "kUnroll", "kBound", "groupM", "aKMajor"] as const) {
    if (w[key] !== undefined) Object.assign(r, { [key]: w[key] });
  }
  return r;
};
const pointwise: { name: string; spec: MatmulSpec; variants: Variant[] }[] = [];
for (const tag of ["fwd", "dx", "dW"] as const) {
  for (const [H, W, C] of stages) {
    const M = B * H * W;
    for (const [K, N] of [[C, 4 * C], [4 * C, C]]) {
      // fwd: y [M, N] = x [M, K] · Wᵀ (W stored [N, K]); dx [M, K] = dy [M, N] · W [N, K] has the sizes of the other
      // layer's forward with B plain; dW [N, K] = dyᵀ · x, A = dy stored [M, N], contraction over M.
      const spec: MatmulSpec = tag === "fwd"
        ? { batchShape: [], M, N, K, b: { transposed: true } }
        : tag === "dx"
        ? { batchShape: [], M, N, K }
        : { batchShape: [], M: N, N: K, K: M, a: { transposed: true } };
      const name = `pw ${H}×${W} ${tag} ${spec.M}x${spec.N}x${spec.K}`;
      if (only && !name.includes(only)) continue;
      const auto = chooseGemm(1, spec.M, spec.N, spec.K).tiles;
      const tiles = [
        ...top,
        withBestOptions(auto),
        ...(small ? [] : [withBestOptions(T(128, 64, 8, 8, 8)), withBestOptions(T(64, 128, 8, 8, 8))]),
      ].filter((t): t is GemmTiles => t !== undefined);
      const cands = tiles.map((t) => ({ tiles: t, splits: splitsFor(t, spec.M, spec.N, spec.K) }));
      pointwise.push({ name, spec, variants: await variants(spec, cands) });
    }
  }
}
// Compile and measure in two halves so a clock-cold gap never spans the whole phase; stop at the budget.
for (let h = 0; h < pointwise.length; h += 12) {
  if (elapsed() > budgetS) {
    skipped.push(...pointwise.slice(h).map((s) => s.name));
    break;
  }
  const part = pointwise.slice(h, h + 12);
  const compiled = await compileAll(part, true);
  for (const s of part) {
    if (elapsed() > budgetS) {
      skipped.push(s.name);
      continue;
    }
    await measure("pointwise", s.name, s.spec, s.variants, compiled);
  }
}

// --- report.

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
console.log(`### GEMM sweep on ${gpu.description}${small ? " (--small)" : ""}, ${elapsed().toFixed(0)} s\n`);
console.log("| shape | variant | ms | TFLOP/s | rel. err | compile ms |\n| --- | --- | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.shape} | ${r.variant} | ${r.ms.toFixed(3)} | ${f2(r.tflops)} | ${r.err.toExponential(1)}${
      r.err > 1e-3 ? " BAD" : ""
    } | ${r.compileMs.toFixed(0)} |`,
  );
}
console.log("\n#### Ranking at square shapes (geometric mean)\n");
console.log(
  `| candidate | ${square.map((s) => s.name).join(" | ")} | geomean |\n| --- |${" ---: |".repeat(square.length + 1)}`,
);
for (const r of ranking) console.log(`| ${r.name} | ${r.tflops.map(f2).join(" | ")} | ${f2(r.geomean)} |`);
console.log("\n#### Best per shape\n");
console.log(
  "| shape | chooser (AUTO) | TFLOP/s | best | TFLOP/s | speedup |\n| --- | --- | ---: | --- | ---: | ---: |",
);
for (const b of bestPerShape()) {
  console.log(
    `| ${b.shape} | ${b.auto ?? "—"} | ${f2(b.autoTflops)} | ${b.best ?? "—"} | ${f2(b.bestTflops)} | ${
      f2(b.speedup)
    } |`,
  );
}
if (broken.length) {
  console.log("\n#### Broken candidates (left out)\n");
  for (const b of broken) console.log(`- ${b.name}: ${b.error}`);
}
if (skipped.length) console.log(`\nSkipped past the ${budgetS} s budget: ${skipped.join(", ")}`);
await save();
console.error(`total ${elapsed().toFixed(1)} s`);
gpu.destroy();
