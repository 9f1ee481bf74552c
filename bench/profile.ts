/**
 * Where the time of a training step (or an inference) goes, per class of kernel.
 *
 *     deno run -A bench/profile.ts [--models a,b] [--step train|infer] [--batch 64] [--mel-input] [--small]
 *
 * Per model: the step is traced and planned as throughput.ts does (training: parameters and optimizer state donated),
 * by default from waveforms through the log-mel front end; every dispatch is timed with timestamp queries in a pass of
 * its own (bench/dispatch_timer.ts) and classified (bench/kernel_classes.ts). Prints per class the time, its share,
 * and the achieved TFLOP/s and GB/s from the kernels' FLOP and byte counts against the peaks (default H100 SXM: 67
 * TFLOP/s FP32, 3.35 TB/s), then the most expensive kernels. Writes `$OUT/profile.json`.
 * @module
 */
import { Tensor } from "../lib/core/tensor.ts";
import { traceGraph } from "../lib/core/compile.ts";
import { treeFlatten } from "../lib/core/tree.ts";
import { logMel } from "../lib/audio/frontend.ts";
import { FRONTEND } from "../lib/audio/mel.ts";
import { type CommandSpec, helpText, parseArgs } from "../lib/cli/args.ts";
import { type Gpu, kernelLimits, requestGpu } from "../lib/gpu/device.ts";
import type { Model, Params, State } from "../lib/models/common.ts";
import type { OptState } from "../lib/train/optim.ts";
import { type DispatchTimes, timeDispatches } from "./dispatch_timer.ts";
import { leafRange, planOnGpu } from "./harness.ts";
import { classifyPlan, type DispatchInfo, type InputRole, KERNEL_CLASSES, type KernelClass } from "./kernel_classes.ts";
import { markdownTable, progress, runScript, writeResult } from "./report.ts";
import {
  benchEval,
  benchModel,
  type BenchShape,
  benchShape,
  benchTrainStep,
  eachModel,
  type ModelRuns,
  REFERENCE_MODELS,
  smallVariant,
} from "./setup.ts";

/** The command line of this script. */
export const PROFILE_COMMAND: CommandSpec = {
  name: "bench/profile.ts",
  summary: "Time per kernel class of a training step (or inference), from per-dispatch timestamp queries.",
  options: [
    { name: "models", kind: "string", value: "LIST", help: "comma-separated registry names (default: the six)" },
    { name: "step", kind: "string", choices: ["train", "infer"], default: "train", help: "what to profile" },
    { name: "batch", kind: "int", min: 1, help: "batch size (default 64; 2 with --small)" },
    { name: "reps", kind: "int", min: 1, default: 3, help: "timed runs (medians are reported)" },
    { name: "top", kind: "int", min: 0, default: 12, help: "most expensive kernels listed per model" },
    { name: "mel-input", kind: "flag", help: "start from log-mels (as throughput.ts) instead of waveforms" },
    { name: "no-donate", kind: "flag", help: "do not donate parameters and optimizer state to the training step" },
    { name: "peak-tflops", kind: "number", min: 0, exclusiveMin: true, default: 67, help: "FP32 peak, TFLOP/s" },
    { name: "peak-gbs", kind: "number", min: 0, exclusiveMin: true, default: 3350, help: "memory peak, GB/s" },
    { name: "small", kind: "flag", help: "nano models on small inputs (for software adapters)" },
    { name: "deadline", kind: "number", min: 0, exclusiveMin: true, help: "seconds: skip models that would end later" },
  ],
};

/** Time and work of one class. */
export interface ClassRow {
  /** The class. */
  readonly cls: KernelClass;
  /** Summed dispatch milliseconds. */
  readonly ms: number;
  /** Share of the summed dispatch time, percent. */
  readonly pct: number;
  /** Kernels of the class. */
  readonly kernels: number;
  /** Dispatches of the class. */
  readonly dispatches: number;
  /** FLOPs of its kernels. */
  readonly flops: number;
  /** Minimum bytes its kernels move. */
  readonly bytes: number;
  /** Achieved TFLOP/s. */
  readonly tflops: number;
  /** Achieved GB/s. */
  readonly gbs: number;
}

/** One expensive kernel. */
export interface KernelRow {
  /** Label of its first dispatch. */
  readonly label: string;
  /** Its class. */
  readonly cls: KernelClass;
  /** Milliseconds (its dispatches summed). */
  readonly ms: number;
  /** Share of the summed dispatch time, percent. */
  readonly pct: number;
  /** Achieved TFLOP/s. */
  readonly tflops: number;
  /** Achieved GB/s. */
  readonly gbs: number;
}

