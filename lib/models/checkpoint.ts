/**
 * Model checkpoints as PyTorch-style state dicts: `toStateDict` lists every state_dict name (a shared DCLS P/SIG
 * repeated under each layer using it, as PyTorch saves it), `fromStateDict` checks a state dict against the model's
 * layout and reports every missing, unexpected, mis-shaped or inconsistent name at once, and `saveCheckpoint` /
 * `loadCheckpoint` store them as safetensors with the model name and configuration in the metadata.
 * @module
 */
import type { DType, Tensor } from "../core/mod.ts";
import { cast, tensor } from "../core/mod.ts";
import { loadSafetensors, type SafetensorInput, saveSafetensors } from "../io/safetensors.ts";
import type { Model, Params, State } from "./common.ts";
import { getModel, type ModelOverrides } from "./registry.ts";

/** A state-dict value: a tensor, or a decoded safetensors entry. */
export type StateDictValue = Tensor | {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: unknown;
};

/** Every state_dict name of the model with its tensor, in the reference's order. */
export function toStateDict(model: Model, params: Params, state: State): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const missing: string[] = [];
  for (const e of model.layout().entries) {
    const t = e.kind === "alias" ? params[e.owner] : e.kind === "param" ? params[e.name] : state[e.name];
    if (t === undefined) missing.push(e.kind === "alias" ? e.owner : e.name);
    else out.set(e.name, t);
  }
  if (missing.length) throw new Error(`toStateDict(${model.name}): missing ${[...new Set(missing)].join(", ")}`);
  return out;
}

/** Options of `fromStateDict`. */
export interface FromStateDictOptions {
  /** Where the tensors come from (a file name), for error messages. */
  source?: string;
  /** Floating dtype of the result (default: the model configuration's). */
  dtype?: DType;
}

const FLOAT_FILE_DTYPES = new Set(["F64", "F32", "F16", "BF16", "f64", "f32"]);

function toTensor(name: string, v: StateDictValue, dtype: DType): Tensor | string {
  if (!FLOAT_FILE_DTYPES.has(v.dtype)) return `${name} has dtype ${v.dtype}, expected a float`;
  const t = "toArray" in v
    ? v
    : tensor(v.data as Float64Array | Float32Array, { shape: [...v.shape], dtype: v.dtype === "F64" ? "f64" : "f32" });
  return t.dtype === dtype ? t : cast(t, dtype);
}

function sameValues(a: Tensor, b: Tensor): boolean {
  const x = a.toArray(), y = b.toArray();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Parameters and state from a state dict, checked against the model's layout: every name must be present with its
 * shape, no other name may appear (PyTorch's BatchNorm `num_batches_tracked` counters are ignored), and a shared
 * tensor repeated under several names must hold the same values everywhere. All problems are reported in one error naming the tensors (and the source file, when given).
 */
export function fromStateDict(
  model: Model,
  tensors: ReadonlyMap<string, StateDictValue> | Readonly<Record<string, StateDictValue>>,
  opts: FromStateDictOptions = {},
): { params: Params; state: State } {
  const dtype = opts.dtype ?? model.config.dtype;
  const map: ReadonlyMap<string, StateDictValue> = tensors instanceof Map
    ? tensors
    : new Map(Object.entries(tensors as Record<string, StateDictValue>));
  const entries = model.layout().entries;
  const known = new Set(entries.map((e) => e.name));
  const missing: string[] = [], shapes: string[] = [], other: string[] = [];
  const params: Params = {}, state: State = {};
  for (const e of entries) {
    const v = map.get(e.name);
    if (v === undefined) {
      missing.push(e.name);
      continue;
    }
    if (v.shape.join() !== e.shape.join()) {
      shapes.push(`${e.name} [${v.shape}] (expected [${e.shape}])`);
      continue;
    }
    const t = toTensor(e.name, v, dtype);
    if (typeof t === "string") other.push(t);
    else if (e.kind === "param") params[e.name] = t;
    else if (e.kind === "buffer") state[e.name] = t;
    else if (params[e.owner] && !sameValues(t, params[e.owner])) other.push(`${e.name} differs from shared ${e.owner}`);
  }
  // PyTorch's BatchNorm also saves a step counter that nothing here uses; loading ignores it.
  const counter = (k: string) =>
    k.endsWith(".num_batches_tracked") && known.has(k.replace(/num_batches_tracked$/, "running_mean"));
  const unexpected = [...map.keys()].filter((k) => !known.has(k) && !counter(k));
  const problems = [
    missing.length ? `missing ${missing.join(", ")}` : "",
    unexpected.length ? `unexpected ${unexpected.join(", ")}` : "",
    shapes.length ? `mis-shaped ${shapes.join(", ")}` : "",
    other.join("; "),
  ].filter((s) => s !== "");
  if (problems.length) {
    const where = opts.source ? `${opts.source}: ` : "";
    throw new Error(`${where}state dict does not fit ${model.name}: ${problems.join("; ")}`);
  }
  return { params, state };
}

/** Metadata stored with a checkpoint (`model` and `config` are filled in by `saveCheckpoint`). */
export type CheckpointMetadata = Record<string, string>;

/**
 * Writes the model's state dict to a safetensors file (float tensors in their own precision) with metadata `model`
 * (registry name), `config` (JSON of the configuration) and any extra string fields.
 */
export async function saveCheckpoint(
  path: string | URL,
  model: Model,
  params: Params,
  state: State,
  metadata: CheckpointMetadata = {},
): Promise<void> {
  const entries = new Map<string, SafetensorInput>();
  for (const [name, t] of toStateDict(model, params, state)) {
    entries.set(name, { dtype: t.dtype === "f64" ? "F64" : "F32", shape: t.shape, data: t.toArray() });
  }
  await saveSafetensors(path, entries, { ...metadata, model: model.name, config: JSON.stringify(model.config) });
}

/** A loaded checkpoint. */
export interface Checkpoint {
  /** The model the tensors belong to. */
  model: Model;
  /** Parameters (shared tensors once, under their owner). */
  params: Params;
  /** Buffers. */
  state: State;
  /** The file's metadata (`model`, `config` and any extra fields). */
  metadata: CheckpointMetadata;
}

/**
 * Reads a checkpoint. Without `model`, the model is rebuilt from the metadata (registry name and stored
 * configuration); with it, the file's model name must match. Errors name the file.
 */
export async function loadCheckpoint(path: string | URL, model?: Model): Promise<Checkpoint> {
  const file = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  const { tensors, metadata } = await loadSafetensors(path);
  const name = metadata.model;
  if (model && name !== undefined && name !== model.name) {
    throw new Error(`${file}: checkpoint is for model "${name}", not "${model.name}"`);
  }
  if (!model) {
    if (name === undefined) throw new Error(`${file}: checkpoint has no "model" metadata; pass the model`);
    let config: ModelOverrides = {};
    try {
      config = metadata.config ? JSON.parse(metadata.config) : {};
    } catch {
      throw new Error(`${file}: checkpoint metadata "config" is not valid JSON`);
    }
    model = getModel(name, config);
  }
  return { model, ...fromStateDict(model, tensors, { source: file }), metadata };
}
