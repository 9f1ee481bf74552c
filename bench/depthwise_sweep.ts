/**
 * Depthwise kernel sweep: for the depthwise geometries of the six reference models (batch 64), times the chooser's
 * kernels (forward, input gradient, weight gradient) against tile variants of the tiled and whole-plane kernels
 * (rows and columns per thread, threads per tile, channels per workgroup, unrolled kernel rows, WebGPU's default
 * 16 KiB of workgroup memory or the device's limit), ranks them per shape and prints which variant won by how much.
 *
 * Every variant's output is compared on the GPU with the chooser's (max |Δ| / max |ref|); one above 1e-4 is marked
 * BAD and never ranked. Timing as bench/gemm_sweep.ts: all variants of a shape compiled first, the clocks warmed with
 * the chooser's kernel, then the variants interleaved for `--rounds` rounds; a variant's time is the minimum over
 * rounds of the median of its timestamp samples. `--budget` seconds bound the run: shapes that would start past it are
 * skipped. Writes $OUT/depthwise_sweep.json after each shape when OUT is set.
 *
 *   deno run -A bench/depthwise_sweep.ts [--small] [--only=substring] [--budget=400] [--rounds=3]
 *
 * `--only` takes comma-separated substrings of shape names. `--small` shrinks the batch to 2 and the variant list for a software adapter (llvmpipe).
 */
import { type ConvGeometry, convGeometry } from "../kernels/conv2d.ts";
import {
  depthwiseForward,
  depthwiseForwardTiles,
  depthwiseInputGrad,
  depthwiseInputGradTiles,
  depthwiseWeightGrad,
  depthwiseWeightGradTiles,
  type DirectTiles,
  type WeightGradTiles,
} from "../kernels/depthwise.ts";
import { type Correlation, forwardCorrelation, inputGradCorrelation } from "../kernels/depthwise_geometry.ts";
import { chooseTiled, tiledWords } from "../kernels/depthwise_tiled.ts";
import { chooseTiledWeightGrad } from "../kernels/depthwise_tiled_dw.ts";
import type { KernelLimits, KernelProgram } from "../kernels/program.ts";
import { KernelRunner, type PreparedProgram } from "../kernels/runner.ts";
import { kernelLimits, requestGpu } from "../lib/gpu/device.ts";
import { timeInterleaved } from "./gpu_timing.ts";

const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (Deno.args.includes("--help")) {
  console.log("deno run -A bench/depthwise_sweep.ts [--small] [--only=substring] [--budget=S] [--rounds=R]");
  Deno.exit(0);
}
const small = Deno.args.includes("--small");
const only = arg("only");
const budgetS = Number(arg("budget") ?? 400);
const ROUNDS = Number(arg("rounds") ?? 3);
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;

const gpu = await requestGpu();
const runner = new KernelRunner(gpu);
const device = gpu.device;
/** The limits the models' kernels are generated for on this device. */
const DEVICE_LIMITS: KernelLimits = kernelLimits(gpu);
console.error(`device: ${gpu.description}; workgroup memory ${DEVICE_LIMITS.maxWorkgroupStorage} B; small: ${small}`);

// --- shapes.

type Pass = "fwd" | "dx" | "dw";

interface Shape {
  /** `model stage: B×C×H×W k s (×M)` */
  readonly name: string;
  readonly g: ConvGeometry;
  readonly pass: Pass;
}

const N = small ? 2 : 64;
const geo = (C: number, H: number, W: number, k: number, s = 1, M = 1): ConvGeometry =>
  convGeometry([N, C, H, W], [C * M, 1, k, k], {
    stride: [s, s],
    padding: [[k >> 1, k >> 1], [k >> 1, k >> 1]],
    dilation: [1, 1],
    groups: C,
  });

