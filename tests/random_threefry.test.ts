import assert from "node:assert/strict";
import fc from "fast-check";
import { foldIn, keyFromSeed, randomBits, splitKey, threefry2x32 } from "../lib/random/threefry.ts";

const u32 = (...v: number[]) => Uint32Array.from(v);
const hex = (v: Uint32Array) => Array.from(v, (x) => x.toString(16).padStart(8, "0"));
const arbKey = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
  .map(([a, b]) => u32(a, b));

Deno.test("threefry2x32 matches the Random123 known-answer vectors (20 rounds), as JAX's testThreefry2x32", () => {
  // Random123 kat_vectors: threefry2x32 20 <ctr0 ctr1> <key0 key1> → <out0 out1>.
  const cases: [number[], number[], string[]][] = [
    [[0, 0], [0, 0], ["6b200159", "99ba4efe"]],
    [[0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], ["1cb996fc", "bb002be7"]],
    [[0x243f6a88, 0x85a308d3], [0x13198a2e, 0x03707344], ["c4923a9c", "483df7a0"]],
  ];
  for (const [ctr, key, expected] of cases) {
    const [y0, y1] = threefry2x32(u32(...key), u32(ctr[0]), u32(ctr[1]));
    assert.deepEqual([...hex(y0), ...hex(y1)], expected);
  }
});

Deno.test("threefry2x32 is elementwise over counter pairs", () => {
  const key = u32(0x13198a2e, 0x03707344);
  const [y0, y1] = threefry2x32(key, u32(0, 0x243f6a88, 0), u32(0, 0x85a308d3, 0));
  assert.deepEqual(hex(u32(y0[1], y1[1])), ["c4923a9c", "483df7a0"]);
  assert.equal(y0[0], y0[2]);
  assert.equal(y1[0], y1[2]);
  assert.notEqual(y0[0], y0[1]);
  assert.throws(() => threefry2x32(key, u32(1, 2), u32(1)), /differ in length/);
  assert.throws(() => threefry2x32(u32(1, 2, 3), u32(1), u32(1)), /Uint32Array of length 2/);
});

Deno.test("keyFromSeed follows jax.random.PRNGKey (jax tests test_prng_seeds_and_keys, 32-bit mode)", () => {
  assert.deepEqual([...keyFromSeed(0)], [0, 0]);
  assert.deepEqual([...keyFromSeed(3)], [0, 3]);
  assert.deepEqual([...keyFromSeed(-1)], [0, 4294967295]);
  assert.deepEqual([...keyFromSeed(-2)], [0, 4294967294]);
  assert.deepEqual([...keyFromSeed(2 ** 31 - 1 + 100)], [0, 2147483747]);
  assert.deepEqual([...keyFromSeed(2 ** 32 + 5)], [1, 5]);
  assert.throws(() => keyFromSeed(1.5), /seed must be an integer/);
});

Deno.test("split, fold_in and random bits match jax's testPRNGValues / testRngRandomBits (original layout)", () => {
  const k = keyFromSeed(0);
  assert.deepEqual(splitKey(k, 4).map((x) => [...x]), [
    [2285895361, 1501764800],
    [1518642379, 4090693311],
    [433833334, 4221794875],
    [839183663, 3740430601],
  ]);
  assert.deepEqual([...foldIn(k, 4)], [2285895361, 433833334]);
  assert.deepEqual([...randomBits(keyFromSeed(1701), 3)], [56197195, 4200222568, 961309823]);
  // split(k, n) takes its words from random_bits(k, 2n) in the original layout.
  assert.deepEqual([...randomBits(k, 8)], splitKey(k, 4).flatMap((x) => [...x]));
});

Deno.test("partitionable layout: split(k)[i] == fold_in(k, i) (jax test_threefry_split_fold_in_symmetry)", () => {
  fc.assert(fc.property(arbKey, fc.integer({ min: 1, max: 20 }), (key, n) => {
    const keys = splitKey(key, n, { partitionable: true });
    keys.forEach((s, i) => assert.deepEqual([...s], [...foldIn(key, i)]));
  }));
  // Element i of the partitionable bits is the xor of the two words of threefry(key, (0, i)).
  const key = keyFromSeed(7);
  const bits = randomBits(key, 5, { partitionable: true });
  const [y0, y1] = threefry2x32(key, new Uint32Array(5), u32(0, 1, 2, 3, 4));
  assert.deepEqual([...bits], Array.from(y0, (v, i) => (v ^ y1[i]) >>> 0));
});

Deno.test("randomBits hashes the counters 0..n-1 as JAX does (halves paired, odd n padded with a 0 counter)", () => {
  fc.assert(fc.property(arbKey, fc.integer({ min: 0, max: 40 }), (key, n) => {
    const half = Math.ceil(n / 2);
    const x0 = Uint32Array.from({ length: half }, (_, i) => i);
    const x1 = Uint32Array.from({ length: half }, (_, i) => (half + i < n ? half + i : 0));
    const [y0, y1] = threefry2x32(key, x0, x1);
    const expected = [...y0, ...y1].slice(0, n);
    assert.deepEqual([...randomBits(key, n)], expected);
  }));
});

Deno.test("split is deterministic and its keys are distinct from each other and from the parent", () => {
  fc.assert(fc.property(arbKey, fc.integer({ min: 2, max: 16 }), fc.boolean(), (key, n, partitionable) => {
    const a = splitKey(key, n, { partitionable });
    const b = splitKey(Uint32Array.from(key), n, { partitionable });
    assert.deepEqual(a.map((k) => [...k]), b.map((k) => [...k]));
    const seen = new Set(a.map((k) => `${k[0]},${k[1]}`));
    seen.add(`${key[0]},${key[1]}`);
    assert.equal(seen.size, n + 1);
  }));
});

Deno.test("foldIn separates data values and wraps negatives as uint32", () => {
  const k = keyFromSeed(42);
  const keys = new Set(Array.from({ length: 64 }, (_, i) => foldIn(k, i).join(",")));
  assert.equal(keys.size, 64);
  assert.deepEqual([...foldIn(k, -1)], [...foldIn(k, 2 ** 32 - 1)]);
  assert.throws(() => foldIn(k, 0.5), /32-bit integer/);
});

Deno.test("random bits are balanced: each bit position is set about half the time", () => {
  fc.assert(
    fc.property(arbKey, fc.boolean(), (key, partitionable) => {
      const n = 4096;
      const bits = randomBits(key, n, { partitionable });
      for (let b = 0; b < 32; b++) {
        let ones = 0;
        for (let i = 0; i < n; i++) ones += (bits[i] >>> b) & 1;
        // 6 standard deviations of Binomial(4096, 1/2) is 192.
        assert.ok(Math.abs(ones - n / 2) < 192, `bit ${b}: ${ones} ones of ${n}`);
      }
    }),
    { numRuns: 20 },
  );
});
