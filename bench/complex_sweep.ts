/**
 * Sweep of the complex correlation kernels (kernels/complex_correlate.ts) at the spectral 23×23 convolution's shapes
 * (ConvNeXt-T stages 1 to 3, batch 64): outputs per thread and threads per workgroup of the forward, outputs per
 * item, tap groups on separate threads and threads per workgroup of the kernel gradient, and the forward's sum over
 * the taps against its sum over the row; where a plane's spectrum fits workgroup memory, the forward fused with the
 * inverse transform after it (kernels/correlate_dft.ts), by threads per workgroup.
 * Each variant's output is compared on the GPU with the default's; times as bench/depthwise_sweep.ts.
 *
 *     deno run -A bench/complex_sweep.ts [--rounds=3]
 * @module
 */
import {
  complexCorrelateKernel,
  complexCorrelateKernelGradKernel,
  type ComplexGeometry,
  type ComplexTiles,
} from "../kernels/complex_correlate.ts";
import { correlateDftFits, correlateDftKernel } from "../kernels/correlate_dft.ts";
import { spectralLength } from "../lib/ops/spectral_conv.ts";
import { startSweep, timeInterleaved } from "./gpu_timing.ts";
import { markdownTable, writeResult } from "./report.ts";

const { rounds, gpu, runner } = await startSweep("complex_sweep");
const rows: (string | number)[][] = [];
for (const [C, H, W] of [[96, 64, 62], [192, 32, 31], [384, 16, 15]]) {
  const { F } = spectralLength(H, 23, [11, 11]);
  const g: ComplexGeometry = { R: 64, P: C * F, W, kw: 23 };
  const flops = 8 * g.R * g.P * W * g.kw;
  const sweep: [string, typeof complexCorrelateKernel, ComplexTiles[]][] = [
    ["forward", complexCorrelateKernel, [
      {},
      { form: "taps" },
      { form: "signal" },
      { form: "signal", rows: 1, block: 4 },
      { form: "taps", rows: 2, block: 2 },
      { form: "taps", block: 3 },
      { form: "taps", block: 4 },
      { form: "taps", block: 5 },
      { form: "taps", block: 6 },
    ]],
    ["kernel gradient", complexCorrelateKernelGradKernel, [
      {},
      { threads: 64 },
      { groups: 2 },
      { groups: 2, threads: 64 },
      { groups: 3, threads: 48 },
      { groups: 4, threads: 64 },
      { groups: 4, threads: 128 },
      { groups: 2, block: 8 },
      { groups: 2, block: 8, threads: 64 },
      { groups: 4, block: 8, threads: 64 },
      { groups: 3, block: 8, threads: 48 },
      { groups: 4, block: 5, threads: 64 },
      { groups: 2, block: 5, threads: 64 },
      { groups: 3, block: 5, threads: 48 },
      { groups: 4, block: 5, threads: 128 },
      { groups: 2, block: 5, threads: 32 },
    ]],
  ];
  for (const [pass, make, tiles] of sweep) {
    const p = { padding: [11, 11] as [number, number], adjoint: pass === "adjoint" };
    const programs = await Promise.all(tiles.map((t) => runner.prepare(make(g, p, t))));
    const { times, errs } = await timeInterleaved(runner, programs, { rounds, warmS: 0.3, batchS: 0.03 });
    tiles.forEach((t, i) => {
      const s = Math.min(...times[i]);
      const label = Object.keys(t).length ? JSON.stringify(t).replace(/["{}]/g, "") : "default";
      rows.push([`${g.R}×${g.P}×${W} ${pass}`, label, s * 1e3, flops / s / 1e12, errs[i]]);
    });
  }
  // The correlation fused with the inverse transform that reads it (kernels/correlate_dft.ts), where a plane fits.
  const fg = { ...g, C }, cp = { padding: [11, 11] as [number, number], adjoint: false };
  const dp = { length: spectralLength(H, 23, [11, 11]).N, size: H, inverse: true, transpose: false };
  if (correlateDftFits(fg, cp, dp)) {
    const threads = [128, 64, 256];
    const programs = await Promise.all(
      threads.map((n) => runner.prepare(correlateDftKernel(fg, cp, dp, undefined, { threads: n }))),
    );
    const { times, errs } = await timeInterleaved(runner, programs, { rounds, warmS: 0.3, batchS: 0.03 });
    threads.forEach((n, i) => {
      const s = Math.min(...times[i]);
      rows.push([`${g.R}×${g.P}×${W} fused with the inverse`, `threads:${n}`, s * 1e3, flops / s / 1e12, errs[i]]);
    });
  }
}
console.log(markdownTable(["shape", "tiles", "ms", "TFLOP/s", "err"], rows));
await writeResult("complex_sweep.json", { adapter: gpu.description, rows });
gpu.destroy();
