import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeWav, readWavHeader, WAVE_FORMAT, type WavSampleFormat } from "../lib/audio/wav.ts";

const BITS: Record<WavSampleFormat, number> = { pcm8: 8, pcm16: 16, pcm24: 24, pcm32: 32, float32: 32, float64: 64 };

function chunkIds(bytes: Uint8Array): string[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const ids: string[] = [];
  for (let p = 12; p + 8 <= bytes.length;) {
    const size = dv.getUint32(p + 4, true);
    ids.push(String.fromCharCode(...bytes.subarray(p, p + 4)));
    p += 8 + size + (size & 1);
  }
  return ids;
}

Deno.test("encodeWav: header fields, sizes and the extensible rule", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...(Object.keys(BITS) as WavSampleFormat[])),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 33 }),
      fc.constantFrom(undefined, true, false),
      (format, nch, frames, extensible) => {
        const bytes = encodeWav(Array.from({ length: nch }, () => new Float32Array(frames)), {
          sampleRate: 44100,
          format,
          extensible,
        });
        const dv = new DataView(bytes.buffer);
        const isFloat = format.startsWith("float");
        const expectExt = extensible ?? (nch > 2 || (!isFloat && BITS[format] > 16));
        const h = readWavHeader(bytes);
        assert.equal(h.extensible, expectExt);
        assert.equal(h.formatTag, isFloat ? WAVE_FORMAT.IEEE_FLOAT : WAVE_FORMAT.PCM);
        assert.equal(h.channels, nch);
        assert.equal(h.sampleRate, 44100);
        assert.equal(h.bitsPerSample, BITS[format]);
        assert.equal(h.blockAlign, (nch * BITS[format]) / 8);
        assert.equal(h.dataBytes, frames * h.blockAlign);
        assert.equal(dv.getUint32(4, true), bytes.length - 8, "RIFF size");
        assert.equal(bytes.length % 2, 0, "odd data is padded to an even chunk");
        assert.deepEqual(chunkIds(bytes), isFloat || expectExt ? ["fmt ", "fact", "data"] : ["fmt ", "data"]);
      },
    ),
  );
});

Deno.test("encodeWav: sample coding (unsigned 8-bit, little-endian 24-bit, asymmetric scale)", () => {
  const body = (b: Uint8Array) => b.subarray(readWavHeader(b).dataOffset);
  assert.deepEqual(Array.from(body(encodeWav([[0, 1, -1]], { sampleRate: 8000, format: "pcm8" }))), [128, 255, 0, 0]);
  assert.deepEqual(
    Array.from(body(encodeWav([[1, -1]], { sampleRate: 8000, format: "pcm24" }))),
    [0xff, 0xff, 0x7f, 0x00, 0x00, 0x80],
  );
  const s16 = body(encodeWav([[0.5, -0.5]], { sampleRate: 8000, format: "pcm16" }));
  assert.deepEqual(Array.from(new Int16Array(s16.slice().buffer)), [16384, -16384]);
  // interleaving: frame-major, channel-minor
  const st = body(encodeWav([[1, 1], [-1, -1]], { sampleRate: 8000, format: "pcm8" }));
  assert.deepEqual(Array.from(st), [255, 0, 255, 0]);
});

Deno.test("encodeWav: rejects bad input with a clear message", () => {
  assert.throws(() => encodeWav([], { sampleRate: 8000 }), /need 1 to 65535 channels/);
  assert.throws(() => encodeWav([[0], [0, 0]], { sampleRate: 8000 }), /channel 1 has 2 samples/);
  assert.throws(() => encodeWav([[0]], { sampleRate: 0 }), /sample rate/);
  assert.throws(() => encodeWav([[0]], { sampleRate: 8000.5 }), /sample rate/);
  assert.throws(() => encodeWav([[0]], { sampleRate: 8000, format: "pcm12" as WavSampleFormat }), /unknown sample/);
});

Deno.test("readWavHeader: skips unknown chunks, accepts streaming placeholders, reports damage", () => {
  const good = encodeWav([new Float32Array(10)], { sampleRate: 8000 }); // fmt at 12, data at 36
  // insert a LIST chunk (odd size, so padded) between fmt and data
  const list = Uint8Array.from([..."LIST"].map((c) => c.charCodeAt(0)).concat([3, 0, 0, 0, 1, 2, 3, 0]));
  const withList = new Uint8Array(good.length + list.length);
  withList.set(good.subarray(0, 36));
  withList.set(list, 36);
  withList.set(good.subarray(36), 36 + list.length);
  assert.equal(readWavHeader(withList).dataOffset, 36 + list.length + 8);
  const streaming = good.slice();
  new DataView(streaming.buffer).setUint32(40, 0xffffffff, true);
  assert.equal(readWavHeader(streaming).dataBytes, 20);
  assert.throws(() => readWavHeader(good.subarray(0, 8)), /truncated file/);
  assert.throws(() => readWavHeader(new TextEncoder().encode("RIFF....AVI LIST")), /not a RIFF\/WAVE file/);
  assert.throws(() => readWavHeader(good.subarray(0, 30)), /fmt chunk cut short/);
  assert.throws(() => readWavHeader(good.subarray(0, 36)), /no data chunk/);
  assert.throws(() => readWavHeader(good.subarray(0, good.length - 1)), /data chunk declares 20 bytes, only 19/);
  const noChannels = good.slice();
  new DataView(noChannels.buffer).setUint16(22, 0, true);
  assert.throws(() => readWavHeader(noChannels), /0 channels/);
});