/** Geometries in order of their share of the models' steps (DCLS stage 1 first). */
const GEOMETRIES: [string, ConvGeometry][] = small
  ? [["tiny plane", geo(3, 8, 7, 7)], ["tiny 7", geo(3, 12, 40, 7)], ["tiny s2", geo(2, 12, 40, 7, 2, 2)], [
    "tiny 23",
    geo(3, 12, 40, 23),
  ]]
  : [
    ["convnext dcls s1", geo(96, 64, 62, 23)],
    ["convformer dcls s1", geo(128, 64, 62, 23)],
    ["fastvit s1 patch 7 s2", geo(64, 64, 62, 7, 2, 2)],
    ["fastvit s1 patch 3 s2", geo(64, 64, 62, 3, 2, 2)],
    ["convnext s1", geo(96, 64, 62, 7)],
    ["convformer s1", geo(128, 64, 62, 7)],
    ["fastvit s1 7", geo(64, 64, 62, 7)],
    ["fastvit s1 3", geo(64, 64, 62, 3)],
    ["convnext dcls s2", geo(192, 32, 31, 23)],
    ["convnext dcls s3", geo(384, 16, 15, 23)],
    ["convnext dcls s4", geo(768, 8, 7, 23)],
    ["fastvit s2 patch 7 s2", geo(128, 32, 31, 7, 2, 2)],
    ["fastvit s2 patch 3 s2", geo(128, 32, 31, 3, 2, 2)],
    ["convnext s2", geo(192, 32, 31, 7)],
    ["convnext s3", geo(384, 16, 15, 7)],
    ["fastvit s3 7", geo(256, 16, 16, 7)],
    ["fastvit s3 3", geo(256, 16, 16, 3)],
    ["convnext s4", geo(768, 8, 7, 7)],
  ];

const SHAPES: Shape[] = GEOMETRIES.flatMap(([name, g]) =>
  (["fwd", "dx", "dw"] as const).map((pass) => ({ name: `${name} ${pass}`, g, pass }))
).filter((s) => !only || only.split(",").some((o) => s.name.includes(o)));

// --- variants.

