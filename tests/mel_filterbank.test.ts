import assert from "node:assert/strict";
import fc from "fast-check";
import {
  dftBasis,
  FRONTEND,
  hannWindow,
  melFilterbank,
  type MelFilterbankOptions,
  melFilterEdges,
} from "../lib/audio/mel.ts";
import { planRealFft } from "../lib/audio/stft_reference.ts";
import { fixtureTensor, loadFixture } from "./_fixtures.ts";

const PAPER: MelFilterbankOptions = {
  nFreqs: FRONTEND.nFft / 2 + 1,
  nMels: FRONTEND.nMels,
  sampleRate: FRONTEND.sampleRate,
  fMin: FRONTEND.fMin,
  fMax: FRONTEND.fMax,
  scale: "htk",
  norm: null,
};

Deno.test("melFilterbank (float32, the default) reproduces torchaudio's melscale_fbanks fixture bit for bit", () => {
  const expected = fixtureTensor(loadFixture("mel"), "mel_fbank");
  assert.deepEqual(expected.shape, [PAPER.nFreqs, PAPER.nMels]);
  const fb = melFilterbank(PAPER);
  assert.equal(fb.length, expected.data.length);
  let maxErr = 0;
  let exact = 0;
  for (let i = 0; i < fb.length; i++) {
    const d = Math.abs(fb[i] - expected.data[i]);
    assert.ok(d <= 1e-6, `bin ${Math.floor(i / PAPER.nMels)} mel ${i % PAPER.nMels}: ${fb[i]} vs ${expected.data[i]}`);
    maxErr = Math.max(maxErr, d);
    if (d === 0) exact++;
  }
  // torchaudio's float32 steps (FMA linspace, Sleef powf) are reproduced exactly, not just within tolerance.
  assert.equal(exact, fb.length, `${fb.length - exact} entries differ, max error ${maxErr}`);
  assert.deepEqual(melFilterbank({ ...PAPER, precision: "float32" }), fb);
});

Deno.test("melFilterbank float64 differs from torchaudio's float32 only by the rounding of its corners", () => {
  const expected = fixtureTensor(loadFixture("mel"), "mel_fbank");
  const opts = { ...PAPER, precision: "float64" } as const;
  const fb = melFilterbank(opts);
  const edges = melFilterEdges(opts);
  let beyond1e6 = 0;
  for (let m = 0; m < PAPER.nMels; m++) {
    // float32 corner frequencies carry a few float32 ulps of rounding, which moves a value by (that shift) × (the
    // filter's slope). Allow 8 ulps of the highest corner, plus output rounding.
    const ulp = 2 ** (Math.floor(Math.log2(edges[m + 2])) - 23);
    const slope = 1 / Math.min(edges[m + 1] - edges[m], edges[m + 2] - edges[m + 1]);
    const tol = 8 * ulp * slope + 2e-7;
    for (let f = 0; f < PAPER.nFreqs; f++) {
      const i = f * PAPER.nMels + m;
      const d = Math.abs(fb[i] - expected.data[i]);
      assert.ok(d <= tol, `bin ${f} mel ${m}: ${fb[i]} vs ${expected.data[i]} (tol ${tol})`);
      if (d > 1e-6) beyond1e6++;
    }
  }
  // The reason float32 is the default: in float64 some entries miss torchaudio's values by more than 1e-6.
  assert.ok(beyond1e6 > 0);
});

Deno.test("melFilterbank float32 holds float32 numbers near the float64 values, for any configuration", () => {
  const config = fc.record({
    nFft: fc.constantFrom(256, 400, 512, 1024, 2048),
    sampleRate: fc.constantFrom(8000, 16000, 22050, 32000, 44100, 48000),
    nMels: fc.integer({ min: 1, max: 128 }),
    lo: fc.double({ min: 0, max: 0.3, noNaN: true }),
    hi: fc.double({ min: 0.4, max: 1, noNaN: true }),
    scale: fc.constantFrom("htk" as const, "slaney" as const),
    norm: fc.constantFrom("slaney" as const, null),
  });
  fc.assert(
    fc.property(config, ({ nFft, sampleRate, nMels, lo, hi, scale, norm }) => {
      const nyquist = Math.floor(sampleRate / 2);
      const opts = { nFreqs: nFft / 2 + 1, nMels, sampleRate, fMin: lo * nyquist, fMax: hi * nyquist, scale, norm };
      const fb32 = melFilterbank(opts);
      const fb64 = melFilterbank({ ...opts, precision: "float64" });
      const edges = melFilterEdges({ ...opts, precision: "float64" });
      for (let m = 0; m < nMels; m++) {
        // A float32 corner is off by at most ~2^-20 · (f + 700) Hz: the mel value's and pow's rounding, amplified by
        // 700 · (10^(m/2595) − 1) at low frequencies. A value moves by 3× that over the narrower side's width.
        const shift = 2 ** -20 * (edges[m + 2] + 700);
        const width = Math.min(edges[m + 1] - edges[m], edges[m + 2] - edges[m + 1]);
        const enorm = norm === "slaney" ? 2 / (edges[m + 2] - edges[m]) : 1;
        for (let f = 0; f < opts.nFreqs; f++) {
          const i = f * nMels + m;
          assert.equal(Math.fround(fb32[i]), fb32[i]);
          const tol = (3 * shift / width) * enorm + 2 ** -22 * Math.abs(fb64[i]);
          assert.ok(Math.abs(fb32[i] - fb64[i]) <= tol, `bin ${f} mel ${m}: ${fb32[i]} vs ${fb64[i]} (tol ${tol})`);
        }
      }
    }),
    { numRuns: 40 },
  );
});

