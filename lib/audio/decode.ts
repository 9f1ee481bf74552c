/**
 * Decoding audio files (WAV, FLAC, Ogg Vorbis/Opus, MP3, and the other formats npm `audio-decode` knows) to float
 * samples, with damaged input reported as `"<file>: <problem>"`.
 *
 * @module
 */

import decode from "audio-decode";
import { type AudioContainer, checkContainer, sniffContainer } from "../io/audio_container.ts";

/** Decoded audio: one Float32Array of samples in [-1, 1] per channel, all the same length. */
export interface DecodedAudio {
  /** Samples per second. */
  readonly sampleRate: number;
  /** One array per channel. */
  readonly channels: Float32Array[];
}

const EXTENSION_CONTAINER: Record<string, AudioContainer> = {
  wav: "wav",
  wave: "wav",
  flac: "flac",
  ogg: "ogg",
  oga: "ogg",
  opus: "ogg",
  mp3: "mp3",
};

function extensionOf(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : "";
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/**
 * Decodes an audio file held in memory. The format is recognized from the content, not the name, so a valid file
 * with the wrong extension still decodes; `name` only labels errors.
 *
 * @param bytes the whole file
 * @param name file name or path used in error messages (its extension also sharpens the "not audio" message)
 * @returns sample rate and per-channel samples
 * @throws Error `"<name>: <problem>"` for an empty file, non-audio bytes, a truncated or corrupt file, or a file
 *   that decodes to no samples
 */
export async function decodeAudio(bytes: Uint8Array, name: string): Promise<DecodedAudio> {
  const fail = (problem: string): never => {
    throw new Error(`${name}: ${problem}`);
  };
  if (bytes.length === 0) fail("empty file (0 bytes)");
  const container = sniffContainer(bytes);
  let declared: number | undefined;
  if (container) {
    try {
      declared = checkContainer(bytes, container).frames;
    } catch (e) {
      fail(oneLine(e));
    }
  }
  const notAudio = (): never => {
    const ext = extensionOf(name);
    const claimed = EXTENSION_CONTAINER[ext];
    return fail(
      claimed
        ? `named .${ext} but the content is not ${claimed.toUpperCase()} or any other recognized audio format`
        : "not a recognized audio format",
    );
  };
  let result: { channelData: Float32Array[]; sampleRate: number } | undefined;
  try {
    result = await decode(bytes);
  } catch (e) {
    if (!container) notAudio();
    fail(`cannot decode ${container!.toUpperCase()}: ${oneLine(e)}`);
  }
  const channels = result!.channelData;
  const frames = channels.length ? channels[0].length : 0;
  if (frames === 0) {
    if (!container) notAudio();
    fail(declared ? `corrupt ${container!.toUpperCase()}: decoded no samples` : "zero-length audio (no samples)");
  }
  if (declared !== undefined && frames < declared) {
    fail(`truncated or corrupt: decoded ${frames} of the ${declared} samples per channel the header declares`);
  }
  if (!(result!.sampleRate > 0)) fail(`invalid sample rate ${result!.sampleRate}`);
  for (const ch of channels) {
    for (let i = 0; i < ch.length; i++) {
      if (!Number.isFinite(ch[i])) fail(`corrupt: sample ${i} is ${ch[i]}`);
    }
  }
  // Decoders may hand out views into shared WASM memory; copy so the caller owns independent arrays.
  return { sampleRate: result!.sampleRate, channels: channels.map((c) => c.slice()) };
}

/**
 * Reads and decodes an audio file.
 *
 * @param path file path or file URL
 * @returns sample rate and per-channel samples
 * @throws Error `"<path>: <problem>"` if the file cannot be read or decoded (see {@linkcode decodeAudio})
 */
export async function decodeAudioFile(path: string | URL): Promise<DecodedAudio> {
  const name = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${name}: cannot read file: ${oneLine(e)}`);
  }
  return decodeAudio(bytes, name);
}

/**
 * Averages channels into one (the mean, so a signal duplicated on every channel comes out unchanged).
 *
 * @param channels one or more channels of equal length
 * @returns the mean channel (a copy when there is a single channel)
 * @throws Error if there are no channels or their lengths differ
 */
export function mixdown(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 0) throw new Error("mixdown: no channels");
  const n = channels[0].length;
  for (const [c, ch] of channels.entries()) {
    if (ch.length !== n) throw new Error(`mixdown: channel ${c} has ${ch.length} samples, channel 0 has ${n}`);
  }
  if (channels.length === 1) return channels[0].slice();
  // Accumulate in float64 so many channels do not lose precision before the division.
  const acc = new Float64Array(n);
  for (const ch of channels) for (let i = 0; i < n; i++) acc[i] += ch[i];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = acc[i] / channels.length;
  return out;
}
