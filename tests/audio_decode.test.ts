import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeAudio, decodeAudioFile, mixdown } from "../lib/audio/decode.ts";
import { encodeWav, type WavSampleFormat } from "../lib/audio/wav.ts";

const DATA = new URL("./data/", import.meta.url);

// Committed fixtures: 0.25 s sine tones at amplitude 0.5, made with
//   sox -n -r 22050 -c 1 -b 16 tone_440hz_mono_22050.flac synth 0.25 sine 440 vol 0.5
//   sox -n -r 22050 -c 2 -b 16 st.wav synth 0.25 sine 440 sine 660 vol 0.5 && oggenc -q 2 -o <ogg> st.wav
//   sox -n -r 44100 -c 1 -b 16 m.wav synth 0.25 sine 1000 vol 0.5 && lame -b 64 m.wav <mp3>
const TONES = [
  { file: "tone_440hz_mono_22050.flac", sampleRate: 22050, hz: [440] },
  { file: "tone_440_660hz_stereo_22050.ogg", sampleRate: 22050, hz: [440, 660] },
  { file: "tone_1000hz_mono_44100.mp3", sampleRate: 44100, hz: [1000] },
];
const AMPLITUDE = 0.5;
const SECONDS = 0.25;

/** Frequency of a clean tone from the spacing of its first and last upward zero crossings (interpolated). */
function toneFrequency(x: Float32Array, sampleRate: number): number {
  const ups: number[] = [];
  for (let i = 1; i < x.length; i++) {
    if (x[i - 1] < 0 && x[i] >= 0) ups.push(i - 1 + x[i - 1] / (x[i - 1] - x[i]));
  }
  assert.ok(ups.length >= 3, "too few zero crossings to measure a frequency");
  return ((ups.length - 1) * sampleRate) / (ups[ups.length - 1] - ups[0]);
}

function rms(x: Float32Array): number {
  return Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
}

// Largest decode error allowed per format: half a quantization step of the smaller (positive-side) scale, plus the
// float32 rounding of the decoded value.
const TOLERANCE: Record<WavSampleFormat, number> = {
  pcm8: 0.5 / 127 + 1e-7,
  pcm16: 0.5 / 32767 + 1e-7,
  pcm24: 0.5 / 8388607 + 1e-7,
  pcm32: 1e-7,
  float32: 0,
  float64: 0,
};
const FORMATS = Object.keys(TOLERANCE) as WavSampleFormat[];

Deno.test("decode: every WAV sub-format and header kind from our encoder round-trips", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...FORMATS),
      fc.constantFrom(undefined, true, false),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 1, max: 192000 }),
      fc.infiniteStream(fc.double({ min: -1, max: 1, noNaN: true })),
      async (format, extensible, nch, frames, sampleRate, values) => {
        const channels = Array.from(
          { length: nch },
          () => Float64Array.from({ length: frames }, () => values.next().value),
        );
        const bytes = encodeWav(channels, { sampleRate, format, extensible });
        const got = await decodeAudio(bytes, `x.${format}.wav`);
        assert.equal(got.sampleRate, sampleRate);
        assert.equal(got.channels.length, nch);
        for (let c = 0; c < nch; c++) {
          assert.equal(got.channels[c].length, frames);
          for (let i = 0; i < frames; i++) {
            const want = format === "float32" || format === "float64" ? Math.fround(channels[c][i]) : channels[c][i];
            assert.ok(Math.abs(got.channels[c][i] - want) <= TOLERANCE[format], `${format} ch${c}[${i}]`);
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("decode: full-scale and clipped samples reach the extreme codes exactly", async () => {
  for (const format of FORMATS.filter((f) => f.startsWith("pcm"))) {
    const got = await decodeAudio(encodeWav([[1, -1, 3, -3, 0, NaN]], { sampleRate: 8000, format }), "clip.wav");
    assert.deepEqual(Array.from(got.channels[0]), [1, -1, 1, -1, 0, 0], format);
  }
});

Deno.test("decode: multi-channel WAV keeps channel order and mixes down to the mean", async () => {
  const n = 500;
  const chans = [0, 1, 2, 3, 4].map((c) =>
    Float32Array.from({ length: n }, (_, i) => 0.1 * (c + 1) * Math.sin(i / (c + 2)))
  );
  const got = await decodeAudio(encodeWav(chans, { sampleRate: 16000, format: "float32" }), "five.wav");
  assert.deepEqual(got.channels, chans);
  const mono = mixdown(got.channels);
  for (let i = 0; i < n; i++) {
    const mean = chans.reduce((a, ch) => a + ch[i], 0) / chans.length;
    assert.ok(Math.abs(mono[i] - mean) < 1e-7);
  }
});

Deno.test("mixdown: mean over channels, identity on duplicated channels, rejects bad input", () => {
  fc.assert(
    fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, min: -1, max: 1 }), fc.nat(4), (x, k) => {
      const copies = Array.from({ length: k + 1 }, () => x);
      const mono = mixdown(copies);
      assert.equal(mono.length, x.length);
      assert.ok(mono.every((v, i) => v === x[i])); // === so that the sign of a zero does not matter
    }),
  );
  assert.deepEqual(Array.from(mixdown([Float32Array.of(1, 0), Float32Array.of(0, 0.5)])), [0.5, 0.25]);
  assert.throws(() => mixdown([]), /no channels/);
  assert.throws(() => mixdown([new Float32Array(2), new Float32Array(3)]), /channel 1 has 3 samples/);
});

