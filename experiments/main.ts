/**
 * `deno task experiments`: the paper's Table 1. For each model family (ConvNeXt, ConvFormer, FastViT) × convolution
 * (depthwise 7×7, DCLS-Gauss) × seed (0, 1, 2): train, evaluate mAP, count parameters, measure throughput; then
 * write `table1.md`, `table1.json`, `table1.png` (mAP and throughput per configuration), `training_curves.png` and
 * `positions_<model>.png` (learned DCLS positions, one panel per stage) to `--out`. Each DCLS run's final weights are
 * also evaluated with pruned kernels (`deno task eval --prune`, same evaluation split): pruned mAP, its change and
 * the share of kernel cells kept join the DCLS rows.
 *
 * Profiles: `smoke` (chosen when there is no hardware GPU) trains nano models on 2 s procedural clips with a step
 * count sized from a timing of every configuration, so the whole experiment fits `--budget` seconds; `paper` trains
 * the full models on AudioSet (`--data`) with the paper's recipe.
 * @module
 */
import { type CommandSpec, flag, num, type ParsedArgs, runCommand, str, UsageError } from "../lib/cli/args.ts";
import { resolveBackendChoice } from "../lib/cli/backend.ts";
import { describeModel } from "../lib/cli/models.ts";
import { getModel } from "../lib/models/registry.ts";
import { learnedPositions } from "../lib/dcls/positions.ts";
import { loadModelFile } from "../lib/train/checkpoint_io.ts";
import { runFiles } from "../lib/train/loop.ts";
import { PROCEDURAL_CLASSES } from "../lib/data/procedural.ts";
import { spectrogramShape } from "../lib/train/batches.ts";
import { INPUT_PRESETS } from "../lib/cli/data.ts";
import { paperProfile, type Profile, SMOKE_DATA, smokeProfile } from "./profiles.ts";
import { measureInSubprocess, type Measurement } from "./measure.ts";
import { Interrupted, runAll, type RunSpec } from "./runs.ts";
import { type PrunedEval, tableMarkdown, tableRows, VARIANT_LABEL } from "./report.ts";
import { entryUrl } from "../lib/data/entry_url.ts";
import type { RunResult } from "./runs.ts";
import { curvesPlot, positionsPlot, tablePlot } from "./figures.ts";

/** The command's options. */
export const EXPERIMENTS_SPEC: CommandSpec = {
  name: "experiments",
  summary: "Reproduce Table 1 (3 families × {depthwise 7×7, DCLS-Gauss} × 3 seeds): mAP, parameters, throughput.",
  options: [
    {
      name: "profile",
      kind: "string",
      choices: ["auto", "smoke", "paper"],
      default: "auto",
      help: "smoke: nano models, procedural data, CPU minutes; paper: full models on AudioSet (auto: paper on a GPU)",
    },
    { name: "out", kind: "string", value: "DIR", default: "results", help: "output folder" },
    { name: "budget", kind: "number", min: 30, default: 480, help: "smoke: seconds for the whole experiment" },
    {
      name: "steps",
      kind: "int",
      min: 1,
      help: "steps per run (smoke: instead of sizing from the budget; paper: instead of --epochs)",
    },
    {
      name: "families",
      kind: "string",
      value: "LIST",
      default: "convnext,convformer,fastvit",
      help: "model families to run, comma-separated (convnext, convformer, fastvit)",
    },
    {
      name: "seeds",
      kind: "string",
      value: "LIST",
      default: "0,1,2",
      help: "seeds of the repeated runs, comma-separated",
    },
    { name: "jobs", kind: "int", min: 1, help: "training runs at once (default: 2 smoke, 1 paper)" },
    { name: "epochs", kind: "int", min: 1, default: 60, help: "paper: epochs per run" },
    {
      name: "batch-size",
      kind: "int",
      min: 1,
      default: 128,
      help: "paper: clips per micro-batch (lr scaled from 4e-3 at an effective batch of 4096)",
    },
    {
      name: "accum-steps",
      kind: "int",
      min: 1,
      default: 1,
      help: "paper: micro-batches per optimizer step (the paper's 4096 = 128 × 32)",
    },
    {
      name: "lr",
      kind: "number",
      min: 0,
      exclusiveMin: true,
      help: "peak learning rate (default: smoke 5e-3; paper 4e-3 × batch / 4096, the linear scaling rule)",
    },
    {
      name: "data",
      kind: "string",
      value: "SRC",
      help: "paper: AudioSet training data (FILE.h5 or DIR), or procedural (the embedded dataset)",
    },
    { name: "train-size", kind: "int", min: 1, default: 4096, help: "paper with procedural data: training clips" },
    { name: "eval-size", kind: "int", min: 1, default: 512, help: "paper with procedural data: evaluation clips" },
    { name: "labels", kind: "string", value: "CSV", help: "paper: segments CSV for --data DIR" },
    { name: "class-labels", kind: "string", value: "CSV", help: "paper: class_labels_indices.csv" },
    { name: "eval-data", kind: "string", value: "SRC", help: "paper: AudioSet evaluation data" },
    { name: "eval-labels", kind: "string", value: "CSV", help: "paper: segments CSV for --eval-data DIR" },
    { name: "backend", kind: "string", choices: ["auto", "cpu", "gpu"], default: "auto", help: "where steps run" },
    { name: "fresh", kind: "flag", help: "discard earlier runs in --out instead of reusing finished ones" },
  ],
  notes: [
    "Runs live in DIR/runs/<model>-seed<s>/ and are resumed when the experiment is restarted with the same settings.",
  ],
};

