/** The tensor front end (any backend) reproduces the torchaudio fixtures on the CPU reference. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { logMel, powerSpectrogram, powerToDb } from "../lib/audio/frontend.ts";
import { padOrTruncate } from "../lib/audio/waveform.ts";
import { loadFixture } from "./_fixtures.ts";
import { relError } from "./_gradcheck.ts";

const fx = loadFixture("mel");
const wave = fx.get("waveform")!;

// Both STFT forms: "fft" is the default, "dft" the one-convolution form kept for comparison.
for (const stft of ["fft", "dft"] as const) {
  Deno.test(`power spectrogram, stft "${stft}" (f32) within 1e-4 relative, dB within 1e-3`, () => {
    const w = T.tensor(Float32Array.from(wave.data), { shape: [1, wave.shape[0]] });
    const p = powerSpectrogram(w, { stft });
    const ref = fx.get("power_spectrogram")!;
    assert.deepEqual(p.shape.slice(1), ref.shape);
    const err = relError(p.toArray(), ref.data);
    assert.ok(err < 1e-4, `power relative error ${err}`);
    const fbank = loadFixture("mel").get("mel_fbank")!;
    const melT = T.tensor(Float32Array.from(fbank.data), { shape: fbank.shape as number[] });
    const db = powerToDb(T.matmul(T.transpose(melT), T.reshape(p, [513, -1])));
    const dbRef = fx.get("mel_db")!;
    const dbv = db.toArray();
    let worst = 0;
    for (let i = 0; i < dbv.length; i++) worst = Math.max(worst, Math.abs(dbv[i] - dbRef.data[i]));
    assert.ok(worst < 1e-3, `dB max abs error ${worst}`);
  });
}

Deno.test("normalised 10 s log-mel (f64) matches the fixture", () => {
  const x = padOrTruncate(Float32Array.from(wave.data), 320000);
  const y = logMel(T.tensor(Float64Array.from(x), { shape: [1, 320000], dtype: "f64" }));
  const ref = fx.get("normalized_10s")!;
  assert.deepEqual(y.shape, [1, 1, ...ref.shape]);
  const v = y.toArray();
  let worst = 0;
  for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i] - ref.data[i]));
  assert.ok(worst < 1e-3, `max abs error ${worst}`);
});

Deno.test("front end rejects bad shapes with the op and shape", () => {
  assert.throws(() => logMel(T.zeros([320000])), /powerSpectrogram: expects waveforms \[B, N\], got \[320000\]/);
  assert.throws(() => logMel(T.zeros([1, 100])), /too short for reflect padding/);
});
