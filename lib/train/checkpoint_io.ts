/**
 * Training checkpoints: one safetensors file holding the model's state dict (PyTorch names, shared DCLS P/SIG
 * repeated under each layer), the optimizer moments (`optimizer.m.<name>`, `optimizer.v.<name>`, `optimizer.step`)
 * and, in the metadata, the model name and configuration, the step, the seed, the PRNG key, the class names and the
 * training settings. Files are written atomically (temporary file, sync, rename), so a run killed at any moment
 * leaves the previous checkpoint intact. Model-only files (`saveCheckpoint`, or exported weights) load through
 * {@link loadModelFile} as well.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { tensor } from "../ops/create.ts";
import { loadSafetensors, type SafetensorEntry, type SafetensorInput, saveSafetensors } from "../io/safetensors.ts";
import type { Model, Params, State } from "../models/common.ts";
import { fromStateDict, toStateDict } from "../models/checkpoint.ts";
import { getModel } from "../models/registry.ts";
import type { OptState } from "./optim.ts";
import type { InputSettings } from "./batches.ts";

/** Metadata `format` value of a training checkpoint. */
export const TRAINING_FORMAT = "dcls-audio-training/1";

const OPT_PREFIX = "optimizer.";

/** Everything needed to continue a run bit-identically. */
export interface TrainingSnapshot {
  /** The model (registry name and configuration go to the metadata). */
  readonly model: Model;
  /** Parameters by state_dict name. */
  readonly params: Params;
  /** Buffers by state_dict name. */
  readonly state: State;
  /** Optimizer moments and step count. */
  readonly optState: OptState;
  /** Optimizer steps done. */
  readonly step: number;
  /** Seed of the run. */
  readonly seed: number;
  /** The run's base PRNG key (every per-step key is derived from it and the step). */
  readonly key: Uint32Array;
  /** Class names of the training data. */
  readonly classNames: readonly string[];
  /** Training settings, stored as JSON. */
  readonly settings: Readonly<Record<string, unknown>>;
}

function entryOf(t: Tensor): SafetensorInput {
  if (t.dtype !== "f32" && t.dtype !== "f64") throw new Error(`checkpoint: cannot store a ${t.dtype} tensor`);
  return { dtype: t.dtype === "f64" ? "F64" : "F32", shape: t.shape, data: t.toArray() as Float32Array };
}

/** Writes a training checkpoint atomically. */
export async function saveTrainingCheckpoint(path: string, s: TrainingSnapshot): Promise<void> {
  const entries = new Map<string, SafetensorInput>();
  for (const [name, t] of toStateDict(s.model, s.params, s.state)) entries.set(name, entryOf(t));
  for (const name of Object.keys(s.optState.m).sort()) {
    entries.set(`${OPT_PREFIX}m.${name}`, entryOf(s.optState.m[name]));
    entries.set(`${OPT_PREFIX}v.${name}`, entryOf(s.optState.v[name]));
  }
  entries.set(`${OPT_PREFIX}step`, entryOf(s.optState.step));
  await saveSafetensors(path, entries, {
    format: TRAINING_FORMAT,
    model: s.model.name,
    config: JSON.stringify(s.model.config),
    step: String(s.step),
    seed: String(s.seed),
    key: JSON.stringify([...s.key]),
    classNames: JSON.stringify(s.classNames),
    settings: JSON.stringify(s.settings),
  });
}

function toTensor(e: SafetensorEntry, name: string, file: string): Tensor {
  if (e.dtype !== "F32" && e.dtype !== "F64") {
    throw new Error(`${file}: ${name} has dtype ${e.dtype}, expected F32/F64`);
  }
  return tensor(e.data as Float32Array | Float64Array, { shape: e.shape, dtype: e.dtype === "F64" ? "f64" : "f32" });
}

