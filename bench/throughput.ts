/**
 * Training and inference throughput of the six reference models on the GPU (our side of the PyTorch comparison).
 *
 *     deno run -A bench/throughput.ts [--models a,b] [--batch 64] [--steps 20] [--budget 12] [--small]
 *
 * Per model: parameters and a random batch are made on the GPU; the evaluation forward and the training step (forward,
 * BCE, backward, AdamW, parameters and optimizer state donated) are each traced, planned and instantiated once, then
 * replayed. Samples/s come from the wall clock over back-to-back replays (the queue drained at the end), as the PyTorch
 * side measures; "GPU" columns come from timestamp queries around the compute pass when the device has them.
 * Preparation (trace, plan, pipelines) is timed separately. Prints a markdown table; writes `$OUT/throughput.json`.
 * @module
 */
import { type CommandSpec, helpText, parseArgs } from "../lib/cli/args.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import type { Params, State } from "../lib/models/common.ts";
import { adamw, type OptState } from "../lib/train/optim.ts";
import { prepareGpu, type PreparePhases, type ReplayTiming, timeReplays } from "./harness.ts";
import { markdownTable, progress, runScript, writeResult } from "./report.ts";
import {
  batchOnGpu,
  benchEval,
  benchModel,
  type BenchShape,
  benchShape,
  benchTrainStep,
  eachModel,
  familyOf,
  initOnGpu,
  learningRate,
  type ModelRuns,
  REFERENCE_MODELS,
  smallVariant,
} from "./setup.ts";

/** The command line of this script. */
export const THROUGHPUT_COMMAND: CommandSpec = {
  name: "bench/throughput.ts",
  summary: "Training and inference samples/s of the reference models on the GPU.",
  options: [
    { name: "models", kind: "string", value: "LIST", help: "comma-separated registry names (default: the six)" },
    { name: "batch", kind: "int", min: 1, help: "batch size (default 64; 2 with --small)" },
    { name: "steps", kind: "int", min: 1, default: 20, help: "timed replays per measurement (at most)" },
    {
      name: "budget",
      kind: "number",
      min: 0,
      exclusiveMin: true,
      default: 10,
      help: "seconds per timed loop (at most)",
    },
    { name: "small", kind: "flag", help: "nano models on 1×32×160 inputs (for software adapters)" },
    { name: "no-train", kind: "flag", help: "skip the training step" },
    { name: "no-infer", kind: "flag", help: "skip inference" },
    { name: "no-donate", kind: "flag", help: "do not donate parameters and optimizer state to the training step" },
    {
      name: "deadline",
      kind: "number",
      min: 0,
      exclusiveMin: true,
      help: "seconds: skip the models that would end after it (judged from the models done so far)",
    },
  ],
};

/** One measurement (inference or training) of one model. */
export interface PhaseResult {
  /** Preparation of the plan. */
  readonly prepare: PreparePhases;
  /** Replay timings. */
  readonly timing: ReplayTiming;
  /** Samples per second by the wall clock. */
  readonly samplesPerS: number;
  /** Samples per second by GPU time alone (undefined without timestamp queries). */
  readonly gpuSamplesPerS: number | undefined;
  /** Dispatches per replay. */
  readonly dispatches: number;
  /** Bytes of the plan's pooled intermediates. */
  readonly poolBytes: number;
}

/** The results of one model. */
export interface ModelResult {
  /** Registry name. */
  readonly model: string;
  /** Model family, as the PyTorch side names it. */
  readonly family: string;
  /** Whether the depthwise convolutions are DCLS. */
  readonly dcls: boolean;
  /** Parameter count. */
  readonly params: number;
  /** Batch size. */
  readonly batch: number;
  /** Input shape of one sample. */
  readonly input: readonly number[];
  /** Milliseconds to initialise parameters and make the batch on the GPU (preparation included). */
  readonly setupMs: number;
  /** Inference, unless skipped. */
  readonly infer?: PhaseResult;
  /** Training step, unless skipped. */
  readonly train?: PhaseResult;
}

