/**
 * Sweep of the fused DCLS-Gauss construction kernels at the ConvNeXt-T stages (26 elements on a 23×23 grid; at 8×7
 * the 15×13 window the convolution reaches): the shared-memory kernels (kernels/dcls_gauss.ts) at several threads per
 * workgroup against the per-element ones (kernels/dcls_gauss_lanes.ts), forward and backward, and a floor: a kernel of
 * the per-element kernels' dispatch shape (a warp per channel) that reads one value of each input and copies the
 * output's size, so the table shows how far each kernel is above an almost empty dispatch. Each variant's output is
 * compared on the GPU with the first's (the floor's error is meaningless); times as bench/depthwise_sweep.ts.
 *
 *     deno run -A bench/dcls_construct_sweep.ts [--rounds=3]
 * @module
 */
import { dclsGaussGradKernel, dclsGaussKernel } from "../kernels/dcls_gauss.ts";
import { dclsGaussGradLanesKernel, dclsGaussLanesKernel } from "../kernels/dcls_gauss_lanes.ts";
import type { KernelProgram } from "../kernels/program.ts";
import type { DclsGaussParams } from "../lib/core/primitive.ts";
import { singleDispatchProgram, u32 } from "../kernels/wgsl.ts";
import { startSweep, timeInterleaved } from "./gpu_timing.ts";
import { markdownTable, writeResult } from "./report.ts";

const { rounds, gpu, runner } = await startSweep("dcls_construct_sweep");
const rows: (string | number)[][] = [];
const K = 26;
type Make = (C: number, K: number, p: DclsGaussParams) => KernelProgram;
const shared = (make: (C: number, K: number, p: DclsGaussParams, t: number) => KernelProgram, t: number) =>
  [`${t} threads`, (C: number, K: number, p: DclsGaussParams) => make(C, K, p, t)] as [string, Make];
const axis = (param: number, window?: [number, number]) => ({
  size: 23,
  param,
  shift: 11,
  ...(window ? { start: window[0], count: window[1] } : {}),
});
const stages: [number, DclsGaussParams][] = [
  [96, { rows: axis(1), cols: axis(0) }],
  [384, { rows: axis(1), cols: axis(0) }],
  [768, { rows: axis(1, [4, 15]), cols: axis(0, [5, 13]) }],
];
/** The floor: `program`'s inputs and output, a warp per channel, each copying its channel's share of the output. */
const floorOf = (program: KernelProgram, C: number): KernelProgram => {
  const inputs = program.inputs.map((b) => b.size), out = program.outputs[0].size, per = out / C;
  return singleDispatchProgram({
    label: "floor",
    names: [...inputs.map((_, i) => `in${i}`), "out"],
    inputs,
    output: out,
    workgroupSize: 32,
    workgroups: [C, 1, 1],
    body: [
      "let c = wg.x;",
      `let z = ${inputs.map((_, i) => `in${i}[c]`).join(" + ")};`,
      `for (var t = lid; t < ${u32(per)}; t += 32u) { out[c * ${u32(per)} + t] = z; }`,
    ],
    flops: 0,
  });
};
const passes: [string, [string, Make][]][] = [
  ["forward", [shared(dclsGaussKernel, 256), shared(dclsGaussKernel, 128), ["lanes", dclsGaussLanesKernel]]],
  ["backward", [shared(dclsGaussGradKernel, 256), shared(dclsGaussGradKernel, 128), [
    "lanes",
    dclsGaussGradLanesKernel,
  ]]],
];
for (const [C, p] of stages) {
  for (const [pass, variants] of passes) {
    const made = variants.map(([, make]) => make(C, K, p));
    const programs = await Promise.all([...made, floorOf(made[0], C)].map((m) => runner.prepare(m)));
    const { times, errs } = await timeInterleaved(runner, programs, { rounds, warmS: 0.3, batchS: 0.03 });
    [...variants.map(([t]) => t), "floor"].forEach((t, i) => {
      const tag = p.rows.count ? `${p.rows.count}×${p.cols.count} window` : "23×23";
      rows.push([`${C} channels, ${tag} ${pass}`, t, Math.min(...times[i]) * 1e3, errs[i]]);
    });
  }
}
console.log(markdownTable(["shape", "kernel", "ms", "err"], rows));
await writeResult("dcls_construct_sweep.json", { adapter: gpu.description, rows });
gpu.destroy();