function parseJson<T>(file: string, field: string, text: string | undefined, fallback: T): T {
  if (text === undefined) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${file}: metadata "${field}" is not valid JSON`);
  }
}

/** A model file: the model (rebuilt from metadata or given), its parameters and state, and the metadata. */
export interface ModelFile {
  /** The model, from the metadata or the given name. */
  readonly model: Model;
  /** Parameters by state_dict name. */
  readonly params: Params;
  /** Buffers by state_dict name. */
  readonly state: State;
  /** The file's metadata. */
  readonly metadata: Record<string, string>;
  /** Class names stored with the weights, if any. */
  readonly classNames?: readonly string[];
  /** Clip length and front end the weights were trained with, if stored. */
  readonly input?: InputSettings;
}

/** Splits a file's tensors into the model's state dict and the optimizer entries. */
async function readFile(path: string) {
  const { tensors, metadata } = await loadSafetensors(path);
  const modelTensors = new Map<string, SafetensorEntry>();
  const optTensors = new Map<string, SafetensorEntry>();
  for (const [k, v] of tensors) (k.startsWith(OPT_PREFIX) ? optTensors : modelTensors).set(k, v);
  return { modelTensors, optTensors, metadata };
}

function modelFor(path: string, metadata: Record<string, string>, modelName?: string): Model {
  const stored = metadata.model;
  if (modelName && stored && modelName !== stored) {
    throw new Error(`${path}: weights are for model "${stored}", not "${modelName}"`);
  }
  const name = modelName ?? stored;
  if (!name) throw new Error(`${path}: no "model" in the file's metadata; pass --model NAME`);
  return getModel(name, parseJson(path, "config", metadata.config, {}));
}

/**
 * Loads weights for inference from a training checkpoint or a model-only safetensors file. The model comes from
 * the file's metadata (registry name and configuration) or, for files without it, from `modelName`.
 */
export async function loadModelFile(path: string, modelName?: string): Promise<ModelFile> {
  const { modelTensors, metadata } = await readFile(path);
  const model = modelFor(path, metadata, modelName);
  const { params, state } = fromStateDict(model, modelTensors, { source: path });
  const classNames = parseJson<string[] | undefined>(path, "classNames", metadata.classNames, undefined);
  const settings = parseJson<{ input?: InputSettings }>(path, "settings", metadata.settings, {});
  const input = parseJson<InputSettings | undefined>(path, "input", metadata.input, settings.input);
  return { model, params, state, metadata, classNames, input };
}

/** Reads a training checkpoint written by {@link saveTrainingCheckpoint}. */
export async function loadTrainingCheckpoint(path: string): Promise<TrainingSnapshot> {
  const { modelTensors, optTensors, metadata } = await readFile(path);
  if (metadata.format !== TRAINING_FORMAT) {
    throw new Error(`${path}: not a training checkpoint (metadata format is ${metadata.format ?? "missing"})`);
  }
  const model = modelFor(path, metadata);
  const { params, state } = fromStateDict(model, modelTensors, { source: path });
  const m: Params = {}, v: Params = {};
  for (const name of Object.keys(params)) {
    const em = optTensors.get(`${OPT_PREFIX}m.${name}`), ev = optTensors.get(`${OPT_PREFIX}v.${name}`);
    if (!em || !ev) throw new Error(`${path}: optimizer state for "${name}" is missing`);
    m[name] = toTensor(em, name, path);
    v[name] = toTensor(ev, name, path);
  }
  const es = optTensors.get(`${OPT_PREFIX}step`);
  if (!es) throw new Error(`${path}: optimizer step is missing`);
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${path}: metadata "step" is not a step count`);
  const key = parseJson<number[]>(path, "key", metadata.key, []);
  if (key.length !== 2) throw new Error(`${path}: metadata "key" is not a PRNG key`);
  return {
    model,
    params,
    state,
    optState: { m, v, step: toTensor(es, "step", path) },
    step,
    seed: Number(metadata.seed),
    key: Uint32Array.from(key),
    classNames: parseJson(path, "classNames", metadata.classNames, []),
    settings: parseJson(path, "settings", metadata.settings, {}),
  };
}
