import assert from "node:assert/strict";
import { checkContainer, sniffContainer } from "../lib/io/audio_container.ts";
import { encodeWav } from "../lib/audio/wav.ts";

const DATA = new URL("./data/", import.meta.url);
const read = (f: string) => Deno.readFile(new URL(f, DATA));
const FLAC = "tone_440hz_mono_22050.flac";
const OGG = "tone_440_660hz_stereo_22050.ogg";
const MP3 = "tone_1000hz_mono_44100.mp3";

function withId3(bytes: Uint8Array, tagBytes: number): Uint8Array {
  const out = new Uint8Array(10 + tagBytes + bytes.length);
  out.set([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, (tagBytes >> 7) & 0x7f, tagBytes & 0x7f]);
  out.set(bytes, 10 + tagBytes);
  return out;
}

Deno.test("sniffContainer: recognizes each container, also behind an ID3v2 tag, and nothing else", async () => {
  assert.equal(sniffContainer(encodeWav([[0]], { sampleRate: 8000 })), "wav");
  assert.equal(sniffContainer(await read(FLAC)), "flac");
  assert.equal(sniffContainer(await read(OGG)), "ogg");
  assert.equal(sniffContainer(await read(MP3)), "mp3");
  assert.equal(sniffContainer(withId3(await read(MP3), 300)), "mp3");
  assert.equal(sniffContainer(withId3(await read(FLAC), 17)), "flac");
  for (const junk of ["", "hello", "TAG not really mp3", "RIFF\x10\0\0\0AVI LIST", "\xff\xff\xff\xff"]) {
    assert.equal(sniffContainer(Uint8Array.from(junk, (c) => c.charCodeAt(0))), undefined, JSON.stringify(junk));
  }
});

Deno.test("checkContainer: intact fixtures pass and report declared lengths", async () => {
  assert.equal(checkContainer(await read(FLAC), "flac").frames, 5512); // 0.25 s at 22050 Hz, as sox wrote it
  assert.equal(checkContainer(await read(OGG), "ogg").container, "ogg");
  assert.equal(checkContainer(await read(MP3), "mp3").container, "mp3");
  assert.equal(checkContainer(withId3(await read(MP3), 300), "mp3").container, "mp3");
  assert.equal(checkContainer(encodeWav([new Float32Array(7)], { sampleRate: 8000 }), "wav").frames, 7);
  // trailing ID3v1 tag and zero padding after the last MP3 frame are legitimate
  const mp3 = await read(MP3);
  const tagged = new Uint8Array(mp3.length + 128 + 16);
  tagged.set(mp3);
  tagged.set([0x54, 0x41, 0x47], mp3.length);
  assert.equal(checkContainer(tagged, "mp3").container, "mp3");
});

Deno.test("checkContainer: MP3 cut at a frame boundary is caught by the Info tag's frame count", async () => {
  const mp3 = await read(MP3);
  const messages = new Set<string>();
  for (let keep = mp3.length - 1; keep > mp3.length - 600; keep--) {
    assert.throws(() => checkContainer(mp3.subarray(0, keep), "mp3"), (e: Error) => {
      messages.add(e.message.replace(/\b\d+\b/g, "#"));
      return /^truncated file/.test(e.message);
    });
  }
  assert.ok(messages.has("truncated file: # MP3 frames present, the Xing/Info tag declares #"), [...messages].join());
});

Deno.test("checkContainer: Ogg CRC, lost pages and missing end-of-stream are reported", async () => {
  const ogg = await read(OGG);
  const flipped = ogg.slice();
  flipped[ogg.length - 10] ^= 1;
  assert.throws(() => checkContainer(flipped, "ogg"), /fails its CRC check/);
  // drop the final page entirely: every remaining page is intact, but the stream never ends
  let last = ogg.length - 4;
  while (!(ogg[last] === 0x4f && ogg[last + 1] === 0x67 && ogg[last + 2] === 0x67 && ogg[last + 3] === 0x53)) last--;
  assert.throws(() => checkContainer(ogg.subarray(0, last), "ogg"), /without its end-of-stream page/);
  const junk = new Uint8Array(ogg.length + 5);
  junk.set(ogg);
  assert.throws(() => checkContainer(junk, "ogg"), /truncated file: Ogg page cut short|no page at byte/);
});

Deno.test("checkContainer: FLAC metadata damage is reported", async () => {
  const flac = await read(FLAC);
  assert.throws(() => checkContainer(flac.subarray(0, 30), "flac"), /FLAC metadata cut short/);
  const bad = flac.slice();
  bad[4] = (bad[4] & 0x80) | 127;
  assert.throws(() => checkContainer(bad, "flac"), /invalid metadata block type/);
});
