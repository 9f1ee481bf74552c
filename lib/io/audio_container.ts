/**
 * Recognizing and structurally checking encoded-audio containers (WAV, FLAC, Ogg, MP3) before decoding.
 *
 * Decoders tend to return whatever they managed to decode from a damaged file — often nothing, sometimes half the
 * audio — without saying so. These checks walk each container's framing (chunk sizes, page CRCs, frame headers) and
 * report truncation or corruption as a one-line problem.
 *
 * @module
 */

import { readWavHeader, WAVE_FORMAT } from "../audio/wav.ts";

/** Containers this module recognizes. */
export type AudioContainer = "wav" | "flac" | "ogg" | "mp3";

/** What the container declares about its audio. */
export interface ContainerInfo {
  /** The recognized container. */
  readonly container: AudioContainer;
  /** Declared samples per channel, when the container states it (WAV PCM/float, FLAC STREAMINFO); else undefined. */
  readonly frames?: number;
}

/** Byte offset just past a leading ID3v2 tag (0 when there is none). */
function id3v2End(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0;
  const size = ((b[6] & 0x7f) << 21) | ((b[7] & 0x7f) << 14) | ((b[8] & 0x7f) << 7) | (b[9] & 0x7f);
  return 10 + size + (b[5] & 0x10 ? 10 : 0);
}

