/**
 * A tiny RGBA raster with the few drawing operations charts need: filled rectangles, thick lines, filled circles and
 * bitmap text (horizontal or rotated a quarter turn anticlockwise). Colours with alpha < 255 blend over the pixel.
 *
 * @module
 */

import { ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel } from "./font.ts";

/** A colour as [r, g, b, a], each 0..255. */
export type Rgba = readonly [number, number, number, number];

/** An RGBA image, row-major, top row first. */
export interface Raster {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** 4 bytes a pixel. */
  readonly data: Uint8Array;
}

/** Creates a raster filled with `background`. */
export function createRaster(width: number, height: number, background: Rgba = [255, 255, 255, 255]): Raster {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`createRaster: size must be positive integers, got ${width}×${height}`);
  }
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(background, i);
  return { width, height, data };
}

/** Blends `color` over pixel (x, y); pixels outside the raster are ignored. */
export function blendPixel(r: Raster, x: number, y: number, color: Rgba): void {
  if (x < 0 || y < 0 || x >= r.width || y >= r.height) return;
  const i = (y * r.width + x) * 4;
  const a = color[3] / 255;
  for (let c = 0; c < 3; c++) r.data[i + c] = Math.round(color[c] * a + r.data[i + c] * (1 - a));
  r.data[i + 3] = Math.round(255 * (a + (r.data[i + 3] / 255) * (1 - a)));
}

/** Fills the pixels whose centres lie in [x, x + w) × [y, y + h). */
export function fillRect(r: Raster, x: number, y: number, w: number, h: number, color: Rgba): void {
  const x0 = Math.max(0, Math.round(x));
  const y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(r.width, Math.round(x + w));
  const y1 = Math.min(r.height, Math.round(y + h));
  for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) blendPixel(r, px, py, color);
}

/** Draws a segment of the given thickness (pixels whose centre is within thickness/2 of the segment). */
export function drawLine(
  r: Raster,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  color: Rgba,
  thickness = 1,
): void {
  const half = Math.max(thickness, 1) / 2;
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - half));
  const maxX = Math.min(r.width - 1, Math.ceil(Math.max(x0, x1) + half));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - half));
  const maxY = Math.min(r.height - 1, Math.ceil(Math.max(y0, y1) + half));
  for (let py = minY; py <= maxY; py++) {
    for (let px = minX; px <= maxX; px++) {
      // Pixel centres sit at +0.5; project onto the segment and measure the distance.
      const cx = px + 0.5 - x0;
      const cy = py + 0.5 - y0;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (cx * dx + cy * dy) / len2));
      const ex = cx - t * dx;
      const ey = cy - t * dy;
      if (ex * ex + ey * ey <= half * half) blendPixel(r, px, py, color);
    }
  }
}

/** Fills a disc of the given radius centred on (cx, cy). */
export function fillCircle(r: Raster, cx: number, cy: number, radius: number, color: Rgba): void {
  const rr = Math.max(radius, 0.5);
  for (let py = Math.floor(cy - rr); py <= Math.ceil(cy + rr); py++) {
    for (let px = Math.floor(cx - rr); px <= Math.ceil(cx + rr); px++) {
      const ex = px + 0.5 - cx;
      const ey = py + 0.5 - cy;
      if (ex * ex + ey * ey <= rr * rr) blendPixel(r, px, py, color);
    }
  }
}

/**
 * Draws text with its top-left corner at (x, y), each font pixel a `scale`×`scale` block. With `vertical` the text
 * runs bottom to top (rotated a quarter turn anticlockwise) and (x, y) is its bottom-left corner.
 */
export function drawText(
  r: Raster,
  x: number,
  y: number,
  text: string,
  color: Rgba,
  opts: { scale?: number; vertical?: boolean } = {},
): void {
  const scale = Math.max(1, Math.round(opts.scale ?? 1));
  const ox = Math.round(x);
  const oy = Math.round(y);
  for (let i = 0; i < text.length; i++) {
    for (let col = 0; col < GLYPH_WIDTH; col++) {
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        if (!glyphPixel(text[i], col, row)) continue;
        const u = (i * ADVANCE + col) * scale; // along the text
        const v = row * scale; // down from the text's top
        for (let a = 0; a < scale; a++) {
          for (let b = 0; b < scale; b++) {
            if (opts.vertical) blendPixel(r, ox + v + b, oy - u - a - 1, color);
            else blendPixel(r, ox + u + a, oy + v + b, color);
          }
        }
      }
    }
  }
}
