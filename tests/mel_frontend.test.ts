import assert from "node:assert/strict";
import fc from "fast-check";
import { FRONTEND } from "../lib/audio/mel.ts";
import { frontendReference, padOrTruncate, planRealFft, reflectPad } from "../lib/audio/stft_reference.ts";
import { fixtureTensor, loadFixture, loadManifest } from "./_fixtures.ts";

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const fx = loadFixture("mel");
const wave = fixtureTensor(fx, "waveform").data;
const stages = frontendReference(wave);

Deno.test("power spectrogram matches torchaudio (norm-wise and elementwise where not tiny)", () => {
  const expected = fixtureTensor(fx, "power_spectrogram");
  assert.deepEqual(stages.power.shape, expected.shape);
  assert.ok(relativeError(stages.power.data, expected.data) < 1e-4);
  const peak = expected.data.reduce((a, b) => Math.max(a, b), 0);
  for (let i = 0; i < expected.data.length; i++) {
    // float32 FFT noise is ~1e-7 of the frame's energy, so only values above a millionth of the peak carry 1e-4.
    if (expected.data[i] < 1e-6 * peak) continue;
    const rel = Math.abs(stages.power.data[i] - expected.data[i]) / expected.data[i];
    assert.ok(rel < 1e-4, `power[${i}] ${stages.power.data[i]} vs ${expected.data[i]}`);
  }
});

Deno.test("mel power, dB and normalised stages match the fixture", () => {
  const mel = fixtureTensor(fx, "mel_power");
  assert.deepEqual(stages.mel.shape, mel.shape);
  assert.ok(relativeError(stages.mel.data, mel.data) < 1e-4);
  const db = fixtureTensor(fx, "mel_db");
  assert.ok(maxAbsError(stages.db.data, db.data) < 1e-3);
  const normalized = fixtureTensor(fx, "normalized");
  assert.ok(maxAbsError(stages.normalized.data, normalized.data) < 1e-3);
});

Deno.test("10 s input: waveform zero-padded at the end to 320000 samples gives normalized_10s", () => {
  const expected = fixtureTensor(fx, "normalized_10s");
  const shapes = (loadManifest().mel as { shapes: Record<string, number[]> }).shapes;
  assert.deepEqual(shapes.normalized_10s, [FRONTEND.nMels, 1 + FRONTEND.clipSamples / FRONTEND.hop]);
  const out = frontendReference(padOrTruncate(wave, FRONTEND.clipSamples)).normalized;
  assert.deepEqual(out.shape, expected.shape);
  assert.ok(maxAbsError(out.data, expected.data) < 1e-3);
  // Silence after the clip floors at −100 dB.
  const last = out.data[out.shape[1] - 1];
  assert.ok(Math.abs(last - (-100 - FRONTEND.mean) / FRONTEND.std) < 1e-12);
});

Deno.test("padOrTruncate keeps the first samples or zero-pads at the end", () => {
  assert.deepEqual([...padOrTruncate([1, 2, 3], 5)], [1, 2, 3, 0, 0]);
  assert.deepEqual([...padOrTruncate([1, 2, 3], 2)], [1, 2]);
  assert.deepEqual([...reflectPad([1, 2, 3, 4], 2)], [3, 2, 1, 2, 3, 4, 3, 2]);
  assert.throws(() => reflectPad([1, 2], 2), /needs a signal longer than 2/);
});

Deno.test("real FFT equals the direct DFT", () => {
  fc.assert(fc.property(fc.constantFrom(2, 4, 16, 64, 128), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
    let s = seed;
    const x = Float64Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
    const re = new Float64Array(n / 2 + 1);
    const im = new Float64Array(n / 2 + 1);
    planRealFft(n).forward(x, re, im);
    for (let k = 0; k <= n / 2; k++) {
      let a = 0;
      let b = 0;
      for (let i = 0; i < n; i++) {
        a += x[i] * Math.cos((2 * Math.PI * i * k) / n);
        b -= x[i] * Math.sin((2 * Math.PI * i * k) / n);
      }
      assert.ok(Math.abs(a - re[k]) < 1e-10 && Math.abs(b - im[k]) < 1e-10, `n ${n} bin ${k}`);
    }
  }));
  assert.throws(() => planRealFft(12), /power of two/);
});