function startsWith(b: Uint8Array, at: number, s: string): boolean {
  if (at + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Recognizes a container from its leading bytes (a leading ID3v2 tag is skipped for FLAC and MP3).
 *
 * @param bytes the file, or at least its first few KB
 * @returns the container, or undefined if the bytes start like none of them
 */
export function sniffContainer(bytes: Uint8Array): AudioContainer | undefined {
  if (startsWith(bytes, 0, "RIFF") && (bytes.length < 12 || startsWith(bytes, 8, "WAVE"))) return "wav";
  if (startsWith(bytes, 0, "OggS")) return "ogg";
  const at = id3v2End(bytes);
  if (startsWith(bytes, at, "fLaC")) return "flac";
  if (mp3Frame(bytes, at) !== undefined || (at > 0 && at >= bytes.length)) return "mp3";
  return undefined;
}

/**
 * Checks a container's framing and returns what it declares.
 *
 * @param bytes the whole file
 * @param container the container, as {@linkcode sniffContainer} found it
 * @returns the declared audio facts
 * @throws Error with a one-line problem (no file name) for a truncated or corrupt container
 */
export function checkContainer(bytes: Uint8Array, container: AudioContainer): ContainerInfo {
  switch (container) {
    case "wav":
      return checkWav(bytes);
    case "flac":
      return checkFlac(bytes);
    case "ogg":
      return checkOgg(bytes);
    case "mp3":
      return checkMp3(bytes);
  }
}

function checkWav(bytes: Uint8Array): ContainerInfo {
  const h = readWavHeader(bytes);
  const plain = h.formatTag === WAVE_FORMAT.PCM || h.formatTag === WAVE_FORMAT.IEEE_FLOAT;
  if (plain && h.dataBytes % h.blockAlign !== 0) {
    throw new Error(`truncated file: data ends inside a sample frame (${h.dataBytes} bytes, ${h.blockAlign}/frame)`);
  }
  return { container: "wav", frames: plain ? h.dataBytes / h.blockAlign : undefined };
}

function checkFlac(bytes: Uint8Array): ContainerInfo {
  let p = id3v2End(bytes) + 4;
  let frames: number | undefined;
  for (let last = false; !last;) {
    if (p + 4 > bytes.length) throw new Error("truncated file: FLAC metadata cut short");
    last = (bytes[p] & 0x80) !== 0;
    const type = bytes[p] & 0x7f;
    const len = (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
    if (p + 4 + len > bytes.length) throw new Error("truncated file: FLAC metadata cut short");
    if (type === 0) {
      if (len < 34) throw new Error("corrupt FLAC: STREAMINFO block too short");
      const s = p + 4;
      // total samples: the low 4 bits of byte 13 then bytes 14..17 (36 bits; 0 = unknown)
      const total = (bytes[s + 13] & 0x0f) * 2 ** 32 +
        ((bytes[s + 14] << 24) >>> 0) + (bytes[s + 15] << 16) + (bytes[s + 16] << 8) + bytes[s + 17];
      frames = total > 0 ? total : undefined;
    } else if (type === 127) {
      throw new Error("corrupt FLAC: invalid metadata block type");
    }
    p += 4 + len;
  }
  if (frames === undefined && p === bytes.length) throw new Error("zero-length audio: FLAC file has no frames");
  return { container: "flac", frames };
}

const OGG_CRC = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

function checkOgg(bytes: Uint8Array): ContainerInfo {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  let eos = false;
  let pages = 0;
  while (p < bytes.length) {
    if (!startsWith(bytes, p, "OggS")) {
      throw new Error(
        p + 4 > bytes.length ? "truncated file: Ogg page cut short" : `corrupt Ogg: no page at byte ${p}`,
      );
    }
    if (p + 27 > bytes.length) throw new Error("truncated file: Ogg page header cut short");
    const nseg = bytes[p + 26];
    if (p + 27 + nseg > bytes.length) throw new Error("truncated file: Ogg page header cut short");
    let body = 0;
    for (let i = 0; i < nseg; i++) body += bytes[p + 27 + i];
    const end = p + 27 + nseg + body;
    if (end > bytes.length) throw new Error(`truncated file: Ogg page at byte ${p} runs past the end`);
    let crc = 0;
    for (let i = p; i < end; i++) {
      // the CRC field itself counts as zeros
      const byte = i >= p + 22 && i < p + 26 ? 0 : bytes[i];
      crc = ((crc << 8) ^ OGG_CRC[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
    }
    if (crc !== dv.getUint32(p + 22, true)) throw new Error(`corrupt Ogg: page at byte ${p} fails its CRC check`);
    eos = (bytes[p + 5] & 0x04) !== 0;
    pages++;
    p = end;
  }
  // A complete logical stream ends with an end-of-stream page; its absence means the tail was lost.
  if (!eos) throw new Error(`truncated file: Ogg stream ends without its end-of-stream page (${pages} pages read)`);
  return { container: "ogg" };
}

const MP3_BITRATE: Record<string, number[]> = {
  "1-1": [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  "1-2": [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  "1-3": [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  "2-1": [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  "2-2": [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  "2-3": [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
const MP3_RATE: Record<number, number[]> = {
  3: [44100, 48000, 32000],
  2: [22050, 24000, 16000],
  0: [11025, 12000, 8000],
};

interface Mp3Frame {
  readonly length: number; // bytes, 0 for free-format bitrate (length not computable from the header)
  readonly sampleRate: number;
}

/** Parses an MPEG audio frame header at `p`, or returns undefined if there is none. */
function mp3Frame(b: Uint8Array, p: number): Mp3Frame | undefined {
  if (p + 4 > b.length || b[p] !== 0xff || (b[p + 1] & 0xe0) !== 0xe0) return undefined;
  const version = (b[p + 1] >> 3) & 3; // 0 = MPEG 2.5, 2 = MPEG 2, 3 = MPEG 1
  const layer = 4 - ((b[p + 1] >> 1) & 3); // 1, 2, 3; 4 = reserved
  const brIndex = b[p + 2] >> 4;
  const srIndex = (b[p + 2] >> 2) & 3;
  if (version === 1 || layer === 4 || brIndex === 15 || srIndex === 3) return undefined;
  const sampleRate = MP3_RATE[version][srIndex];
  const kbps = MP3_BITRATE[`${version === 3 ? 1 : 2}-${layer}`][brIndex];
  const pad = (b[p + 2] >> 1) & 1;
  if (kbps === 0) return { length: 0, sampleRate };
  const br = kbps * 1000;
  const length = layer === 1
    ? (Math.floor((12 * br) / sampleRate) + pad) * 4
    : Math.floor(((layer === 3 && version !== 3 ? 72 : 144) * br) / sampleRate) + pad;
  return { length, sampleRate };
}

function checkMp3(bytes: Uint8Array): ContainerInfo {
  let p = id3v2End(bytes);
  if (p > bytes.length) throw new Error("truncated file: ID3 tag runs past the end");
  const first = mp3Frame(bytes, p);
  if (!first) throw new Error("not audio: no MPEG audio frame after the ID3 tag");
  if (first.length === 0) return { container: "mp3" }; // free-format: frame sizes are implicit, nothing to walk
  // A Xing/Info tag in the first frame declares how many audio frames follow it.
  const head = bytes.subarray(p, p + first.length);
  const tagAt = Math.max(indexOf(head, "Xing"), indexOf(head, "Info"));
  let declared: number | undefined;
  if (tagAt >= 0 && tagAt + 12 <= head.length && head[tagAt + 7] & 1) {
    declared = new DataView(head.buffer, head.byteOffset + tagAt + 8, 4).getUint32(0, false);
  }
  let count = 0;
  while (p < bytes.length) {
    const f = mp3Frame(bytes, p);
    if (!f) {
      if (isMp3Trailer(bytes, p)) break;
      if (bytes.length - p < 4 && bytes[p] === 0xff) throw new Error(`truncated file: MP3 frame header cut short`);
      throw new Error(`corrupt MP3: lost frame sync at byte ${p}`);
    }
    if (f.sampleRate !== first.sampleRate) {
      throw new Error(`corrupt MP3: frame at byte ${p} switches to ${f.sampleRate} Hz from ${first.sampleRate} Hz`);
    }
    if (f.length === 0) break;
    if (p + f.length > bytes.length) throw new Error(`truncated file: MP3 frame at byte ${p} runs past the end`);
    p += f.length;
    count++;
  }
  if (declared !== undefined && count - 1 < declared) {
    throw new Error(`truncated file: ${count - 1} MP3 frames present, the Xing/Info tag declares ${declared}`);
  }
  return { container: "mp3" };
}

// Tags and padding that may legitimately follow the last frame.
function isMp3Trailer(b: Uint8Array, p: number): boolean {
  if (
    startsWith(b, p, "TAG") || startsWith(b, p, "APETAGEX") || startsWith(b, p, "LYRICS") || id3v2End(b.subarray(p))
  ) {
    return true;
  }
  for (let i = p; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function indexOf(b: Uint8Array, s: string): number {
  outer: for (let i = 0; i + s.length <= b.length; i++) {
    for (let k = 0; k < s.length; k++) if (b[i + k] !== s.charCodeAt(k)) continue outer;
    return i;
  }
  return -1;
}
