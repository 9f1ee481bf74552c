/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON describing each tensor (`dtype`, `shape`, `data_offsets` relative to the data
 * section) plus an optional `__metadata__` string map, then the raw little-endian tensor bytes.
 *
 * @module
 */

/** The safetensors dtypes this module reads and writes. */
export type SafetensorsDType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** Typed arrays a decoded tensor is returned in (F16/BF16 widen to Float32Array, I64 narrows to Int32Array). */
export type TensorData = Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** One decoded tensor: its dtype as stored in the file, its shape, and its elements in row-major order. */
export interface SafetensorEntry {
  /** The dtype stored in the file (the in-memory array may be wider, e.g. F16 → Float32Array). */
  readonly dtype: SafetensorsDType;
  /** Dimensions, outermost first; `[]` for a scalar. */
  readonly shape: number[];
  /** Elements in row-major order. */
  readonly data: TensorData;
}

/** The content of a safetensors file. */
export interface Safetensors {
  /** Tensors by name, in the order of their data in the file. */
  readonly tensors: Map<string, SafetensorEntry>;
  /** The free-form `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;
}

/** Options for {@linkcode readSafetensors} and {@linkcode loadSafetensors}. */
export interface ReadSafetensorsOptions {
  /** Name used in error messages (defaults to the path for `loadSafetensors`, `"<bytes>"` otherwise). */
  readonly name?: string;
  /**
   * How I64 tensors are returned: `"int32"` (default) gives an Int32Array and throws if a value does not fit;
   * `"bigint"` gives a BigInt64Array.
   */
  readonly int64?: "int32" | "bigint";
}

/** A tensor to write: `data` holds `product(shape)` elements convertible to `dtype`. */
export interface SafetensorInput {
  /** Storage dtype in the file. */
  readonly dtype: SafetensorsDType;
  /** Dimensions, outermost first; `[]` for a scalar. */
  readonly shape: readonly number[];
  /**
   * Elements in row-major order. Floats are rounded to nearest-even for F16/BF16; integer dtypes require integral
   * values in range; BOOL stores nonzero as 1. I64 also accepts a BigInt64Array.
   */
  readonly data: ArrayLike<number> | BigInt64Array;
}

/** Tensors to write, by name. */
export type SafetensorInputs = ReadonlyMap<string, SafetensorInput> | Readonly<Record<string, SafetensorInput>>;

const BYTES: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

// The reference library orders tensors by its Dtype enum, descending (wider types first, so every tensor's data stays
// aligned), then by name; this is that enum's order restricted to the dtypes here.
const RANK: Record<SafetensorsDType, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

const INT_RANGE: Partial<Record<SafetensorsDType, [number, number]>> = {
  I32: [-0x80000000, 0x7fffffff],
  I16: [-0x8000, 0x7fff],
  I8: [-0x80, 0x7f],
  U8: [0, 0xff],
};

// The reference implementation refuses headers above 100 MB; a larger length almost surely means a corrupt file.
const MAX_HEADER_BYTES = 100_000_000;

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && Object.hasOwn(BYTES, s);
}

function fail(name: string, problem: string): never {
  throw new Error(`${name}: ${problem}`);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
}

