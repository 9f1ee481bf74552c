/**
 * Charts are drawn into a scene, a flat list of shapes in pixel coordinates, so one layout serves two renderers:
 * a raster (PNG, with the bitmap font) and SVG.
 *
 * @module
 */

import { createRaster, drawLine, drawText, fillCircle, fillRect, type Raster, type Rgba } from "./canvas.ts";
import { textHeight, textWidth } from "./font.ts";
import { encodePng } from "./png.ts";

/** Axis-aligned filled rectangle. */
export interface RectShape {
  /** Discriminant. */
  readonly kind: "rect";
  /** Left edge. */
  readonly x: number;
  /** Top edge. */
  readonly y: number;
  /** Width. */
  readonly w: number;
  /** Height. */
  readonly h: number;
  /** Fill colour. */
  readonly fill: Rgba;
}

/** Open polyline. */
export interface LineShape {
  /** Discriminant. */
  readonly kind: "line";
  /** Vertices in order. */
  readonly points: readonly (readonly [number, number])[];
  /** Stroke colour. */
  readonly stroke: Rgba;
  /** Stroke width in pixels. */
  readonly width: number;
}

/** Filled disc. */
export interface CircleShape {
  /** Discriminant. */
  readonly kind: "circle";
  /** Centre x. */
  readonly cx: number;
  /** Centre y. */
  readonly cy: number;
  /** Radius. */
  readonly r: number;
  /** Fill colour. */
  readonly fill: Rgba;
}

/** One line of text in the bitmap font's metrics (6 px advance, 7 px high, times `scale`). */
export interface TextShape {
  /** Discriminant. */
  readonly kind: "text";
  /** Anchor x. */
  readonly x: number;
  /** Anchor y: the vertical middle of the text. */
  readonly y: number;
  /** The characters (printable ASCII). */
  readonly text: string;
  /** Colour. */
  readonly color: Rgba;
  /** Integer magnification of the 5×7 font. */
  readonly scale: number;
  /** Where the anchor sits along the text. */
  readonly anchor: "start" | "middle" | "end";
  /** Rotate a quarter turn anticlockwise (reads bottom to top), about the anchor. */
  readonly vertical?: boolean;
}

/** Any drawable shape. */
export type Shape = RectShape | LineShape | CircleShape | TextShape;

/** A picture: size, background and shapes painted in order. */
export interface Scene {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Background colour. */
  readonly background: Rgba;
  /** Shapes, back to front. */
  readonly shapes: readonly Shape[];
}

/** Offset of a text's start from its anchor, along the text. */
function anchorShift(s: TextShape): number {
  const w = textWidth(s.text, s.scale);
  return s.anchor === "start" ? 0 : s.anchor === "middle" ? -w / 2 : -w;
}

// One painter per shape kind: the mapped type makes a new kind without a painter a compile error.
const PAINTERS: { [K in Shape["kind"]]: (r: Raster, s: Extract<Shape, { kind: K }>) => void } = {
  rect: (r, s) => fillRect(r, s.x, s.y, s.w, s.h, s.fill),
  line: (r, s) => {
    for (let i = 1; i < s.points.length; i++) {
      const [x0, y0] = s.points[i - 1];
      const [x1, y1] = s.points[i];
      drawLine(r, x0, y0, x1, y1, s.stroke, s.width);
    }
  },
  circle: (r, s) => fillCircle(r, s.cx, s.cy, s.r, s.fill),
  text: (r, s) => {
    const shift = anchorShift(s);
    const half = textHeight(s.scale) / 2;
    if (s.vertical) drawText(r, s.x - half, s.y - shift, s.text, s.color, { scale: s.scale, vertical: true });
    else drawText(r, s.x + shift, s.y - half, s.text, s.color, { scale: s.scale });
  },
};

/** Paints a scene into a new raster. */
export function rasterize(scene: Scene): Raster {
  const r = createRaster(Math.round(scene.width), Math.round(scene.height), scene.background);
  for (const s of scene.shapes) (PAINTERS[s.kind] as (r: Raster, s: Shape) => void)(r, s);
  return r;
}

/** Renders a scene as a PNG file. */
export function renderPng(scene: Scene): Uint8Array {
  const r = rasterize(scene);
  return encodePng(r.data, r.width, r.height);
}

function svgColor(c: Rgba): string {
  const rgb = `rgb(${c[0]},${c[1]},${c[2]})`;
  return c[3] === 255 ? `fill="${rgb}"` : `fill="${rgb}" fill-opacity="${(c[3] / 255).toFixed(3)}"`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const n = (v: number) => String(Math.round(v * 100) / 100);

const SVG_WRITERS: { [K in Shape["kind"]]: (s: Extract<Shape, { kind: K }>) => string } = {
  rect: (s) => `<rect x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" height="${n(s.h)}" ${svgColor(s.fill)}/>`,
  line: (s) => {
    const pts = s.points.map(([x, y]) => `${n(x)},${n(y)}`).join(" ");
    const stroke = svgColor(s.stroke).replace(/fill/g, "stroke");
    return `<polyline points="${pts}" fill="none" ${stroke} stroke-width="${n(s.width)}"/>`;
  },
  circle: (s) => `<circle cx="${n(s.cx)}" cy="${n(s.cy)}" r="${n(s.r)}" ${svgColor(s.fill)}/>`,
  text: (s) => {
    // textLength pins the width to the bitmap font's, so the raster layout holds in SVG.
    const len = textWidth(s.text, s.scale);
    const rotate = s.vertical ? ` transform="rotate(-90 ${n(s.x)} ${n(s.y)})"` : "";
    return `<text x="${n(s.x)}" y="${n(s.y)}" font-family="monospace" font-size="${n(9 * s.scale)}" ` +
      `text-anchor="${s.anchor}" dominant-baseline="central" textLength="${n(len)}" ` +
      `lengthAdjust="spacingAndGlyphs" ${svgColor(s.color)}${rotate}>${escapeXml(s.text)}</text>`;
  },
};

/** Renders a scene as a standalone SVG document. */
export function renderSvg(scene: Scene): string {
  const body = scene.shapes.map((s) => (SVG_WRITERS[s.kind] as (s: Shape) => string)(s)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${n(scene.width)}" height="${n(scene.height)}" ` +
    `viewBox="0 0 ${n(scene.width)} ${n(scene.height)}">\n` +
    `<rect width="100%" height="100%" ${svgColor(scene.background)}/>\n${body}\n</svg>\n`;
}