/** The profile of one model. */
export interface ModelProfile {
  /** Registry name. */
  readonly model: string;
  /** What was profiled. */
  readonly step: "train" | "infer";
  /** Whether the step started from waveforms. */
  readonly frontEnd: boolean;
  /** Batch size. */
  readonly batch: number;
  /** Dispatches per step. */
  readonly dispatches: number;
  /** Sum of the per-dispatch times. */
  readonly sumMs: number;
  /** The same plan timed as one compute pass (as replays run it). */
  readonly onePassMs: number;
  /** Whether classes come from derived kernels ("kernels") or labels alone ("labels"). */
  readonly classifiedBy: "kernels" | "labels";
  /** Time and work per class (classes with no dispatch left out). */
  readonly classes: readonly ClassRow[];
  /** The most expensive kernels. */
  readonly top: readonly KernelRow[];
}

/** Shape-only stand-ins for a model's parameters and state (nothing is allocated). */
function abstractModel(model: Model): { params: Params; state: State } {
  const params: Params = {}, state: State = {};
  for (const e of model.layout().entries) {
    if (e.kind === "param") params[e.name] = new Tensor(e.shape, "f32", {});
    else if (e.kind === "buffer") state[e.name] = new Tensor(e.shape, "f32", {});
  }
  return { params, state };
}

/** Names of the parameters that DCLS construction reads (weights, positions and widths of DCLS layers). */
function dclsParams(model: Model): Set<string> {
  const entries = model.layout().entries;
  const layers = new Set(entries.filter((e) => /\.P$/.test(e.name)).map((e) => e.name.slice(0, -2)));
  return new Set(
    entries.filter((e) =>
      e.kind === "param" && [...layers].some((l) => e.name.startsWith(`${l}.`)) && !e.name.endsWith(".bias")
    )
      .map((e) => e.name),
  );
}

/** Sums per-kernel time, FLOPs and bytes by class. */
export function classRows(infos: readonly DispatchInfo[], ns: readonly number[]): ClassRow[] {
  const total = ns.reduce((s, x) => s + x, 0);
  return KERNEL_CLASSES.map((cls) => {
    let t = 0, flops = 0, bytes = 0, dispatches = 0;
    const kernels = new Set<number>();
    infos.forEach((d, i) => {
      if (d.cls !== cls) return;
      t += ns[i];
      flops += d.flops;
      bytes += d.bytes;
      dispatches++;
      kernels.add(d.kernel);
    });
    const s = t / 1e9;
    return {
      cls,
      ms: t / 1e6,
      pct: total > 0 ? (100 * t) / total : 0,
      kernels: kernels.size,
      dispatches,
      flops,
      bytes,
      tflops: s > 0 ? flops / s / 1e12 : 0,
      gbs: s > 0 ? bytes / s / 1e9 : 0,
    };
  }).filter((r) => r.dispatches > 0);
}

/** The `n` most expensive kernels (dispatches of one kernel summed). */
export function topKernels(infos: readonly DispatchInfo[], ns: readonly number[], n: number): KernelRow[] {
  const total = ns.reduce((s, x) => s + x, 0);
  const byKernel = new Map<number, { label: string; cls: KernelClass; ns: number; flops: number; bytes: number }>();
  infos.forEach((d, i) => {
    const k = byKernel.get(d.kernel) ?? { label: d.label, cls: d.cls, ns: 0, flops: 0, bytes: 0 };
    k.ns += ns[i];
    k.flops += d.flops;
    k.bytes += d.bytes;
    byKernel.set(d.kernel, k);
  });
  return [...byKernel.values()].sort((a, b) => b.ns - a.ns).slice(0, n).map((k) => ({
    label: k.label,
    cls: k.cls,
    ms: k.ns / 1e6,
    pct: total > 0 ? (100 * k.ns) / total : 0,
    tflops: k.ns > 0 ? k.flops / k.ns / 1e3 : 0,
    gbs: k.ns > 0 ? k.bytes / k.ns : 0,
  }));
}

