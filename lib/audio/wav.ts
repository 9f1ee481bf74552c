/**
 * The RIFF/WAVE container: an encoder for integer PCM and IEEE-float audio, and a header reader used to validate
 * files before decoding.
 *
 * @module
 */

/** WAV sample encodings: little-endian integer PCM of 8 (unsigned), 16, 24 or 32 bits, or IEEE float. */
export type WavSampleFormat = "pcm8" | "pcm16" | "pcm24" | "pcm32" | "float32" | "float64";

/** Options for {@linkcode encodeWav}. */
export interface WavEncodeOptions {
  /** Samples per second (positive integer). */
  readonly sampleRate: number;
  /** Sample encoding; default `"pcm16"`. */
  readonly format?: WavSampleFormat;
  /**
   * Write a WAVE_FORMAT_EXTENSIBLE header. Default: only where the format asks for it, i.e. more than two channels
   * or integer PCM wider than 16 bits; otherwise plain WAVE_FORMAT_PCM / WAVE_FORMAT_IEEE_FLOAT.
   */
  readonly extensible?: boolean;
}

/** WAVE format tags this module writes. */
export const WAVE_FORMAT = { PCM: 1, IEEE_FLOAT: 3, EXTENSIBLE: 0xfffe } as const;

const BITS: Record<WavSampleFormat, number> = {
  pcm8: 8,
  pcm16: 16,
  pcm24: 24,
  pcm32: 32,
  float32: 32,
  float64: 64,
};

// Speaker masks for the usual layouts (mono = front centre, stereo, 3.0, quad, 5.0, 5.1, 6.1, 7.1); other counts
// leave the mask 0, which the format defines as "no particular speaker assignment".
const CHANNEL_MASK = [0, 0x4, 0x3, 0x7, 0x33, 0x37, 0x3f, 0x13f, 0x63f];

// The KSDATAFORMAT_SUBTYPE GUID tail shared by PCM and IEEE float; the first two bytes are the format tag.
const SUBFORMAT_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/**
 * Encodes audio as a WAV file.
 *
 * Float samples map to integers the way common decoders map them back: negatives scale by 2^(bits-1), positives by
 * 2^(bits-1) - 1, so ±1 reach the extreme codes; values are rounded, clamped to [-1, 1], and NaN becomes 0. Float
 * formats store samples unchanged.
 *
 * @param channels one array of samples per channel, all the same length (at least one channel)
 * @param options sample rate, sample format, header kind
 * @returns the complete file
 * @throws Error on no channels, unequal channel lengths, a bad sample rate or an output above the 4 GiB RIFF limit
 */
export function encodeWav(channels: readonly ArrayLike<number>[], options: WavEncodeOptions): Uint8Array {
  const format = options.format ?? "pcm16";
  const { sampleRate } = options;
  const bits = BITS[format];
  if (bits === undefined) throw new Error(`encodeWav: unknown sample format ${JSON.stringify(format)}`);
  if (channels.length === 0 || channels.length > 0xffff) {
    throw new Error(`encodeWav: need 1 to 65535 channels, got ${channels.length}`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate > 0xffffffff) {
    throw new Error(`encodeWav: sample rate must be a positive integer, got ${sampleRate}`);
  }
  const frames = channels[0].length;
  for (const [c, ch] of channels.entries()) {
    if (ch.length !== frames) throw new Error(`encodeWav: channel ${c} has ${ch.length} samples, channel 0 ${frames}`);
  }
  const isFloat = format === "float32" || format === "float64";
  const nch = channels.length;
  const extensible = options.extensible ?? (nch > 2 || (!isFloat && bits > 16));
  const tag = isFloat ? WAVE_FORMAT.IEEE_FLOAT : WAVE_FORMAT.PCM;
  const blockAlign = nch * (bits / 8);
  const dataBytes = frames * blockAlign;
  const fmtBytes = extensible ? 40 : isFloat ? 18 : 16;
  // The format requires a fact chunk (frame count) for every non-PCM header.
  const hasFact = extensible || isFloat;
  const riffBytes = 4 + (8 + fmtBytes) + (hasFact ? 12 : 0) + 8 + dataBytes + (dataBytes & 1);
  if (riffBytes > 0xffffffff) throw new Error(`encodeWav: ${riffBytes} bytes exceed the 4 GiB RIFF limit`);

  const out = new Uint8Array(8 + riffBytes);
  const dv = new DataView(out.buffer);
  let p = 0;
  const ascii = (s: string) => {
    for (let i = 0; i < 4; i++) out[p++] = s.charCodeAt(i);
  };
  const u16 = (v: number) => (dv.setUint16(p, v, true), p += 2);
  const u32 = (v: number) => (dv.setUint32(p, v, true), p += 4);
  ascii("RIFF");
  u32(riffBytes);
  ascii("WAVE");
  ascii("fmt ");
  u32(fmtBytes);
  u16(extensible ? WAVE_FORMAT.EXTENSIBLE : tag);
  u16(nch);
  u32(sampleRate);
  u32(sampleRate * blockAlign);
  u16(blockAlign);
  u16(bits);
  if (extensible) {
    u16(22);
    u16(bits); // valid bits per sample
    u32(CHANNEL_MASK[nch] ?? 0);
    u16(tag);
    for (const b of SUBFORMAT_TAIL) out[p++] = b;
  } else if (isFloat) {
    u16(0);
  }
  if (hasFact) {
    ascii("fact");
    u32(4);
    u32(frames);
  }
  ascii("data");
  u32(dataBytes);
  writeSamples(dv, p, channels, format);
  return out;
}

function writeSamples(dv: DataView, start: number, channels: readonly ArrayLike<number>[], format: WavSampleFormat) {
  const nch = channels.length;
  const frames = channels[0].length;
  const step = BITS[format] / 8;
  const half = 2 ** (BITS[format] - 1);
  const toInt = (x: number) => {
    if (!(x === x)) return 0; // NaN
    const v = x < 0 ? Math.round(Math.max(x, -1) * half) : Math.round(Math.min(x, 1) * (half - 1));
    return v;
  };
  let p = start;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < nch; c++, p += step) {
      const x = channels[c][i];
      switch (format) {
        case "float32":
          dv.setFloat32(p, x, true);
          break;
        case "float64":
          dv.setFloat64(p, x, true);
          break;
        case "pcm8":
          dv.setUint8(p, toInt(x) + 128);
          break;
        case "pcm16":
          dv.setInt16(p, toInt(x), true);
          break;
        case "pcm24": {
          const v = toInt(x);
          dv.setUint8(p, v & 0xff);
          dv.setUint8(p + 1, (v >> 8) & 0xff);
          dv.setUint8(p + 2, (v >> 16) & 0xff);
          break;
        }
        case "pcm32":
          dv.setInt32(p, toInt(x), true);
          break;
      }
    }
  }
}

