/**
 * `deno task eval`: evaluates weights (a training checkpoint or model file) on a dataset: sigmoid scores of every
 * clip, then mAP, mAUC and d′ (classes without a positive in the data are excluded and counted). With `--prune T` a
 * DCLS model is evaluated twice, as trained and with every constructed kernel's cells below T · max|k| of their
 * channel dropped, reporting both mAPs and the fraction of kernel cells kept.
 * @module
 */
import { Effect } from "effect";
import { evaluateDataset } from "../train/loop.ts";
import { type CommandSpec, flag, num, type ParsedArgs, runCommand, str, UsageError } from "./args.ts";
import { clipOf, DATA_OPTIONS, dataArgs, inputSettings, openSource } from "./data.ts";
import { BACKEND_OPTION, compiledModel, loadWeights, withBackend } from "./inference.ts";
import { dclsKeptCells, prunedDclsModel } from "../models/dcls_prune.ts";

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
    {
      name: "prune",
      kind: "number",
      value: "T",
      min: 0,
      exclusiveMin: true,
      help: "DCLS models: also evaluate with kernel cells below T · max|k| of their channel dropped (0 < T < 1)",
    },
    BACKEND_OPTION,
  ],
  notes: [
    "--data procedural evaluates on the procedural evaluation split (--eval-size clips).",
    "--prune T prints the mAP with and without pruning and the fraction of DCLS kernel cells kept.",
  ],
};

async function main(a: ParsedArgs): Promise<void> {
  const threshold = num(a, "prune");
  if (threshold !== undefined && !(threshold < 1)) throw new UsageError(`--prune: ${threshold} is not below 1`);
  const weights = await loadWeights({ checkpoint: str(a, "checkpoint"), modelName: str(a, "model") });
  if (threshold !== undefined && !weights.model.config.dcls) {
    throw new UsageError(`--prune: ${weights.model.name} has no DCLS layers (${str(a, "checkpoint")})`);
  }
  const d = dataArgs(a);
  const input = a.given.has("input") || a.given.has("seconds") || !weights.input
    ? inputSettings(d, "host")
    : { ...weights.input, frontEndOn: "host" as const };
  const ds = await openSource(d.data, d.labels, "eval", d, clipOf(input));
  const classes = weights.model.config.numClasses;
  if (ds.classNames.length !== classes) {
    throw new UsageError(`the data has ${ds.classNames.length} classes but ${weights.model.name} outputs ${classes}`);
  }
  const batch = num(a, "batch-size")!;
  const { r, pruned } = await withBackend(str(a, "backend")!, async (backend) => {
    const r = await Effect.runPromise(evaluateDataset(ds, compiledModel(weights, backend, true), input, batch));
    if (threshold === undefined) return { r, pruned: undefined };
    const model = prunedDclsModel(weights.model, threshold);
    const p = await Effect.runPromise(
      evaluateDataset(ds, compiledModel({ ...weights, model }, backend, true), input, batch),
    );
    const cells = dclsKeptCells(weights.model, weights.params, threshold);
    return {
      r,
      pruned: { threshold, mAP: p.mAP, mAUC: p.mAUC, dPrime: p.dPrime, mAPChange: p.mAP - r.mAP, ...cells },
    };
  });
  const result = {
    model: weights.model.name,
    checkpoint: str(a, "checkpoint"),
    clips: ds.length,
    ...r,
    ...(pruned ? { pruned } : {}),
  };
  const out = str(a, "out");
  if (out) await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + "\n");
  if (flag(a, "json")) console.log(JSON.stringify(result));
  else {
    console.log(
      `${result.model} on ${ds.length} clips: mAP ${r.mAP.toFixed(4)}  mAUC ${r.mAUC.toFixed(4)}  d' ${
        r.dPrime.toFixed(3)
      }` + (r.excluded ? `  (${r.excluded} classes without positives excluded)` : ""),
    );
    if (pruned) {
      const sign = pruned.mAPChange >= 0 ? "+" : "";
      console.log(
        `pruned at ${threshold} · max|k|: mAP ${pruned.mAP.toFixed(4)} (${sign}${pruned.mAPChange.toFixed(4)})  ` +
          `kept ${pruned.kept} of ${pruned.total} DCLS kernel cells (${(100 * pruned.fraction).toFixed(2)} %)`,
      );
    }
  }
}

if (import.meta.main) await runCommand(EVAL_SPEC, main);
