/** Float64 finite-difference gradient checks: every differentiable primitive, and the composite ops. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { gradError, rand } from "./_gradcheck.ts";

const TOL = 1e-6;
type Case = { f: (...xs: T.Tensor[]) => T.Tensor; args: () => T.Tensor[]; h?: number };
const bind = T.bind;
const u = (shape: number[], s: number, lo = -1, hi = 1) => rand(shape, s, lo, hi);
const idx = (v: T.NestedNumbers) => T.tensor(v, { dtype: "i32" });
const conv = {
  stride: [2, 1] as [number, number],
  padding: [[1, 2], [0, 1]] as T.Padding2d,
  dilation: [1, 2] as [number, number],
  groups: 2,
};

const dclsGrid = { rows: { size: 5, param: 1, shift: 2 }, cols: { size: 4, param: 0, shift: 2 } };

/** One case per primitive; `null` marks primitives without a gradient (checked to be non-differentiable). */
const primCases: Record<T.PrimName, Case | null> = {
  neg: { f: T.neg, args: () => [u([3, 4], 1)] },
  exp: { f: T.exp, args: () => [u([3, 4], 2)] },
  log: { f: T.log, args: () => [u([3, 4], 3, 0.5, 2)] },
  sqrt: { f: T.sqrt, args: () => [u([3, 4], 4, 0.5, 2)] },
  rsqrt: { f: T.rsqrt, args: () => [u([3, 4], 5, 0.5, 2)] },
  abs: { f: T.abs, args: () => [u([3, 4], 6, 0.1, 1)] },
  sign: { f: (x) => T.mul(T.sign(x), x), args: () => [u([3, 4], 7, 0.1, 1)] },
  floor: { f: (x) => T.add(T.floor(x), T.mul(x, 2)), args: () => [u([3, 4], 8, 0.1, 0.9)] },
  tanh: { f: T.tanh, args: () => [u([3, 4], 9)] },
  erf: { f: T.erf, args: () => [u([3, 4], 10, -2, 2)] },
  sigmoid: { f: T.sigmoid, args: () => [u([3, 4], 11, -3, 3)] },
  sin: { f: T.sin, args: () => [u([3, 4], 12)] },
  cos: { f: T.cos, args: () => [u([3, 4], 13)] },
  logicalNot: null,
  add: { f: T.add, args: () => [u([3, 4], 14), u([3, 4], 15)] },
  sub: { f: T.sub, args: () => [u([3, 4], 16), u([3, 4], 17)] },
  mul: { f: T.mul, args: () => [u([3, 4], 18), u([3, 4], 19)] },
  div: { f: T.div, args: () => [u([3, 4], 20), u([3, 4], 21, 0.5, 2)] },
  pow: { f: T.pow, args: () => [u([3, 4], 22, 0.5, 2), u([3, 4], 23)] },
  maximum: { f: T.maximum, args: () => [u([3, 4], 24), u([3, 4], 25)] },
  minimum: { f: T.minimum, args: () => [u([3, 4], 26), u([3, 4], 27)] },
  lt: null,
  le: null,
  gt: null,
  ge: null,
  eq: null,
  ne: null,
  logicalAnd: null,
  logicalOr: null,
  where: { f: (a, b) => T.where(T.gt(a, b), T.mul(a, a), b), args: () => [u([3, 4], 28), u([3, 4], 29)] },
  // f32 rounding would swamp finite differences, so the values and step are exact in f32.
  cast: {
    f: (x) => T.mul(T.cast(T.cast(x, "f32"), "f64"), x),
    args: () => [T.tensor([0.25, -1.5, 3], { dtype: "f64" })],
    h: 2 ** -7,
  },
  sum: { f: (x) => bind("sum", [x], { axes: [0, 2] }), args: () => [u([2, 3, 4], 31)] },
  max: { f: (x) => bind("max", [x], { axes: [1] }), args: () => [u([2, 5, 3], 32)] },
  reshape: { f: (x) => T.reshape(x, [4, 3]), args: () => [u([3, 4], 33)] },
  transpose: { f: (x) => T.transpose(x, [2, 0, 1]), args: () => [u([2, 3, 4], 34)] },
  broadcast: { f: (x) => T.broadcastTo(x, [2, 3, 4]), args: () => [u([3, 1], 35)] },
  slice: { f: (x) => T.slice(x, [1, 0], [5, 4], [2, 3]), args: () => [u([6, 5], 36)] },
  pad: {
    f: (x) => bind("pad", [x], { lo: [1, 0], hi: [0, 2], interior: [1, 2], value: 3 }),
    args: () => [u([3, 4], 37)],
  },
  concat: { f: (a, b) => T.concat([a, b], 1), args: () => [u([2, 3], 38), u([2, 2], 39)] },
  flip: { f: (x) => T.flip(x, [0, 1]), args: () => [u([3, 4], 40)] },
  gather: { f: (x) => T.take(x, idx([[2, 0], [2, 1]]), 1), args: () => [u([2, 3, 2], 41)] },
  scatterAdd: {
    f: (x) => bind("scatterAdd", [x, idx([0, 2, 0])], { axis: 1, size: 4 }),
    args: () => [u([2, 3, 2], 42)],
  },
  matmul: { f: (a, b) => bind("matmul", [a, b], {}), args: () => [u([2, 3, 4], 43), u([2, 4, 5], 44)] },
  conv2d: { f: (x, w) => bind("conv2d", [x, w], conv), args: () => [u([2, 4, 5, 6], 45), u([6, 2, 3, 2], 46)] },
  conv2dInputGrad: {
    f: (dy, w) => bind("conv2dInputGrad", [dy, w], { ...conv, inputShape: [2, 4, 5, 6] }),
    args: () => [u([2, 6, 3, 5], 47), u([6, 2, 3, 2], 48)],
  },
  conv2dWeightGrad: {
    f: (x, dy) => bind("conv2dWeightGrad", [x, dy], { ...conv, weightShape: [6, 2, 3, 2] }),
    args: () => [u([2, 4, 5, 6], 49), u([2, 6, 3, 5], 50)],
  },
  randomBits: null,
  dclsGauss: {
    f: (w, p, s) => bind("dclsGauss", [w, p, s], dclsGrid),
    args: () => [u([2, 1, 3], 70), u([2, 2, 1, 3], 71, -2, 2), u([2, 2, 1, 3], 72, 0.1, 0.6)],
  },
  // The backward of the fused construction: differentiating it throws (tested in dcls_fused.test.ts).
  dclsGaussGrad: null,
  complexCorrelate: {
    f: (z, k) => bind("complexCorrelate", [z, k], { padding: [2, 1], adjoint: false }),
    args: () => [u([2, 3, 2, 7], 90), u([3, 2, 4], 91)],
  },
  realDft: {
    f: (x) => bind("realDft", [x], { length: 7, size: 5, inverse: false, transpose: false }),
    args: () => [u([2, 5, 3], 92)],
  },
  toeplitz: {
    f: (w) => bind("toeplitz", [w], { plane: [3, 2], out: [2, 3], padding: [1, 2] }),
    args: () => [u([2, 2, 4], 93)],
  },
  toeplitzAdjoint: {
    f: (t) => bind("toeplitzAdjoint", [t], { plane: [3, 2], out: [2, 3], padding: [1, 2], kernel: [2, 4] }),
    args: () => [u([2, 6, 6], 94)],
  },
  // The spectral convolution's kernel gradient: differentiating it throws (tested in spectral_conv.test.ts).
  complexCorrelateKernelGrad: null,
};

