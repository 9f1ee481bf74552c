/**
 * PANNs-layout HDF5 datasets (`audio_name` [N], `waveform` int16 [N, L], `target` [N, C] bool or numeric), read with
 * random access through npm `h5wasm` (its Node build reads the host file system directly, so only the requested
 * rows are read, never the whole file).
 *
 * h5py stores bool arrays as an HDF5 enum {FALSE: 0, TRUE: 1} over int8; h5wasm hands the raw int8 values back,
 * which become 0/1 floats here.
 *
 * @module
 */

import h5wasm from "h5wasm/node";
import type { AudioDataset, AudioItem } from "./dataset.ts";
import { checkIndex } from "./dataset.ts";
import { parseClassLabels } from "./csv.ts";

/** Options of {@link hdf5Dataset}. */
export interface Hdf5DatasetOptions {
  /** Class names (length C). */
  readonly classNames?: readonly string[];
  /** Or AudioSet's `class_labels_indices.csv` for them. Without either, classes are named "0" … "C−1". */
  readonly classLabelsCsv?: string;
}

/** An open HDF5 dataset; `get` is synchronous. */
export interface Hdf5Dataset extends AudioDataset {
  /** Reads row `i`: its name, waveform (int16 / 32768) and target. */
  get(i: number): AudioItem;
  /** Samples per clip (L). */
  readonly clipSamples: number;
  /** Releases the file. */
  close(): void;
}

/** HDF5 type classes (H5T_class_t) this reader accepts. */
const H5T = { INTEGER: 0, FLOAT: 1, STRING: 3, ENUM: 8 } as const;

type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

function toFloat32(data: unknown, scale: number, what: string): Float32Array {
  if (
    ArrayBuffer.isView(data) && !(data instanceof DataView) && !(data instanceof BigInt64Array) &&
    !(data instanceof BigUint64Array)
  ) {
    const src = data as unknown as ArrayLike<number>;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] * scale;
    return out;
  }
  throw new Error(`${what}: unexpected data of type ${Object.prototype.toString.call(data)}`);
}

/** The most specific line of an HDF5 error stack (its last non-empty line), trimmed. */
function lastLine(e: unknown): string {
  const lines = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim()).filter((l) => l);
  return (lines.at(-1) ?? "unknown error").replace(/^(major|minor):\s*/, "").toLowerCase();
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Whether the HDF5 signature sits at offset 0 or after a user block (512, 1024, 2048, … bytes). */
async function hasHdf5Signature(path: string, size: number): Promise<boolean> {
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(8);
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      await file.seek(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < 8) {
        const n = await file.read(buf.subarray(got));
        if (n === null) return false;
        got += n;
      }
      if (SIGNATURE.every((v, k) => buf[k] === v)) return true;
    }
    return false;
  } finally {
    file.close();
  }
}

/**
 * Opens a PANNs-style HDF5 file for random access. Checks the three datasets' presence, types and matching row
 * counts up front, with errors `"<file>: <problem>"`.
 */
export async function hdf5Dataset(path: string, opts: Hdf5DatasetOptions = {}): Promise<Hdf5Dataset> {
  const fail = (problem: string) => new Error(`${path}: ${problem}`);
  let size: number;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw fail("not a file");
    size = info.size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw fail("no such file");
    throw e;
  }
  // h5wasm reports a non-HDF5 file only on stderr, so look for the signature first.
  if (!(await hasHdf5Signature(path, size))) throw fail("not an HDF5 file (no HDF5 signature)");
  const h5 = await h5wasm.ready;
  let file: InstanceType<typeof h5wasm.File>;
  // HDF5 reports a damaged file on stderr and hands back an invalid id; with its throwing handler switched on for
  // just this synchronous call, the reason becomes an exception instead.
  h5.activate_throwing_error_handler();
  try {
    file = new h5wasm.File(path, "r");
  } catch (e) {
    throw fail(`cannot open HDF5 file: ${lastLine(e)}`);
  } finally {
    h5.deactivate_throwing_error_handler();
  }
  if (file.file_id < 0n) throw fail("cannot open HDF5 file (damaged or truncated)");
  try {
    const dataset = (name: string): H5Dataset => {
      const d = file.get(name);
      if (!(d instanceof h5wasm.Dataset)) {
        throw fail(`missing dataset "${name}" (expected audio_name, waveform, target)`);
      }
      return d as H5Dataset;
    };
    const names = dataset("audio_name");
    const waveform = dataset("waveform");
    const target = dataset("target");
    const [n] = names.shape ?? [];
    const wShape = waveform.shape ?? [];
    const tShape = target.shape ?? [];
    if (names.shape?.length !== 1) throw fail(`audio_name must be 1-D, has shape [${names.shape}]`);
    if (wShape.length !== 2 || wShape[0] !== n) throw fail(`waveform must have shape [${n}, L], has [${wShape}]`);
    if (tShape.length !== 2 || tShape[0] !== n) throw fail(`target must have shape [${n}, C], has [${tShape}]`);
    const wm = waveform.metadata;
    if (wm.type !== H5T.INTEGER || wm.size !== 2 || !wm.signed) {
      throw fail(`waveform must be int16, has ${waveform.dtype}`);
    }
    const tm = target.metadata;
    if (tm.type !== H5T.INTEGER && tm.type !== H5T.FLOAT && tm.type !== H5T.ENUM) {
      throw fail(`target must be bool, integer or float, has type class ${tm.type}`);
    }
    if (names.metadata.type !== H5T.STRING) throw fail(`audio_name must hold strings`);
    const [, clipSamples] = wShape;
    const [, classes] = tShape;
    let classNames: readonly string[] = opts.classNames ?? Array.from({ length: classes }, (_, c) => String(c));
    if (opts.classLabelsCsv) {
      classNames = parseClassLabels(await Deno.readTextFile(opts.classLabelsCsv), opts.classLabelsCsv).names;
    }
    if (classNames.length !== classes) {
      throw fail(`target has ${classes} classes but ${classNames.length} class names were given`);
    }
    return {
      classNames,
      length: n,
      clipSamples,
      get(i: number): AudioItem {
        checkIndex(i, n, `${path}: get`);
        const raw = names.slice([[i, i + 1]]);
        const name = (Array.isArray(raw) ? String(raw[0]) : String(raw)).replace(/\0+$/, "");
        return {
          name,
          waveform: toFloat32(waveform.slice([[i, i + 1], [0, clipSamples]]), 1 / 32768, `${path}: waveform row ${i}`),
          target: toFloat32(target.slice([[i, i + 1], [0, classes]]), 1, `${path}: target row ${i}`),
        };
      },
      close() {
        file.close();
      },
    };
  } catch (e) {
    file.close();
    throw e;
  }
}
