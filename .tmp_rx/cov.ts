import fc from "fast-check";
import { reduceKernel } from "../kernels/reduce.ts";
import { reduceLayout } from "../kernels/reduce_layout.ts";
import { applyMovement, contiguousView } from "../kernels/view.ts";
const dimArb = fc.constantFrom(1, 2, 3, 4, 5, 8, 12);
let split = 0, tile = 0, vec = 0, row = 0, col = 0, n = 0, inv = 0;
for (const shape of fc.sample(fc.array(dimArb, { minLength: 1, maxLength: 4 }).filter((s) => s.reduce((a, b) => a * b, 1) <= 3000 && s.some((d) => d > 1)), 400)) {
  const rank = shape.length;
  const perm = fc.sample(fc.shuffledSubarray(shape.map((_, i) => i), { minLength: rank, maxLength: rank }), 2);
  const axes = fc.sample(fc.subarray(shape.map((_, i) => i), { minLength: 1 }), 1)[0];
  const views = perm.map((p) => applyMovement(contiguousView(p.map((a) => shape[a])), "transpose", { perm: shape.map((_, a) => p.indexOf(a)) }));
  const expr = { inputs: ["f32", "f32"], nodes: [{ op: "load", input: 0, view: views[0] }, { op: "load", input: 1, view: views[1] }, { op: "mul", args: [0, 1] }], outputs: [2] } as any;
  const p = reduceKernel({ shape, axes, op: "sum", expr }, { fillThreads: 4096, minIters: 1 });
  n++;
  if (p.dispatches.length > 1) split++;
  if (/let t\d+_0 =/.test(p.dispatches[0].code)) tile++;
  if (/vec4/.test(p.dispatches[0].code)) vec++;
  if (/let h\d+/.test(p.dispatches[0].code)) inv++;
  if (reduceLayout(shape, axes, expr).mode === "row") row++; else col++;
}
console.log({ n, split, tile, vec, row, col, inv });
