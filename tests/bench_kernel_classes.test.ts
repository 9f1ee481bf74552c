import assert from "node:assert/strict";
import { Tensor } from "../lib/core/tensor.ts";
import { traceGraph } from "../lib/core/compile.ts";
import { conv2d, grad, layerNorm, linear, mean, sum } from "../lib/core/mod.ts";
import { add, mul } from "../lib/ops/elementwise.ts";
import { construct } from "../lib/dcls/construct.ts";
import { logMel } from "../lib/audio/frontend.ts";
import { buildPlan } from "../lib/gpu/plan.ts";
import { classifyPlan, classOfLabel, type InputRole, KERNEL_CLASSES } from "../bench/kernel_classes.ts";

const MAX_BINDINGS = 8;
const abstract = (shape: number[]) => new Tensor(shape, "f32", {});

type P = Record<string, Tensor>;

/** A miniature DCLS block with an optimizer update: every class the profile separates for a model step. */
function miniStep(params: P, opt: { m: P }, x: Tensor, lr: Tensor) {
  const loss = (p: P) => {
    const k = construct(p["dw.weight"], p["dw.P"], p["dw.SIG"], { version: "gauss", dilatedKernelSize: 23 });
    const h = conv2d(x, k, { padding: 11, groups: 4 });
    const z = layerNorm(h, undefined, undefined, { axis: 1 });
    return sum(linear(mean(z, [2, 3]), p["lin.weight"]));
  };
  const g = grad(loss)(params) as P;
  const m = Object.fromEntries(Object.keys(params).map((k) => [k, add(mul(opt.m[k], 0.9), mul(g[k], lr))]));
  return [m];
}

function miniArgs() {
  const params: P = {
    "dw.P": abstract([2, 4, 1, 26]),
    "dw.SIG": abstract([2, 4, 1, 26]),
    "dw.weight": abstract([4, 1, 26]),
    "lin.weight": abstract([8, 4]),
  };
  return [params, { m: { ...params } }, abstract([2, 4, 6, 6]), abstract([])];
}

Deno.test("classifyPlan: a DCLS step splits into construction, depthwise conv, normalisation, matmul, optimizer", () => {
  const args = miniArgs();
  const traced = traceGraph(miniStep as never, args);
  const plan = buildPlan(traced.graph, { maxBindings: MAX_BINDINGS });
  const roles: InputRole[] = ["dcls", "dcls", "dcls", "param", "opt", "opt", "opt", "opt", "data", "opt"];
  const c = classifyPlan(traced.graph, plan, roles, { maxBindings: MAX_BINDINGS });
  // "kernels" means the derived kernels matched the plan dispatch for dispatch (the planner did not drift).
  assert.equal(c.source, "kernels");
  assert.equal(c.dispatches.length, plan.dispatches.length);
  c.dispatches.forEach((d, i) => assert.equal(d.label, plan.dispatches[i].label));
  const classes = new Set(c.dispatches.map((d) => d.cls));
  for (const want of ["DCLS construct", "depthwise conv", "normalisation", "matmul", "optimizer"] as const) {
    assert.ok(classes.has(want), `missing class ${want} in ${[...classes].join(", ")}`);
  }
  for (const d of c.dispatches) assert.ok((KERNEL_CLASSES as readonly string[]).includes(d.cls));
  assert.ok(!classes.has("front end"), "nothing here depends on a waveform");
  // FLOPs are counted once per kernel: the matmul-like classes carry some.
  assert.ok(c.dispatches.filter((d) => d.cls === "DCLS construct").some((d) => d.flops > 0));
  // The fused construction and its backward (which reads the data-dependent kernel gradient) are both construction.
  for (const label of ["dcls_gauss_", "dcls_gauss_grad_"]) {
    const ds = c.dispatches.filter((d) => d.label.startsWith(label));
    assert.ok(ds.length > 0 && ds.every((d) => d.cls === "DCLS construct"), `${label}: ${ds.map((d) => d.cls)}`);
  }
});

Deno.test("classifyPlan: the spectral form's kernels are depthwise conv, and pass no construction mark on", () => {
  // Planes of 16 rows: the differentiated 23×23 convolution goes spectral, its correlations fused with the transforms.
  const args = miniArgs();
  args[2] = abstract([2, 4, 16, 16]);
  const traced = traceGraph(miniStep as never, args);
  const plan = buildPlan(traced.graph, { maxBindings: MAX_BINDINGS });
  const roles: InputRole[] = ["dcls", "dcls", "dcls", "param", "opt", "opt", "opt", "opt", "data", "opt"];
  const c = classifyPlan(traced.graph, plan, roles, { maxBindings: MAX_BINDINGS });
  assert.equal(c.source, "kernels");
  const spectral = c.dispatches.filter((d) => /^(correlate_dft|complex_correlate|real_dft)/.test(d.label));
  assert.ok(spectral.some((d) => d.label.startsWith("correlate_dft")), c.dispatches.map((d) => d.label).join());
  for (const d of spectral) assert.equal(d.cls, "depthwise conv", d.label);
  // Construction: the kernel and its row transform (a product with a constant matrix), nothing downstream.
  for (const d of c.dispatches.filter((d) => d.cls === "DCLS construct")) assert.match(d.label, /^(dcls_gauss|matmul)/);
  assert.ok(c.dispatches.some((d) => d.cls === "normalisation"));
});

Deno.test("classifyPlan: work that depends on the waveform alone is the front end", () => {
  const traced = traceGraph(((w: Tensor) => logMel(w)) as never, [abstract([2, 4096])]);
  const plan = buildPlan(traced.graph, { maxBindings: MAX_BINDINGS });
  const c = classifyPlan(traced.graph, plan, ["wave"], { maxBindings: MAX_BINDINGS });
  assert.equal(c.source, "kernels");
  assert.ok(c.dispatches.length > 0);
  for (const d of c.dispatches) assert.equal(d.cls, "front end", d.label);
});

Deno.test("classifyPlan: one role per graph input, or a clear error", () => {
  const traced = traceGraph(((w: Tensor) => logMel(w)) as never, [abstract([2, 4096])]);
  const plan = buildPlan(traced.graph, { maxBindings: MAX_BINDINGS });
  assert.throws(
    () => classifyPlan(traced.graph, plan, [], { maxBindings: MAX_BINDINGS }),
    /0 roles for 1 graph inputs/,
  );
});

Deno.test("classOfLabel: the fallback reads the generators' label prefixes", () => {
  assert.equal(classOfLabel("matmul_64x64x64"), "matmul");
  assert.equal(classOfLabel("depthwise_dw_2x8x16x10_k23x23"), "depthwise conv");
  for (
    const label of ["correlate_dft_2x8x16_k23_to_16_inverse", "complex_correlate_dk_2x8x16_k23", "real_dft_8x16x16"]
  ) {
    assert.equal(classOfLabel(label), "depthwise conv", label);
  }
  assert.equal(classOfLabel("conv2d_dx_2x8x16x10_k7x7_o16"), "conv");
  assert.equal(classOfLabel("reduce_sum_partial"), "reduction");
  assert.equal(classOfLabel("copy"), "movement");
  assert.equal(classOfLabel("fused_div_add_rsqrt"), "normalisation");
  assert.equal(classOfLabel("fused_mul_add"), "elementwise");
  assert.equal(classOfLabel("something_new"), "other");
});