Deno.test("melFilterbank rows are triangles between their corner frequencies, peaking at most 1", () => {
  for (const precision of ["float32", "float64"] as const) {
    const opts = { ...PAPER, precision };
    const fb = melFilterbank(opts);
    const edges = melFilterEdges(opts);
    const binHz = PAPER.sampleRate / 2 / (PAPER.nFreqs - 1);
    for (let m = 0; m < PAPER.nMels; m++) {
      let peak = 0;
      for (let f = 0; f < PAPER.nFreqs; f++) {
        const v = fb[f * PAPER.nMels + m];
        const hz = f * binHz;
        assert.ok(v >= 0 && v <= 1);
        if (hz <= edges[m] || hz >= edges[m + 2]) assert.equal(v, 0, `${precision}: filter ${m} leaks to ${hz} Hz`);
        peak = Math.max(peak, v);
      }
      // A filter spanning at least two bins on each side must sample its triangle at least halfway up.
      if (Math.min(edges[m + 1] - edges[m], edges[m + 2] - edges[m + 1]) >= 2 * binHz) assert.ok(peak >= 0.5);
    }
    const slaney = melFilterbank({ ...opts, norm: "slaney" });
    // The bin nearest filter 90's peak, where the filter is well above zero.
    const i = Math.round(edges[91] / binHz) * PAPER.nMels + 90;
    assert.ok(fb[i] > 0.5);
    if (precision === "float64") assert.ok(Math.abs(slaney[i] - fb[i] * 2 / (edges[92] - edges[90])) < 1e-15);
    else assert.equal(slaney[i], Math.fround(fb[i] * Math.fround(2 / Math.fround(edges[92] - edges[90]))));
  }
  assert.throws(() => melFilterbank({ ...PAPER, fMin: 20000 }), /fMin < fMax/);
  // @ts-expect-error: an unknown precision is a runtime error for untyped callers
  assert.throws(() => melFilterbank({ ...PAPER, precision: "float16" }), /precision must be "float32" or "float64"/);
});

Deno.test("hannWindow: periodic is the symmetric window one longer, truncated", () => {
  fc.assert(fc.property(fc.integer({ min: 2, max: 300 }), (n) => {
    const periodic = hannWindow(n);
    const symmetric = hannWindow(n + 1, false);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(periodic[i] - symmetric[i]) < 1e-15);
    assert.equal(periodic[0], 0);
    assert.ok(Math.abs(symmetric[n]) < 1e-15);
  }));
});

Deno.test("dftBasis products equal the real FFT (window folded in)", () => {
  fc.assert(fc.property(fc.constantFrom(8, 32, 256), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
    let s = seed;
    const x = Float64Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
    const w = hannWindow(n);
    const { cos, sin, shape } = dftBasis(n, w);
    assert.deepEqual(shape, [n, n / 2 + 1]);
    const re = new Float64Array(n / 2 + 1);
    const im = new Float64Array(n / 2 + 1);
    planRealFft(n).forward(x.map((v, i) => v * w[i]), re, im);
    for (let k = 0; k <= n / 2; k++) {
      let a = 0;
      let b = 0;
      for (let i = 0; i < n; i++) {
        a += x[i] * cos[i * (n / 2 + 1) + k];
        b += x[i] * sin[i * (n / 2 + 1) + k];
      }
      assert.ok(Math.abs(a - re[k]) < 1e-10 && Math.abs(b - im[k]) < 1e-10, `bin ${k}`);
    }
  }));
});