// The data section may start at any byte offset, so copy each tensor's bytes into a fresh, aligned buffer.
function decode(
  dtype: SafetensorsDType,
  raw: Uint8Array,
  key: string,
  name: string,
  int64: "int32" | "bigint",
): TensorData {
  const buf = raw.slice().buffer;
  switch (dtype) {
    case "F64":
      return new Float64Array(buf);
    case "F32":
      return new Float32Array(buf);
    case "F16":
      return Float32Array.from(new Float16Array(buf));
    case "BF16": {
      const half = new Uint16Array(buf);
      const bits = new Uint32Array(half.length);
      for (let i = 0; i < half.length; i++) bits[i] = half[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "I64": {
      const big = new BigInt64Array(buf);
      if (int64 === "bigint") return big;
      const out = new Int32Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i];
        if (v < -0x80000000n || v > 0x7fffffffn) {
          fail(name, `tensor "${key}" (I64) holds ${v}, outside the int32 range; read it with { int64: "bigint" }`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    case "I32":
      return new Int32Array(buf);
    case "I16":
      return new Int16Array(buf);
    case "I8":
      return new Int8Array(buf);
    case "U8":
    case "BOOL":
      return new Uint8Array(buf);
  }
}

/**
 * Parses a safetensors file held in memory.
 *
 * @param bytes the whole file
 * @param options error-message name and I64 handling
 * @returns the tensors (in file order) and the metadata map
 * @throws Error `"<name>: <problem>"` on a truncated file, bad header JSON, an unknown dtype, offsets out of range or
 *   inconsistent with the shape, or an I64 value outside int32 (unless `int64: "bigint"`)
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): Safetensors {
  const name = options.name ?? "<bytes>";
  const int64 = options.int64 ?? "int32";
  if (bytes.length < 8) fail(name, `truncated file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(name, `header length ${n} is implausibly large (corrupt or not safetensors)`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) {
    fail(name, `truncated file: header needs ${headerLen} bytes but only ${bytes.length - 8} follow`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(name, `bad header JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail(name, "bad header: JSON is not an object");
  }
  const data = bytes.subarray(8 + headerLen);
  let metadata: Record<string, string> = {};
  const infos: { key: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        fail(name, "bad header: __metadata__ is not an object");
      }
      for (const [mk, mv] of Object.entries(value)) {
        if (typeof mv !== "string") fail(name, `bad header: __metadata__ value "${mk}" is not a string`);
      }
      metadata = Object.fromEntries(Object.entries(value)); // fromEntries keeps a "__proto__" key as data
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (info === null || typeof info !== "object") fail(name, `bad header: entry "${key}" is not an object`);
    if (!isDType(info.dtype)) fail(name, `tensor "${key}" has unknown dtype ${JSON.stringify(info.dtype)}`);
    if (!isShape(info.shape)) fail(name, `tensor "${key}" has invalid shape ${JSON.stringify(info.shape)}`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(name, `tensor "${key}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > data.length) {
      fail(name, `tensor "${key}" data_offsets [${begin}, ${end}] out of range (data section is ${data.length} bytes)`);
    }
    const expected = product(info.shape) * BYTES[info.dtype];
    if (end - begin !== expected) {
      fail(name, `tensor "${key}" spans ${end - begin} bytes but ${info.dtype}[${info.shape}] needs ${expected}`);
    }
    infos.push({ key, dtype: info.dtype, shape: info.shape, begin, end });
  }
  // As the reference reader does: tensors must tile the data section exactly, so overlaps and gaps are corruption.
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of infos) {
    if (t.begin !== cursor) {
      fail(name, `tensor "${t.key}" starts at byte ${t.begin}, expected ${cursor} (overlapping or gapped offsets)`);
    }
    cursor = t.end;
  }
  if (cursor !== data.length) {
    fail(name, `data section is ${data.length} bytes but the tensors cover ${cursor} (truncated or trailing bytes)`);
  }
  const tensors = new Map<string, SafetensorEntry>();
  for (const t of infos) {
    tensors.set(t.key, {
      dtype: t.dtype,
      shape: t.shape,
      data: decode(t.dtype, data.subarray(t.begin, t.end), t.key, name, int64),
    });
  }
  return { tensors, metadata };
}

/**
 * Reads a safetensors file from disk.
 *
 * @param path file path or file URL
 * @param options I64 handling (the error-message name defaults to the path)
 * @returns the tensors (in file order) and the metadata map
 * @throws Error `"<path>: <problem>"` if the file cannot be read or is not valid safetensors
 */
export async function loadSafetensors(
  path: string | URL,
  options: ReadSafetensorsOptions = {},
): Promise<Safetensors> {
  const name = options.name ?? (path instanceof URL ? decodeURIComponent(path.pathname) : path);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    fail(name, `cannot read file: ${(e as Error).message.split("\n")[0]}`);
  }
  return readSafetensors(bytes, { ...options, name });
}

function f32ToBf16Bits(x: number, scratch: Float32Array, bits: Uint32Array): number {
  scratch[0] = x;
  const b = bits[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) | 0x40; // keep NaN a (quiet) NaN
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16; // round to nearest, ties to even
}

function encode(key: string, t: SafetensorInput): Uint8Array {
  const { dtype, shape, data } = t;
  const count = product(shape);
  if (data.length !== count) {
    throw new Error(`tensor "${key}": data has ${data.length} elements but shape [${shape}] needs ${count}`);
  }
  if (data instanceof BigInt64Array) {
    if (dtype !== "I64") throw new Error(`tensor "${key}": BigInt64Array data can only be written as I64`);
    return new Uint8Array(data.slice().buffer);
  }
  const range = INT_RANGE[dtype];
  if (range) {
    for (let i = 0; i < count; i++) {
      const v = data[i];
      if (!Number.isInteger(v) || v < range[0] || v > range[1]) {
        throw new Error(`tensor "${key}": element ${i} = ${v} is not a valid ${dtype} value`);
      }
    }
  }
  switch (dtype) {
    case "F64":
      return new Uint8Array(Float64Array.from(data).buffer);
    case "F32":
      return new Uint8Array(Float32Array.from(data).buffer);
    case "F16":
      return new Uint8Array(Float16Array.from(data).buffer);
    case "BF16": {
      const out = new Uint16Array(count);
      const scratch = new Float32Array(1);
      const bits = new Uint32Array(scratch.buffer);
      for (let i = 0; i < count; i++) out[i] = f32ToBf16Bits(data[i], scratch, bits);
      return new Uint8Array(out.buffer);
    }
    case "I64": {
      const out = new BigInt64Array(count);
      for (let i = 0; i < count; i++) {
        if (!Number.isSafeInteger(data[i])) {
          throw new Error(`tensor "${key}": element ${i} = ${data[i]} is not a safe integer for I64`);
        }
        out[i] = BigInt(data[i]);
      }
      return new Uint8Array(out.buffer);
    }
    case "I32":
      return new Uint8Array(Int32Array.from(data).buffer);
    case "I16":
      return new Uint8Array(Int16Array.from(data).buffer);
    case "I8":
      return new Uint8Array(Int8Array.from(data).buffer);
    case "U8":
      return Uint8Array.from(data);
    case "BOOL":
      return Uint8Array.from(data, (v) => (v ? 1 : 0));
  }
}

/**
 * Serializes tensors to the safetensors format.
 *
 * Tensors are laid out as the reference (Rust/Python) library does: by dtype, widest first (I64, F64, F32, I32, BF16,
 * F16, I16, I8, U8, BOOL), then by name, so that each tensor's data is aligned to its element size; the header is
 * space-padded to a multiple of 8 bytes. Files the reference library writes re-serialize byte for byte.
 *
 * @param entries tensors by name (names must be non-empty and not `__metadata__`)
 * @param metadata optional free-form string map stored as `__metadata__`
 * @returns the file bytes
 * @throws Error naming the tensor on an unknown dtype, invalid shape, length mismatch or out-of-range value
 */
export function writeSafetensors(entries: SafetensorInputs, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const list: [string, SafetensorInput][] = entries instanceof Map
    ? [...entries]
    : Object.entries(entries as Record<string, SafetensorInput>);
  for (const [key, t] of list) {
    if (key === "" || key === "__metadata__") throw new Error(`invalid tensor name ${JSON.stringify(key)}`);
    if (!isDType(t.dtype)) throw new Error(`tensor "${key}": unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) throw new Error(`tensor "${key}": invalid shape ${JSON.stringify(t.shape)}`);
  }
  list.sort(([ka, a], [kb, b]) => RANK[b.dtype] - RANK[a.dtype] || (ka < kb ? -1 : ka > kb ? 1 : 0));
  // Entries go through fromEntries so that names like "__proto__" stay plain keys.
  const header: [string, unknown][] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`metadata value "${k}" is not a string`);
    }
    header.push(["__metadata__", Object.fromEntries(Object.entries(metadata))]);
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of list) {
    const blob = encode(key, t);
    header.push([key, { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + blob.length] }]);
    blobs.push(blob);
    offset += blob.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const blob of blobs) {
    out.set(blob, pos);
    pos += blob.length;
  }
  return out;
}

/**
 * Writes tensors to a safetensors file atomically: the bytes go to a temporary file in the same directory, which is
 * synced and then renamed over `path`, so readers never observe a half-written file and a failure leaves any previous
 * file untouched.
 *
 * @param path destination file path or file URL
 * @param entries tensors by name
 * @param metadata optional free-form string map stored as `__metadata__`
 * @throws Error `"<path>: <problem>"` if serialization or writing fails
 */
export async function saveSafetensors(
  path: string | URL,
  entries: SafetensorInputs,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const target = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  let bytes: Uint8Array;
  try {
    bytes = writeSafetensors(entries, metadata);
  } catch (e) {
    fail(target, (e as Error).message);
  }
  const slash = Math.max(target.lastIndexOf("/"), target.lastIndexOf("\\"));
  const dir = slash >= 0 ? target.slice(0, slash + 1) : "";
  const base = target.slice(slash + 1);
  const tmp = `${dir}.${base}.${crypto.randomUUID()}.tmp`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, target);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    fail(target, `cannot write file: ${(e as Error).message.split("\n")[0]}`);
  }
}
