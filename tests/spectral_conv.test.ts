/**
 * The spectral depthwise convolution (lib/ops/spectral_conv.ts) and its complex-correlation primitive: equal to the
 * direct convolution in float64 (values and gradients, random shapes, paddings and kernels larger than the plane),
 * the primitive's adjoint form is the transpose of its plain form, the real DFT primitive's inverse and transpose,
 * `conv2d`'s algorithm choice (and `conv2dBuilt`'s, which hands a kernel builder the spectrum where it goes spectral),
 * and the errors.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { prefersSpectral, spectralDepthwiseConv2d } from "../lib/core/mod.ts";
import { gradError, rand } from "./_gradcheck.ts";
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";
import { dcls2d, initDcls2d } from "../lib/dcls/layer.ts";

const maxAbsDiff = (a: T.Tensor, b: T.Tensor) => T.max(T.abs(T.sub(a, b))).item();
const scaleOf = (a: T.Tensor) => Math.max(T.max(T.abs(a)).item(), 1e-300);

Deno.test("spectral depthwise conv2d equals the direct one in float64 (random shapes, paddings, kernels)", () => {
  fc.assert(
    fc.property(
      fc.record({
        b: fc.integer({ min: 1, max: 2 }),
        c: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 1, max: 9 }),
        w: fc.integer({ min: 1, max: 9 }),
        kh: fc.integer({ min: 1, max: 11 }),
        kw: fc.integer({ min: 1, max: 11 }),
        pads: fc.tuple(fc.nat(10), fc.nat(10), fc.nat(10), fc.nat(10)),
        seed: fc.nat(1000),
      }),
      ({ b, c, h, w, kh, kw, pads, seed }) => {
        const [top, bottom] = [pads[0] % kh, pads[1] % kh], [left, right] = [pads[2] % kw, pads[3] % kw];
        const padding: T.Padding2d = [[top, bottom], [left, right]];
        fc.pre(h + top + bottom >= kh && w + left + right >= kw);
        const x = rand([b, c, h, w], seed, -1, 1), k = rand([c, 1, kh, kw], seed + 1, -1, 1);
        const direct = T.conv2d(x, k, { padding, groups: c, algorithm: "direct" });
        const spectral = spectralDepthwiseConv2d(x, k, padding);
        assert.deepEqual(spectral.shape, direct.shape);
        const err = maxAbsDiff(spectral, direct) / scaleOf(direct);
        assert.ok(err < 1e-12, `relative error ${err} for x ${x.shape} k ${k.shape} padding ${padding}`);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("spectral depthwise conv2d: gradients equal the direct convolution's (float64)", () => {
  const x = rand([2, 3, 7, 6], 5, -1, 1), k = rand([3, 1, 5, 4], 6, -1, 1), ct = rand([2, 3, 7, 6], 7, -1, 1);
  const padding: T.Padding2d = [[2, 2], [1, 2]];
  const pullBack = (algorithm: T.ConvAlgorithm) => {
    const [, pull] = T.vjp((x: T.Tensor, k: T.Tensor) => T.conv2d(x, k, { padding, groups: 3, algorithm }), x, k);
    return pull(ct) as T.Tensor[];
  };
  const [dxS, dkS] = pullBack("spectral"), [dxD, dkD] = pullBack("direct");
  assert.ok(maxAbsDiff(dxS, dxD) / scaleOf(dxD) < 1e-12, "input gradient");
  assert.ok(maxAbsDiff(dkS, dkD) / scaleOf(dkD) < 1e-12, "kernel gradient");
  const err = gradError((x, k) => spectralDepthwiseConv2d(x, k, padding), [x, k]);
  assert.ok(err < 1e-6, `finite differences: ${err}`);
});

Deno.test("complexCorrelate: the adjoint form is the plain form's transpose (⟨y, A z⟩ = ⟨Aᵀ y, z⟩)", () => {
  fc.assert(
    fc.property(
      fc.record({
        r: fc.integer({ min: 1, max: 2 }),
        p: fc.integer({ min: 1, max: 3 }),
        w: fc.integer({ min: 1, max: 9 }),
        kw: fc.integer({ min: 1, max: 7 }),
        l: fc.nat(6),
        rr: fc.nat(6),
        adjoint: fc.boolean(),
        seed: fc.nat(1000),
      }),
      ({ r, p, w, kw, l, rr, adjoint, seed }) => {
        const padding: [number, number] = [l % kw, rr % kw];
        const wo = w + padding[0] + padding[1] - kw + 1;
        fc.pre(wo >= 1);
        const z = rand([r, p, 2, w], seed, -1, 1), k = rand([p, 2, kw], seed + 1, -1, 1);
        const y = rand([r, p, 2, wo], seed + 2, -1, 1);
        const az = T.bind("complexCorrelate", [z, k], { padding, adjoint });
        const mirrored: [number, number] = [kw - 1 - padding[0], kw - 1 - padding[1]];
        const aty = T.bind("complexCorrelate", [y, k], { padding: mirrored, adjoint: !adjoint });
        const lhs = T.sum(T.mul(y, az)).item(), rhs = T.sum(T.mul(aty, z)).item();
        assert.ok(Math.abs(lhs - rhs) <= 1e-12 * (1 + Math.abs(lhs)), `${lhs} vs ${rhs}`);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("realDft: the inverse undoes the forward transform, and the transposed form is the transpose", () => {
  fc.assert(
    fc.property(
      fc.record({
        planes: fc.integer({ min: 1, max: 3 }),
        size: fc.integer({ min: 1, max: 12 }),
        extra: fc.nat(8),
        w: fc.integer({ min: 1, max: 5 }),
        inverse: fc.boolean(),
        seed: fc.nat(1000),
      }),
      ({ planes, size, extra, w, inverse, seed }) => {
        const length = size + extra + ((size + extra) % 2 === 0 ? 1 : 0);
        const fwd = { length, size, inverse: false, transpose: false };
        const x = rand([planes, size, w], seed, -1, 1);
        const back = T.bind("realDft", [T.bind("realDft", [x], fwd)], { ...fwd, inverse: true });
        assert.ok(maxAbsDiff(back, x) < 1e-12, `inverse after forward, length ${length} size ${size}`);
        // ⟨y, A x⟩ = ⟨Aᵀ y, x⟩ for either matrix, and Aᵀ is the matrix of the transposed form.
        const p = { length, size, inverse, transpose: false };
        const a = dftMatrix(p), at = dftMatrix({ ...p, transpose: true });
        assert.deepEqual([at.rows, at.cols], [a.cols, a.rows]);
        for (let i = 0; i < a.rows; i++) {
          for (let j = 0; j < a.cols; j++) assert.equal(at.data[j * a.rows + i], a.data[i * a.cols + j]);
        }
        const u = rand([planes, a.cols, w], seed + 1, -1, 1), v = rand([planes, a.rows, w], seed + 2, -1, 1);
        const lhs = T.sum(T.mul(v, T.bind("realDft", [u], p))).item();
        const rhs = T.sum(T.mul(T.bind("realDft", [v], { ...p, transpose: true }), u)).item();
        assert.ok(Math.abs(lhs - rhs) <= 1e-12 * (1 + Math.abs(lhs)), `${lhs} vs ${rhs}`);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("realDft: the forward transform is the DFT of the zero-padded signal; bad lengths and shapes are named", () => {
  const length = 7, size = 5, x = rand([1, size, 1], 4, -1, 1), xs = Array.from(x.toArray(), Number);
  const got = Array.from(T.bind("realDft", [x], { length, size, inverse: false, transpose: false }).toArray(), Number);
  for (let f = 0; f < (length + 1) / 2; f++) {
    let re = 0, im = 0;
    for (let t = 0; t < size; t++) {
      re += xs[t] * Math.cos((2 * Math.PI * f * t) / length);
      im -= xs[t] * Math.sin((2 * Math.PI * f * t) / length);
    }
    assert.ok(Math.abs(got[2 * f] - re) < 1e-12 && Math.abs(got[2 * f + 1] - im) < 1e-12, `frequency ${f}`);
  }
  assert.throws(() => T.bind("realDft", [x], { length: 8, size, inverse: false, transpose: false }), /realDft.*odd/);
  assert.throws(() => T.bind("realDft", [x], { length: 7, size: 9, inverse: false, transpose: false }), /size 9/);
  assert.throws(
    () => T.bind("realDft", [x], { length: 7, size: 4, inverse: false, transpose: false }),
    /5 rows|4 rows/,
  );
});

Deno.test("conv2d picks the spectral form for large depthwise kernels on planes of 16 rows or more only", () => {
  const prims = (f: (x: T.Tensor, w: T.Tensor) => T.Tensor, x: T.Tensor, w: T.Tensor) =>
    new Set(T.traceGraph(f as never, [x, w]).graph.eqns.map((e) => e.prim));
  const x = new T.Tensor([1, 2, 32, 31], "f32", {});
  const big = new T.Tensor([2, 1, 23, 23], "f32", {}), small = new T.Tensor([2, 1, 7, 7], "f32", {});
  const conv = (algorithm?: T.ConvAlgorithm) => (x: T.Tensor, w: T.Tensor) =>
    T.conv2d(x, w, { padding: w.shape[2] >> 1, groups: 2, algorithm });
  assert.ok(prefersSpectral(32, 23, 23) && prefersSpectral(16, 23, 23) && !prefersSpectral(32, 7, 7));
  assert.ok(!prefersSpectral(8, 23, 23) && !prefersSpectral(15, 23, 23));
  // A forward alone goes spectral from 32 rows only.
  assert.ok(prefersSpectral(32, 23, 23, false) && !prefersSpectral(16, 23, 23, false));
  const x16 = new T.Tensor([1, 2, 16, 15], "f32", {});
  const at16 = (forwardOnly: boolean) => (x: T.Tensor, w: T.Tensor) =>
    T.conv2d(x, w, { padding: 11, groups: 2, forwardOnly });
  assert.ok(prims(at16(false), x16, big).has("complexCorrelate"), "23×23 at 16×15, differentiated");
  assert.ok(!prims(at16(true), x16, big).has("complexCorrelate"), "23×23 at 16×15, forward only");
  // dcls2d passes the hint on (the models set it from their training flag).
  const dcls = initDcls2d(T.randomKey(0), {
    inChannels: 2,
    outChannels: 2,
    groups: 2,
    kernelCount: 3,
    dilatedKernelSize: 23,
  });
  const layer = (forwardOnly: boolean) => (x: T.Tensor) =>
    dcls2d(dcls, x, { dilatedKernelSize: 23, groups: 2, forwardOnly });
  const layerPrims = (forwardOnly: boolean) =>
    new Set(T.traceGraph(layer(forwardOnly) as never, [x16]).graph.eqns.map((e) => e.prim));
  assert.ok(layerPrims(false).has("complexCorrelate") && !layerPrims(true).has("complexCorrelate"), "dcls2d");
  assert.ok(prims(conv(), x, big).has("complexCorrelate"), "auto, 23×23 at 32×31");
  assert.ok(!prims(conv(), x, small).has("complexCorrelate"), "auto, 7×7");
  assert.ok(!prims(conv("direct"), x, big).has("complexCorrelate"), "direct");
  assert.ok(prims(conv("spectral"), x, small).has("complexCorrelate"), "spectral");
  assert.throws(
    () => T.conv2d(x, new T.Tensor([2, 2, 3, 3], "f32", {}), { algorithm: "spectral" }),
    /conv2d: algorithm "spectral" needs a depthwise, stride-1, undilated convolution/,
  );
  assert.throws(() => T.conv2d(x, big, { groups: 2, algorithm: "fft" as T.ConvAlgorithm }), /algorithm must be/);
});

Deno.test("complexCorrelate: shape errors and the second derivative name the problem", () => {
  const z = T.zeros([1, 2, 2, 5], "f64"), k = T.zeros([2, 2, 3], "f64");
  assert.throws(
    () => T.bind("complexCorrelate", [z, T.zeros([3, 2, 3], "f64")], { padding: [1, 1], adjoint: false }),
    /3 channels|channels/,
  );
  assert.throws(
    () => T.bind("complexCorrelate", [z, k], { padding: [3, 0], adjoint: false }),
    /padding \[3,0\]|padding/,
  );
  // The kernel gradient depends on the signal: differentiating it with respect to z needs its VJP.
  const f = (z: T.Tensor) => {
    const corr = (z: T.Tensor, k: T.Tensor) => T.bind("complexCorrelate", [z, k], { padding: [1, 1], adjoint: false });
    const [, pull] = T.vjp(corr, z, k);
    return T.sum(pull(T.ones([1, 2, 2, 5], "f64"))[1] as T.Tensor);
  };
  assert.throws(() => T.grad(f)(z), /complexCorrelateKernelGrad: the spectral convolution is differentiable once/);
});

Deno.test("conv2dBuilt: the builder gets the spectrum exactly where conv2d goes spectral; the result is conv2d's (f64)", () => {
  // A kernel that would be cut (13 columns on 6: only 11 meet the input) is conv2d's to cut: built whole, directly.
  const c = 2, w = rand([c, 1, 13, 13], 3), bias = rand([c], 4);
  const cases = [[16, 7, "auto", true], [8, 7, "auto", false], [9, 7, "spectral", true], [
    16,
    6,
    "auto",
    false,
  ]] as const;
  for (const [h, wd, algorithm, spectral] of cases) {
    const x = rand([2, c, h, wd], 5), opts = { padding: 6, groups: c, algorithm };
    const asked: (T.KernelSpectrum | undefined)[] = [];
    const y = T.conv2dBuilt(
      x,
      w.shape,
      (s) => {
        asked.push(s);
        return s ? T.kernelSpectrum(w, s) : w;
      },
      opts,
      bias,
    );
    const what = `${h}×${wd} ${algorithm}`;
    assert.deepEqual(asked.map((s) => s !== undefined), [spectral], what);
    if (spectral) assert.deepEqual(asked[0], T.spectralKernelSpectrum(h, 13, [6, 6]), what);
    const want = T.conv2d(x, w, { ...opts, algorithm: "direct" }, bias);
    assert.ok(maxAbsDiff(y, want) <= 1e-12 * scaleOf(want), `${what}: ${maxAbsDiff(y, want)}`);
  }
  assert.throws(
    () => T.conv2dBuilt(rand([1, c, 16, 6], 6), w.shape, () => w, { padding: 6, groups: c }, rand([3], 7)),
    /conv2d: bias/,
  );
});
