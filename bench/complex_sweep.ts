/**
 * Sweep of the complex correlation kernels (kernels/complex_correlate.ts) at the spectral 23×23 convolution's shapes
 * (ConvNeXt-T stages 1 and 2, batch 64): outputs per thread of the forward, outputs per item and taps per pass of the
 * kernel gradient.
 * Each variant's output is compared on the GPU with the default's; times as bench/depthwise_sweep.ts.
 *
 *     deno run -A bench/complex_sweep.ts [--rounds=3]
 * @module
 */
import {
  complexCorrelateKernel,
  complexCorrelateKernelGradKernel,
  type ComplexGeometry,
} from "../kernels/complex_correlate.ts";
import { KernelRunner } from "../kernels/runner.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import { spectralLength } from "../lib/ops/spectral_conv.ts";
import { timeInterleaved } from "./gpu_timing.ts";
import { markdownTable, writeResult } from "./report.ts";

if (Deno.args.includes("--help")) {
  console.log("deno run -A bench/complex_sweep.ts [--rounds=R]");
  Deno.exit(0);
}
const rounds = Number(Deno.args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 3);
const gpu = await requestGpu();
const runner = new KernelRunner(gpu);
const rows: (string | number)[][] = [];
for (const [C, H, W] of [[96, 64, 62], [192, 32, 31]]) {
  const { F } = spectralLength(H, 23, [11, 11]);
  const g: ComplexGeometry = { R: 64, P: C * F, W, kw: 23 };
  const flops = 8 * g.R * g.P * W * g.kw;
  for (
    const [pass, make, blocks] of [
      ["forward", complexCorrelateKernel, [4, 3]],
      ["adjoint", complexCorrelateKernel, [4, 3]],
      ["kernel gradient", complexCorrelateKernelGradKernel, [4, 2, 8, [4, 12], [8, 12], [4, 8], [8, 8], [2, 12], [
        4,
        6,
      ]]],
    ] as const
  ) {
    const p = { padding: [11, 11] as [number, number], adjoint: pass === "adjoint" };
    const tiles = blocks.map((b) => (typeof b === "number" ? { block: b } : { block: b[0], taps: b[1] }));
    const programs = await Promise.all(tiles.map((t) => runner.prepare(make(g, p, t))));
    const { times, errs } = await timeInterleaved(runner, programs, { rounds, warmS: 0.3, batchS: 0.03 });
    tiles.forEach((t, i) => {
      const s = Math.min(...times[i]);
      const label = t.taps ? `${t.block}, ${t.taps} taps a pass` : t.block;
      rows.push([`${g.R}×${g.P}×${W} ${pass}`, label, s * 1e3, flops / s / 1e12, errs[i]]);
    });
  }
}
console.log(markdownTable(["shape", "block", "ms", "TFLOP/s", "err"], rows));
await writeResult("complex_sweep.json", { adapter: gpu.description, rows });
gpu.destroy();
