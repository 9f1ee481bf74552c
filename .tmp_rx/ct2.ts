import { conv2dInputGradKernel, conv2dKernel, conv2dWeightGradKernel } from "../kernels/conv2d.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import { KernelRunner } from "../kernels/runner.ts";
const gpu = await requestGpu();
const runner = new KernelRunner(gpu);
const plain = (s: [number, number], pad: [number, number], groups = 1) => ({ stride: s, padding: [[pad[0], pad[0]], [pad[1], pad[1]]] as any, dilation: [1, 1] as [number, number], groups });
const cases: [string, any][] = [
  ["stem fwd", conv2dKernel([2, 1, 8, 70], [6, 1, 2, 16], plain([2, 16], [0, 0]))],
  ["stem dx", conv2dInputGradKernel([2, 6, 4, 4], [6, 1, 2, 16], { ...plain([2, 16], [0, 0]), inputShape: [2, 1, 8, 70] })],
  ["stem dw", conv2dWeightGradKernel([2, 1, 8, 70], [2, 6, 4, 4], { ...plain([2, 16], [0, 0]), weightShape: [6, 1, 2, 16] })],
  ["ds dx", conv2dInputGradKernel([2, 12, 3, 4], [12, 8, 2, 2], { ...plain([2, 2], [0, 0]), inputShape: [2, 8, 6, 9] })],
];
for (const [name, prog] of cases) {
  const t0 = performance.now();
  const ins = prog.inputs.map((b: any) => new Float32Array(b.size));
  await runner.run(prog, ins);
  console.log(name, "run", (performance.now() - t0).toFixed(0), "ms");
}