interface Variant {
  readonly name: string;
  readonly tiles: DirectTiles | WeightGradTiles | null;
  readonly program: KernelProgram;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Tiled correlation tiles with VW columns and RH rows per thread and about `threads` threads per workgroup. */
function tiledAt(c: Correlation, VW0: number, RH0: number, threads: number, cpw: number, limits: KernelLimits) {
  const whole = c.Wout <= 16;
  const VW = whole ? roundUp(c.Wout, 4) : VW0;
  const RH = Math.min(RH0, c.Hout);
  const TWt = whole ? 1 : Math.min(16, Math.ceil(c.Wout / VW));
  const THt = Math.max(1, Math.min(Math.ceil(c.Hout / RH), Math.floor(threads / TWt)));
  const CPW = Math.max(1, Math.min(c.Cout, cpw));
  const t = { VW, RH, TWt, THt, CPW };
  if (tiledWords(c, t) * 4 > limits.maxWorkgroupStorage || TWt * THt * CPW > limits.maxInvocations) return null;
  return t;
}

const name = (t: object | null) => (t ? JSON.stringify(t).replace(/["{}]/g, "") : "gather");

/**
 * The distinct tiles of a list (nulls dropped) as variants, the first named "auto"; tiles whose program cannot be
 * generated are left out.
 */
function variantsOf<T extends DirectTiles | WeightGradTiles>(
  list: readonly (T | null)[],
  make: (t: T) => KernelProgram,
): Variant[] {
  const seen = new Set<string>();
  return list.flatMap((t, i) => {
    if (!t) return [];
    const key = name(t);
    if (seen.has(key)) return [];
    seen.add(key);
    try {
      return [{ name: `${i === 0 ? "auto " : ""}${key}`, tiles: t, program: make(t) }];
    } catch {
      return [];
    }
  });
}

function correlationVariants(g: ConvGeometry, pass: "fwd" | "dx"): Variant[] {
  const c = pass === "fwd" ? forwardCorrelation(g) : inputGradCorrelation(g);
  const make = (tiles: DirectTiles | null): KernelProgram =>
    pass === "fwd" ? depthwiseForward(g, DEVICE_LIMITS, tiles) : depthwiseInputGrad(g, DEVICE_LIMITS, tiles);
  // The reference: what the models run (the chooser at the device's limits).
  const auto = pass === "fwd" ? depthwiseForwardTiles(g, DEVICE_LIMITS) : depthwiseInputGradTiles(g, DEVICE_LIMITS);
  // WebGPU's default 16 KiB of workgroup memory: fewer samples per whole-plane workgroup.
  const auto16 = pass === "fwd" ? depthwiseForwardTiles(g) : depthwiseInputGradTiles(g);
  const list: (DirectTiles | null)[] = [auto, auto16];
  if (auto?.kind === "plane") {
    // More rows per thread only on narrow planes: a thread's RH × Wout accumulators are unrolled code, and 4 × 31 of
    // them with a 23×23 window kept the H100's driver compiling for minutes.
    const rows = c && c.Wout <= 8 ? [1, 2, 4] : [1, 2];
    for (const RH of rows) for (const NB of [4, 8, 16]) list.push({ ...auto, RH, NB });
    for (const NB of [24, 32]) list.push({ ...auto, RH: 1, NB });
    list.push({ ...auto, RH: 1, NB: 16, CPW: 2 });
  }
  if (!c) return [{ name: `auto ${name(auto)}`, tiles: auto, program: make(auto) }];
  const t = chooseTiled(c, DEVICE_LIMITS);
  if (t) list.push({ kind: "tiled", ...t }, { kind: "tiled", ...t, unroll: !t.unroll });
  const large = c.kh * c.kw > 49;
  const shapes: [number, number][] = small ? [[4, 4], [4, 2]] : [[4, 4], [4, 2], [8, 2], [8, 1]];
  for (const [VW, RH] of shapes) {
    for (const threads of small ? [64] : [64, 128, 256]) {
      for (const cpw of [1, 2]) {
        const v = tiledAt(c, VW, RH, threads, cpw, DEVICE_LIMITS);
        if (!v) continue;
        // Large kernels: the looped form (unrolled ones outgrow the instruction cache); small ones: unrolled.
        list.push({ kind: "tiled", ...v, unroll: !large });
      }
    }
  }
  return variantsOf(list, make);
}

function weightGradVariants(g: ConvGeometry): Variant[] {
  const list: (WeightGradTiles | null)[] = [depthwiseWeightGradTiles(g, DEVICE_LIMITS), depthwiseWeightGradTiles(g)];
  const pl = list[0];
  if (pl?.kind === "plane") {
    for (const RK of [1, 2, 3, 4]) for (const PG of [1, 2]) list.push({ ...pl, RK, PG: Math.max(1, pl.PG / PG) });
    for (const NB of [4, 8]) if (NB < pl.NB) list.push({ ...pl, NB });
    // The row-per-thread mapping where the chooser took the diagonal one.
    if (pl.diagonal) list.push({ ...pl, diagonal: false, RK: 2, PG: 32 });
    for (const f of [0.5, 2]) list.push({ ...pl, chunks: Math.max(1, Math.min(g.N, Math.round(pl.chunks * f))) });
  }
  const t = chooseTiledWeightGrad(g, DEVICE_LIMITS);
  if (t) {
    list.push({ kind: "tiled", ...t });
    for (const RK of [1, 2, 4]) list.push({ kind: "tiled", ...t, RK });
    for (const VK of [4, 8, 12, 16]) list.push({ kind: "tiled", ...t, VK });
    // Kernel columns per thread against image runs (they trade staging per image for workgroups in flight).
    for (const VK of [8, 12]) for (const NB of [16, 32, 64]) list.push({ kind: "tiled", ...t, VK, NB });
    for (const PG of [2, 4, 8, 16]) if (PG <= t.TH) list.push({ kind: "tiled", ...t, PG });
    for (const TW of [8, 16, 32]) if (TW <= roundUp(g.Wo, 4)) list.push({ kind: "tiled", ...t, TW });
    for (const NB of [4, 16]) list.push({ kind: "tiled", ...t, NB });
    // Row bands walked in x-row order (each x row read once per band, dy rows in registers): slower on the H100 at
    // every stage-1 and stage-2 geometry (bench/results/2026-11-26-run6/dw_bands), kept as one variant.
    if (g.sh === 1 && g.dh === 1) list.push({ kind: "tiled", ...t, RK: 3, PG: 4, bands: true });
  }
  return variantsOf(list, (t) => depthwiseWeightGrad(g, DEVICE_LIMITS, t));
}

// --- measuring.

interface Row {
  shape: string;
  variant: string;
  tiles: unknown;
  ms: number;
  msRounds: number[];
  tflops: number;
  gbs: number;
  err: number;
  compileMs: number;
}
const rows: Row[] = [];
const skipped: string[] = [];
const broken: { shape: string; variant: string; error: string }[] = [];
const MAX_CODE = 400_000;

async function save() {
  const out = Deno.env.get("OUT");
  if (!out) return;
  const json = { device: gpu.description, limits: DEVICE_LIMITS, rows, skipped, broken };
  await Deno.writeTextFile(`${out}/depthwise_sweep.json`, JSON.stringify(json, null, 1));
}

async function measure(shape: Shape, vs: Variant[]) {
  const compiled: { v: Variant; p: PreparedProgram; ms: number }[] = [];
  for (const v of vs) {
    // Fully unrolled giants take the driver minutes to compile (a whole-plane 23×23 with many rows per thread).
    if (v.program.dispatches.some((d) => d.code.length > MAX_CODE)) {
      broken.push({ shape: shape.name, variant: v.name, error: "code too large to compile in the budget" });
      continue;
    }
    const w = performance.now();
    try {
      device.pushErrorScope("validation");
      const p = await runner.prepare(v.program);
      const err = await device.popErrorScope();
      if (err) throw new Error(err.message);
      compiled.push({ v, p, ms: performance.now() - w });
    } catch (e) {
      broken.push({ shape: shape.name, variant: v.name, error: (e as Error).message.split("\n")[0] });
    }
  }
  if (!compiled.length) return;
  // A software adapter's timestamps say little and its runs are slow: no warm-up there.
  const { times, errs } = await timeInterleaved(runner, compiled.map((c) => c.p), {
    rounds: ROUNDS,
    warmS: 0.3,
    batchS: 0.03,
    small,
  });
  compiled.forEach(({ v, ms }, i) => {
    const best = Math.min(...times[i]);
    const row: Row = {
      shape: shape.name,
      variant: v.name,
      tiles: v.tiles,
      ms: best * 1e3,
      msRounds: times[i].map((t) => t * 1e3),
      tflops: v.program.flops / best / 1e12,
      gbs: v.program.bytes / best / 1e9,
      err: errs[i],
      compileMs: ms,
    };
    rows.push(row);
    console.error(
      `${shape.name} | ${v.name} | ${row.ms.toFixed(3)} ms | ${row.tflops.toFixed(2)} TF | ${
        row.gbs.toFixed(0)
      } GB/s | ` +
        `err ${row.err.toExponential(1)}${row.err > 1e-4 ? " BAD" : ""} | compile ${ms.toFixed(0)} ms`,
    );
  });
  await save();
}

for (const shape of SHAPES) {
  if (elapsed() > budgetS) {
    skipped.push(shape.name);
    continue;
  }
  const vs = shape.pass === "dw" ? weightGradVariants(shape.g) : correlationVariants(shape.g, shape.pass);
  await measure(shape, vs);
}

// --- report: the best variant per shape against the chooser's.
const lines = [
  "| shape | auto ms | best ms | speedup | best variant | best TF/s | best GB/s |",
  "|---|--:|--:|--:|---|--:|--:|",
];
for (const shape of SHAPES) {
  const rs = rows.filter((r) => r.shape === shape.name);
  if (!rs.length) continue;
  const auto = rs[0], best = rs.filter((r) => r.err <= 1e-4).reduce((a, b) => (b.ms < a.ms ? b : a));
  lines.push(
    `| ${shape.name} | ${auto.ms.toFixed(3)} | ${best.ms.toFixed(3)} | ${
      (auto.ms / best.ms).toFixed(2)
    } | ${best.variant} | ${best.tflops.toFixed(2)} | ${best.gbs.toFixed(0)} |`,
  );
}
console.log(lines.join("\n"));
if (skipped.length) console.log(`\nskipped (budget): ${skipped.join(", ")}`);
if (broken.length) console.log(`\nbroken: ${JSON.stringify(broken)}`);
console.error(`done in ${elapsed().toFixed(0)} s`);
await save();
