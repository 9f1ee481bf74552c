import assert from "node:assert/strict";
import fc from "fast-check";
import { resample } from "../lib/audio/resample.ts";

function tone(hz: number, rate: number, n: number, amplitude = 1, phase = 0): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / rate + phase));
}

/** Largest deviation from the ideal tone at the new rate, away from the zero-padded ends. */
function toneError(hz: number, from: number, to: number, phase = 0.3): number {
  const y = resample(tone(hz, from, from / 2, 0.8, phase), from, to);
  const ideal = tone(hz, to, y.length, 0.8, phase);
  let err = 0;
  for (let j = Math.floor(0.1 * y.length); j < 0.9 * y.length; j++) err = Math.max(err, Math.abs(y[j] - ideal[j]));
  return err;
}

/** Output RMS relative to an input sine of unit amplitude, in dB, away from the ends. */
function levelDb(hz: number, from: number, to: number): number {
  const y = resample(tone(hz, from, from / 2), from, to);
  const mid = y.subarray(Math.floor(0.1 * y.length), Math.floor(0.9 * y.length));
  const rms = Math.sqrt(mid.reduce((a, v) => a + v * v, 0) / mid.length);
  return 20 * Math.log10(rms / Math.SQRT1_2);
}

Deno.test("resample: passband tones keep frequency, phase and amplitude (44.1k→32k, 16k→32k)", () => {
  for (const hz of [50, 440, 1000, 5000, 12000, 14500]) {
    assert.ok(toneError(hz, 44100, 32000) < 1e-3, `44.1k→32k ${hz} Hz: ${toneError(hz, 44100, 32000)}`);
  }
  for (const hz of [50, 440, 1000, 3000, 7000]) {
    assert.ok(toneError(hz, 16000, 32000) < 1e-3, `16k→32k ${hz} Hz: ${toneError(hz, 16000, 32000)}`);
  }
  // other common ratios, including one with no small rational form (evaluated by interpolated phases)
  for (const [from, to] of [[48000, 32000], [22050, 32000], [32000, 16000], [44100, 32001], [16000, 31999.5]]) {
    assert.ok(toneError(1000, from, to) < 1e-3, `${from}→${to}`);
  }
});

Deno.test("resample: tones above the new Nyquist are attenuated by more than 40 dB", () => {
  for (const hz of [18000, 20000, 21500]) {
    assert.ok(levelDb(hz, 44100, 32000) < -40, `44.1k→32k ${hz} Hz at ${levelDb(hz, 44100, 32000)} dB`);
  }
  assert.ok(levelDb(20000, 48000, 32000) < -40);
  assert.ok(levelDb(10000, 32000, 16000) < -40);
});

Deno.test("resample: length, identity, DC and linearity", () => {
  assert.equal(resample(new Float32Array(44100), 44100, 32000).length, 32000);
  assert.equal(resample(new Float32Array(1001), 16000, 32000).length, 2002);
  assert.equal(resample(new Float32Array(10), 44100, 32000).length, Math.ceil((10 * 32000) / 44100));
  assert.equal(resample(new Float32Array(0), 44100, 32000).length, 0);
  const x = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i));
  assert.deepEqual(resample(x, 22050, 22050), x);
  // every polyphase filter has unit DC gain, so a constant stays constant away from the edges
  const dc = resample(new Float32Array(4000).fill(0.7), 44100, 32000);
  for (let j = 100; j < dc.length - 100; j++) assert.ok(Math.abs(dc[j] - 0.7) < 1e-6, `${j}: ${dc[j]}`);
  fc.assert(
    fc.property(
      fc.float32Array({ minLength: 1, maxLength: 200, noNaN: true, noDefaultInfinity: true, min: -1, max: 1 }),
      fc.double({ min: -2, max: 2, noNaN: true }),
      fc.constantFrom([44100, 32000], [16000, 32000], [8000, 11025]),
      (a, k, [from, to]) => {
        const b = a.map((v, i) => Math.cos(i) * v);
        const lhs = resample(a.map((v, i) => v + k * b[i]), from, to);
        const ra = resample(a, from, to);
        const rb = resample(b, from, to);
        for (let j = 0; j < lhs.length; j++) assert.ok(Math.abs(lhs[j] - (ra[j] + k * rb[j])) < 1e-5);
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("resample: rejects bad rates and options", () => {
  assert.throws(() => resample([1], 0, 32000), /rates must be positive/);
  assert.throws(() => resample([1], 16000, -1), /rates must be positive/);
  assert.throws(() => resample([1], 16000, Infinity), /rates must be positive/);
  assert.throws(() => resample([1], 16000, 32000, { rolloff: 1.5 }), /rolloff/);
  assert.throws(() => resample([1], 16000, 32000, { lowpassFilterWidth: 0 }), /lowpassFilterWidth/);
  assert.throws(() => resample([1], 16000, 32000, { beta: -1 }), /beta/);
});
