import assert from "node:assert/strict";
import fc from "fast-check";
import { Effect, Stream } from "effect";
import { type Batch, batchStream, epochOrder, LoadError, recycleFor, runEpoch } from "../lib/data/loader.ts";
import { proceduralDataset } from "../lib/data/procedural.ts";
import { augmentWaveform } from "../lib/data/augment.ts";
import type { AudioItem } from "../lib/data/dataset.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";

const procedural = (size: number) =>
  proceduralDataset({ seed: 0, split: "train", size, sampleRate: 8000, seconds: 0.25 });

async function collect(ds: Parameters<typeof runEpoch>[0], opts: Parameters<typeof runEpoch>[1]): Promise<Batch[]> {
  const out: Batch[] = [];
  await runEpoch(ds, opts, (b) => void out.push(b));
  return out;
}

/** A dataset of `n` tiny items; items in `bad` reject (after a delay, to interleave with good ones). */
function fakeDataset(n: number, bad: ReadonlySet<number>, log: number[] = []) {
  return {
    length: n,
    pathOf: (i: number) => `clips/${i}.wav`,
    async get(i: number): Promise<AudioItem> {
      log.push(i);
      await new Promise((r) => setTimeout(r, (i * 7) % 3));
      if (bad.has(i)) throw new Error(`clips/${i}.wav: truncated file\nstack details`);
      return { name: `item${i}`, waveform: Float32Array.of(i, -i, i / 2), target: Float32Array.of(i % 2, 1 - (i % 2)) };
    },
  };
}

Deno.test("loader: one epoch of the procedural dataset is a keyed permutation in collated batches", async () => {
  const ds = procedural(37);
  const key = keyFromSeed(5);
  const batches = await collect(ds, { batchSize: 8, key });
  assert.deepEqual(batches.map((b) => b.shape[0]), [8, 8, 8, 8, 5]);
  const order = batches.flatMap((b) => [...b.indices]);
  assert.deepEqual(order, [...epochOrder(37, key)]);
  assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 37 }, (_, i) => i));
  assert.notDeepEqual(order, Array.from({ length: 37 }, (_, i) => i));
  const b = batches[1];
  assert.equal(b.shape[1], 2000);
  assert.equal(b.classes, ds.classNames.length);
  for (let r = 0; r < b.shape[0]; r++) {
    const item = ds.get(b.indices[r]);
    assert.equal(b.names[r], item.name);
    assert.deepEqual(b.x.subarray(r * 2000, (r + 1) * 2000), item.waveform);
    assert.deepEqual(b.targets.subarray(r * b.classes, (r + 1) * b.classes), item.target);
  }
});

Deno.test("loader: batches do not depend on concurrency or prefetch; dropLast and unkeyed order", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 3 }),
      async (n, batchSize, concurrency, prefetch) => {
        const ds = fakeDataset(n, new Set());
        const key = keyFromSeed(n);
        const ref = await collect(ds, { batchSize, key, concurrency: 1, prefetch: 0 });
        const got = await collect(ds, { batchSize, key, concurrency, prefetch });
        assert.deepEqual(got.map((b) => [...b.indices]), ref.map((b) => [...b.indices]));
        assert.deepEqual(got.map((b) => b.x), ref.map((b) => b.x));
        const dropped = await collect(ds, { batchSize, key, dropLast: true, concurrency });
        assert.equal(dropped.length, Math.floor(n / batchSize));
        for (const b of dropped) assert.equal(b.shape[0], batchSize);
      },
    ),
    { numRuns: 12 },
  );
  const plain = await collect(fakeDataset(5, new Set()), { batchSize: 2 });
  assert.deepEqual(plain.map((b) => [...b.indices]), [[0, 1], [2, 3], [4]]);
});

Deno.test("loader: skipBad leaves failing items out and reports their count and names", async () => {
  const bad = new Set([3, 4, 11]);
  const reported: string[] = [];
  const batches: Batch[] = [];
  const summary = await runEpoch(
    fakeDataset(14, bad),
    { batchSize: 4, key: keyFromSeed(1), skipBad: true, concurrency: 3, onBad: (b) => reported.push(b.name) },
    (b) => void batches.push(b),
  );
  assert.equal(summary.skipped, 3);
  assert.equal(summary.items, 11);
  assert.deepEqual(batches.map((b) => b.shape[0]), [4, 4, 3]);
  assert.equal(summary.batches, 3);
  assert.deepEqual(summary.bad.map((b) => b.index).sort((a, b) => a - b), [3, 4, 11]);
  assert.deepEqual(summary.bad.map((b) => b.name).sort(), ["clips/11.wav", "clips/3.wav", "clips/4.wav"]);
  assert.deepEqual([...reported].sort(), ["clips/11.wav", "clips/3.wav", "clips/4.wav"]);
  for (const b of summary.bad) assert.equal(b.message, `clips/${b.index}.wav: truncated file`);
  for (const b of batches) for (const i of b.indices) assert.ok(!bad.has(i));
});