for (const [name, c] of Object.entries(primCases)) {
  if (!c) continue;
  Deno.test(`grad check (f64 finite differences): ${name}`, () => {
    const err = gradError(c.f, c.args(), { h: c.h });
    assert.ok(err <= TOL, `${name}: relative error ${err}`);
  });
}

Deno.test("every primitive has a gradient case or is non-differentiable", () => {
  for (const name of Object.keys(T.registry) as T.PrimName[]) {
    assert.ok(name in primCases, `primitive ${name} has no gradient test`);
    const c = primCases[name];
    if (c === null && name !== "dclsGaussGrad" && name !== "complexCorrelateKernelGrad") {
      assert.equal(T.registry[name].vjp, undefined, `${name} has a VJP but no gradient test`);
    }
  }
});

/** Composite ops: their gradients come from primitives, checked the same way. */
const composite: Record<string, Case> = {
  gelu: { f: T.gelu, args: () => [u([3, 4], 60, -3, 3)] },
  relu: { f: T.relu, args: () => [u([3, 4], 61, 0.1, 1)] },
  mean: { f: (x) => T.mean(x, [1]), args: () => [u([3, 4], 62)] },
  variance: { f: (x) => T.variance(x, [0, 2], false, 1), args: () => [u([3, 4, 2], 63)] },
  logsumexp: { f: (x) => T.logsumexp(x, 1), args: () => [u([3, 4], 64)] },
  softmax: { f: (x) => T.softmax(x, 0), args: () => [u([3, 4], 65)] },
  logSoftmax: { f: (x) => T.logSoftmax(x), args: () => [u([3, 4], 66)] },
  layerNormLast: {
    f: (x, w, b) => T.layerNorm(x, w, b, { eps: 1e-6 }),
    args: () => [u([2, 3, 5], 67), u([5], 68), u([5], 69)],
  },
  layerNormChannelsFirst: {
    f: (x, w, b) => T.layerNorm(x, w, b, { axis: 1, eps: 1e-6 }),
    args: () => [u([2, 3, 2, 2], 70), u([3], 71), u([3], 72)],
  },
  batchNormTrain: {
    f: (x, w, b) => T.batchNorm(x, w, b, T.zeros([3], "f64"), T.ones([3], "f64"), { train: true }).y,
    args: () => [u([4, 3, 2, 2], 73), u([3], 74), u([3], 75)],
  },
  batchNormEval: {
    f: (x, w, b, m, v) => T.batchNorm(x, w, b, m, v, { train: false }).y,
    args: () => [u([2, 3, 2], 76), u([3], 77), u([3], 78), u([3], 79), u([3], 80, 0.5, 2)],
  },
  bceWithLogits: { f: (z, t) => T.bceWithLogits(z, t), args: () => [u([3, 4], 81, -3, 3), u([3, 4], 82, 0, 1)] },
  matmulBroadcast: { f: (a, b) => T.matmul(a, b), args: () => [u([2, 1, 3, 4], 83), u([3, 4, 2], 84)] },
  linear: { f: (x, w, b) => T.linear(x, w, b), args: () => [u([2, 3, 4], 85), u([5, 4], 86), u([5], 87)] },
  conv1d: {
    f: (x, w) => T.conv1d(x, w, { stride: 2, padding: 1, dilation: 2 }),
    args: () => [u([2, 2, 9], 88), u([3, 2, 3], 89)],
  },
  depthwise: {
    f: (x, w) => T.conv2d(x, w, { groups: 3, padding: 3 }),
    args: () => [u([1, 3, 6, 7], 90), u([3, 1, 7, 7], 91)],
  },
  maxPool2d: { f: (x) => T.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }), args: () => [u([1, 2, 5, 5], 92)] },
  avgPool2d: {
    f: (x) => T.avgPool2d(x, { kernel: 3, stride: 1, padding: 1, countIncludePad: false }),
    args: () => [u([1, 2, 4, 4], 93)],
  },
  erfinv: { f: (x) => T.erfinv(x), args: () => [u([6], 94, -0.9, 0.9)] },
};