const log = (s: string) => console.error(s);

/** The families and seeds asked for, checked against the profile's. */
function selection(a: ParsedArgs, p: Profile): Profile {
  const keys = str(a, "families")!.split(",").map((x) => x.trim().toLowerCase()).filter((x) => x !== "");
  const families = keys.map((k) => {
    const f = p.families.find((f) => f.dsc.startsWith(`${k}_`));
    if (!f) throw new UsageError(`--families: unknown family "${k}" (convnext, convformer, fastvit)`);
    return f;
  });
  const seeds = str(a, "seeds")!.split(",").map((x) => x.trim()).filter((x) => x !== "").map((x) => {
    if (!/^\d+$/.test(x)) throw new UsageError(`--seeds: "${x}" is not a non-negative integer`);
    return Number(x);
  });
  if (families.length === 0 || seeds.length === 0) throw new UsageError("--families and --seeds must not be empty");
  return { ...p, families: [...new Set(families)], seeds: [...new Set(seeds)] };
}

async function chooseProfile(a: ParsedArgs): Promise<Profile> {
  const p = selection(a, await baseProfile(a));
  return { ...p, lr: num(a, "lr") ?? p.lr };
}

async function baseProfile(a: ParsedArgs): Promise<Profile> {
  let name = str(a, "profile")!;
  if (name === "auto") {
    name = (await resolveBackendChoice(str(a, "backend")!)) === "gpu" ? "paper" : "smoke";
    log(`profile: ${name} (${name === "smoke" ? "no hardware GPU backend found" : "GPU found"})`);
  }
  if (name === "smoke") {
    const p = smokeProfile();
    return { ...p, jobs: num(a, "jobs") ?? p.jobs };
  }
  const data = str(a, "data");
  if (!data) throw new UsageError("the paper profile needs --data (AudioSet FILE.h5 or DIR); or use --profile smoke");
  const pass = ["data", "labels", "class-labels", "eval-data", "eval-labels"].flatMap((k) =>
    str(a, k) ? [`--${k}`, str(a, k)!] : []
  );
  if (data === "procedural") {
    pass.push("--train-size", String(num(a, "train-size")), "--eval-size", String(num(a, "eval-size")));
  }
  // A full-size checkpoint (weights and optimizer moments) is hundreds of MB: a few per run, not one every 50 steps.
  const length = a.given.has("steps")
    ? ["--steps", String(num(a, "steps")), "--checkpoint-every", String(Math.max(50, Math.floor(num(a, "steps")! / 4)))]
    : ["--epochs", String(num(a, "epochs")), "--checkpoint-every", "1000"];
  const accum = num(a, "accum-steps")!;
  const p = paperProfile(num(a, "batch-size")!, [...pass, ...length, "--accum-steps", String(accum)], accum);
  return { ...p, jobs: num(a, "jobs") ?? p.jobs };
}

/** Seconds a process takes to start and load the modules (estimate). */
const STARTUP_SECONDS = 1.5;
/** Seconds for the figures, tables and parameter counts at the end (estimate). */
const REPORT_SECONDS = 10;

