/**
 * `deno task train`: trains a registered model on procedural, HDF5 or folder data with the paper's recipe (AdamW,
 * LAMB for ConvFormer; warm-up then cosine; mixup, label smoothing, random erasing, waveform augmentation, drop path),
 * writing checkpoints, the final weights and a JSON-lines log to `--out`. `--resume` continues from the last
 * checkpoint with the settings stored in it.
 * @module
 */
import type { AudioDataset } from "../data/dataset.ts";
import { modelNames } from "../models/registry.ts";
import { loadTrainingCheckpoint } from "../train/checkpoint_io.ts";
import { runFiles, train, type TrainSettings } from "../train/loop.ts";
import { stepsPerEpoch } from "../train/batches.ts";
import { type CommandSpec, flag, num, type ParsedArgs, runCommand, str, UsageError } from "./args.ts";
import { DATA_OPTIONS, type DataArgs, dataArgs, inputSettings, openTrainEval } from "./data.ts";
import { acquireBackend, BACKEND_CHOICES, resolveBackendChoice } from "./backend.ts";

/** The command's options. */
export const TRAIN_SPEC: CommandSpec = {
  name: "train",
  summary: "Train an audio classifier (the paper's recipe) and write checkpoints, final weights and a log.",
  options: [
    { name: "model", kind: "string", value: "NAME", help: `model name (${modelNames().join(", ")})` },
    ...DATA_OPTIONS,
    { name: "epochs", kind: "int", min: 1, default: 60, help: "epochs over the training data (ignored with --steps)" },
    { name: "steps", kind: "int", min: 1, help: "total optimizer steps (overrides --epochs)" },
    { name: "batch-size", kind: "int", min: 1, default: 8, help: "clips per step" },
    { name: "lr", kind: "number", min: 0, exclusiveMin: true, default: 1e-3, help: "peak learning rate" },
    { name: "min-lr", kind: "number", min: 0, default: 1e-6, help: "floor of the cosine schedule" },
    { name: "warmup-steps", kind: "int", min: 0, help: "linear warm-up steps (default: a third of the run)" },
    { name: "weight-decay", kind: "number", min: 0, default: 0.05, help: "decoupled weight decay" },
    {
      name: "optimizer",
      kind: "string",
      choices: ["adamw", "lamb"],
      help: "optimizer (default: lamb for ConvFormer, else adamw)",
    },
    {
      name: "accum-steps",
      kind: "int",
      min: 1,
      default: 1,
      help: "micro-batches averaged into one optimizer step (effective batch = batch-size × accum-steps)",
    },
    { name: "clip-grad", kind: "number", min: 0, exclusiveMin: true, help: "clip gradients to this global L2 norm" },
    { name: "drop-path", kind: "number", min: 0, default: 0.4, help: "stochastic depth of the last block" },
    { name: "mixup-alpha", kind: "number", min: 0, default: 0.8, help: "mixup Beta(α, α); 0 disables mixup" },
    { name: "label-smoothing", kind: "number", min: 0, default: 0.1, help: "label smoothing ε" },
    { name: "no-augment", kind: "flag", help: "turn off waveform augmentation, random erasing and mixup" },
    { name: "seed", kind: "int", min: 0, default: 0, help: "seed of initialisation, data order and augmentation" },
    { name: "out", kind: "string", value: "DIR", help: "output folder (default results/train/<model>-seed<seed>)" },
    { name: "resume", kind: "flag", help: "continue from DIR/checkpoint.safetensors with its stored settings" },
    { name: "checkpoint-every", kind: "int", min: 0, default: 50, help: "checkpoint every N steps (0: at the end)" },
    { name: "eval-every", kind: "int", min: 0, default: 0, help: "evaluate mAP every N steps (0: at the end)" },
    { name: "eval-batch-size", kind: "int", min: 1, default: 32, help: "clips per evaluation batch" },
    {
      name: "frontend",
      kind: "string",
      choices: ["host", "step"],
      help: "run the log-mel front end on the host or inside the compiled step (default: host on CPU)",
    },
    { name: "backend", kind: "string", choices: BACKEND_CHOICES, default: "auto", help: "where steps run" },
    { name: "concurrency", kind: "int", min: 1, default: 4, help: "clips loaded at once" },
    { name: "prefetch", kind: "int", min: 0, default: 2, help: "batches prepared ahead" },
    {
      name: "workers",
      kind: "int",
      min: 0,
      help: "data workers loading and augmenting clips (default: 0 on the CPU, min(cores − 2, 12) on a GPU)",
    },
  ],
  notes: [
    "Examples:",
    "  deno task train --model convnext_audio_nano --input small --steps 200 --out runs/nano",
    "  deno task train --model convnext_dcls_audio_tiny --data train.h5 --eval-data eval.h5 --batch-size 128",
    "Ctrl-C finishes the current step, writes a checkpoint and exits (status 130); resume with --resume.",
  ],
};

/**
 * Data workers for a backend when `--workers` is not given: none on the CPU (the interpreter wants the cores),
 * on a GPU all cores but two (the main thread and the runtime's own), at most 12.
 */
