/**
 * Small-multiple scatter plots sharing one figure, e.g. the learned DCLS kernel positions of each stage.
 *
 * @module
 */

import { formatNumber, GRID, INK, LABEL_SCALE, niceTicks, PALETTE, scale, titleHeight, titleShapes } from "./axes.ts";
import type { Rgba } from "./canvas.ts";
import { renderPng, renderSvg, type Scene, type Shape } from "./scene.ts";

/** One panel: points in data coordinates and the visible window. */
export interface ScatterPanel {
  /** Panel title. */
  readonly title?: string;
  /** Points as [x, y]. */
  readonly points: readonly (readonly [number, number])[];
  /** Visible x range. */
  readonly xRange: readonly [number, number];
  /** Visible y range. */
  readonly yRange: readonly [number, number];
}

/** Options of {@linkcode scatterPanels}. */
export interface ScatterPanelsOptions {
  /** Figure title. */
  readonly title?: string;
  /** The panels, laid out left to right, top to bottom. */
  readonly panels: readonly ScatterPanel[];
  /** Panels per row (default: up to 4). */
  readonly columns?: number;
  /** Point radius in pixels (default 2.5). */
  readonly pointRadius?: number;
  /** Point colour (default the first palette colour, slightly transparent so overlaps show). */
  readonly pointColor?: Rgba;
  /** Width in pixels (default 240 per column). */
  readonly width?: number;
}

const PANEL_TITLE_H = 20;
const PAD = { left: 40, right: 12, bottom: 22 };

/** Lays out the panels as a scene; points outside a panel's window are not drawn but counted in its title. */
export function scatterPanelsScene(o: ScatterPanelsOptions): Scene {
  if (o.panels.length === 0) throw new Error("scatterPanels: needs at least one panel");
  const columns = Math.max(1, Math.min(o.columns ?? 4, o.panels.length));
  const rows = Math.ceil(o.panels.length / columns);
  const width = o.width ?? 240 * columns;
  const cellW = width / columns;
  const plot = cellW - PAD.left - PAD.right;
  const cellH = PANEL_TITLE_H + plot + PAD.bottom + 8;
  const top = titleHeight(o.title) + 4;
  const height = Math.ceil(top + rows * cellH);
  const color = o.pointColor ?? [PALETTE[0][0], PALETTE[0][1], PALETTE[0][2], 190];
  const radius = o.pointRadius ?? 2.5;
  const shapes: Shape[] = [...titleShapes(o.title, width)];

  o.panels.forEach((p, i) => {
    const [xa, xb] = p.xRange;
    const [ya, yb] = p.yRange;
    if (!(xb > xa && yb > ya)) throw new Error(`scatterPanels: panel ${i} needs increasing x and y ranges`);
    const ox = (i % columns) * cellW + PAD.left;
    const oy = top + Math.floor(i / columns) * cellH + PANEL_TITLE_H;
    const xPx = scale(xa, xb, ox, ox + plot);
    const yPx = scale(ya, yb, oy + plot, oy);
    for (const t of niceTicks(xa, xb, 4).ticks.filter((t) => t > xa && t < xb)) {
      shapes.push({ kind: "line", points: [[xPx(t), oy], [xPx(t), oy + plot]], stroke: GRID, width: 1 });
    }
    for (const t of niceTicks(ya, yb, 4).ticks.filter((t) => t > ya && t < yb)) {
      shapes.push({ kind: "line", points: [[ox, yPx(t)], [ox + plot, yPx(t)]], stroke: GRID, width: 1 });
    }
    const frame: [number, number][] = [[ox, oy], [ox + plot, oy], [ox + plot, oy + plot], [ox, oy + plot], [ox, oy]];
    shapes.push({ kind: "line", points: frame, stroke: INK, width: 1 });
    let outside = 0;
    for (const [x, y] of p.points) {
      if (!(x >= xa && x <= xb && y >= ya && y <= yb)) {
        outside++;
        continue;
      }
      shapes.push({ kind: "circle", cx: xPx(x), cy: yPx(y), r: radius, fill: color });
    }
    const label = (p.title ?? "") + (outside > 0 ? ` (${outside} outside)` : "");
    if (label) {
      shapes.push({
        kind: "text",
        x: ox + plot / 2,
        y: oy - 10,
        text: label,
        color: INK,
        scale: LABEL_SCALE,
        anchor: "middle",
      });
    }
    const tick = (text: string, x: number, y: number, anchor: "start" | "middle" | "end") =>
      shapes.push({ kind: "text", x, y, text, color: INK, scale: LABEL_SCALE, anchor });
    tick(formatNumber(xa), ox, oy + plot + 10, "start");
    tick(formatNumber(xb), ox + plot, oy + plot + 10, "end");
    tick(formatNumber(ya), ox - 5, oy + plot - 3, "end");
    tick(formatNumber(yb), ox - 5, oy + 3, "end");
  });
  return { width, height, background: [255, 255, 255, 255], shapes };
}

/** Scatter panels as a PNG file. */
export function scatterPanels(o: ScatterPanelsOptions): Uint8Array {
  return renderPng(scatterPanelsScene(o));
}

/** Scatter panels as an SVG document. */
export function scatterPanelsSvg(o: ScatterPanelsOptions): string {
  return renderSvg(scatterPanelsScene(o));
}
