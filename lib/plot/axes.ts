/**
 * Shared chart layout: nice tick values, number formatting, the palette, and the scene pieces every chart draws
 * (title, legend, a frame with ticks and labels).
 *
 * @module
 */

import type { Rgba } from "./canvas.ts";
import { textWidth } from "./font.ts";
import type { Shape } from "./scene.ts";

/** Tableau-10, the palette most plotting tools default to: distinct hues that survive greyscale printing fairly. */
export const PALETTE: readonly Rgba[] = [
  [31, 119, 180, 255],
  [255, 127, 14, 255],
  [44, 160, 44, 255],
  [214, 39, 40, 255],
  [148, 103, 189, 255],
  [140, 86, 75, 255],
  [227, 119, 194, 255],
  [127, 127, 127, 255],
  [188, 189, 34, 255],
  [23, 190, 207, 255],
];

/** Near-black used for text and axes. */
export const INK: Rgba = [33, 33, 33, 255];
/** Light grey used for grid lines. */
export const GRID: Rgba = [225, 225, 225, 255];

/** Font scales: the title is drawn twice as large as everything else. */
export const TITLE_SCALE = 2;
/** Scale of labels and tick numbers. */
export const LABEL_SCALE = 1;

/** Tick values covering [lo, hi] with a 1, 2 or 5 × 10^k step, about `target` of them, plus the covered range. */
export function niceTicks(lo: number, hi: number, target = 5): { ticks: number[]; lo: number; hi: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new Error(`niceTicks: range must be finite, got ${lo}..${hi}`);
  }
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  // Rounding each tick to the step's decimals keeps 0.30000000000000004 out of labels.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let v = first; v <= last + step / 2; v += step) ticks.push(Number(v.toFixed(decimals)));
  return { ticks, lo: first, hi: last };
}

/** Short label for a tick or value: 4 significant digits, no trailing zeros. */
export function formatNumber(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** A rectangle in pixels. */
export interface Box {
  /** Left. */
  readonly x: number;
  /** Top. */
  readonly y: number;
  /** Width. */
  readonly w: number;
  /** Height. */
  readonly h: number;
}

/** Linear map from a data range onto a pixel span (pixel spans may run backwards, as y does). */
export function scale(d0: number, d1: number, p0: number, p1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (p1 - p0) / (d1 - d0);
  return (v) => p0 + (v - d0) * k;
}

const CHAR_H = 8;

/** Pixel height the title takes (0 without one). */
export function titleHeight(title?: string): number {
  return title ? CHAR_H * TITLE_SCALE + 16 : 0;
}

/** The title, centred at the top. */
export function titleShapes(title: string | undefined, width: number): Shape[] {
  if (!title) return [];
  return [{
    kind: "text",
    x: width / 2,
    y: 8 + (CHAR_H * TITLE_SCALE) / 2,
    text: title,
    color: INK,
    scale: TITLE_SCALE,
    anchor: "middle",
  }];
}

/** Legend entries laid out in rows centred under the title; returns the shapes and the height used. */
export function legendShapes(
  names: readonly string[],
  top: number,
  width: number,
): { shapes: Shape[]; height: number } {
  if (names.length <= 1) return { shapes: [], height: 0 };
  const items = names.map((name, i) => ({ name, color: PALETTE[i % PALETTE.length], w: 14 + textWidth(name) + 16 }));
  const rows: (typeof items)[] = [[]];
  let rowW = 0;
  for (const it of items) {
    if (rowW + it.w > width - 40 && rows[rows.length - 1].length > 0) {
      rows.push([]);
      rowW = 0;
    }
    rows[rows.length - 1].push(it);
    rowW += it.w;
  }
  const shapes: Shape[] = [];
  rows.forEach((row, r) => {
    const total = row.reduce((a, it) => a + it.w, 0) - 16;
    let x = (width - total) / 2;
    const y = top + r * 16 + 8;
    for (const it of row) {
      shapes.push({ kind: "rect", x, y: y - 5, w: 10, h: 10, fill: it.color });
      shapes.push({ kind: "text", x: x + 14, y, text: it.name, color: INK, scale: LABEL_SCALE, anchor: "start" });
      x += it.w;
    }
  });
  return { shapes, height: rows.length * 16 + 6 };
}

/** Axis options for {@linkcode frameShapes}. */
export interface FrameOptions {
  /** The plot area. */
  readonly box: Box;
  /** y tick values (drawn as grid lines and labels on the left). */
  readonly yTicks: readonly number[];
  /** Maps a y value to a pixel row. */
  readonly yPx: (v: number) => number;
  /** x tick values, when the x axis is numeric. */
  readonly xTicks?: readonly number[];
  /** Maps an x value to a pixel column. */
  readonly xPx?: (v: number) => number;
  /** Label under the x axis. */
  readonly xLabel?: string;
  /** Label left of the y axis, reading upwards. */
  readonly yLabel?: string;
  /** Distance of the x label below the plot area. */
  readonly xLabelOffset?: number;
}

/** Grid lines, frame, tick labels and axis labels around a plot area. */
export function frameShapes(o: FrameOptions): Shape[] {
  const { box } = o;
  const shapes: Shape[] = [];
  const right = box.x + box.w;
  const bottom = box.y + box.h;
  for (const t of o.yTicks) {
    const y = Math.round(o.yPx(t)) + 0.5;
    shapes.push({ kind: "line", points: [[box.x, y], [right, y]], stroke: GRID, width: 1 });
    shapes.push({ kind: "line", points: [[box.x - 4, y], [box.x, y]], stroke: INK, width: 1 });
    const text = formatNumber(t);
    shapes.push({ kind: "text", x: box.x - 7, y, text, color: INK, scale: LABEL_SCALE, anchor: "end" });
  }
  if (o.xTicks && o.xPx) {
    for (const t of o.xTicks) {
      const x = Math.round(o.xPx(t)) + 0.5;
      shapes.push({ kind: "line", points: [[x, box.y], [x, bottom]], stroke: GRID, width: 1 });
      shapes.push({ kind: "line", points: [[x, bottom], [x, bottom + 4]], stroke: INK, width: 1 });
      const text = formatNumber(t);
      shapes.push({ kind: "text", x, y: bottom + 12, text, color: INK, scale: LABEL_SCALE, anchor: "middle" });
    }
  }
  const l = box.x + 0.5;
  const b = bottom + 0.5;
  shapes.push({ kind: "line", points: [[l, box.y], [l, b], [right, b]], stroke: INK, width: 1 });
  if (o.xLabel) {
    const y = bottom + (o.xLabelOffset ?? 28);
    shapes.push({
      kind: "text",
      x: box.x + box.w / 2,
      y,
      text: o.xLabel,
      color: INK,
      scale: LABEL_SCALE,
      anchor: "middle",
    });
  }
  if (o.yLabel) {
    const widest = Math.max(0, ...o.yTicks.map((t) => textWidth(formatNumber(t))));
    shapes.push({
      kind: "text",
      x: box.x - widest - 18,
      y: box.y + box.h / 2,
      text: o.yLabel,
      color: INK,
      scale: LABEL_SCALE,
      anchor: "middle",
      vertical: true,
    });
  }
  return shapes;
}

/** Left margin that fits the y tick labels and the rotated y label. */
export function leftMargin(yTicks: readonly number[], yLabel?: string): number {
  const widest = Math.max(0, ...yTicks.map((t) => textWidth(formatNumber(t))));
  return widest + 14 + (yLabel ? 16 : 0) + 8;
}
