/**
 * `deno task experiments`: the paper's Table 1. For each model family (ConvNeXt, ConvFormer, FastViT) × convolution
 * (depthwise 7×7, DCLS-Gauss) × seed (0, 1, 2): train, evaluate mAP, count parameters, measure throughput; then
 * write `table1.md`, `table1.json`, `table1.png` (mAP and throughput per configuration), `training_curves.png` and
 * `positions_<model>.png` (learned DCLS positions, one panel per stage) to `--out`.
 *
 * Profiles: `smoke` (chosen when there is no hardware GPU) trains nano models on 2 s procedural clips with a step
 * count sized from a timing of every configuration, so the whole experiment fits `--budget` seconds; `paper` trains
 * the full models on AudioSet (`--data`) with the paper's recipe.
 * @module
 */
import { type CommandSpec, flag, num, type ParsedArgs, runCommand, str, UsageError } from "../lib/cli/args.ts";
import { resolveBackendChoice } from "../lib/cli/backend.ts";
import { withBackend } from "../lib/cli/inference.ts";
import { describeModel } from "../lib/cli/models.ts";
import { getModel } from "../lib/models/registry.ts";
import { learnedPositions } from "../lib/dcls/positions.ts";
import { loadModelFile } from "../lib/train/checkpoint_io.ts";
import { runFiles } from "../lib/train/loop.ts";
import { PROCEDURAL_CLASSES } from "../lib/data/procedural.ts";
import { spectrogramShape } from "../lib/train/batches.ts";
import { INPUT_PRESETS } from "../lib/cli/data.ts";
import { paperProfile, type Profile, SMOKE_DATA, smokeProfile } from "./profiles.ts";
import { secondsPerStep, throughput } from "./measure.ts";
import { Interrupted, runAll, type RunSpec } from "./runs.ts";
import { tableMarkdown, tableRows, VARIANT_LABEL } from "./report.ts";
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
    { name: "budget", kind: "number", min: 30, default: 540, help: "smoke: seconds for the whole experiment" },
    { name: "steps", kind: "int", min: 1, help: "steps per run (smoke: instead of sizing from the budget)" },
    { name: "jobs", kind: "int", min: 1, help: "training runs at once (default: 2 smoke, 1 paper)" },
    { name: "epochs", kind: "int", min: 1, default: 60, help: "paper: epochs per run" },
    {
      name: "batch-size",
      kind: "int",
      min: 1,
      default: 128,
      help: "paper: clips per step (lr scaled from 4e-3 @ 4096)",
    },
    { name: "data", kind: "string", value: "SRC", help: "paper: AudioSet training data (FILE.h5 or DIR)" },
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

async function chooseProfile(a: ParsedArgs): Promise<Profile> {
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
  const p = paperProfile(num(a, "batch-size")!, [...pass, "--epochs", String(num(a, "epochs"))]);
  return { ...p, jobs: num(a, "jobs") ?? p.jobs };
}

/** Smoke: steps per run so that calibration, runs, throughput and figures fit the budget. */
function sizeSmoke(
  p: Profile,
  shape: readonly [number, number],
  budget: number,
  compile: Parameters<typeof secondsPerStep>[4],
) {
  const t0 = performance.now();
  const classes = PROCEDURAL_CLASSES.length;
  const perModel = new Map<string, { seconds: number; overhead: number }>();
  for (const f of p.families) {
    for (const model of [f.dsc, f.dcls]) {
      const { seconds, warmup } = secondsPerStep(model, classes, p.batchSize, shape, compile);
      // Per run: process start, tracing the train and eval steps, and the evaluation pass (≈ a third of a
      // training step per clip).
      const evalCost = (SMOKE_DATA.evalSize * seconds) / (3 * p.batchSize);
      perModel.set(model, { seconds, overhead: 3 + 1.5 * Math.max(0, warmup - seconds) + evalCost });
      log(`  ${model}: ${seconds.toFixed(2)} s/step (batch ${p.batchSize}), first step ${warmup.toFixed(2)} s`);
    }
  }
  const calibration = (performance.now() - t0) / 1000;
  const runs = p.seeds.length;
  const sumStep = [...perModel.values()].reduce((n, m) => n + runs * m.seconds, 0);
  const sumOverhead = [...perModel.values()].reduce((n, m) => n + runs * m.overhead, 0);
  // Two processes on two cores do not quite double the throughput.
  const parallel = p.jobs > 1 ? 0.85 * p.jobs : 1;
  const tail = 6 * 3 + 5; // throughput measurements and figures
  const available = budget - calibration - tail - sumOverhead / parallel;
  const steps = Math.max(10, Math.min(2000, Math.floor((available * parallel) / sumStep)));
  log(`  calibration ${calibration.toFixed(0)} s → ${steps} steps per run (budget ${budget} s)`);
  return { steps, perModel };
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
  const classes = p.name === "smoke" ? PROCEDURAL_CLASSES.length : 527;
  await Deno.mkdir(`${out}/runs`, { recursive: true });

  const { stepsArgs, costOf } = await withBackend(backendChoice, (backend) => {
    if (p.name === "paper") return { stepsArgs: [] as string[], costOf: (_m: string) => 1 };
    log(`smoke profile: timing one step of every configuration on ${backend.name}`);
    const given = num(a, "steps");
    const sized = sizeSmoke(p, shape, num(a, "budget")!, backend.compile);
    const steps = given ?? sized.steps;
    return {
      stepsArgs: [
        "--steps",
        String(steps),
        "--warmup-steps",
        String(Math.round(steps * p.warmupFraction)),
        "--checkpoint-every",
        String(Math.max(10, Math.floor(steps / 4))),
      ],
      costOf: (m: string) => sized.perModel.get(m)!.seconds,
    };
  });

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

  log("measuring parameters, GFLOPs and inference throughput");
  const info = new Map<string, { params: number; gflops: number; throughput: number }>();
  await withBackend(backendChoice, (backend) => {
    for (const f of p.families) {
      for (const model of [f.dsc, f.dcls]) {
        const d = describeModel(getModel(model, { numClasses: classes }), mels, frames);
        const tp = throughput(model, classes, p.throughputBatch, shape, backend.compile);
        info.set(model, { params: d.params, gflops: d.gflops, throughput: tp });
      }
    }
  });
  const rows = tableRows(p.families, results, (m) => info.get(m)!);
  const seconds = (performance.now() - t0) / 1000;
  const steps = results[0].log.filter((e) => e.kind === "train").length;
  const context = {
    profile: p.name,
    data: p.name === "smoke"
      ? `procedural (${SMOKE_DATA.trainSize} training / ${SMOKE_DATA.evalSize} evaluation clips, ${classes} classes)`
      : p.dataArgs.join(" "),
    input: `${preset.seconds} s at ${preset.sampleRate / 1000} kHz → ${mels} × ${frames} log-mels`,
    training: `${steps} steps × batch ${p.batchSize}, lr ${p.lr}, drop path ${p.dropPath}, seeds ${p.seeds.join(", ")}`,
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