for (const [name, c] of Object.entries(composite)) {
  Deno.test(`grad check (f64 finite differences): ${name}`, () => {
    const err = gradError(c.f, c.args());
    assert.ok(err <= TOL, `${name}: relative error ${err}`);
  });
}

Deno.test("second-order: grad of grad matches the analytic second derivative", () => {
  const x = u([5], 95);
  const f = (t: T.Tensor) => T.sum(T.mul(T.sin(t), T.exp(t)));
  const g2 = T.grad((t: T.Tensor) => T.sum(T.grad(f)(t) as T.Tensor))(x) as T.Tensor;
  const xs = x.toArray();
  g2.toArray().forEach((v, i) => {
    const expected = 2 * Math.cos(xs[i]) * Math.exp(xs[i]);
    assert.ok(Math.abs(v - expected) < 1e-12, `${v} vs ${expected}`);
  });
});

Deno.test("valueAndGrad over a parameter tree returns the same structure", () => {
  const params = { w: u([3, 2], 96), layers: [{ b: u([2], 97) }] };
  const x = u([4, 3], 98);
  const [loss, g] = T.valueAndGrad((p: typeof params) => T.mean(T.square(T.add(T.matmul(x, p.w), p.layers[0].b))))(
    params,
  ) as [T.Tensor, typeof params];
  assert.equal(loss.size, 1);
  assert.deepEqual(g.w.shape, [3, 2]);
  assert.deepEqual(g.layers[0].b.shape, [2]);
  const err = gradError((w, b) => T.mean(T.square(T.add(T.matmul(x, w), b))), [params.w, params.layers[0].b]);
  assert.ok(err < TOL);
});
