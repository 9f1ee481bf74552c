import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { erasingMaskFromBoxes, logMel } from "../lib/audio/frontend.ts";
import { erasingBoxArray, erasingMask, randomErasingBoxes } from "../lib/data/augment.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { gpu, GPU_TEST, readTree } from "./_gpu_fixture.ts";

const dims = fc.record({
  batch: fc.integer({ min: 1, max: 5 }),
  bins: fc.integer({ min: 2, max: 17 }),
  frames: fc.integer({ min: 2, max: 23 }),
  count: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(1000),
});

function boxesOf(d: { batch: number; bins: number; frames: number; count: number; seed: number }) {
  // p = 0.75 so most batches hold both erased and untouched clips.
  const boxes = randomErasingBoxes(keyFromSeed(d.seed), d.batch, d.bins, d.frames, { p: 0.75, count: d.count });
  const array = T.tensor(erasingBoxArray(boxes, d.batch, d.count), { shape: [d.batch, d.count, 4] });
  return { boxes, array };
}

Deno.test("erasing: the in-step mask from boxes equals the host mask, in both layouts", () => {
  fc.assert(
    fc.property(dims, (d) => {
      const { boxes, array } = boxesOf(d);
      const want = erasingMask(boxes, d.batch, d.bins, d.frames);
      assert.deepEqual(erasingMaskFromBoxes(array, d.bins, d.frames).toArray(), want);
      const binsFirst = T.transpose(erasingMaskFromBoxes(array, d.bins, d.frames, true), [2, 0, 1]);
      assert.deepEqual(binsFirst.toArray(), want);
    }),
    { numRuns: 40 },
  );
});

Deno.test("erasing: logMel with boxes equals logMel with the mask (fft and dft)", () => {
  const fe = { sampleRate: 8000, nFft: 64, hop: 32, nMels: 8, fMin: 50, fMax: 3800 };
  const wave = T.mul(T.normal(T.randomKey(3), [3, 640], { dtype: "f64" }), 0.1);
  const d = { batch: 3, bins: 33, frames: 21, count: 2, seed: 9 };
  const { boxes, array } = boxesOf(d);
  assert.ok(boxes.length > 0);
  const mask = T.tensor(erasingMask(boxes, 3, 33, 21), { shape: [3, 33, 21], dtype: "f64" });
  for (const stft of ["fft", "dft"] as const) {
    const a = logMel(wave, { ...fe, stft, erasing: mask }).toArray();
    const b = logMel(wave, { ...fe, stft, erasingBoxes: array }).toArray();
    assert.deepEqual(b, a, stft);
    assert.notDeepEqual(b, logMel(wave, { ...fe, stft }).toArray(), `${stft}: erasing changes the output`);
  }
  assert.throws(() => erasingMaskFromBoxes(T.zeros([3, 4]), 4, 4), /boxes must be \[B, C, 4\]/);
  assert.throws(() => erasingBoxArray(boxes, 1, 2), /outside a batch of 1|more than/);
});

Deno.test("erasing: the GPU builds the same mask", GPU_TEST, async () => {
  const d = { batch: 4, bins: 13, frames: 19, count: 2, seed: 4 };
  const { boxes, array } = boxesOf(d);
  const g = compileGpu((b: T.Tensor) => erasingMaskFromBoxes(b, 13, 19, true), { device: gpu!, readback: "all" });
  try {
    const got = T.transpose(T.tensor((await readTree(await g(array))) as Float32Array, { shape: [13, 19, 4] }), [
      2,
      0,
      1,
    ]);
    assert.deepEqual(got.toArray(), erasingMask(boxes, 4, 13, 19));
  } finally {
    g.dispose();
  }
});