/** The whole run, as written to `$OUT/throughput.json`. */
export interface ThroughputReport {
  /** The adapter's description. */
  readonly adapter: string;
  /** Whether GPU times come from timestamp queries. */
  readonly timestampQuery: boolean;
  /** Whether this was a `--small` run. */
  readonly small: boolean;
  /** Batch size. */
  readonly batch: number;
  /** Timed calls asked for per measurement. */
  readonly steps: number;
  /** Whether the training step overwrote its parameters and optimizer state in place. */
  readonly donate: boolean;
  /** Per model, in run order. */
  readonly results: readonly ModelResult[];
  /** Models left out because the deadline would have passed. */
  readonly skipped: readonly string[];
  /** Models whose measurement threw, with the first line of the error. */
  readonly failed: readonly { readonly model: string; readonly error: string }[];
  /** Seconds for the whole run. */
  readonly totalS: number;
}

function phaseResult(
  batch: number,
  prep: { phases: PreparePhases; plan: { stats: { dispatches: number; poolBytes: number } } },
  timing: ReplayTiming,
): PhaseResult {
  return {
    prepare: prep.phases,
    timing,
    samplesPerS: batch / (timing.wallMs / 1000),
    gpuSamplesPerS: timing.gpuMs === undefined ? undefined : batch / (timing.gpuMs / 1000),
    dispatches: prep.plan.stats.dispatches,
    poolBytes: prep.plan.stats.poolBytes,
  };
}

/** Measures one model: inference, then training. */
export async function measureModel(
  gpu: Gpu,
  name: string,
  shape: BenchShape,
  opts: { steps: number; budgetS: number; train: boolean; infer: boolean; donate: boolean },
): Promise<ModelResult> {
  const model = benchModel(name);
  const optimizer = adamw();
  const t0 = performance.now();
  const init = await initOnGpu(gpu, model, optimizer);
  const data = await batchOnGpu(gpu, shape);
  const setupMs = performance.now() - t0;
  const { params, state, optState } = init.value;
  const { x, y } = data.value;
  const count = Object.values(params).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  const replay = { iters: opts.steps, budgetMs: opts.budgetS * 1000 };
  let infer: PhaseResult | undefined, train: PhaseResult | undefined;
  try {
    if (opts.infer) {
      progress(`${name}: preparing inference`);
      const args = [params, state, x];
      const prep = await prepareGpu(gpu, benchEval(model) as never, args);
      progress(`${name}: inference prepared in ${(sumPhases(prep.phases) / 1000).toFixed(1)} s, timing`);
      const timing = await timeReplays(gpu, prep, () => args, replay);
      infer = phaseResult(shape.batch, prep, timing);
      prep.destroy();
    }
    if (opts.train) {
      progress(`${name}: preparing the training step`);
      const lr = learningRate();
      const first = [params, state, optState, x, y, lr];
      const donate = opts.donate ? [0, 1, 2] : [];
      const prep = await prepareGpu(gpu, benchTrainStep(model, optimizer) as never, first, { donate });
      progress(`${name}: training step prepared in ${(sumPhases(prep.phases) / 1000).toFixed(1)} s, timing`);
      const timing = await timeReplays(gpu, prep, (prev) => {
        if (prev === undefined) return first;
        const [p, s, o] = prev as [Params, State, OptState];
        return [p, s, o, x, y, lr];
      }, replay);
      train = phaseResult(shape.batch, prep, timing);
      prep.destroy();
    }
  } finally {
    init.prepared.destroy();
    data.prepared.destroy();
  }
  const { family, dcls } = familyOf(name);
  return {
    model: name,
    family,
    dcls,
    params: count,
    batch: shape.batch,
    input: [1, shape.mels, shape.frames],
    setupMs,
    infer,
    train,
  };
}