Deno.test("loader: without skipBad the first failure fails the epoch with its one-line message", async () => {
  await assert.rejects(
    runEpoch(fakeDataset(10, new Set([6])), { batchSize: 3, concurrency: 2 }, () => {}),
    (e: Error) => e instanceof LoadError && e.message === "clips/6.wav: truncated file" && e.item.index === 6,
  );
  // The same failure through the raw stream.
  const stream = batchStream(fakeDataset(4, new Set([2])), { batchSize: 2 });
  await assert.rejects(Effect.runPromise(Stream.runCollect(stream)), /^LoadError: clips\/2\.wav: truncated file$/);
  // A consumer's own error ends the epoch unchanged.
  await assert.rejects(
    runEpoch(fakeDataset(4, new Set()), { batchSize: 2 }, () => {
      throw new Error("consumer broke");
    }),
    /consumer broke/,
  );
});

Deno.test("loader: per-item augmentation gets keys from the epoch key and dataset index", async () => {
  const ds = procedural(6);
  const augment = (item: AudioItem, key: Uint32Array) => ({ ...item, waveform: augmentWaveform(key, item.waveform) });
  const a = await collect(ds, { batchSize: 3, key: keyFromSeed(2), augment });
  const b = await collect(ds, { batchSize: 3, key: keyFromSeed(2), augment, concurrency: 1 });
  assert.deepEqual(a.map((x) => x.x), b.map((x) => x.x));
  const plain = await collect(ds, { batchSize: 3, key: keyFromSeed(2) });
  assert.deepEqual(a.map((x) => [...x.indices]), plain.map((x) => [...x.indices]));
  assert.notDeepEqual(a.map((x) => x.x), plain.map((x) => x.x));
  assert.throws(() => batchStream(ds, { batchSize: 2, augment }), /augment needs an epoch key/);
  // A failing augmentation counts as a bad item.
  const summary = await runEpoch(
    ds,
    {
      batchSize: 2,
      key: keyFromSeed(2),
      skipBad: true,
      augment: (item, _k, i) => {
        if (i === 1) throw new Error("augment failed");
        return item;
      },
    },
    () => {},
  );
  assert.deepEqual(summary.bad, [{ index: 1, name: "#1", message: "augment failed" }]);
});

Deno.test("loader: prefetch prepares batches ahead of a slow consumer", async () => {
  const ahead = async (prefetch: number) => {
    const log: number[] = [];
    let fetchedDuringFirst = 0;
    await runEpoch(fakeDataset(40, new Set(), log), { batchSize: 4, prefetch, concurrency: 4 }, async (b) => {
      if (b.indices[0] !== 0) return;
      await new Promise((r) => setTimeout(r, 60));
      fetchedDuringFirst = log.length;
    });
    return fetchedDuringFirst;
  };
  const buffered = await ahead(3);
  const unbuffered = await ahead(0);
  // With 3 batches buffered, at least 4 batches (16 items) are loaded while the first is consumed.
  assert.ok(buffered >= 16, `prefetch 3 loaded ${buffered} items`);
  assert.ok(unbuffered < buffered, `prefetch 0 loaded ${unbuffered}, prefetch 3 loaded ${buffered}`);
});

Deno.test("loader: bad options and inconsistent items are clear errors", async () => {
  const ds = fakeDataset(4, new Set());
  assert.throws(() => batchStream(ds, { batchSize: 0 }), /batchSize must be/);
  assert.throws(() => batchStream(ds, { batchSize: 2, concurrency: 0 }), /concurrency must be/);
  const ragged = {
    length: 2,
    get: (i: number) => ({ name: `r${i}`, waveform: new Float32Array(3 + i), target: new Float32Array(2) }),
  };
  await assert.rejects(
    runEpoch(ragged, { batchSize: 2 }, () => {}),
    /r1: waveform has 4 samples, the batch's first has 3/,
  );
});

Deno.test("loader: recycled batch arrays come back every `recycle` batches and hold each batch when consumed", async () => {
  const ds = fakeDataset(12, new Set());
  const seen: { x: Float32Array; copy: number[] }[] = [];
  const stream = batchStream(ds, { batchSize: 2, recycle: 3, prefetch: 0 });
  await Effect.runPromise(
    Stream.runForEach(stream, (b) => Effect.sync(() => void seen.push({ x: b.x, copy: [...b.x] }))),
  );
  assert.equal(seen.length, 6);
  seen.forEach((b, k) => {
    assert.deepEqual(b.copy, [2 * k, -2 * k, k, 2 * k + 1, -(2 * k + 1), (2 * k + 1) / 2], `batch ${k} when consumed`);
    if (k >= 3) assert.equal(b.x, seen[k - 3].x, `batch ${k} reuses the array of batch ${k - 3}`);
    if (k >= 1) assert.notEqual(b.x, seen[k - 1].x);
  });
  assert.throws(() => batchStream(ds, { batchSize: 2, recycle: -1 }), /recycle must be an integer ≥ 0/);
});

