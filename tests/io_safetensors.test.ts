import assert from "node:assert/strict";
import fc from "fast-check";
import {
  loadSafetensors,
  readSafetensors,
  type SafetensorInput,
  type SafetensorsDType,
  saveSafetensors,
  writeSafetensors,
} from "../lib/io/safetensors.ts";

const FIXTURES = new URL("../../shared/fixtures/", import.meta.url);

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// Each dtype with a generator of values it holds exactly, so a round trip must give them back unchanged.
const exact: Record<SafetensorsDType, fc.Arbitrary<number>> = {
  F64: fc.double({ noNaN: true }),
  F32: fc.float({ noNaN: true }).map(Math.fround),
  F16: fc.float({ noNaN: true }).map(Math.f16round),
  BF16: fc.integer({ min: 0, max: 0xffff }).map((h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0])
    .filter((v) => !Number.isNaN(v)),
  I64: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  I32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  I16: fc.integer({ min: -0x8000, max: 0x7fff }),
  I8: fc.integer({ min: -0x80, max: 0x7f }),
  U8: fc.integer({ min: 0, max: 0xff }),
  BOOL: fc.integer({ min: 0, max: 1 }),
};

const DTYPES = Object.keys(exact) as SafetensorsDType[];

const inputArb: fc.Arbitrary<SafetensorInput> = fc.constantFrom(...DTYPES).chain((dtype) =>
  shapeArb.chain((shape) =>
    fc.array(exact[dtype], { minLength: count(shape), maxLength: count(shape) }).map((data) => ({
      dtype,
      shape,
      data,
    }))
  )
);

Deno.test("safetensors: every dtype round-trips exactly, with metadata, any name order", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k !== "__metadata__"), inputArb, {
        maxKeys: 6,
      }),
      fc.option(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), { nil: undefined }),
      (entries, metadata) => {
        const bytes = writeSafetensors(entries, metadata);
        const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        assert.equal(headerLen % 8, 0);
        const back = readSafetensors(bytes);
        assert.deepEqual(back.metadata, { ...metadata });
        assert.deepEqual([...back.tensors.keys()].sort(), Object.keys(entries).sort());
        for (const [key, t] of Object.entries(entries)) {
          const got = back.tensors.get(key)!;
          assert.equal(got.dtype, t.dtype);
          assert.deepEqual(got.shape, t.shape);
          assert.deepEqual(Array.from(got.data as ArrayLike<number>), Array.from(t.data as ArrayLike<number>));
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("safetensors: in-memory array types per dtype", () => {
  const kinds: Record<SafetensorsDType, string> = {
    F64: "Float64Array",
    F32: "Float32Array",
    F16: "Float32Array",
    BF16: "Float32Array",
    I64: "Int32Array",
    I32: "Int32Array",
    I16: "Int16Array",
    I8: "Int8Array",
    U8: "Uint8Array",
    BOOL: "Uint8Array",
  };
  const entries = Object.fromEntries(DTYPES.map((d) => [d, { dtype: d, shape: [2], data: [0, 1] }]));
  const back = readSafetensors(writeSafetensors(entries));
  for (const d of DTYPES) assert.equal(back.tensors.get(d)!.data.constructor.name, kinds[d], d);
});

Deno.test("safetensors: F16 and BF16 round to nearest even, keep inf and NaN", () => {
  const x = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 70000, -Infinity, NaN];
  const back = readSafetensors(writeSafetensors({
    h: { dtype: "F16", shape: [x.length], data: x },
    b: { dtype: "BF16", shape: [x.length], data: x },
  }));
  assert.deepEqual(Array.from(back.tensors.get("h")!.data as Float32Array), x.map(Math.f16round));
  const bf = Array.from(back.tensors.get("b")!.data as Float32Array);
  // ties go to the even mantissa: 1 + 2^-8 → 1, 1 + 3·2^-8 → 1 + 2^-6
  assert.deepEqual(bf.slice(0, 6), [1, 1, 1, 1 + 2 ** -6, 70144, -Infinity]);
  assert.ok(Number.isNaN(bf[6]));
});

Deno.test("safetensors: I64 narrows to int32, throws out of range unless bigint is asked for", () => {
  const big = new BigInt64Array([1n, -(2n ** 40n), 2n ** 62n]);
  const bytes = writeSafetensors({ ids: { dtype: "I64", shape: [3], data: big } });
  assert.throws(() => readSafetensors(bytes, { name: "ids.safetensors" }), /ids\.safetensors: .*"ids".*int32/);
  const back = readSafetensors(bytes, { int64: "bigint" }).tensors.get("ids")!;
  assert.ok(back.data instanceof BigInt64Array);
  assert.deepEqual(Array.from(back.data as BigInt64Array), Array.from(big));
});

Deno.test("safetensors: layout sorted by dtype (widest first) then name, every tensor aligned", () => {
  const bytes = writeSafetensors({
    z: { dtype: "U8", shape: [3], data: [1, 2, 3] },
    i: { dtype: "I64", shape: [1], data: [7] },
    b: { dtype: "F64", shape: [1], data: [1] },
    a: { dtype: "F64", shape: [1], data: [2] },
    m: { dtype: "F32", shape: [1], data: [3] },
  });
  const back = readSafetensors(bytes);
  assert.deepEqual([...back.tensors.keys()], ["i", "a", "b", "m", "z"]);
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  assert.deepEqual(header.m.data_offsets, [24, 28]);
});

Deno.test("safetensors: mel fixture names and shapes match the manifest", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(new URL("manifest.json", FIXTURES)));
  const path = new URL("mel.safetensors", FIXTURES);
  const st = await loadSafetensors(path);
  const shapes = manifest.mel.shapes as Record<string, number[]>;
  assert.ok(Object.keys(shapes).length > 0);
  for (const [name, shape] of Object.entries(shapes)) {
    const t = st.tensors.get(name);
    assert.ok(t, `missing ${name}`);
    assert.deepEqual(t.shape, shape, name);
    assert.equal(t.data.length, count(shape));
    assert.ok(t.data instanceof Float32Array);
  }
});

