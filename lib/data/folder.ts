/**
 * Datasets of audio files on disk labelled by CSV: AudioSet segment lists over a folder of clips named by YTID,
 * and plain `path,label;label` lists. Clips are decoded on demand (`get` is async) to fixed-length mono.
 *
 * @module
 */

import { loadClip } from "../audio/waveform.ts";
import type { AudioDataset, AudioItem } from "./dataset.ts";
import { checkIndex } from "./dataset.ts";
import { type ClassIndex, parseClassLabels, parseLabelList, parseSegments } from "./csv.ts";

/** Audio file extensions searched for AudioSet clips, in order of preference. */
export const AUDIO_EXTENSIONS: readonly string[] = ["wav", "flac", "ogg", "mp3"];

/** Output format of decoded clips. */
export interface ClipOptions {
  /** Samples per second, default 32000. */
  readonly sampleRate?: number;
  /** Clip length in seconds (zero-padded or truncated), default 10. */
  readonly seconds?: number;
}

/** A dataset read from files, with the listed entries that have no file. */
export interface FileDataset extends AudioDataset {
  /** Loads and decodes item `i`; rejects with `"<file>: <problem>"` when the file is damaged. */
  get(i: number): Promise<AudioItem>;
  /** Path of item `i`'s file. */
  pathOf(i: number): string;
  /** Listed names without a file (left out of the dataset), e.g. AudioSet videos that failed to download. */
  readonly missing: readonly string[];
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read file: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
  }
}