/** What a WAV header says about its audio. */
export interface WavHeader {
  /** The format tag, resolved through WAVE_FORMAT_EXTENSIBLE to its sub-format (1 = PCM, 3 = IEEE float, …). */
  readonly formatTag: number;
  /** Whether the header is WAVE_FORMAT_EXTENSIBLE. */
  readonly extensible: boolean;
  /** Number of interleaved channels. */
  readonly channels: number;
  /** Samples per second. */
  readonly sampleRate: number;
  /** Bits per sample as stored. */
  readonly bitsPerSample: number;
  /** Bytes per frame (all channels). */
  readonly blockAlign: number;
  /** Byte offset of the sample data. */
  readonly dataOffset: number;
  /** Bytes of sample data actually present (the declared size, or what is left for streaming placeholders). */
  readonly dataBytes: number;
}

/**
 * Reads and checks the chunks of a RIFF/WAVE file up to its data chunk.
 *
 * @param bytes the file
 * @returns the header fields
 * @throws Error with a one-line problem (no file name): not RIFF/WAVE, truncated header or data, missing fmt or
 *   data chunk, zero channels/rate/block size
 */
export function readWavHeader(bytes: Uint8Array): WavHeader {
  const ascii = (o: number) => String.fromCharCode(bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]);
  if (bytes.length < 12 || ascii(0) !== "RIFF" || ascii(8) !== "WAVE") {
    throw new Error(bytes.length < 12 ? "truncated file: shorter than a RIFF/WAVE header" : "not a RIFF/WAVE file");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Omit<WavHeader, "dataOffset" | "dataBytes"> | undefined;
  let p = 12;
  while (p + 8 <= bytes.length) {
    const id = ascii(p);
    const size = dv.getUint32(p + 4, true);
    const body = p + 8;
    if (id === "fmt ") {
      if (size < 16 || body + size > bytes.length) throw new Error("truncated file: fmt chunk cut short");
      let formatTag = dv.getUint16(body, true);
      const extensible = formatTag === WAVE_FORMAT.EXTENSIBLE;
      if (extensible) {
        if (size < 40) throw new Error("bad WAV header: WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes");
        formatTag = dv.getUint16(body + 24, true);
      }
      fmt = {
        formatTag,
        extensible,
        channels: dv.getUint16(body + 2, true),
        sampleRate: dv.getUint32(body + 4, true),
        blockAlign: dv.getUint16(body + 12, true),
        bitsPerSample: dv.getUint16(body + 14, true),
      };
      if (fmt.channels === 0 || fmt.sampleRate === 0 || fmt.blockAlign === 0) {
        throw new Error(
          `bad WAV header: ${fmt.channels} channels, ${fmt.sampleRate} Hz, block size ${fmt.blockAlign}`,
        );
      }
    } else if (id === "data") {
      if (!fmt) throw new Error("bad WAV header: data chunk before fmt chunk");
      const left = bytes.length - body;
      // 0 and 0xFFFFFFFF are placeholders left by streaming writers: the data runs to the end of the file.
      const streaming = size === 0xffffffff || (size === 0 && left > 0);
      if (!streaming && size > left) {
        throw new Error(`truncated file: data chunk declares ${size} bytes, only ${left} present`);
      }
      return { ...fmt, dataOffset: body, dataBytes: streaming ? left : size };
    }
    p = body + size + (size & 1);
  }
  throw new Error(fmt ? "truncated file: no data chunk" : "truncated file: no fmt chunk");
}