function defaultWorkers(choice: "cpu" | "gpu"): number {
  return choice === "gpu" ? Math.max(0, Math.min(navigator.hardwareConcurrency - 2, 12)) : 0;
}

function defaultOptimizer(model: string): "adamw" | "lamb" {
  return model.startsWith("convformer") ? "lamb" : "adamw";
}

/** Settings of a new run from the arguments, for `steps` optimizer steps. */
function newSettings(
  a: ParsedArgs,
  d: DataArgs,
  steps: number,
  frontEndOn: "host" | "step",
  choice: "cpu" | "gpu",
): TrainSettings {
  const model = str(a, "model")!;
  const lr = num(a, "lr")!;
  return {
    model,
    steps,
    batchSize: num(a, "batch-size")!,
    lr,
    minLr: Math.min(num(a, "min-lr")!, lr),
    warmupSteps: num(a, "warmup-steps") ?? Math.floor(steps / 3),
    weightDecay: num(a, "weight-decay")!,
    optimizer: (str(a, "optimizer") as "adamw" | "lamb" | undefined) ?? defaultOptimizer(model),
    dropPathRate: num(a, "drop-path")!,
    accumSteps: num(a, "accum-steps")!,
    clipGrad: num(a, "clip-grad"),
    seed: num(a, "seed")!,
    checkpointEvery: num(a, "checkpoint-every")!,
    evalEvery: num(a, "eval-every")!,
    evalBatchSize: num(a, "eval-batch-size")!,
    input: inputSettings(d, frontEndOn),
    augment: flag(a, "no-augment")
      ? { waveform: false, erasing: false, mixupAlpha: 0 }
      : { waveform: true, erasing: true, mixupAlpha: num(a, "mixup-alpha")! },
    labelSmoothing: num(a, "label-smoothing")!,
    concurrency: num(a, "concurrency")!,
    prefetch: num(a, "prefetch")!,
    workers: num(a, "workers") ?? defaultWorkers(choice),
    data: { ...d },
  };
}

/** Total steps asked for on the command line: `--steps`, else `--epochs` over the training data. */
function stepsAsked(a: ParsedArgs, train: AudioDataset, batchSize: number, accum: number): number {
  return num(a, "steps") ?? num(a, "epochs")! * Math.max(1, Math.floor(stepsPerEpoch(train.length, batchSize) / accum));
}

async function main(a: ParsedArgs): Promise<number> {
  const choice = await resolveBackendChoice(str(a, "backend")!);
  const frontEndOn = (str(a, "frontend") as "host" | "step" | undefined) ?? (choice === "gpu" ? "step" : "host");
  const model = str(a, "model");
  const out = str(a, "out") ?? (model ? `results/train/${model}-seed${num(a, "seed")}` : undefined);
  if (!out) throw new UsageError("--model is required (or --resume with --out DIR)");
  const files = runFiles(out);
  const resume = flag(a, "resume") && (await Deno.stat(files.checkpoint).then(() => true, () => false));
  let settings: TrainSettings;
  let data: { train: AudioDataset; eval?: AudioDataset };
  if (resume) {
    // A resumed run keeps the settings stored in its checkpoint (and so its data order); only its length may change.
    const snap = await loadTrainingCheckpoint(files.checkpoint);
    const stored = snap.settings as unknown as TrainSettings;
    if (model && model !== stored.model) {
      throw new UsageError(`--model ${model}: ${files.checkpoint} is a checkpoint of ${stored.model}`);
    }
    const d = a.given.has("data") || !stored.data ? dataArgs(a) : (stored.data as unknown as DataArgs);
    data = await openTrainEval(d, stored.input);
    // Workers change speed, not results: the machine's default unless given, whatever the interrupted run used.
    settings = { ...stored, data: { ...d }, workers: num(a, "workers") ?? defaultWorkers(choice) };
    if (a.given.has("steps") || a.given.has("epochs")) {
      const steps = stepsAsked(a, data.train, stored.batchSize, stored.accumSteps ?? 1);
      settings = { ...settings, steps, warmupSteps: Math.min(stored.warmupSteps, steps) };
    }
    console.error(`resuming ${stored.model} from step ${snap.step} with the checkpoint's settings`);
  } else {
    if (!model) throw new UsageError("--model is required");
    if (flag(a, "resume")) console.error(`no checkpoint in ${out}; starting a new run`);
    const d = dataArgs(a);
    data = await openTrainEval(d, inputSettings(d, frontEndOn));
    settings = newSettings(
      a,
      d,
      stepsAsked(a, data.train, num(a, "batch-size")!, num(a, "accum-steps")!),
      frontEndOn,
      choice,
    );
  }
  const res = await train({ settings, data, outDir: out, resume, backend: acquireBackend(choice) });
  const evalText = res.lastEval ? `, mAP ${res.lastEval.mAP.toFixed(4)}` : "";
  console.log(
    res.interrupted
      ? `interrupted at step ${res.step}/${settings.steps}; resume with --resume --out ${out}`
      : `trained ${settings.model} for ${res.step} steps${evalText}; weights in ${res.modelFile}`,
  );
  return res.interrupted ? 130 : 0;
}

if (import.meta.main) await runCommand(TRAIN_SPEC, main);