/**
 * Smoke: steps per run so that the measurements, every run and the report fit the budget. A run costs its start,
 * tracing, `steps` × (step + data) and the evaluation pass; runs go `jobs` at a time.
 */
function sizeSmoke(p: Profile, measured: ReadonlyMap<string, Measurement>, spent: number, budget: number): number {
  const runs = p.seeds.length;
  let perStep = 0, fixed = 0;
  for (const m of measured.values()) {
    perStep += runs * (m.stepSeconds + m.dataSeconds);
    const evalSeconds = SMOKE_DATA.evalSize * (1 / m.throughput + m.dataSeconds / p.batchSize);
    fixed += runs * (STARTUP_SECONDS + 2 * Math.max(0, m.firstStepSeconds - m.stepSeconds) + evalSeconds);
  }
  // Each DCLS run is evaluated once more in an eval process, unpruned and pruned (two traces, two passes).
  for (const f of p.families) {
    const m = measured.get(f.dcls);
    if (!m) continue;
    const evalSeconds = SMOKE_DATA.evalSize * (1 / m.throughput + m.dataSeconds / p.batchSize);
    fixed += runs * (STARTUP_SECONDS + 2 * (evalSeconds + Math.max(0, m.firstStepSeconds - m.stepSeconds)));
  }
  // Runs of different lengths do not pack perfectly into `jobs` lanes.
  const lanes = p.jobs > 1 ? 0.9 * p.jobs : 1;
  const available = budget - spent - REPORT_SECONDS - fixed / lanes;
  return Math.max(10, Math.min(5000, Math.floor((available * lanes) / perStep)));
}

