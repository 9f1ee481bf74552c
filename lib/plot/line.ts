/**
 * Line chart of one or more (x, y) series, e.g. training loss or validation mAP against epochs.
 *
 * @module
 */

import {
  type Box,
  frameShapes,
  leftMargin,
  legendShapes,
  niceTicks,
  PALETTE,
  scale,
  titleHeight,
  titleShapes,
} from "./axes.ts";
import { renderPng, renderSvg, type Scene, type Shape } from "./scene.ts";

/** One curve. */
export interface LineSeries {
  /** Legend name. */
  readonly name: string;
  /** x values. */
  readonly xs: readonly number[];
  /** y values, one per x; non-finite values break the line. */
  readonly ys: readonly number[];
}

/** Options of {@linkcode lineChart}. */
export interface LineChartOptions {
  /** Title at the top. */
  readonly title?: string;
  /** x axis label. */
  readonly xLabel?: string;
  /** y axis label. */
  readonly yLabel?: string;
  /** Curves. */
  readonly series: readonly LineSeries[];
  /** Fixed x range (default: the data's, widened to nice ticks). */
  readonly xRange?: readonly [number, number];
  /** Fixed y range (default: the data's, widened to nice ticks). */
  readonly yRange?: readonly [number, number];
  /** Draw a dot at every point (default: when every series has at most 60 points). */
  readonly markers?: boolean;
  /** Width in pixels (default 800). */
  readonly width?: number;
  /** Height in pixels (default 480). */
  readonly height?: number;
}

function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

/** Lays out a line chart as a scene. */
export function lineChartScene(o: LineChartOptions): Scene {
  if (o.series.length === 0) throw new Error("lineChart: needs at least one series");
  for (const s of o.series) {
    if (s.xs.length !== s.ys.length) {
      throw new Error(`lineChart: series "${s.name}" has ${s.xs.length} xs but ${s.ys.length} ys`);
    }
  }
  const width = o.width ?? 800;
  const height = o.height ?? 480;
  const shapes: Shape[] = [...titleShapes(o.title, width)];
  const legend = legendShapes(o.series.map((s) => s.name), titleHeight(o.title), width);
  shapes.push(...legend.shapes);

  const [xlo, xhi] = o.xRange ?? extent(o.series.flatMap((s) => s.xs));
  const [ylo, yhi] = o.yRange ?? extent(o.series.flatMap((s) => s.ys));
  const xn = niceTicks(xlo, xhi, 8);
  const yn = niceTicks(ylo, yhi, 6);
  const x0 = o.xRange ? xlo : xn.lo;
  const x1 = o.xRange ? xhi : xn.hi;
  const y0 = o.yRange ? ylo : yn.lo;
  const y1 = o.yRange ? yhi : yn.hi;
  const xTicks = xn.ticks.filter((t) => t >= x0 - 1e-12 && t <= x1 + 1e-12);
  const yTicks = yn.ticks.filter((t) => t >= y0 - 1e-12 && t <= y1 + 1e-12);

  const left = leftMargin(yTicks, o.yLabel);
  const top = titleHeight(o.title) + legend.height + 10;
  const bottom = o.xLabel ? 44 : 26;
  const box: Box = { x: left, y: top, w: width - left - 24, h: height - top - bottom };
  const xPx = scale(x0, x1, box.x, box.x + box.w);
  const yPx = scale(y0, y1, box.y + box.h, box.y);
  shapes.push(...frameShapes({ box, yTicks, yPx, xTicks, xPx, xLabel: o.xLabel, yLabel: o.yLabel, xLabelOffset: 30 }));

  const markers = o.markers ?? o.series.every((s) => s.xs.length <= 60);
  o.series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    let run: [number, number][] = [];
    const flush = () => {
      if (run.length > 1) shapes.push({ kind: "line", points: run, stroke: color, width: 2 });
      run = [];
    };
    s.xs.forEach((x, i) => {
      const y = s.ys[i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) return flush();
      const p: [number, number] = [xPx(x), yPx(y)];
      run.push(p);
      if (markers) shapes.push({ kind: "circle", cx: p[0], cy: p[1], r: 2.5, fill: color });
    });
    flush();
  });
  return { width, height, background: [255, 255, 255, 255], shapes };
}

/** Line chart as a PNG file. */
export function lineChart(o: LineChartOptions): Uint8Array {
  return renderPng(lineChartScene(o));
}

/** Line chart as an SVG document. */
export function lineChartSvg(o: LineChartOptions): string {
  return renderSvg(lineChartScene(o));
}
