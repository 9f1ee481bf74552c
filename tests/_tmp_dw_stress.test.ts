import fc from "fast-check";
import assert from "node:assert/strict";
import { convGeometry } from "../kernels/conv2d.ts";
import { depthwiseForward, depthwiseInputGrad, depthwiseWeightGrad, depthwiseForwardTiles, depthwiseWeightGradTiles } from "../kernels/depthwise.ts";
import { check, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";

gpuTest("stress", async () => {
  const arb = fc.record({
    N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 3 }), M: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 1, max: 10 }), W: fc.integer({ min: 1, max: 40 }),
    kh: fc.integer({ min: 1, max: 9 }), kw: fc.integer({ min: 1, max: 9 }),
    sh: fc.integer({ min: 1, max: 2 }), sw: fc.integer({ min: 1, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
    pads: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 4, maxLength: 4 }),
    small: fc.boolean(),
  }).filter((r) => r.H + r.pads[0] + r.pads[1] >= r.dh * (r.kh - 1) + 1 && r.W + r.pads[2] + r.pads[3] >= r.dw * (r.kw - 1) + 1);
  await check(arb, async (r) => {
    const g = convGeometry([r.N, r.C, r.H, r.W], [r.C * r.M, 1, r.kh, r.kw], { stride: [r.sh, r.sw], padding: [[r.pads[0], r.pads[1]], [r.pads[2], r.pads[3]]], dilation: [r.dh, r.dw], groups: r.C });
    const limits = r.small ? { maxWorkgroupStorage: 4096, maxInvocations: 64 } : { maxWorkgroupStorage: 16384, maxInvocations: 256 };
    const x = pseudoRandom(g.N * g.C * g.H * g.W, 3), w = pseudoRandom(g.O * g.kh * g.kw, 4), dy = pseudoRandom(g.N * g.O * g.Ho * g.Wo, 5);
    const y = new Float64Array(g.N * g.O * g.Ho * g.Wo), dx = new Float64Array(x.length), dwr = new Float64Array(w.length);
    for (let n = 0; n < g.N; n++) for (let o = 0; o < g.O; o++) for (let oy = 0; oy < g.Ho; oy++) for (let ox = 0; ox < g.Wo; ox++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh + ky * g.dh - g.pt, ix = ox * g.sw + kx * g.dw - g.pl;
      if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
      const yi = ((n * g.O + o) * g.Ho + oy) * g.Wo + ox, xi = ((n * g.C + Math.floor(o / g.Og)) * g.H + iy) * g.W + ix, wi = (o * g.kh + ky) * g.kw + kx;
      y[yi] += x[xi] * w[wi]; dx[xi] += dy[yi] * w[wi]; dwr[wi] += dy[yi] * x[xi];
    }
    const tag = JSON.stringify(r) + " " + JSON.stringify(depthwiseForwardTiles(g, limits)) + JSON.stringify(depthwiseWeightGradTiles(g, limits));
    const cmp = (a: ArrayLike<number>, b: Float64Array, what: string) => { for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-4, `${what}[${i}] ${a[i]} vs ${b[i]} ${tag}`); };
    if (depthwiseForwardTiles(g, limits)) cmp((await runner.run(depthwiseForward(g, limits), [x, w]))[0], y, "y");
    cmp((await runner.run(depthwiseInputGrad(g, limits), [dy, w]))[0], dx, "dx");
    if (depthwiseWeightGradTiles(g, limits)) cmp((await runner.run(depthwiseWeightGrad(g, limits), [x, dy]))[0], dwr, "dw");
  }, 60);
});