async function main(a: ParsedArgs): Promise<void> {
  const t0 = performance.now();
  const p = await chooseProfile(a);
  const out = str(a, "out")!.replace(/\/+$/, "");
  const backendChoice = await resolveBackendChoice(str(a, "backend")!);
  const preset = INPUT_PRESETS[p.input];
  const input = {
    clipSamples: preset.sampleRate * preset.seconds,
    frontEnd: preset.frontEnd,
    frontEndOn: "host" as const,
  };
  const { mels, frames } = spectrogramShape(input);
  const shape = [mels, frames] as const;
  const procedural = p.name === "smoke" || str(a, "data") === "procedural";
  const classes = procedural ? PROCEDURAL_CLASSES.length : 527;
  await Deno.mkdir(`${out}/runs`, { recursive: true });

  log(`timing every configuration (each in a fresh process) on ${backendChoice}`);
  const measured = new Map<string, Measurement>();
  for (const f of p.families) {
    for (const model of [f.dsc, f.dcls]) {
      const m = await measureInSubprocess({
        model,
        classes,
        batch: p.batchSize,
        throughputBatch: p.throughputBatch,
        input,
        shape,
        backend: backendChoice,
        // Only the smoke profile sizes its runs from the data timing; on a GPU, workers prepare the data.
        timeData: p.name === "smoke",
      });
      measured.set(model, m);
      const data = p.name === "smoke" ? ` + ${m.dataSeconds.toFixed(2)} s data` : "";
      log(
        `  ${model}: ${m.stepSeconds.toFixed(2)} s/step (batch ${p.batchSize})${data}, ` +
          `${m.throughput.toFixed(1)} samples/s inference`,
      );
    }
  }
  const stepsArgs: string[] = [];
  if (p.name === "smoke") {
    const steps = num(a, "steps") ?? sizeSmoke(p, measured, (performance.now() - t0) / 1000, num(a, "budget")!);
    log(`  → ${steps} steps per run${a.given.has("steps") ? "" : ` to fit the ${num(a, "budget")} s budget`}`);
    stepsArgs.push(
      "--steps",
      String(steps),
      "--warmup-steps",
      String(Math.round(steps * p.warmupFraction)),
      "--checkpoint-every",
      String(Math.max(10, Math.floor(steps / 4))),
    );
  }
  const costOf = (m: string) => measured.get(m)!.stepSeconds;

  const common = [
    ...p.dataArgs,
    ...stepsArgs,
    "--input",
    p.input,
    "--batch-size",
    String(p.batchSize),
    "--lr",
    String(p.lr),
    "--drop-path",
    String(p.dropPath),
    "--backend",
    backendChoice,
    ...(p.augment ? [] : ["--no-augment"]),
  ];
  const specs: RunSpec[] = p.families.flatMap((family) =>
    (["dsc", "dcls"] as const).flatMap((variant) =>
      p.seeds.map((seed) => ({
        family,
        variant,
        model: family[variant],
        seed,
        dir: `${out}/runs/${family[variant]}-seed${seed}`,
        args: common,
        cost: costOf(family[variant]),
      }))
    )
  );
  for (const s of specs) await prepareRunDir(s, flag(a, "fresh"));

  log(`training ${specs.length} runs, ${p.jobs} at a time; logs in ${out}/runs/*/train.log`);
  const results = await runAll(specs, p.jobs, (r, done, total) => {
    log(
      `  [${done}/${total}] ${r.spec.model} seed ${r.spec.seed}: mAP ${r.eval.mAP.toFixed(4)} (${
        r.seconds.toFixed(0)
      } s)`,
    );
  });

  log(`evaluating the DCLS runs' final weights with kernels pruned at ${PRUNE_THRESHOLD} · max|k|`);
  const prunedByDir = await prunedEvals(
    results.filter((r) => r.spec.variant === "dcls"),
    p.jobs,
    [...evalDataArgs(p.dataArgs), "--input", p.input, "--backend", backendChoice],
  );

  const info = new Map<string, { params: number; gflops: number; throughput: number; stepThroughput: number }>();
  for (const f of p.families) {
    for (const model of [f.dsc, f.dcls]) {
      const d = describeModel(getModel(model, { numClasses: classes }), mels, frames);
      const m = measured.get(model)!;
      info.set(model, {
        params: d.params,
        gflops: d.gflops,
        throughput: m.throughput,
        stepThroughput: p.batchSize / m.stepSeconds,
      });
    }
  }
  const rows = tableRows(p.families, results, (m) => info.get(m)!, (r) => prunedByDir.get(r.spec.dir));
  const seconds = (performance.now() - t0) / 1000;
  // On a GPU the log holds every tenth step: the run's length is its last logged step.
  const steps = Math.max(0, ...results[0].log.flatMap((e) => (e.kind === "train" ? [e.step] : [])));
  const accumSteps = p.name === "paper" ? num(a, "accum-steps")! : 1;
  const accumText = accumSteps > 1 ? ` × ${accumSteps} accumulated (effective ${p.batchSize * accumSteps})` : "";
  const context = {
    profile: p.name,
    data: p.name === "smoke"
      ? `procedural (${SMOKE_DATA.trainSize} training / ${SMOKE_DATA.evalSize} evaluation clips, ${classes} classes)`
      : p.dataArgs.join(" "),
    input: `${preset.seconds} s at ${preset.sampleRate / 1000} kHz → ${mels} × ${frames} log-mels`,
    training: `${steps} steps × batch ${p.batchSize}${accumText}, lr ${p.lr}, drop path ${p.dropPath}, ` +
      `augmentation ${p.augment ? "on (recipe)" : "off"}, seeds ${p.seeds.join(", ")}`,
    machine: `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, backend ${backendChoice}`,
    "wall time": `${seconds.toFixed(0)} s`,
  };
  await Deno.writeTextFile(`${out}/table1.md`, tableMarkdown(rows, context));
  await Deno.writeTextFile(`${out}/table1.json`, JSON.stringify({ context, rows }, null, 2) + "\n");

  const variants = [VARIANT_LABEL.dsc, VARIANT_LABEL.dcls];
  await Deno.writeFile(
    `${out}/table1.png`,
    tablePlot(
      p.families.map((f) => ({
        label: f.label,
        map: (["dsc", "dcls"] as const).map((v) => {
          const r = rows.find((x) => x.model === f[v])!;
          return [r.mAP.mean, r.mAP.std] as [number, number];
        }),
        throughput: (["dsc", "dcls"] as const).map((v) => rows.find((x) => x.model === f[v])!.throughput),
      })),
      variants,
      `Table 1 (${p.name} profile)`,
    ),
  );
  await Deno.writeFile(
    `${out}/training_curves.png`,
    curvesPlot(rows.map((r) => ({
      name: `${r.family} ${VARIANT_LABEL[r.variant]}`,
      logs: results.filter((x) => x.spec.model === r.model).map((x) => x.log),
    }))),
  );
  for (const f of p.families) {
    const seed = p.seeds[0];
    const file = runFiles(`${out}/runs/${f.dcls}-seed${seed}`).model;
    const { params } = await loadModelFile(file);
    const png = positionsPlot(learnedPositions(params), `Learned positions: ${f.label} DCLS-Gauss, seed ${seed}`);
    await Deno.writeFile(`${out}/positions_${f.dcls}.png`, png);
  }
  console.log(await Deno.readTextFile(`${out}/table1.md`));
  log(
    `wrote ${out}/table1.md, table1.json, table1.png, training_curves.png, positions_*.png in ${seconds.toFixed(0)} s`,
  );
}