function sumPhases(p: PreparePhases): number {
  return p.traceMs + p.planMs + p.pipelinesMs;
}

const dash = (x: number | undefined) => (x === undefined ? "–" : x);

/** The throughput table and the preparation-time table of a report. */
export function throughputTables(report: ThroughputReport): string {
  const rows = report.results.map((r) => [
    r.model,
    r.params / 1e6,
    dash(r.infer?.samplesPerS),
    dash(r.infer?.gpuSamplesPerS),
    dash(r.train?.samplesPerS),
    dash(r.train?.gpuSamplesPerS),
  ]);
  const main = markdownTable(
    ["model", "params (M)", "infer samples/s", "infer GPU samples/s", "train samples/s", "train GPU samples/s"],
    rows,
  );
  const prep = report.results.flatMap((r) =>
    ([["infer", r.infer], ["train", r.train]] as const).flatMap(([what, p]) =>
      p
        ? [[
          `${r.model} ${what}`,
          p.prepare.traceMs / 1000,
          p.prepare.planMs / 1000,
          p.prepare.pipelinesMs / 1000,
          p.timing.firstMs / 1000,
          p.dispatches,
          p.poolBytes / 2 ** 20,
          p.timing.iters,
        ]]
        : []
    )
  );
  const prepTable = markdownTable(
    ["plan", "trace s", "plan s", "pipelines s", "first call s", "dispatches", "pool MiB", "timed calls"],
    prep,
  );
  return `${main}\n\nPreparation (compile) times, once per model and step:\n\n${prepTable}`;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(THROUGHPUT_COMMAND, argv);
  if (args.help) {
    console.log(helpText(THROUGHPUT_COMMAND).replace(/^deno task /, "deno run -A "));
    return;
  }
  const small = args.values.small === true;
  const shape = benchShape(small, args.values.batch as number | undefined);
  const names = args.values.models
    ? String(args.values.models).split(",").map((s) => s.trim()).filter((s) => s !== "")
    : REFERENCE_MODELS.map((n) => (small ? smallVariant(n) : n));
  const steps = args.values.steps as number, budgetS = args.values.budget as number;
  const t0 = performance.now();
  const gpu = await requestGpu();
  progress(`adapter: ${gpu.description}; timestamp queries: ${gpu.features.timestampQuery}`);
  const deadlineS = args.values.deadline as number | undefined;
  const report = (runs: ModelRuns<ModelResult>): ThroughputReport => ({
    adapter: gpu.description,
    timestampQuery: gpu.features.timestampQuery,
    small,
    batch: shape.batch,
    steps,
    donate: args.values["no-donate"] !== true,
    ...runs,
    totalS: (performance.now() - t0) / 1000,
  });
  const runs = await eachModel(
    names,
    { t0, deadlineS },
    (name) =>
      measureModel(gpu, name, shape, {
        steps,
        budgetS,
        train: args.values["no-train"] !== true,
        infer: args.values["no-infer"] !== true,
        donate: args.values["no-donate"] !== true,
      }),
    // Written after every model, so a run cut short still leaves what it measured.
    async (runs) => void (await writeResult("throughput.json", report(runs))),
  );
  const final = report(runs);
  const { skipped, failed } = runs;
  console.log(
    `\n## Throughput on ${gpu.description}, batch ${shape.batch}, input 1×${shape.mels}×${shape.frames}\n\n` +
      throughputTables(final) + `\n\nTotal ${final.totalS.toFixed(1)} s` +
      (skipped.length ? `; skipped for the deadline: ${skipped.join(", ")}.` : ".") +
      failed.map((f) => `\n\nFAILED ${f.model}: ${f.error}`).join(""),
  );
  const path = await writeResult("throughput.json", final);
  if (path) progress(`wrote ${path}`);
  gpu.destroy();
  if (failed.length) Deno.exit(1);
}

if (import.meta.main) await runScript("bench/throughput.ts", main);
