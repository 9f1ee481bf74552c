import assert from "node:assert/strict";
import fc from "fast-check";
import { PROCEDURAL_CLASSES, proceduralDataset } from "../lib/data/procedural.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";
import { level, whiteNoise } from "../lib/data/synth.ts";

const small = (seed: number, split: "train" | "eval" = "train", size = 50) =>
  proceduralDataset({ seed, split, size, sampleRate: 8000, seconds: 1 });

Deno.test("procedural: at least 12 classes, names unique, shapes and ranges", () => {
  const ds = small(0);
  assert.ok(ds.classNames.length >= 12);
  assert.equal(new Set(ds.classNames).size, ds.classNames.length);
  assert.deepEqual(ds.classNames, PROCEDURAL_CLASSES);
  assert.equal(ds.length, 50);
  for (let i = 0; i < ds.length; i++) {
    const item = ds.get(i);
    assert.equal(item.waveform.length, 8000);
    assert.equal(item.target.length, ds.classNames.length);
    for (const v of item.waveform) assert.ok(Number.isFinite(v) && Math.abs(v) <= 1, `sample ${v}`);
    assert.ok(item.events.length <= 3);
    // The target is exactly the multi-hot of the events, which have distinct classes.
    const hot = [...item.target].flatMap((v, c) => (v === 1 ? [c] : []));
    assert.deepEqual(hot, [...new Set(item.events.map((e) => e.label))].sort((a, b) => a - b));
    assert.equal(hot.length, item.events.length);
    for (const v of item.target) assert.ok(v === 0 || v === 1);
  }
});

Deno.test("procedural: item i is a pure function of (seed, split, i), in any access order", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 999 }), (seed, i) => {
      const a = proceduralDataset({ seed, split: "train", size: 1000, sampleRate: 8000, seconds: 0.5 });
      const b = proceduralDataset({ seed, split: "train", size: 1000, sampleRate: 8000, seconds: 0.5 });
      b.get((i + 1) % 1000); // touching another index first must not matter
      const x = a.get(i);
      const y = b.get(i);
      assert.equal(x.name, y.name);
      assert.deepEqual(x.waveform, y.waveform);
      assert.deepEqual(x.target, y.target);
    }),
    { numRuns: 15 },
  );
});

Deno.test("procedural: train/eval streams and seeds differ; names say where an item comes from", () => {
  const train = small(3, "train");
  const evalSet = small(3, "eval");
  const other = small(4, "train");
  for (let i = 0; i < 10; i++) {
    assert.notDeepEqual(train.get(i).waveform, evalSet.get(i).waveform);
    assert.notDeepEqual(train.get(i).waveform, other.get(i).waveform);
    assert.notEqual(train.get(i).name, evalSet.get(i).name);
  }
  assert.match(train.get(7).name, /train.*7/);
});

Deno.test("procedural: every class occurs, event counts cover 0..3, events lie inside the clip", () => {
  const ds = proceduralDataset({ seed: 11, split: "train", size: 400, sampleRate: 8000, seconds: 1 });
  const classCounts = new Array(ds.classNames.length).fill(0);
  const eventCounts = [0, 0, 0, 0];
  for (let i = 0; i < ds.length; i++) {
    const item = ds.get(i);
    eventCounts[item.events.length]++;
    for (const e of item.events) {
      classCounts[e.label]++;
      assert.ok(e.onset >= 0 && e.onset + e.duration <= 1 + 1e-9, `event ${JSON.stringify(e)}`);
      assert.ok(e.snrDb >= 0 && e.snrDb <= 20);
    }
  }
  for (const [c, n] of classCounts.entries()) assert.ok(n > 0, `class ${ds.classNames[c]} never drawn`);
  for (const [k, n] of eventCounts.entries()) assert.ok(n > 0, `no clip with ${k} events`);
});

Deno.test("procedural: a loud single event raises the level inside its span above the background", () => {
  const ds = proceduralDataset({ seed: 5, split: "eval", size: 300, sampleRate: 8000, seconds: 2 });
  let checked = 0;
  for (let i = 0; i < ds.length && checked < 10; i++) {
    const { waveform, events } = ds.get(i);
    if (events.length !== 1 || events[0].snrDb < 10) continue;
    const e = events[0];
    const start = Math.round(e.onset * 8000);
    const len = Math.round(e.duration * 8000);
    const inside = level(waveform, start, len);
    const rest = new Float32Array([...waveform.subarray(0, start), ...waveform.subarray(start + len)]);
    if (rest.length < 800) continue;
    const outside = level(rest);
    assert.ok(
      Math.max(inside.rms / outside.rms, inside.peak / outside.peak) > 2,
      `${ds.classNames[e.label]}: inside ${JSON.stringify(inside)} outside ${JSON.stringify(outside)}`,
    );
    checked++;
  }
  assert.ok(checked >= 5, `only ${checked} single loud events found`);
});

Deno.test("procedural: generating a 10 s clip at 32 kHz is fast", () => {
  const ds = proceduralDataset({ seed: 0, split: "train", size: 40 });
  ds.get(0); // warm-up compiles the hot loops
  const t0 = performance.now();
  for (let i = 1; i < 21; i++) assert.equal(ds.get(i).waveform.length, 320000);
  const ms = (performance.now() - t0) / 20;
  // Target is ≲ 20 ms on a developer machine; the bound leaves room for slow CI runners.
  assert.ok(ms < 60, `${ms.toFixed(1)} ms per clip`);
});

Deno.test("procedural: bad options and indices are rejected with clear messages", () => {
  assert.throws(() => proceduralDataset({ seed: 0, split: "test" as "train", size: 1 }), /split must be/);
  assert.throws(() => proceduralDataset({ seed: 0, split: "train", size: -1 }), /size must be/);
  assert.throws(() => proceduralDataset({ seed: 0, split: "train", size: 1, sampleRate: 100 }), /sampleRate/);
  assert.throws(() => small(0).get(50), /index 50 out of range/);
  assert.throws(() => small(0).get(1.5), /out of range/);
});

Deno.test("whiteNoise: a pure function of the key, uniform in [−1, 1) with the uniform's moments", () => {
  const a = whiteNoise(keyFromSeed(3), 200_000), b = whiteNoise(keyFromSeed(3), 200_000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(whiteNoise(keyFromSeed(4), 16), a.subarray(0, 16));
  let sum = 0, sq = 0, lag = 0, lo = 1, hi = -1;
  for (let i = 0; i < a.length; i++) {
    sum += a[i];
    sq += a[i] * a[i];
    if (i > 0) lag += a[i] * a[i - 1];
    lo = Math.min(lo, a[i]);
    hi = Math.max(hi, a[i]);
  }
  const n = a.length;
  // Bounds of about five standard errors of each estimate.
  assert.ok(Math.abs(sum / n) < 5 * Math.sqrt(1 / 3 / n), `mean ${sum / n}`);
  assert.ok(Math.abs(sq / n - 1 / 3) < 5 * Math.sqrt(4 / 45 / n), `variance ${sq / n}`);
  assert.ok(Math.abs(lag / n) < 5 * (1 / 3) / Math.sqrt(n), `lag-1 correlation ${lag / n}`);
  assert.ok(lo >= -1 && hi < 1 && lo < -0.999 && hi > 0.999);
});
