import assert from "node:assert/strict";
import fc from "fast-check";
import { loadClip, padOrTruncate } from "../lib/audio/waveform.ts";
import { encodeWav } from "../lib/audio/wav.ts";

const FLAC = new URL("./data/tone_440hz_mono_22050.flac", import.meta.url); // 0.25 s, 440 Hz, amplitude 0.5

function rms(x: Float32Array): number {
  return Math.sqrt(x.reduce((a, v) => a + v * v, 0) / Math.max(1, x.length));
}

/** Frequency from the spacing of the first and last upward zero crossings. */
function toneFrequency(x: Float32Array, rate: number): number {
  const ups: number[] = [];
  for (let i = 1; i < x.length; i++) if (x[i - 1] < 0 && x[i] >= 0) ups.push(i - 1 + x[i - 1] / (x[i - 1] - x[i]));
  return ((ups.length - 1) * rate) / (ups[ups.length - 1] - ups[0]);
}

Deno.test("padOrTruncate: exact length, keeps the start, zero-pads the end", () => {
  fc.assert(
    fc.property(fc.float32Array({ maxLength: 300, noNaN: true }), fc.nat(400), fc.boolean(), (x, n, plain) => {
      const y = padOrTruncate(plain ? Array.from(x) : x, n);
      assert.equal(y.length, n);
      for (let i = 0; i < n; i++) assert.ok(Object.is(y[i], i < x.length ? x[i] : 0), `${i}`);
    }),
  );
  assert.equal(padOrTruncate(new Float32Array(5)).length, 320000);
  const x = Float32Array.of(1, 2);
  assert.notEqual(padOrTruncate(x, 2), x, "returns a new array");
  assert.throws(() => padOrTruncate(x, -1), /non-negative integer/);
  assert.throws(() => padOrTruncate(x, 1.5), /non-negative integer/);
});

Deno.test("loadClip: decode → mixdown → resample → pad, on a short FLAC", async () => {
  const clip = await loadClip(FLAC, { seconds: 1 });
  assert.equal(clip.length, 32000);
  const tone = clip.subarray(800, 7200); // inside the 0.25 s of audio
  assert.ok(Math.abs(toneFrequency(tone, 32000) / 440 - 1) < 0.002);
  assert.ok(Math.abs(rms(tone) / (0.5 / Math.SQRT2) - 1) < 0.02);
  assert.equal(rms(clip.subarray(8100)), 0, "zero padding after the audio");
});

Deno.test("loadClip: stereo 48 kHz WAV is averaged and truncated to the clip length", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const n = 48000 * 3;
    // the channels cancel except for a 1 kHz tone they share, so a wrong mixdown shows up as a wrong RMS
    const left = Float32Array.from(
      { length: n },
      (_, i) => 0.3 * Math.sin(i / 7) + 0.4 * Math.sin(2 * Math.PI * i / 48),
    );
    const right = Float32Array.from(
      { length: n },
      (_, i) => -0.3 * Math.sin(i / 7) + 0.4 * Math.sin(2 * Math.PI * i / 48),
    );
    const path = `${dir}/stereo.wav`;
    await Deno.writeFile(path, encodeWav([left, right], { sampleRate: 48000, format: "float32" }));
    const clip = await loadClip(path, { sampleRate: 16000, seconds: 2 });
    assert.equal(clip.length, 32000);
    const mid = clip.subarray(1000, 31000);
    assert.ok(Math.abs(toneFrequency(mid, 16000) / 1000 - 1) < 1e-3);
    assert.ok(Math.abs(rms(mid) - 0.4 / Math.SQRT2) < 1e-3, `rms ${rms(mid)}`);
    await assert.rejects(() => loadClip(`${dir}/nope.wav`), /nope\.wav: cannot read file/);
    await assert.rejects(() => loadClip(path, { sampleRate: 0 }), /positive sample rate/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
