import assert from "node:assert/strict";
import fc from "fast-check";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32, createRaster, drawText, encodePng, fillCircle, glyphPixel } from "../lib/plot/mod.ts";
import { decodePng, pixel } from "./_png_decode.ts";

Deno.test("encodePng round-trips arbitrary RGBA images through a strict decoder", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 9 }),
    fc.integer({ min: 1, max: 9 }),
    fc.integer({ min: 0, max: 2 ** 31 }),
    (w, h, seed) => {
      let s = seed;
      const rgba = Uint8Array.from({ length: w * h * 4 }, () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24);
      const img = decodePng(encodePng(rgba, w, h));
      assert.equal(img.width, w);
      assert.equal(img.height, h);
      assert.deepEqual(img.chunks, ["IHDR", "IDAT", "IEND"]);
      assert.deepEqual(img.rgba, rgba);
    },
  ));
});

Deno.test("crc32 agrees with zlib's", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    assert.equal(crc32(bytes), zlibCrc32(bytes));
  }));
  // Chaining continues a running CRC.
  const bytes = new TextEncoder().encode("IHDR and more");
  assert.equal(crc32(bytes.subarray(4), crc32(bytes.subarray(0, 4))), crc32(bytes));
});

Deno.test("encodePng rejects a buffer of the wrong size", () => {
  assert.throws(() => encodePng(new Uint8Array(10), 2, 2), /10 bytes do not hold 2×2 RGBA pixels/);
});

Deno.test("drawText paints exactly the font's pixels; circles are round", () => {
  const r = createRaster(20, 12, [255, 255, 255, 255]);
  drawText(r, 2, 1, "Ag", [0, 0, 0, 255]);
  const img = decodePng(encodePng(r.data, r.width, r.height));
  for (let col = 0; col < 5; col++) {
    for (let row = 0; row < 8; row++) {
      assert.equal(pixel(img, 2 + col, 1 + row)[0] === 0, glyphPixel("A", col, row), `A ${col},${row}`);
      assert.equal(pixel(img, 8 + col, 1 + row)[0] === 0, glyphPixel("g", col, row), `g ${col},${row}`);
    }
  }
  // "g" has a descender in the eighth row, "A" does not.
  assert.ok([0, 1, 2, 3, 4].some((c) => glyphPixel("g", c, 7)));
  assert.ok([0, 1, 2, 3, 4].every((c) => !glyphPixel("A", c, 7)));
  const disc = createRaster(21, 21);
  fillCircle(disc, 10.5, 10.5, 8, [255, 0, 0, 255]);
  assert.deepEqual([...disc.data.subarray((10 * 21 + 10) * 4, (10 * 21 + 10) * 4 + 4)], [255, 0, 0, 255]);
  assert.deepEqual([...disc.data.subarray(0, 4)], [255, 255, 255, 255]);
});
