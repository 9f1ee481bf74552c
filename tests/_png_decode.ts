/**
 * Test helper: a strict, minimal PNG decoder for 8-bit RGBA non-interlaced images, checking everything a viewer
 * would (signature, chunk CRCs, IHDR fields, IDAT size) and using node:zlib's CRC-32 so it is independent of ours.
 *
 * @module
 */

import { crc32 as zlibCrc32, inflateSync } from "node:zlib";

/** A decoded image. */
export interface DecodedPng {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** RGBA bytes, row-major. */
  readonly rgba: Uint8Array;
  /** Chunk types in file order. */
  readonly chunks: readonly string[];
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decodes a PNG or throws naming the first problem found. */
export function decodePng(png: Uint8Array): DecodedPng {
  SIGNATURE.forEach((b, i) => {
    if (png[i] !== b) throw new Error(`bad PNG signature at byte ${i}`);
  });
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let at = 8;
  while (at < png.length) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const body = png.subarray(at + 8, at + 8 + len);
    const crc = view.getUint32(at + 8 + len);
    if (zlibCrc32(png.subarray(at + 4, at + 8 + len)) !== crc) throw new Error(`bad CRC in ${type} chunk`);
    chunks.push(type);
    if (type === "IHDR") {
      const h = new DataView(body.buffer, body.byteOffset, body.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      const [depth, colour, compression, filter, interlace] = body.subarray(8, 13);
      if (len !== 13 || depth !== 8 || colour !== 6 || compression !== 0 || filter !== 0 || interlace !== 0) {
        throw new Error(`unsupported IHDR: ${[...body].join(",")}`);
      }
    } else if (type === "IDAT") idat.push(body);
    at += 12 + len;
  }
  if (chunks[0] !== "IHDR" || chunks[chunks.length - 1] !== "IEND") throw new Error(`bad chunk order ${chunks}`);
  const raw = new Uint8Array(inflateSync(Uint8Array.from(idat.flatMap((c) => [...c]))));
  const stride = width * 4;
  if (raw.length !== (stride + 1) * height) throw new Error(`IDAT inflates to ${raw.length} bytes`);
  const rgba = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    if (f > 4) throw new Error(`bad filter type ${f} on row ${y}`);
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= 4 ? rgba[y * stride + i - 4] : 0;
      const b = y > 0 ? rgba[(y - 1) * stride + i] : 0;
      const c = i >= 4 && y > 0 ? rgba[(y - 1) * stride + i - 4] : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f];
      rgba[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return { width, height, rgba, chunks };
}

/** The RGBA of pixel (x, y). */
export function pixel(img: DecodedPng, x: number, y: number): [number, number, number, number] {
  const i = (y * img.width + x) * 4;
  return [img.rgba[i], img.rgba[i + 1], img.rgba[i + 2], img.rgba[i + 3]];
}