/** Traces, plans, classifies and times one model's step. */
export async function profileModel(
  gpu: Gpu,
  name: string,
  shape: BenchShape,
  opts: { step: "train" | "infer"; frontEnd: boolean; donate: boolean; reps: number; top: number },
): Promise<ModelProfile> {
  const model = benchModel(name);
  const { params, state } = abstractModel(model);
  const dcls = dclsParams(model);
  const samples = (shape.frames - 1) * FRONTEND.hop;
  const x = opts.frontEnd
    ? new Tensor([shape.batch, samples], "f32", {})
    : new Tensor([shape.batch, 1, shape.mels, shape.frames], "f32", {});
  const features = (x: Tensor) => (opts.frontEnd ? logMel(x, { nMels: shape.mels }) : x);
  const paramRoles = Object.keys(params).sort().map((k): InputRole => (dcls.has(k) ? "dcls" : "param"));
  const stateRoles = Object.keys(state).map((): InputRole => "state");
  const xRole: InputRole = opts.frontEnd ? "wave" : "data";
  let fn: (...a: never[]) => unknown, args: unknown[], roles: InputRole[], donate: number[] = [];
  if (opts.step === "train") {
    const step = benchTrainStep(model);
    const optState: OptState = { m: { ...params }, v: { ...params }, step: new Tensor([], "f32", {}) };
    const y = new Tensor([shape.batch, shape.classes], "f32", {});
    const lr = new Tensor([], "f32", {});
    fn = ((p: Params, s: State, o: OptState, x: Tensor, y: Tensor, lr: Tensor) =>
      step(p, s, o, features(x), y, lr)) as never;
    args = [params, state, optState, x, y, lr];
    const optRoles = treeFlatten(optState).leaves.map((): InputRole =>
      "opt"
    );
    roles = [...paramRoles, ...stateRoles, ...optRoles, xRole, "data", "opt"];
    if (opts.donate) donate = [0, 1, 2];
  } else {
    const evalFn = benchEval(model);
    fn = ((p: Params, s: State, x: Tensor) => evalFn(p, s, features(x))) as never;
    args = [params, state, x];
    roles = [...paramRoles, ...stateRoles, xRole];
  }
  progress(`${name}: tracing and planning the ${opts.step} step`);
  const traced = traceGraph(fn, args);
  const maxBindings = gpu.limits.maxStorageBuffersPerShaderStage;
  const plan = planOnGpu(gpu, traced, leafRange(args, donate));
  const cls = classifyPlan(traced.graph, plan, roles, { maxBindings, limits: kernelLimits(gpu) });
  progress(`${name}: timing ${plan.dispatches.length} dispatches (classified by ${cls.source})`);
  const times: DispatchTimes = await timeDispatches(gpu, plan, opts.reps);
  return {
    model: name,
    step: opts.step,
    frontEnd: opts.frontEnd,
    batch: shape.batch,
    dispatches: plan.dispatches.length,
    sumMs: times.ns.reduce((s, x) => s + x, 0) / 1e6,
    onePassMs: times.onePassNs / 1e6,
    classifiedBy: cls.source,
    classes: classRows(cls.dispatches, times.ns),
    top: topKernels(cls.dispatches, times.ns, opts.top),
  };
}

/** The class table and the top-kernel table of one profile. */
export function profileTables(p: ModelProfile, peakTflops: number, peakGbs: number): string {
  const classes = markdownTable(
    ["class", "ms", "%", "kernels", "GFLOP", "TFLOP/s", "% of FP32 peak", "GB/s", "% of HBM peak"],
    p.classes.map((r) => [
      r.cls,
      r.ms,
      r.pct,
      r.kernels,
      r.flops / 1e9,
      r.tflops,
      (100 * r.tflops) / peakTflops,
      r.gbs,
      (100 * r.gbs) / peakGbs,
    ]),
  );
  const top = markdownTable(
    ["kernel", "class", "ms", "%", "TFLOP/s", "GB/s"],
    p.top.map((k) => [k.label, k.cls, k.ms, k.pct, k.tflops, k.gbs]),
  );
  return `### ${p.model} (${p.step}, batch ${p.batch}${p.frontEnd ? ", from waveforms" : ""})\n\n` +
    `${p.dispatches} dispatches; sum of dispatch times ${p.sumMs.toFixed(2)} ms, as one pass ${
      p.onePassMs.toFixed(2)
    } ms` +
    (p.classifiedBy === "labels" ? " (classified from labels only: the planner's kernels could not be matched)" : "") +
    `\n\n${classes}\n\nMost expensive kernels:\n\n${top}`;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(PROFILE_COMMAND, argv);
  if (args.help) {
    console.log(helpText(PROFILE_COMMAND).replace(/^deno task /, "deno run -A "));
    return;
  }
  const small = args.values.small === true;
  const shape = benchShape(small, args.values.batch as number | undefined);
  const names = args.values.models
    ? String(args.values.models).split(",").map((s) => s.trim()).filter((s) => s !== "")
    : REFERENCE_MODELS.map((n) => (small ? smallVariant(n) : n));
  const peakTflops = args.values["peak-tflops"] as number, peakGbs = args.values["peak-gbs"] as number;
  const gpu = await requestGpu();
  progress(`adapter: ${gpu.description}`);
  if (!gpu.features.timestampQuery) {
    throw new Error("this adapter has no timestamp queries; per-dispatch times need them");
  }
  const t0 = performance.now();
  const save = ({ results, skipped, failed }: ModelRuns<ModelProfile>) =>
    writeResult("profile.json", { adapter: gpu.description, peakTflops, peakGbs, profiles: results, skipped, failed });
  const runs = await eachModel(
    names,
    { t0, deadlineS: args.values.deadline as number | undefined },
    async (name) => {
      const p = await profileModel(gpu, name, shape, {
        step: args.values.step as "train" | "infer",
        frontEnd: args.values["mel-input"] !== true,
        donate: args.values["no-donate"] !== true,
        reps: args.values.reps as number,
        top: args.values.top as number,
      });
      console.log(`\n${profileTables(p, peakTflops, peakGbs)}`);
      return p;
    },
    async (runs) => void (await save(runs)),
  );
  for (const f of runs.failed) console.log(`\nFAILED ${f.model}: ${f.error}`);
  const path = await save(runs);
  if (path) progress(`wrote ${path}`);
  gpu.destroy();
  if (runs.failed.length) Deno.exit(1);
}

if (import.meta.main) await runScript("bench/profile.ts", main);
