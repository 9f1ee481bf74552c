/**
 * Grouped bar chart with optional error bars (e.g. mAP mean ± std over seeds per model).
 *
 * @module
 */

import {
  type Box,
  formatNumber,
  frameShapes,
  INK,
  LABEL_SCALE,
  leftMargin,
  legendShapes,
  niceTicks,
  PALETTE,
  scale,
  titleHeight,
  titleShapes,
} from "./axes.ts";
import { textWidth } from "./font.ts";
import { renderPng, renderSvg, type Scene, type Shape } from "./scene.ts";

/** One series: a value (and optional ± error) per category. */
export interface BarSeries {
  /** Legend name. */
  readonly name: string;
  /** One value per label. */
  readonly values: readonly number[];
  /** Half-length of the error bar per label (e.g. a standard deviation). */
  readonly errors?: readonly number[];
}

/** Options of {@linkcode barChart}. */
export interface BarChartOptions {
  /** Title at the top. */
  readonly title?: string;
  /** Category names along x. */
  readonly labels: readonly string[];
  /** Series, drawn side by side within each category. */
  readonly series: readonly BarSeries[];
  /** y axis label. */
  readonly yLabel?: string;
  /** Fixed y range; by default it covers 0 and every value ± error. */
  readonly yRange?: readonly [number, number];
  /** Print each value above its bar (default: when there are at most 24 bars). */
  readonly showValues?: boolean;
  /** Width in pixels (default 800). */
  readonly width?: number;
  /** Height in pixels (default 480). */
  readonly height?: number;
}

function validate(o: BarChartOptions): void {
  if (o.labels.length === 0 || o.series.length === 0) throw new Error("barChart: needs at least one label and series");
  for (const s of o.series) {
    if (s.values.length !== o.labels.length) {
      throw new Error(`barChart: series "${s.name}" has ${s.values.length} values for ${o.labels.length} labels`);
    }
    if (s.errors && s.errors.length !== o.labels.length) {
      throw new Error(`barChart: series "${s.name}" has ${s.errors.length} errors for ${o.labels.length} labels`);
    }
  }
}

/** Lays out a grouped bar chart as a scene. */
export function barChartScene(o: BarChartOptions): Scene {
  validate(o);
  const width = o.width ?? 800;
  const height = o.height ?? 480;
  const shapes: Shape[] = [...titleShapes(o.title, width)];
  const legend = legendShapes(o.series.map((s) => s.name), titleHeight(o.title), width);
  shapes.push(...legend.shapes);

  let lo = 0;
  let hi = 0;
  for (const s of o.series) {
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return;
      const e = s.errors?.[i] ?? 0;
      lo = Math.min(lo, v - e);
      hi = Math.max(hi, v + e);
    });
  }
  const nBars = o.labels.length * o.series.length;
  const showValues = o.showValues ?? nBars <= 24;
  // Value labels sit above the bars, so leave them room under the top of the axis.
  const headroom = showValues ? (hi - lo) * 0.08 : 0;
  const nice = niceTicks(o.yRange?.[0] ?? lo, o.yRange?.[1] ?? hi + headroom);
  const y0 = o.yRange?.[0] ?? nice.lo;
  const y1 = o.yRange?.[1] ?? nice.hi;
  const yTicks = nice.ticks.filter((t) => t >= y0 - 1e-12 && t <= y1 + 1e-12);

  const left = leftMargin(yTicks, o.yLabel);
  const top = titleHeight(o.title) + legend.height + 10;
  const plotW = width - left - 20;
  const groupW = plotW / o.labels.length;
  // Labels that do not fit under their group are turned to read upwards.
  const longest = Math.max(...o.labels.map((l) => textWidth(l)));
  const vertical = longest > groupW - 6;
  const bottom = vertical ? longest + 18 : 30;
  const box: Box = { x: left, y: top, w: plotW, h: height - top - bottom };
  const yPx = scale(y0, y1, box.y + box.h, box.y);
  shapes.push(...frameShapes({ box, yTicks, yPx, yLabel: o.yLabel }));

  const barW = (groupW * 0.8) / o.series.length;
  const base = yPx(Math.max(y0, Math.min(y1, 0)));
  o.labels.forEach((label, i) => {
    const gx = box.x + i * groupW + groupW * 0.1;
    o.series.forEach((s, k) => {
      const v = s.values[i];
      if (!Number.isFinite(v)) return;
      const x = gx + k * barW;
      const top = yPx(Math.max(y0, Math.min(y1, v)));
      shapes.push({
        kind: "rect",
        x: x + 1,
        y: Math.min(top, base),
        w: barW - 2,
        h: Math.abs(base - top),
        fill: PALETTE[k % PALETTE.length],
      });
      const e = s.errors?.[i];
      const cx = x + barW / 2;
      let labelY = Math.min(top, base);
      if (e !== undefined && e > 0) {
        const ya = yPx(v - e);
        const yb = yPx(v + e);
        const cap = Math.min(6, barW / 3);
        shapes.push({ kind: "line", points: [[cx, ya], [cx, yb]], stroke: INK, width: 1.5 });
        shapes.push({ kind: "line", points: [[cx - cap, ya], [cx + cap, ya]], stroke: INK, width: 1.5 });
        shapes.push({ kind: "line", points: [[cx - cap, yb], [cx + cap, yb]], stroke: INK, width: 1.5 });
        labelY = Math.min(labelY, yb);
      }
      if (showValues) {
        shapes.push({
          kind: "text",
          x: cx,
          y: labelY - 8,
          text: formatNumber(v),
          color: INK,
          scale: LABEL_SCALE,
          anchor: "middle",
        });
      }
    });
    const lx = box.x + (i + 0.5) * groupW;
    const ly = box.y + box.h + 8;
    if (vertical) {
      shapes.push({
        kind: "text",
        x: lx,
        y: ly,
        text: label,
        color: INK,
        scale: LABEL_SCALE,
        anchor: "end",
        vertical: true,
      });
    } else {shapes.push({
        kind: "text",
        x: lx,
        y: ly + 4,
        text: label,
        color: INK,
        scale: LABEL_SCALE,
        anchor: "middle",
      });}
  });
  return { width, height, background: [255, 255, 255, 255], shapes };
}

/** Grouped bar chart as a PNG file. */
export function barChart(o: BarChartOptions): Uint8Array {
  return renderPng(barChartScene(o));
}

/** Grouped bar chart as an SVG document. */
export function barChartSvg(o: BarChartOptions): string {
  return renderSvg(barChartScene(o));
}
