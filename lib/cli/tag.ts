/**
 * `deno task tag`: the top-K sound-event tags of audio files. Each file is decoded, mixed down, resampled and padded
 * or cut to the model's clip length; a damaged, empty or non-audio file stops the command with one line naming the
 * file and the problem.
 * @module
 */
import { loadClip } from "../audio/waveform.ts";
import { PROCEDURAL_CLASSES } from "../data/procedural.ts";
import { type CommandSpec, flag, num, type ParsedArgs, runCommand, str, UsageError } from "./args.ts";
import { clipOf, DATA_OPTIONS, dataArgs, inputSettings } from "./data.ts";
import {
  BACKEND_OPTION,
  classNamesFor,
  clipBatches,
  compiledModel,
  loadWeights,
  readClassLabels,
  runBatched,
  withBackend,
} from "./inference.ts";

/** The command's options. */
export const TAG_SPEC: CommandSpec = {
  name: "tag",
  summary: "Print the top-K tags of audio files (WAV, FLAC, Ogg, MP3, …).",
  positionals: { name: "<audio files…>", help: "files to tag", min: 1 },
  options: [
    { name: "checkpoint", kind: "string", value: "FILE", help: "trained weights (training checkpoint or model file)" },
    { name: "model", kind: "string", value: "NAME", help: "model name (without --checkpoint: untrained weights)" },
    { name: "labels", kind: "string", value: "CSV", help: "class_labels_indices.csv for the class names" },
    { name: "top", kind: "int", min: 1, default: 5, help: "tags per file" },
    { name: "json", kind: "flag", help: "print JSON: [{ file, tags: [{ label, score }] }]" },
    { name: "batch-size", kind: "int", min: 1, default: 8, help: "clips per batch" },
    { name: "seed", kind: "int", min: 0, default: 0, help: "seed of untrained weights (no --checkpoint)" },
    ...DATA_OPTIONS.filter((o) => o.name === "input" || o.name === "seconds"),
    BACKEND_OPTION,
  ],
  notes: [
    "Class names come from --labels, else from the checkpoint (its training data's classes).",
    "Clip length and front end come from the checkpoint; --input/--seconds apply to files without them.",
  ],
};

async function main(a: ParsedArgs): Promise<void> {
  const files = a.positionals;
  const labelNames = str(a, "labels") ? await readClassLabels(str(a, "labels")!) : undefined;
  const checkpoint = str(a, "checkpoint");
  if (!checkpoint && !str(a, "model")) throw new UsageError("give --checkpoint FILE (or --model NAME)");
  const weights = await loadWeights({
    checkpoint,
    modelName: str(a, "model"),
    seed: num(a, "seed"),
    classes: labelNames?.length ?? PROCEDURAL_CLASSES.length,
  });
  const input = weights.input ?? inputSettings(dataArgs(a), "host");
  const { sampleRate, seconds } = clipOf(input);
  // Every file is decoded before anything is printed, so a bad file fails with its one line alone.
  const waves: Float32Array[] = [];
  for (const f of files) waves.push(await loadClip(f, { sampleRate, seconds }));
  if (weights.untrained) console.error(`tag: no --checkpoint: ${weights.model.name} has untrained weights`);
  const classes = weights.model.config.numClasses;
  const names = classNamesFor(classes, labelNames, weights.classNames);
  const scores = await withBackend(str(a, "backend")!, async (backend) => {
    const score = compiledModel(weights, backend, true);
    return await runBatched(clipBatches(waves, input, num(a, "batch-size")!), score);
  });
  const top = Math.min(num(a, "top")!, classes);
  const results = files.map((file, i) => {
    const row = Array.from(scores.subarray(i * classes, (i + 1) * classes));
    const order = row.map((s, c) => [s, c] as const).sort((x, y) => y[0] - x[0]).slice(0, top);
    return { file, tags: order.map(([score, c]) => ({ label: names[c], score })) };
  });
  if (flag(a, "json")) console.log(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      console.log(`${r.file}: ${r.tags.map((t) => `${t.label} ${t.score.toFixed(3)}`).join(", ")}`);
    }
  }
}

if (import.meta.main) await runCommand(TAG_SPEC, main);
