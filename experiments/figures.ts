/**
 * The experiment's figures as PNG bytes: mAP and throughput per configuration (two bar charts stacked in one
 * image), training curves (smoothed loss, mean over seeds; mAP over steps when evaluated during training), and the
 * learned DCLS positions (one panel per stage).
 * @module
 */
import { barChartScene, lineChartScene, renderPng, scatterPanels, type Scene, type Shape } from "../lib/plot/mod.ts";
import type { StagePositions } from "../lib/dcls/positions.ts";
import type { LogEntry } from "../lib/train/loop.ts";

/** The bitmap font has printable ASCII only: spell the few other characters our labels use. */
export function ascii(text: string): string {
  return text.replace(/×/g, "x").replace(/±/g, "+/-").replace(/′/g, "'").replace(/[^\x20-\x7e]/g, "?");
}

/** Scenes one above the other, in one image as wide as the widest. */
export function stackScenes(scenes: readonly Scene[]): Scene {
  const shapes: Shape[] = [];
  let y0 = 0;
  for (const s of scenes) {
    for (const sh of s.shapes) {
      if (sh.kind === "rect" || sh.kind === "text") shapes.push({ ...sh, y: sh.y + y0 });
      else if (sh.kind === "circle") shapes.push({ ...sh, cy: sh.cy + y0 });
      else shapes.push({ ...sh, points: sh.points.map(([x, y]) => [x, y + y0] as const) });
    }
    y0 += s.height;
  }
  return {
    width: Math.max(...scenes.map((s) => s.width)),
    height: y0,
    background: scenes[0].background,
    shapes,
  };
}

/** One bar group: a family's two configurations. */
export interface ConfigBars {
  /** Family label (x axis). */
  readonly label: string;
  /** Per variant (depthwise, DCLS): mean and std of mAP. */
  readonly map: readonly [number, number][];
  /** Per variant: inference samples/s. */
  readonly throughput: readonly number[];
}

/** mAP (mean ± std over seeds) and throughput per configuration, grouped by family. */
export function tablePlot(groups: readonly ConfigBars[], variants: readonly string[], title: string): Uint8Array {
  const labels = groups.map((g) => ascii(g.label));
  const mapScene = barChartScene({
    title: ascii(`${title}: mAP (mean ± std over seeds)`),
    labels,
    yLabel: "mAP",
    series: variants.map((name, v) => ({
      name: ascii(name),
      values: groups.map((g) => g.map[v][0]),
      errors: groups.map((g) => g.map[v][1]),
    })),
    height: 400,
  });
  const tpScene = barChartScene({
    title: "Inference throughput",
    labels,
    yLabel: "samples/s",
    series: variants.map((name, v) => ({ name: ascii(name), values: groups.map((g) => g.throughput[v]) })),
    height: 400,
  });
  return renderPng(stackScenes([mapScene, tpScene]));
}

function movingAverage(xs: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i];
    if (i >= window) sum -= xs[i - window];
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

/** Loss per step averaged over runs (runs of one configuration share their steps). */
function meanLoss(logs: readonly (readonly LogEntry[])[]): { steps: number[]; loss: number[] } {
  const by = new Map<number, number[]>();
  for (const log of logs) {
    for (const e of log) if (e.kind === "train") by.set(e.step, [...(by.get(e.step) ?? []), e.loss]);
  }
  const steps = [...by.keys()].sort((a, b) => a - b);
  return { steps, loss: steps.map((s) => by.get(s)!.reduce((a, b) => a + b, 0) / by.get(s)!.length) };
}

/** Training curves: smoothed training loss (mean over seeds) and, when evaluated during training, mAP per step. */
export function curvesPlot(configs: readonly { name: string; logs: readonly (readonly LogEntry[])[] }[]): Uint8Array {
  const series = configs.map((c) => {
    const { steps, loss } = meanLoss(c.logs);
    return { name: ascii(c.name), xs: steps, ys: movingAverage(loss, Math.max(1, Math.round(steps.length / 15))) };
  });
  const scenes = [
    lineChartScene({
      title: "Training loss (BCE; moving average, mean over seeds)",
      xLabel: "step",
      yLabel: "loss",
      series,
      markers: false,
      width: 900,
    }),
  ];
  const evalSeries = configs.map((c) => {
    const by = new Map<number, number[]>();
    for (const log of c.logs) {
      for (const e of log) if (e.kind === "eval") by.set(e.step, [...(by.get(e.step) ?? []), e.mAP]);
    }
    const xs = [...by.keys()].sort((a, b) => a - b);
    return { name: ascii(c.name), xs, ys: xs.map((s) => by.get(s)!.reduce((a, b) => a + b, 0) / by.get(s)!.length) };
  });
  if (evalSeries.some((s) => s.xs.length > 1)) {
    scenes.push(
      lineChartScene({
        title: "Evaluation mAP (mean over seeds)",
        xLabel: "step",
        yLabel: "mAP",
        series: evalSeries,
        width: 900,
      }),
    );
  }
  return renderPng(stackScenes(scenes));
}

/** Learned positions, one panel per stage: every kernel element of every channel at its (column, row) grid cell. */
export function positionsPlot(stages: readonly StagePositions[], title: string): Uint8Array {
  return scatterPanels({
    title: ascii(title),
    columns: Math.min(4, stages.length),
    pointRadius: 1.5,
    width: 300 * Math.min(4, stages.length),
    panels: stages.map((s, i) => ({
      title: `stage ${i + 1} (${s.channels} ch x ${s.kernelCount})`,
      points: s.rows.flatMap((row, c) => row.map((r, k) => [s.cols[c][k], s.grid[0] - 1 - r] as const)),
      xRange: [-0.5, s.grid[1] - 0.5],
      yRange: [-0.5, s.grid[0] - 0.5],
    })),
  });
}
