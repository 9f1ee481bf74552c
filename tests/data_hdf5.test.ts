import assert from "node:assert/strict";
import h5wasm from "h5wasm/node";
import { hdf5Dataset } from "../lib/data/hdf5.ts";

const N = 3;
const L = 50;
const C = 4;
const NAMES = ["Y--PJHxphWEs.wav", "Y-0RWZT-miFs.wav", "Yabc.wav"];
const wave = (i: number, j: number) => ((i * 997 + j * 131) % 65536) - 32768;
const hot = (i: number, c: number) => (i + c) % 3 === 0;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dcls_data_hdf5_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a PANNs-layout file with h5wasm; `target` is float32 or int8 0/1 (to be turned into an h5py bool). */
async function writePanns(path: string, target: "float" | "int8"): Promise<void> {
  await h5wasm.ready;
  // Earliest-format object headers (version 1, no checksums) so the bool patch below can edit them.
  const f = new h5wasm.File(path, "w", { libver: ["earliest", "latest"] });
  try {
    f.create_dataset({ name: "audio_name", data: NAMES });
    const w = new Int16Array(N * L);
    for (let i = 0; i < N; i++) for (let j = 0; j < L; j++) w[i * L + j] = wave(i, j);
    f.create_dataset({ name: "waveform", data: w, shape: [N, L] });
    const t = target === "float" ? new Float32Array(N * C) : new Int8Array(N * C);
    for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) t[i * C + c] = hot(i, c) ? 1 : 0;
    f.create_dataset({ name: "target", data: t, shape: [N, C] });
  } finally {
    f.close();
  }
}

/**
 * h5wasm cannot create enum types, so this turns the file's one int8 dataset into h5py's bool — an enum
 * {FALSE: 0, TRUE: 1} over int8 — by rewriting its datatype message inside the version-1 object header: the
 * 16-byte integer message becomes a 40-byte enum message, and the header's trailing NIL (free-space) message
 * shrinks by the 24 bytes gained, so the header keeps its size and every address stays valid.
 */
function patchInt8ToH5pyBool(bytes: Uint8Array): Uint8Array {
  const int8Type = [0x10, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00];
  const msgHeader = [0x03, 0x00, 0x10, 0x00]; // type 3 (datatype), size 16
  const hits: number[] = [];
  for (let p = 0; p + 20 <= bytes.length; p++) {
    if (msgHeader.every((v, k) => bytes[p + k] === v) && int8Type.every((v, k) => bytes[p + 8 + k] === v)) hits.push(p);
  }
  assert.equal(hits.length, 1, "expected exactly one int8 datatype message");
  const start = hits[0];
  const u16 = (p: number) => bytes[p] | (bytes[p + 1] << 8);
  // Walk the following messages to the NIL message that absorbs the growth.
  const between: Uint8Array[] = [];
  let p = start + 8 + 16;
  while (u16(p) !== 0x0000) {
    assert.notEqual(u16(p), 0x0010, "continuation message before free space");
    between.push(bytes.slice(p, p + 8 + u16(p + 2)));
    p += 8 + u16(p + 2);
  }
  const nilSize = u16(p + 2);
  assert.ok(nilSize >= 24, "not enough free space in the object header");
  const enc = new TextEncoder();
  const enumData = new Uint8Array(40);
  enumData.set([0x18, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]); // class 8 (enum) v1, 2 members, size 1
  enumData.set(int8Type, 8); // base type: signed 8-bit integer
  enumData.set(enc.encode("FALSE"), 20); // names, NUL-padded to multiples of 8 bytes
  enumData.set(enc.encode("TRUE"), 28);
  enumData.set([0, 1], 36); // values
  const out = bytes.slice();
  let q = start;
  out.set([0x03, 0x00, 40, 0x00, bytes[start + 4], 0, 0, 0], q);
  out.set(enumData, q + 8);
  q += 48;
  for (const m of between) {
    out.set(m, q);
    q += m.length;
  }
  out.set([0x00, 0x00, (nilSize - 24) & 0xff, (nilSize - 24) >> 8, 0, 0, 0, 0], q);
  out.fill(0, q + 8, p + 8 + nilSize);
  return out;
}