function dirnameOf(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

function joinPath(dir: string, rel: string): string {
  if (rel.startsWith("/") || /^[A-Za-z]:[\\/]/.test(rel)) return rel;
  return dir.endsWith("/") ? dir + rel : `${dir}/${rel}`;
}

function datasetOf(
  entries: { name: string; path: string; target: Float32Array }[],
  classNames: readonly string[],
  missing: readonly string[],
  clip: ClipOptions,
): FileDataset {
  const opts = { sampleRate: clip.sampleRate ?? 32000, seconds: clip.seconds ?? 10 };
  return {
    classNames,
    length: entries.length,
    missing,
    pathOf(i) {
      checkIndex(i, entries.length, "pathOf");
      return entries[i].path;
    },
    async get(i) {
      checkIndex(i, entries.length, "get");
      const { name, path, target } = entries[i];
      return { name, waveform: await loadClip(path, opts), target: target.slice() };
    },
  };
}

/** Options of {@link audioSetFolder}. */
export interface AudioSetFolderOptions extends ClipOptions {
  /** AudioSet segments CSV (`# YTID, start_seconds, end_seconds, positive_labels`). */
  readonly segmentsCsv: string;
  /** `class_labels_indices.csv` (index,mid,display_name). */
  readonly classLabelsCsv: string;
  /** Folder of clips named `<YTID>.<ext>` or `Y<YTID>.<ext>` (ext in {@link AUDIO_EXTENSIONS}). */
  readonly audioDir: string;
  /** Throw when a listed YTID has no file, instead of leaving it out and listing it in `missing`. */
  readonly requireAll?: boolean;
}

/**
 * An AudioSet-style dataset: rows of the segments CSV whose clip exists in `audioDir`, with multi-hot targets over
 * the classes of `class_labels_indices.csv` (a label not in that list is an error naming the CSV line).
 */
export async function audioSetFolder(opts: AudioSetFolderOptions): Promise<FileDataset> {
  const classes: ClassIndex = parseClassLabels(await readText(opts.classLabelsCsv), opts.classLabelsCsv);
  const segments = parseSegments(await readText(opts.segmentsCsv), opts.segmentsCsv);
  const candidates = new Map<string, string[]>();
  const extRank = (name: string) => AUDIO_EXTENSIONS.indexOf(name.slice(name.lastIndexOf(".") + 1).toLowerCase());
  try {
    for await (const e of Deno.readDir(opts.audioDir)) {
      const dot = e.name.lastIndexOf(".");
      if (e.isDirectory || dot <= 0 || extRank(e.name) < 0) continue;
      const stem = e.name.slice(0, dot);
      // The PANNs downloader names clips "Y<YTID>.wav": index those under the bare YTID too.
      for (const key of stem.startsWith("Y") ? [stem, stem.slice(1)] : [stem]) {
        candidates.set(key, [...(candidates.get(key) ?? []), e.name]);
      }
    }
  } catch (e) {
    throw new Error(
      `${opts.audioDir}: cannot list folder: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`,
    );
  }
  // An exact "<YTID>.<ext>" beats "Y<YTID>.<ext>"; then the earlier extension of AUDIO_EXTENSIONS wins.
  const fileFor = (ytid: string) =>
    candidates.get(ytid)?.sort((a, b) =>
      Number(!a.startsWith(`${ytid}.`)) - Number(!b.startsWith(`${ytid}.`)) || extRank(a) - extRank(b)
    )[0];
  const entries: { name: string; path: string; target: Float32Array }[] = [];
  const missing: string[] = [];
  for (const seg of segments) {
    const target = new Float32Array(classes.names.length);
    for (const mid of seg.labels) {
      const c = classes.indexOfMid.get(mid);
      if (c === undefined) {
        throw new Error(`${opts.segmentsCsv}:${seg.line}: label ${mid} is not in ${opts.classLabelsCsv}`);
      }
      target[c] = 1;
    }
    const file = fileFor(seg.ytid);
    if (file === undefined) {
      if (opts.requireAll) {
        throw new Error(`${opts.segmentsCsv}:${seg.line}: no audio file for ${seg.ytid} in ${opts.audioDir}`);
      }
      missing.push(seg.ytid);
      continue;
    }
    entries.push({ name: seg.ytid, path: joinPath(opts.audioDir, file), target });
  }
  return datasetOf(entries, classes.names, missing, opts);
}

/** Options of {@link labelListFolder}. */
export interface LabelListOptions extends ClipOptions {
  /** The `path,label;label` CSV; relative paths are relative to its folder. */
  readonly csv: string;
  /**
   * Optional `class_labels_indices.csv`: labels are then matched against its mids or display names. Without it the
   * classes are the sorted set of labels in the list.
   */
  readonly classLabelsCsv?: string;
  /** Throw when a listed file does not exist, instead of leaving it out and listing it in `missing`. */
  readonly requireAll?: boolean;
}

/** A dataset from a plain `path,label;label` CSV (header optional). Item names are the paths as written. */
export async function labelListFolder(opts: LabelListOptions): Promise<FileDataset> {
  const rows = parseLabelList(await readText(opts.csv), opts.csv);
  let classNames: string[];
  let lookup: (label: string) => number | undefined;
  if (opts.classLabelsCsv) {
    const classes = parseClassLabels(await readText(opts.classLabelsCsv), opts.classLabelsCsv);
    const byName = new Map(classes.names.map((n, i) => [n, i]));
    classNames = classes.names;
    lookup = (l) => classes.indexOfMid.get(l) ?? byName.get(l);
  } else {
    classNames = [...new Set(rows.flatMap((r) => r.labels))].sort();
    const byName = new Map(classNames.map((n, i) => [n, i]));
    lookup = (l) => byName.get(l);
  }
  const dir = dirnameOf(opts.csv);
  const entries: { name: string; path: string; target: Float32Array }[] = [];
  const missing: string[] = [];
  for (const row of rows) {
    const target = new Float32Array(classNames.length);
    for (const label of row.labels) {
      const c = lookup(label);
      if (c === undefined) {
        throw new Error(`${opts.csv}:${row.line}: label "${label}" is not in ${opts.classLabelsCsv}`);
      }
      target[c] = 1;
    }
    const path = joinPath(dir, row.path);
    let exists = true;
    try {
      exists = (await Deno.stat(path)).isFile;
    } catch {
      exists = false;
    }
    if (!exists) {
      if (opts.requireAll) throw new Error(`${opts.csv}:${row.line}: no such file ${path}`);
      missing.push(row.path);
      continue;
    }
    entries.push({ name: row.path, path, target });
  }
  return datasetOf(entries, classNames, missing, opts);
}