/** `fakeDataset` that can also write its items in place, counting how items were asked for. */
function inPlaceDataset(n: number, bad: ReadonlySet<number>, delay = true) {
  const base = fakeDataset(n, bad);
  const calls = { get: 0, getInto: 0 };
  const source = {
    ...base,
    samples: 3,
    get(i: number) {
      calls.get++;
      return base.get(i);
    },
    async getInto(i: number, dest: Float32Array) {
      calls.getInto++;
      if (!delay && !bad.has(i)) {
        dest.set([i, -i, i / 2]);
        return { name: `item${i}`, target: Float32Array.of(i % 2, 1 - (i % 2)) };
      }
      const { waveform, ...meta } = await base.get(i);
      dest.set(waveform);
      return meta;
    },
  };
  return { source, calls };
}

/** The batches of a stream as the consumer sees them when it takes each (copies: recycled arrays change later). */
async function snapshots(stream: Stream.Stream<Batch, Error>) {
  const out: { x: number[]; targets: number[]; names: string[]; indices: number[]; shared: boolean }[] = [];
  await Effect.runPromise(Stream.runForEach(stream, (b) =>
    Effect.sync(() =>
      void out.push({
        x: [...b.x],
        targets: [...b.targets],
        names: [...b.names],
        indices: [...b.indices],
        shared: b.x.buffer instanceof SharedArrayBuffer,
      })
    )));
  return out;
}

Deno.test("loader: items written in place give the copying path's batches, with skipped items and a partial batch", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 23 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 0, max: 3 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 22 }), { maxLength: 4 }),
      fc.boolean(),
      fc.boolean(),
      async (n, batchSize, conc, prefetch, badList, dropLast, keyed) => {
        const bad = new Set(badList);
        const concurrency = Math.min(conc, batchSize);
        const opts = {
          batchSize,
          concurrency,
          prefetch,
          dropLast,
          skipBad: true,
          key: keyed ? keyFromSeed(n) : undefined,
        };
        const { source, calls } = inPlaceDataset(n, bad);
        const { getInto: _, samples: __, ...copying } = source;
        const want = await snapshots(batchStream(copying, opts));
        calls.get = calls.getInto = 0;
        const got = await snapshots(batchStream(source, { ...opts, recycle: recycleFor(prefetch) }));
        assert.deepEqual(got.map(({ shared: _, ...b }) => b), want.map(({ shared: _, ...b }) => b));
        assert.ok(got.every((b) => b.shared), "batches live in shared memory");
        // Every item up to the first skip is written in place; after it they come back whole.
        const order = [...epochOrder(n, opts.key)];
        const firstBad = order.findIndex((i) => bad.has(i));
        if (firstBad < 0) assert.deepEqual(calls, { get: 0, getInto: n });
        else assert.ok(calls.getInto >= firstBad + 1 && calls.getInto + calls.get === n, JSON.stringify(calls));
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("loader: the copying path stays where items cannot go in place (no recycling, concurrency > batch)", async () => {
  const { source, calls } = inPlaceDataset(8, new Set());
  const plain = await snapshots(batchStream(source, { batchSize: 2, concurrency: 2, recycle: 0 }));
  const wide = await snapshots(batchStream(source, { batchSize: 2, concurrency: 3, recycle: recycleFor(2) }));
  assert.deepEqual(calls, { get: 16, getInto: 0 });
  assert.ok(plain.concat(wide).every((b) => !b.shared));
  assert.deepEqual(wide, plain);
  assert.throws(
    () => batchStream(source, { batchSize: 2, prefetch: 2, recycle: recycleFor(2) - 1 }),
    /recycle must be 0 or ≥ 6 with prefetch 2/,
  );
});

Deno.test("loader: under recycleFor(prefetch) no batch array is rewritten while the consumer holds its batch", async () => {
  // Items are ready at once and the consumer is slow, so preparation runs as far ahead as the stream lets it.
  const overwritten = async (prefetch: number, recycle: number, outer: boolean) => {
    const { source } = inPlaceDataset(96, new Set(), false);
    const inner = batchStream(source, { batchSize: 4, concurrency: 4, prefetch: outer ? 0 : prefetch, recycle });
    const stream = outer ? inner.pipe(Stream.buffer({ capacity: prefetch })) : inner;
    let k = 0, changed = 0;
    await Effect.runPromise(Stream.runForEach(stream, (b) =>
      Effect.promise(async () => {
        // Batch k holds items 4k … 4k + 3 when taken, and still does when the consumer is done with it.
        const want = [0, 1, 2, 3].flatMap((r) => [4 * k + r, -(4 * k + r), (4 * k + r) / 2]);
        const same = () => b.x.every((v, i) => v === want[i]);
        const taken = same();
        await new Promise((r) => setTimeout(r, 3));
        if (!taken || !same()) changed++;
        k++;
      })));
    assert.equal(k, 24);
    return changed;
  };
  for (const prefetch of [1, 2, 3]) {
    assert.equal(await overwritten(prefetch, recycleFor(prefetch), false), 0, `prefetch ${prefetch}`);
    assert.equal(await overwritten(prefetch, recycleFor(prefetch), true), 0, `buffer ${prefetch}`);
    // The bound is tight: one array fewer and held batches are overwritten.
    assert.ok(await overwritten(prefetch, recycleFor(prefetch) - 1, true) > 0, `buffer ${prefetch}, one fewer`);
  }
});