function checkRows(ds: Awaited<ReturnType<typeof hdf5Dataset>>): void {
  assert.equal(ds.length, N);
  assert.equal(ds.clipSamples, L);
  for (let i = 0; i < N; i++) {
    const item = ds.get(i);
    assert.equal(item.name, NAMES[i]);
    assert.equal(item.waveform.length, L);
    for (let j = 0; j < L; j++) assert.equal(item.waveform[j], wave(i, j) / 32768);
    assert.deepEqual([...item.target], Array.from({ length: C }, (_, c) => (hot(i, c) ? 1 : 0)));
  }
}

Deno.test("hdf5Dataset reads a PANNs-layout file with float targets, in any order", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/float.h5`;
    await writePanns(path, "float");
    const ds = await hdf5Dataset(path, { classNames: ["a", "b", "c", "d"] });
    try {
      assert.deepEqual(ds.classNames, ["a", "b", "c", "d"]);
      checkRows(ds);
      assert.equal(ds.get(2).name, NAMES[2]);
      assert.equal(ds.get(0).waveform[0], -1); // int16 −32768 maps to −1
      assert.throws(() => ds.get(3), /float\.h5: get: index 3 out of range/);
    } finally {
      ds.close();
    }
  });
});

Deno.test("hdf5Dataset reads h5py-style bool (enum) targets", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bool.h5`;
    await writePanns(path, "int8");
    await Deno.writeFile(path, patchInt8ToH5pyBool(await Deno.readFile(path)));
    // The patched file really holds an h5py bool: an enum with members FALSE = 0, TRUE = 1.
    const f = new h5wasm.File(path, "r");
    const meta = (f.get("target") as InstanceType<typeof h5wasm.Dataset>).metadata;
    f.close();
    assert.equal(meta.type, 8);
    assert.deepEqual(meta.enum_type?.members, { FALSE: 0, TRUE: 1 });
    const ds = await hdf5Dataset(path);
    try {
      assert.deepEqual(ds.classNames, ["0", "1", "2", "3"]);
      checkRows(ds);
    } finally {
      ds.close();
    }
  });
});

Deno.test("hdf5Dataset: missing files, non-HDF5 files and wrong layouts are one-line errors naming the file", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(hdf5Dataset(`${dir}/none.h5`), /none\.h5: no such file/);
    await Deno.writeTextFile(`${dir}/text.h5`, "not hdf5");
    await assert.rejects(hdf5Dataset(`${dir}/text.h5`), (e: Error) => /text\.h5: not an HDF5 file/.test(e.message));
    await writePanns(`${dir}/cut.h5`, "float");
    await Deno.writeFile(`${dir}/cut.h5`, (await Deno.readFile(`${dir}/cut.h5`)).slice(0, 100));
    await assert.rejects(hdf5Dataset(`${dir}/cut.h5`), /cut\.h5: cannot open HDF5 file/);
    const f = new h5wasm.File(`${dir}/partial.h5`, "w");
    f.create_dataset({ name: "audio_name", data: ["a"] });
    f.create_dataset({ name: "waveform", data: new Float32Array(4), shape: [1, 4] });
    f.close();
    await assert.rejects(hdf5Dataset(`${dir}/partial.h5`), /partial\.h5: missing dataset "target"/);
    const g = new h5wasm.File(`${dir}/badtype.h5`, "w");
    g.create_dataset({ name: "audio_name", data: ["a"] });
    g.create_dataset({ name: "waveform", data: new Float32Array(4), shape: [1, 4] });
    g.create_dataset({ name: "target", data: new Float32Array(2), shape: [1, 2] });
    g.close();
    await assert.rejects(hdf5Dataset(`${dir}/badtype.h5`), /badtype\.h5: waveform must be int16/);
    await writePanns(`${dir}/ok.h5`, "float");
    await assert.rejects(hdf5Dataset(`${dir}/ok.h5`, { classNames: ["x"] }), /ok\.h5: target has 4 classes but 1/);
  });
});
