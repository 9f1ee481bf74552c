/**
 * `deno task eval`: evaluates weights (a training checkpoint or model file) on a dataset: sigmoid scores of every
 * clip, then mAP, mAUC and d′ (classes without a positive in the data are excluded and counted).
 * @module
 */
import { Effect } from "effect";
import { evaluateDataset } from "../train/loop.ts";
import { type CommandSpec, flag, num, type ParsedArgs, runCommand, str, UsageError } from "./args.ts";
import { clipOf, DATA_OPTIONS, dataArgs, inputSettings, openSource } from "./data.ts";
import { BACKEND_OPTION, compiledModel, loadWeights, withBackend } from "./inference.ts";

/** The command's options. */
export const EVAL_SPEC: CommandSpec = {
  name: "eval",
  summary: "Evaluate weights on a dataset: mAP, mAUC and d' (the paper's metrics).",
  options: [
    { name: "checkpoint", kind: "string", value: "FILE", required: true, help: "training checkpoint or model weights" },
    { name: "model", kind: "string", value: "NAME", help: "model name, for weight files without metadata" },
    ...DATA_OPTIONS.filter((o) => !["eval-data", "eval-labels", "train-size"].includes(o.name)),
    { name: "batch-size", kind: "int", min: 1, default: 32, help: "clips per batch" },
    { name: "json", kind: "flag", help: "print the result as JSON" },
    { name: "out", kind: "string", value: "FILE", help: "also write the result as JSON to FILE" },
    BACKEND_OPTION,
  ],
  notes: ["--data procedural evaluates on the procedural evaluation split (--eval-size clips)."],
};

async function main(a: ParsedArgs): Promise<void> {
  const weights = await loadWeights({ checkpoint: str(a, "checkpoint"), modelName: str(a, "model") });
  const d = dataArgs(a);
  const input = a.given.has("input") || a.given.has("seconds") || !weights.input
    ? inputSettings(d, "host")
    : { ...weights.input, frontEndOn: "host" as const };
  const ds = await openSource(d.data, d.labels, "eval", d, clipOf(input));
  const classes = weights.model.config.numClasses;
  if (ds.classNames.length !== classes) {
    throw new UsageError(`the data has ${ds.classNames.length} classes but ${weights.model.name} outputs ${classes}`);
  }
  const r = await withBackend(str(a, "backend")!, async (backend) => {
    const score = compiledModel(weights, backend, true);
    return await Effect.runPromise(evaluateDataset(ds, score, input, num(a, "batch-size")!));
  });
  const result = { model: weights.model.name, checkpoint: str(a, "checkpoint"), clips: ds.length, ...r };
  const out = str(a, "out");
  if (out) await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + "\n");
  if (flag(a, "json")) console.log(JSON.stringify(result));
  else {
    console.log(
      `${result.model} on ${ds.length} clips: mAP ${r.mAP.toFixed(4)}  mAUC ${r.mAUC.toFixed(4)}  d' ${
        r.dPrime.toFixed(3)
      }` + (r.excluded ? `  (${r.excluded} classes without positives excluded)` : ""),
    );
  }
}

if (import.meta.main) await runCommand(EVAL_SPEC, main);
