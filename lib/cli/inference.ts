/**
 * What the inference tasks (eval, tag, infer) share: loading weights with their model, class names and input
 * settings, running a compiled function on the chosen backend, and scoring batches of clips or log-mels.
 * @module
 */
import { Effect } from "effect";
import type { Tensor } from "../core/tensor.ts";
import { tensor } from "../ops/create.ts";
import { sigmoid } from "../ops/elementwise.ts";
import type { Model, Params, State } from "../models/common.ts";
import { getModel } from "../models/registry.ts";
import { evaluationForm } from "../models/evaluation.ts";
import { randomKey } from "../ops/random.ts";
import { loadModelFile } from "../train/checkpoint_io.ts";
import type { Backend } from "../train/loop.ts";
import { type InputSettings, inputsOf } from "../train/batches.ts";
import { PROCEDURAL_CLASSES } from "../data/procedural.ts";
import { parseClassLabels } from "../data/csv.ts";
import { acquireBackend, BACKEND_CHOICES } from "./backend.ts";
import type { OptionSpec } from "./args.ts";

/** `--backend`, shared by the tasks that run a model. */
export const BACKEND_OPTION: OptionSpec = {
  name: "backend",
  kind: "string",
  choices: BACKEND_CHOICES,
  default: "auto",
  help: "where the model runs",
};

/** Runs `f` with the backend of `choice`, released afterwards. */
export async function withBackend<T>(choice: string, f: (b: Backend) => T | Promise<T>): Promise<T> {
  const exit = await Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(acquireBackend(choice), (b) => Effect.promise(async () => await f(b)))),
  );
  if (exit._tag === "Success") return exit.value;
  const r = exit.cause.reasons[0];
  const e = r && "error" in r ? r.error : r && "defect" in r ? r.defect : new Error("interrupted");
  throw e instanceof Error ? e : new Error(String((e as { message?: string }).message ?? e));
}

/** Weights ready for inference. */
export interface LoadedModel {
  /** The model the weights belong to. */
  readonly model: Model;
  /** Parameters by state_dict name. */
  readonly params: Params;
  /** Buffers by state_dict name. */
  readonly state: State;
  /** Class names stored with the weights. */
  readonly classNames?: readonly string[];
  /** Clip length and front end stored with the weights. */
  readonly input?: InputSettings;
  /** Whether the weights are a fresh initialisation (no checkpoint given). */
  readonly untrained: boolean;
}

/**
 * Weights from `checkpoint` (its metadata naming the model; `modelName` for files without it), or, without a
 * checkpoint, `modelName` freshly initialised from `seed` with `classes` outputs.
 */
export async function loadWeights(opts: {
  checkpoint?: string;
  modelName?: string;
  seed?: number;
  classes?: number;
}): Promise<LoadedModel> {
  if (opts.checkpoint) return { ...(await loadModelFile(opts.checkpoint, opts.modelName)), untrained: false };
  if (!opts.modelName) throw new Error("give --checkpoint FILE (or --model NAME for untrained weights)");
  const model = getModel(opts.modelName, { numClasses: opts.classes ?? 527 });
  return { model, ...model.init(randomKey(opts.seed ?? 0)), untrained: true };
}

/** Class names from `class_labels_indices.csv`. */
export async function readClassLabels(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read file: ${(e as Error).message.split("\n")[0]}`);
  }
  return parseClassLabels(text, path).names;
}

/** Class names for a model's outputs: given names, the checkpoint's, the procedural set's, or "class i". */
export function classNamesFor(classes: number, ...candidates: (readonly string[] | undefined)[]): string[] {
  for (const c of [...candidates, PROCEDURAL_CLASSES]) {
    if (c && c.length === classes) return [...c];
  }
  return Array.from({ length: classes }, (_, i) => `class ${i}`);
}

/** Applies `fn` to each batch in turn and concatenates the results row-major. */
export async function runBatched(x: readonly Tensor[], fn: (x: Tensor) => Promise<Tensor>): Promise<Float32Array> {
  const outs = [];
  for (const b of x) outs.push((await fn(b)).toArray());
  const out = new Float32Array(outs.reduce((n, o) => n + o.length, 0));
  let at = 0;
  for (const o of outs) {
    out.set(o, at);
    at += o.length;
  }
  return out;
}

/** Splits clips into network-input batches of at most `batchSize` (host front end). */
export function clipBatches(waves: readonly Float32Array[], input: InputSettings, batchSize: number): Tensor[] {
  const host: InputSettings = { ...input, frontEndOn: "host" };
  const out: Tensor[] = [];
  for (let i = 0; i < waves.length; i += batchSize) out.push(inputsOf(waves.slice(i, i + batchSize), host));
  return out;
}

/**
 * The model in evaluation mode (FastViT reparameterised first, see `evaluationForm`), compiled on `backend`, as a
 * function of log-mels `[B, 1, M, T]`: logits, or sigmoid scores with `scores`. Parameters are arguments of the
 * compiled function, not captured constants.
 */
export function compiledModel(m: LoadedModel, backend: Backend, scores = false): (x: Tensor) => Promise<Tensor> {
  const form = evaluationForm(m.model, m.params, m.state);
  const f = backend.compile((p: Params, s: State, x: Tensor) => {
    const logits = form.logits(p, s, x);
    return scores ? sigmoid(logits) : logits;
  });
  return async (x) => await backend.toHost(await f(form.params, form.state, x));
}

/** A `[rows, cols]` f32 tensor from a flat array (for writing results). */
export function matrix(data: Float32Array, cols: number): Tensor {
  return tensor(data, { shape: [data.length / cols, cols] });
}