/**
 * Relative threshold of the pruned evaluation. A DCLS-Gauss element spreads its weight as a Gaussian over the whole
 * 23 × 23 grid; cells under 1 % of their channel's largest cell are that Gaussian's tails (beyond ~3 σ of an element
 * of the largest weight), so dropping them should leave the mAP almost unchanged while removing most cells.
 */
const PRUNE_THRESHOLD = 0.01;

const EVAL_CLI = entryUrl(import.meta.url, "../lib/cli/eval.ts").pathname;

/** The eval task's data arguments for a profile's training data arguments: the evaluation split the runs use. */
function evalDataArgs(dataArgs: readonly string[]): string[] {
  const v = new Map<string, string>();
  for (let i = 0; i + 1 < dataArgs.length; i += 2) v.set(dataArgs[i], dataArgs[i + 1]);
  if (v.has("--eval-data")) {
    v.set("--data", v.get("--eval-data")!);
    v.delete("--labels");
    if (v.has("--eval-labels")) v.set("--labels", v.get("--eval-labels")!);
  }
  for (const k of ["--eval-data", "--eval-labels", "--train-size"]) v.delete(k);
  return [...v].flat();
}

/** Evaluates each run's final weights with `--prune PRUNE_THRESHOLD` in eval processes, `jobs` at a time. */
async function prunedEvals(
  runs: readonly RunResult[],
  jobs: number,
  args: readonly string[],
): Promise<Map<string, PrunedEval>> {
  const out = new Map<string, PrunedEval>();
  const queue = [...runs];
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const file = runFiles(r.spec.dir).model;
      const cmd = ["run", "-A", EVAL_CLI, "--checkpoint", file, "--prune", String(PRUNE_THRESHOLD), "--json", ...args];
      const res = await new Deno.Command(Deno.execPath(), { args: cmd, stdin: "null" }).output();
      const text = new TextDecoder();
      if (!res.success) {
        const err = text.decode(res.stderr).trim().split("\n").at(-1) ?? "";
        throw new Error(`pruned evaluation of ${file} failed (exit ${res.code}): ${err}`);
      }
      const j = JSON.parse(text.decode(res.stdout).trim().split("\n").at(-1)!);
      out.set(r.spec.dir, { threshold: PRUNE_THRESHOLD, ...j.pruned });
      log(
        `  ${r.spec.model} seed ${r.spec.seed}: pruned mAP ${j.pruned.mAP.toFixed(4)} (${
          j.pruned.mAPChange >= 0 ? "+" : ""
        }${j.pruned.mAPChange.toFixed(4)}), ${(100 * j.pruned.fraction).toFixed(2)} % of cells kept`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  return out;
}

/** Keeps a run folder whose recorded arguments match (so it resumes), else empties it. */
async function prepareRunDir(s: RunSpec, fresh: boolean): Promise<void> {
  const record = JSON.stringify({ model: s.model, seed: s.seed, args: s.args });
  const path = `${s.dir}/run.json`;
  const old = await Deno.readTextFile(path).catch(() => undefined);
  if (fresh || old !== record) await Deno.remove(s.dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(s.dir, { recursive: true });
  await Deno.writeTextFile(path, record);
}

if (import.meta.main) {
  await runCommand(EXPERIMENTS_SPEC, async (a) => {
    try {
      await main(a);
    } catch (e) {
      if (e instanceof Interrupted) {
        console.error("experiments: interrupted; finished and checkpointed runs are kept, rerun to continue");
        return 130;
      }
      throw e;
    }
  });
}
