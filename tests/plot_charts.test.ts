import assert from "node:assert/strict";
import {
  barChart,
  barChartSvg,
  lineChart,
  lineChartSvg,
  PALETTE,
  scatterPanels,
  scatterPanelsSvg,
} from "../lib/plot/mod.ts";
import { type DecodedPng, decodePng, pixel } from "./_png_decode.ts";

const isColor = (p: number[], c: readonly number[]) => p[0] === c[0] && p[1] === c[1] && p[2] === c[2];

/** Columns holding at least one pixel of colour c, grouped into contiguous runs, with each run's pixel height. */
function colorRuns(img: DecodedPng, c: readonly number[]): { x0: number; x1: number; height: number }[] {
  const runs: { x0: number; x1: number; height: number }[] = [];
  for (let x = 0; x < img.width; x++) {
    let count = 0;
    for (let y = 0; y < img.height; y++) if (isColor(pixel(img, x, y), c)) count++;
    if (count === 0) continue;
    const last = runs[runs.length - 1];
    if (last && last.x1 === x - 1) {
      last.x1 = x;
      last.height = Math.max(last.height, count);
    } else runs.push({ x0: x, x1: x, height: count });
  }
  return runs;
}

Deno.test("barChart draws one bar per value with heights proportional to the values", () => {
  const values = [1, 2, 4];
  const img = decodePng(
    barChart({ title: "Bars", labels: ["a", "b", "c"], series: [{ name: "s", values }], showValues: false }),
  );
  assert.equal(img.width, 800);
  // Only the bars use the first palette colour (a single series draws no legend swatch).
  const runs = colorRuns(img, PALETTE[0]);
  assert.equal(runs.length, 3);
  runs.forEach((r, i) => assert.ok(Math.abs(r.height / runs[2].height - values[i] / 4) < 0.02, `bar ${i}`));
  assert.ok(runs[0].x1 < runs[1].x0 && runs[1].x1 < runs[2].x0);
  // The image is not just background: the pixel in the middle of the tallest bar is the bar colour.
  const mid = Math.round((runs[2].x0 + runs[2].x1) / 2);
  assert.ok(colorRuns(img, [255, 255, 255]).length > 0);
  assert.ok([...Array(img.height).keys()].some((y) => isColor(pixel(img, mid, y), PALETTE[0])));
});

Deno.test("barChart groups series side by side, draws error bars and rejects ragged input", () => {
  const png = barChart({
    labels: ["x", "y"],
    series: [{ name: "A", values: [3, 1], errors: [0.5, 0.2] }, { name: "B", values: [2, 2] }],
  });
  const img = decodePng(png);
  // Two bars per series plus one legend swatch each.
  assert.equal(colorRuns(img, PALETTE[0]).length, 3);
  assert.equal(colorRuns(img, PALETTE[1]).length, 3);
  const withErrors = barChartSvg({
    labels: ["x", "y"],
    series: [{ name: "A", values: [3, 1], errors: [0.5, 0.2] }, { name: "B", values: [2, 2] }],
  });
  // An error bar is a whisker and two caps; B has none.
  assert.equal((withErrors.match(/<polyline [^>]*stroke-width="1.5"/g) ?? []).length, 6);
  const svg = barChartSvg({ labels: ["x"], series: [{ name: "A", values: [1] }] });
  assert.match(svg, /^<svg [^>]*width="800"/);
  assert.equal((svg.match(/<rect [^>]*fill="rgb\(31,119,180\)"/g) ?? []).length, 1);
  assert.throws(() => barChart({ labels: ["x", "y"], series: [{ name: "A", values: [1] }] }), /1 values for 2 labels/);
});

Deno.test("lineChart draws each series in its colour and breaks lines at NaN", () => {
  const xs = [0, 1, 2, 3, 4];
  const img = decodePng(lineChart({
    title: "Loss",
    xLabel: "epoch",
    yLabel: "loss",
    series: [{ name: "train", xs, ys: [4, 3, 2, 1, 0] }, { name: "eval", xs, ys: [0, 1, 2, 3, 4] }],
    markers: false,
  }));
  // Mean row of a colour's pixels in the left and right quarters (the legend sits in the middle).
  const meanRow = (c: readonly number[], x0: number, x1: number) => {
    let sum = 0;
    let n = 0;
    for (let x = x0; x < x1; x++) {
      for (let y = 0; y < img.height; y++) {
        if (isColor(pixel(img, x, y), c)) {
          sum += y;
          n++;
        }
      }
    }
    assert.ok(n > 0);
    return sum / n;
  };
  const q = img.width / 4;
  // "train" falls from left to right (rows grow downwards), "eval" rises.
  assert.ok(meanRow(PALETTE[0], 0, q) < meanRow(PALETTE[0], 3 * q, img.width) - 100);
  assert.ok(meanRow(PALETTE[1], 0, q) > meanRow(PALETTE[1], 3 * q, img.width) + 100);
  const svg = lineChartSvg({ series: [{ name: "s", xs, ys: [1, 2, NaN, 4, 5] }], markers: false });
  assert.equal((svg.match(/<polyline [^>]*stroke="rgb\(31,119,180\)"/g) ?? []).length, 2);
});

Deno.test("scatterPanels lays out one panel per stage and reports points outside the window", () => {
  const panels = [0, 1, 2].map((s) => ({
    title: `stage ${s}`,
    points: [[0, 0], [s, -s], [20, 0]] as [number, number][],
    xRange: [-5, 5] as [number, number],
    yRange: [-5, 5] as [number, number],
  }));
  const img = decodePng(scatterPanels({ title: "Positions", panels, pointColor: [200, 0, 0, 255] }));
  assert.equal(img.width, 3 * 240);
  // Each panel shows its in-window points as red blobs, in its own third of the figure.
  const runs = colorRuns(img, [200, 0, 0]);
  for (let p = 0; p < 3; p++) assert.ok(runs.some((r) => r.x0 > p * 240 && r.x1 < (p + 1) * 240), `panel ${p}`);
  const svg = scatterPanelsSvg({ panels });
  assert.equal((svg.match(/\(1 outside\)/g) ?? []).length, 3);
  assert.throws(() => scatterPanels({ panels: [{ points: [], xRange: [1, 0], yRange: [0, 1] }] }), /increasing/);
});