Deno.test("decode: FLAC, Ogg Vorbis and MP3 fixtures give their tones", async () => {
  for (const t of TONES) {
    const got = await decodeAudioFile(new URL(t.file, DATA));
    assert.equal(got.sampleRate, t.sampleRate, t.file);
    assert.equal(got.channels.length, t.hz.length, t.file);
    for (const [c, hz] of t.hz.entries()) {
      const x = got.channels[c];
      assert.ok(Math.abs(x.length / t.sampleRate - SECONDS) < 0.03, `${t.file}: ${x.length} samples`);
      // skip the first and last 20 ms, where lossy codecs smear the tone's onset and cut-off
      const mid = x.subarray(Math.round(0.02 * t.sampleRate), x.length - Math.round(0.02 * t.sampleRate));
      assert.ok(Math.abs(toneFrequency(mid, t.sampleRate) / hz - 1) < 0.005, `${t.file} ch${c} frequency`);
      assert.ok(Math.abs(rms(mid) / (AMPLITUDE / Math.SQRT2) - 1) < 0.1, `${t.file} ch${c} rms ${rms(mid)}`);
    }
  }
});

Deno.test("decode: the format comes from the content, not the extension", async () => {
  const flac = await Deno.readFile(new URL(TONES[0].file, DATA));
  const got = await decodeAudio(flac, "actually_flac.wav");
  assert.equal(got.sampleRate, TONES[0].sampleRate);
});

/** Asserts `p` rejects with a one-line message starting with `name: ` and matching `pattern`. */
async function rejectsNaming(p: Promise<unknown>, name: string, pattern: RegExp) {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e.message.startsWith(`${name}: `), e.message);
    assert.ok(!e.message.includes("\n"), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("decode: empty, non-audio, mislabelled and zero-length inputs fail naming the file", async () => {
  const text = new TextEncoder().encode("id,label\n1,dog\n2,cat\n");
  await rejectsNaming(decodeAudio(new Uint8Array(0), "a/empty.wav"), "a/empty.wav", /empty file/);
  await rejectsNaming(decodeAudio(text, "labels.csv"), "labels.csv", /not a recognized audio format/);
  await rejectsNaming(decodeAudio(text, "clip.wav"), "clip.wav", /named \.wav but the content is not WAV/);
  await rejectsNaming(decodeAudio(text, "clip.mp3"), "clip.mp3", /named \.mp3 but the content is not MP3/);
  await rejectsNaming(decodeAudio(new TextEncoder().encode("TAG mp3 lookalike"), "t.ogg"), "t.ogg", /not OGG/);
  await rejectsNaming(decodeAudio(new Uint8Array(4096), "zeros.flac"), "zeros.flac", /not FLAC/);
  const silent = encodeWav([new Float32Array(0)], { sampleRate: 16000 });
  await rejectsNaming(decodeAudio(silent, "none.wav"), "none.wav", /zero-length audio/);
});

Deno.test("decode: truncated and corrupted files fail naming the file", async () => {
  const wav = encodeWav([Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i / 5))], { sampleRate: 16000 });
  const files: [string, Uint8Array][] = [["tone.wav", wav]];
  for (const t of TONES) files.push([t.file, await Deno.readFile(new URL(t.file, DATA))]);
  for (const [name, bytes] of files) {
    for (const keep of [0.99, 0.9, 0.5, 0.1]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * keep));
      await rejectsNaming(decodeAudio(cut, name), name, /truncated|corrupt/);
    }
    await rejectsNaming(decodeAudio(bytes.subarray(0, 6), name), name, /truncated|not a recognized/);
  }
  // bit rot inside the compressed streams: Ogg CRCs, MP3 frame sync and FLAC frame CRCs all catch it
  for (const t of TONES) {
    const bad = (await Deno.readFile(new URL(t.file, DATA))).slice();
    for (let i = 200; i < bad.length; i += 7) bad[i] ^= 0x5a;
    await rejectsNaming(decodeAudio(bad, t.file), t.file, /corrupt/);
  }
  // float WAV samples that decode to infinities
  const inf = encodeWav([Float64Array.of(0, Infinity)], { sampleRate: 8000, format: "float64" });
  await rejectsNaming(decodeAudio(inf, "inf.wav"), "inf.wav", /corrupt: sample 1 is Infinity/);
});

Deno.test("decodeAudioFile: reads from disk and names the path in errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ok = `${dir}/ok.wav`;
    await Deno.writeFile(ok, encodeWav([Float32Array.of(0.25, -0.25)], { sampleRate: 8000, format: "float32" }));
    assert.deepEqual(Array.from((await decodeAudioFile(ok)).channels[0]), [0.25, -0.25]);
    await Deno.writeTextFile(`${dir}/notes.wav`, "not audio at all");
    await rejectsNaming(decodeAudioFile(`${dir}/notes.wav`), `${dir}/notes.wav`, /content is not WAV/);
    await rejectsNaming(decodeAudioFile(`${dir}/missing.flac`), `${dir}/missing.flac`, /cannot read file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