Deno.test("safetensors: files written by the python library re-serialize byte for byte", async () => {
  // tiny_models mixes I64 and F64, so this also pins the reference library's dtype-then-name layout
  for (const file of ["mel.safetensors", "tiny_models.safetensors"]) {
    const path = new URL(file, FIXTURES);
    const st = await loadSafetensors(path);
    const original = await Deno.readFile(path);
    const again = writeSafetensors(st.tensors, Object.keys(st.metadata).length ? st.metadata : undefined);
    assert.equal(again.length, original.length, file);
    assert.ok(again.every((b, i) => b === original[i]), `${file}: bytes differ from the python-written file`);
  }
});

function corrupt(mutate: (b: Uint8Array) => Uint8Array): Uint8Array {
  const good = writeSafetensors({ w: { dtype: "F32", shape: [2, 3], data: [1, 2, 3, 4, 5, 6] } });
  return mutate(good.slice());
}

function withHeader(json: string, dataBytes = 0): Uint8Array {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

Deno.test("safetensors: corrupt and truncated inputs throw clear one-line errors naming the file", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /truncated file/],
    ["cut header", corrupt((b) => b.subarray(0, 20)), /truncated file: header needs/],
    ["cut data", corrupt((b) => b.subarray(0, b.length - 3)), /"w" data_offsets \[0, 24\] out of range/],
    ["trailing", corrupt((b) => Uint8Array.from([...b, 0])), /trailing bytes/],
    ["bad json", withHeader("{not json"), /bad header JSON/],
    ["not object", withHeader("[1,2]"), /not an object/],
    ["huge header", corrupt((b) => (b[6] = 0xff, b)), /implausibly large/],
    ["unknown dtype", withHeader('{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}', 1), /unknown dtype "Q7"/],
    ["bad shape", withHeader('{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', 1), /invalid shape/],
    ["size mismatch", withHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4), /needs 8/],
    [
      "overlap",
      withHeader(
        '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
        3,
      ),
      /overlapping or gapped/,
    ],
    ["metadata", withHeader('{"__metadata__":{"k":1}}'), /__metadata__ value "k" is not a string/],
  ];
  for (const [label, bytes, pattern] of cases) {
    assert.throws(
      () => readSafetensors(bytes, { name: "bad.safetensors" }),
      (e: Error) => {
        assert.match(e.message, /^bad\.safetensors: /, label);
        assert.match(e.message, pattern, label);
        assert.ok(!e.message.includes("\n"), label);
        return true;
      },
    );
  }
});

Deno.test("safetensors: write rejects inconsistent entries", () => {
  assert.throws(() => writeSafetensors({ w: { dtype: "F32", shape: [3], data: [1, 2] } }), /"w".*needs 3/);
  assert.throws(() => writeSafetensors({ w: { dtype: "U8", shape: [1], data: [256] } }), /not a valid U8/);
  assert.throws(() => writeSafetensors({ w: { dtype: "I32", shape: [1], data: [0.5] } }), /not a valid I32/);
  assert.throws(
    () => writeSafetensors({ w: { dtype: "X" as SafetensorsDType, shape: [1], data: [0] } }),
    /unknown dtype/,
  );
  assert.throws(() => writeSafetensors({ w: { dtype: "F32", shape: [1.5], data: [0] } }), /invalid shape/);
});

Deno.test("safetensors: save is atomic and load names the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.safetensors`;
    await saveSafetensors(path, { w: { dtype: "F32", shape: [2], data: [1, 2] } }, { format: "pt" });
    const st = await loadSafetensors(path);
    assert.deepEqual(Array.from(st.tensors.get("w")!.data as Float32Array), [1, 2]);
    assert.deepEqual(st.metadata, { format: "pt" });
    // a failing save leaves the previous file and no temporary behind
    await assert.rejects(
      () => saveSafetensors(path, { w: { dtype: "F32", shape: [3], data: [1] } }),
      new RegExp(`^Error: ${path.replaceAll("/", "\\/")}: tensor "w"`),
    );
    assert.deepEqual(Array.from((await loadSafetensors(path)).tensors.get("w")!.data as Float32Array), [1, 2]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m.safetensors"]);
    await assert.rejects(() => saveSafetensors(`${dir}/nope/x.safetensors`, {}), /nope\/x\.safetensors: cannot write/);
    await Deno.writeTextFile(`${dir}/text.safetensors`, "hello");
    await assert.rejects(() => loadSafetensors(`${dir}/text.safetensors`), /text\.safetensors: truncated file/);
    await assert.rejects(() => loadSafetensors(`${dir}/missing.safetensors`), /missing\.safetensors: cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
