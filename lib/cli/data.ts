/**
 * Data and input options shared by the tasks: `--data procedural|FILE.h5|DIR` with `--labels` and
 * `--class-labels`, the evaluation split, and the input preset (`paper`: 10 s at 32 kHz, 128 × 1001 log-mels;
 * `small`: 2 s at 16 kHz, 64 × 129, for CPU runs and tests).
 * @module
 */
import type { AudioDataset } from "../data/dataset.ts";
import { proceduralDataset } from "../data/procedural.ts";
import { hdf5Dataset } from "../data/hdf5.ts";
import { audioSetFolder, labelListFolder } from "../data/folder.ts";
import type { FrontEndOptions } from "../audio/frontend.ts";
import type { InputSettings } from "../train/batches.ts";
import { type OptionSpec, type ParsedArgs, str, UsageError } from "./args.ts";

/** An input preset: clip length, sample rate and front end. */
export interface InputPreset {
  /** Samples per second of the clips. */
  readonly sampleRate: number;
  /** Clip length in seconds. */
  readonly seconds: number;
  /** Front-end settings (STFT, mels, normalisation). */
  readonly frontEnd: FrontEndOptions;
}

/** The presets by name. */
export const INPUT_PRESETS: Readonly<Record<string, InputPreset>> = {
  paper: { sampleRate: 32000, seconds: 10, frontEnd: {} },
  small: {
    sampleRate: 16000,
    seconds: 2,
    frontEnd: { sampleRate: 16000, nFft: 512, hop: 250, nMels: 64, fMin: 50, fMax: 7600 },
  },
};

/** Options selecting data. */
export const DATA_OPTIONS: readonly OptionSpec[] = [
  {
    name: "data",
    kind: "string",
    value: "SRC",
    default: "procedural",
    help: "procedural (the embedded synthetic dataset), a PANNs-style FILE.h5, or a DIR of clips",
  },
  {
    name: "labels",
    kind: "string",
    value: "CSV",
    help: "for --data DIR: AudioSet segments CSV, or a path,label;label list (paths relative to the CSV)",
  },
  { name: "class-labels", kind: "string", value: "CSV", help: "class_labels_indices.csv (class names and mids)" },
  {
    name: "eval-data",
    kind: "string",
    value: "SRC",
    help: "evaluation data like --data (default: the procedural eval split when --data is procedural)",
  },
  { name: "eval-labels", kind: "string", value: "CSV", help: "labels for --eval-data DIR" },
  { name: "train-size", kind: "int", min: 1, default: 1024, help: "procedural: clips in the training split" },
  { name: "eval-size", kind: "int", min: 1, default: 256, help: "procedural: clips in the evaluation split" },
  { name: "data-seed", kind: "int", min: 0, default: 0, help: "procedural: seed of the generated data" },
  {
    name: "input",
    kind: "string",
    choices: Object.keys(INPUT_PRESETS),
    default: "paper",
    help: "input preset: paper = 10 s at 32 kHz, 128 mels; small = 2 s at 16 kHz, 64 mels",
  },
  { name: "seconds", kind: "number", min: 0, exclusiveMin: true, help: "clip length override (seconds)" },
];

/** The data-selecting values of parsed arguments (stored with checkpoints so a resumed run finds its data). */
export interface DataArgs {
  /** `--data`: procedural, FILE.h5 or DIR. */
  readonly data: string;
  /** `--labels`: the CSV of a folder dataset. */
  readonly labels?: string;
  /** `--class-labels`: class_labels_indices.csv. */
  readonly classLabels?: string;
  /** `--eval-data`. */
  readonly evalData?: string;
  /** `--eval-labels`. */
  readonly evalLabels?: string;
  /** `--train-size` (procedural). */
  readonly trainSize: number;
  /** `--eval-size` (procedural). */
  readonly evalSize: number;
  /** `--data-seed` (procedural). */
  readonly dataSeed: number;
  /** `--input` preset name. */
  readonly input: string;
  /** `--seconds` clip length override. */
  readonly seconds?: number;
}

