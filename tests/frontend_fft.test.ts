/**
 * The two-stage FFT STFT of the tensor front end: it equals the one-convolution DFT form (float64, any factorable
 * nFft, hop, length and batch), it picks its factorisation as documented, it rejects what it cannot do with one-line
 * errors, and compiled for the GPU (llvmpipe here) it matches the CPU reference within float32 tolerance.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { fftRadices, logMel, powerSpectrogram } from "../lib/audio/frontend.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import type { GpuTensor } from "../lib/gpu/plan_tensor.ts";
import { relError } from "./_gradcheck.ts";

const gpu = await requestGpu().catch(() => undefined);

/** STFT sizes with a two-even-factor split, from the smallest (2·4) to the paper's 1024, odd radices included. */
const SIZES = [8, 12, 16, 24, 32, 48, 64, 72, 100, 128, 1024];

const wave = (seed: number, b: number, n: number, dtype: "f32" | "f64" = "f64") =>
  T.normal(T.randomKey(seed), [b, n], { dtype });

Deno.test("fft power spectrogram equals the dft one (f64, random sizes, hops, lengths, batches)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SIZES),
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 3 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (nFft, seed, b, hopAt, lenAt) => {
        // Hops from nFft/16 (1 for the small sizes) to nFft keep the dft side of large sizes fast.
        const minHop = Math.ceil(nFft / 16);
        const hop = minHop + Math.floor(hopAt * (nFft - minHop));
        const n = nFft / 2 + 1 + Math.floor(lenAt * 3 * nFft);
        const x = wave(seed, b, n);
        const fft = powerSpectrogram(x, { nFft, hop, stft: "fft" });
        const dft = powerSpectrogram(x, { nFft, hop, stft: "dft" });
        assert.deepEqual(fft.shape, dft.shape);
        assert.deepEqual(fft.shape, [b, nFft / 2 + 1, 1 + Math.floor(n / hop)]);
        const err = relError(fft.toArray(), dft.toArray());
        assert.ok(err < 1e-10, `nFft ${nFft} hop ${hop} n ${n} b ${b}: relative error ${err}`);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("fft log-mel with an erasing mask equals the dft one (f64)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 3 }), (seed, b) => {
      const opts = { sampleRate: 8000, nFft: 64, hop: 20, nMels: 12, fMin: 50, fMax: 3800 };
      const x = wave(seed, b, 700);
      const frames = 1 + Math.floor(700 / 20);
      const erasing = T.cast(T.bernoulli(T.randomKey(seed + 1), 0.8, [b, 33, frames]), "f64");
      const fft = logMel(x, { ...opts, erasing, stft: "fft" });
      const dft = logMel(x, { ...opts, erasing, stft: "dft" });
      assert.deepEqual(fft.shape, [b, 1, 12, frames]);
      const err = relError(fft.toArray(), dft.toArray());
      assert.ok(err < 1e-10, `relative error ${err}`);
      // The mask matters: without it the output differs.
      assert.ok(relError(logMel(x, opts).toArray(), fft.toArray()) > 1e-6);
    }),
    { numRuns: 8 },
  );
});

Deno.test("fftRadices: two even factors, the smaller as close to √nFft as possible; none otherwise", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), (nFft) => {
      const r = fftRadices(nFft);
      const splits: number[] = [];
      for (let r2 = 2; r2 * r2 <= nFft; r2 += 2) if (nFft % r2 === 0 && (nFft / r2) % 2 === 0) splits.push(r2);
      if (splits.length === 0) return assert.equal(r, null, `nFft ${nFft}`);
      assert.ok(r !== null, `nFft ${nFft}`);
      assert.equal(r.r1 * r.r2, nFft);
      assert.equal(r.r2, Math.max(...splits));
    }),
  );
  assert.deepEqual(fftRadices(1024), { r1: 32, r2: 32 });
});

Deno.test("front end options: the default falls back to dft without a split; bad options are one-line errors", () => {
  const x = wave(1, 1, 200);
  // 18 = 2·9 has no split into two even factors: the default quietly uses the convolution.
  assert.deepEqual(powerSpectrogram(x, { nFft: 18, hop: 5 }).shape, [1, 10, 41]);
  assert.throws(() => powerSpectrogram(x, { nFft: 18, stft: "fft" }), /stft "fft" needs nFft .* got 18/);
  assert.throws(() => powerSpectrogram(x, { nFft: 17 }), /nFft must be an even integer ≥ 2, got 17/);
  assert.throws(() => powerSpectrogram(x, { nFft: 16, hop: 0 }), /hop must be a positive integer, got 0/);
  assert.throws(() => powerSpectrogram(x, { stft: "stft" as never }), /stft must be "fft" or "dft", got "stft"/);
  assert.throws(
    () => logMel(x, { nFft: 16, hop: 8, nMels: 4, erasing: T.ones([1, 9, 3], "f64") }),
    /logMel: erasing mask \[1,9,3\] does not match power \[1,9,26\]/,
  );
});

/** |gpu − cpu| ≤ atol + rtol·|cpu| everywhere. */
async function assertClose(got: GpuTensor, want: T.Tensor, atol: number, rtol: number, what: string) {
  assert.deepEqual(got.shape, want.shape, `${what} shape`);
  const g = await got.read(), w = want.toArray();
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]) / (atol + rtol * Math.abs(w[i])));
  assert.ok(worst <= 1, `${what}: worst error is ${worst} times the tolerance`);
}

Deno.test({
  name: "compiled for the GPU, the fft front end matches the CPU reference (f32, short batch)",
  ignore: !gpu,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const x = T.mul(wave(3, 2, 4000, "f32"), 0.1);
    const erasing = T.cast(T.bernoulli(T.randomKey(4), 0.9, [2, 513, 13]), "f32");
    const fn = (w: T.Tensor, e: T.Tensor) => ({ power: powerSpectrogram(w), mel: logMel(w, { erasing: e }) });
    const want = fn(x, erasing);
    const g = compileGpu(fn, { device: gpu!, readback: "all" });
    try {
      const got = await g(x, erasing) as { power: GpuTensor; mel: GpuTensor };
      // Power spans many decades: compare against the frame's scale; normalised log-mel is O(1).
      const scale = Math.max(...want.power.toArray());
      await assertClose(got.power, want.power, 1e-5 * scale, 1e-4, "power");
      await assertClose(got.mel, want.mel, 1e-4, 1e-4, "log-mel");
    } finally {
      g.dispose();
    }
  },
});
