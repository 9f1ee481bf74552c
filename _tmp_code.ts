import { convGeometry } from "./kernels/conv2d.ts";
import { depthwiseForward, depthwiseWeightGrad, depthwiseInputGrad } from "./kernels/depthwise.ts";
const [N, C, H, W, k, which] = Deno.args.map((a, i) => i < 5 ? Number(a) : a) as [number, number, number, number, number, string];
const g = convGeometry([N, C, H, W], [C, 1, k, k], { stride: [1, 1], padding: [[k >> 1, k >> 1], [k >> 1, k >> 1]], dilation: [1, 1], groups: C });
const p = which === "dw" ? depthwiseWeightGrad(g) : which === "dx" ? depthwiseInputGrad(g) : depthwiseForward(g);
for (const d of p.dispatches) console.log(d.label, d.workgroups, "\n" + d.code);