/** Reads the {@link DATA_OPTIONS} from parsed arguments. */
export function dataArgs(a: ParsedArgs): DataArgs {
  return {
    data: str(a, "data") ?? "procedural",
    labels: str(a, "labels"),
    classLabels: str(a, "class-labels"),
    evalData: str(a, "eval-data"),
    evalLabels: str(a, "eval-labels"),
    trainSize: Number(a.values["train-size"]),
    evalSize: Number(a.values["eval-size"]),
    dataSeed: Number(a.values["data-seed"]),
    input: str(a, "input") ?? "paper",
    seconds: a.values.seconds === undefined ? undefined : Number(a.values.seconds),
  };
}

/** Clip and front-end settings of a preset, with the front end on the host or in the step. */
export function inputSettings(d: DataArgs, frontEndOn: "host" | "step"): InputSettings {
  const p = INPUT_PRESETS[d.input];
  if (!p) throw new UsageError(`--input: unknown preset "${d.input}"`);
  const seconds = d.seconds ?? p.seconds;
  return { clipSamples: Math.round(p.sampleRate * seconds), frontEnd: p.frontEnd, frontEndOn };
}

async function kindOf(src: string): Promise<"h5" | "dir"> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(src);
  } catch {
    throw new Error(`${src}: no such file or folder (expected procedural, FILE.h5 or DIR)`);
  }
  return info.isDirectory ? "dir" : "h5";
}

async function isSegmentsCsv(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read file: ${(e as Error).message.split("\n")[0]}`);
  }
  const first = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return first.startsWith("#") || /\bYTID\b/.test(first);
}

/** Sample rate and length of the clips an input setting expects. */
export function clipOf(input: InputSettings): { sampleRate: number; seconds: number } {
  const sampleRate = input.frontEnd.sampleRate ?? 32000;
  return { sampleRate, seconds: input.clipSamples / sampleRate };
}

/** Opens one data source of the given split, with clips decoded to `clip`'s sample rate and length. */
export async function openSource(
  src: string,
  labels: string | undefined,
  split: "train" | "eval",
  d: DataArgs,
  clip: { sampleRate: number; seconds: number },
): Promise<AudioDataset> {
  const { sampleRate, seconds } = clip;
  if (src === "procedural") {
    const size = split === "train" ? d.trainSize : d.evalSize;
    return proceduralDataset({ seed: d.dataSeed, split, size, sampleRate, seconds });
  }
  if ((await kindOf(src)) === "h5") {
    if (sampleRate !== 32000) {
      throw new UsageError(`${src}: HDF5 data is at 32 kHz but the model expects ${sampleRate} Hz`);
    }
    return await hdf5Dataset(src, { classLabelsCsv: d.classLabels });
  }
  if (!labels) throw new UsageError(`--data ${src} is a folder: give its labels with --labels CSV`);
  if (await isSegmentsCsv(labels)) {
    if (!d.classLabels) throw new UsageError("AudioSet segment lists need --class-labels class_labels_indices.csv");
    return await audioSetFolder({
      segmentsCsv: labels,
      classLabelsCsv: d.classLabels,
      audioDir: src,
      sampleRate,
      seconds,
    });
  }
  return await labelListFolder({ csv: labels, classLabelsCsv: d.classLabels, sampleRate, seconds });
}

/** The training and evaluation datasets of the arguments. */
export async function openTrainEval(
  d: DataArgs,
  input: InputSettings,
): Promise<{ train: AudioDataset; eval?: AudioDataset }> {
  const clip = clipOf(input);
  const train = await openSource(d.data, d.labels, "train", d, clip);
  const evalSrc = d.evalData ?? (d.data === "procedural" ? "procedural" : undefined);
  const evalDs = evalSrc ? await openSource(evalSrc, d.evalLabels ?? d.labels, "eval", d, clip) : undefined;
  return { train, eval: evalDs };
}
