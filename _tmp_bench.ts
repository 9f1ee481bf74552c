import { convGeometry } from "./kernels/conv2d.ts";
import * as NEW from "./kernels/depthwise.ts";
import * as OLD from "./kernels/_old_depthwise.ts";
import { requestGpu } from "./lib/gpu/device.ts";
import { KernelRunner } from "./kernels/runner.ts";
import type { KernelProgram } from "./kernels/program.ts";
const gpu = await requestGpu();
const runner = new KernelRunner(gpu);
const limits = { maxWorkgroupStorage: 16384, maxInvocations: 256 };
async function time(p: KernelProgram): Promise<number> {
  const prep = await runner.prepare(p);
  const bufs = { inputs: p.inputs.map((s) => runner.createBuffer(s)), outputs: p.outputs.map((s) => runner.createBuffer(s)), scratch: p.scratch.map((s) => runner.createBuffer(s)) };
  const go = async (reps: number) => {
    const enc = gpu.device.createCommandEncoder();
    for (let r = 0; r < reps; r++) { const pass = enc.beginComputePass(); runner.encode(pass, prep, bufs); pass.end(); }
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
  };
  await go(1);
  const t0 = performance.now(); await go(3); return (performance.now() - t0) / 3;
}
const N = 4;
for (const k of [23, 7]) for (const [C, H, W] of [[16, 64, 62], [32, 32, 31], [64, 16, 15], [128, 8, 7]]) {
  const g = convGeometry([N, C, H, W], [C, 1, k, k], { stride: [1, 1], padding: [[k >> 1, k >> 1], [k >> 1, k >> 1]], dilation: [1, 1], groups: C });
  const r = [await time(OLD.depthwiseForward(g, limits)), await time(NEW.depthwiseForward(g, limits)),
    await time(OLD.depthwiseInputGrad(g, limits)), await time(NEW.depthwiseInputGrad(g, limits)),
    await time(OLD.depthwiseWeightGrad(g, limits)), await time(NEW.depthwiseWeightGrad(g, limits))];
  console.log(`k${k} ${N}x${C}x${H}x${W}  fwd ${r[0].toFixed(1)} -> ${r[1].toFixed(1)} ms   dx ${r[2].toFixed(1)} -> ${r[3].toFixed(1)}   dw ${r[4].toFixed(1)} -> ${r[5].toFixed(1)}`);
}
