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

Deno.test("melFilterbank matches torchaudio's melscale_fbanks fixture", () => {
  const expected = fixtureTensor(loadFixture("mel"), "mel_fbank");
  assert.deepEqual(expected.shape, [PAPER.nFreqs, PAPER.nMels]);
  const fb = melFilterbank(PAPER);
  const edges = melFilterEdges(PAPER);
  let within1e6 = 0;
  for (let m = 0; m < PAPER.nMels; m++) {
    // torchaudio builds the filters in float32: its corner frequencies carry a few float32 ulps of rounding, which
    // moves a value by (that shift) × (the filter's slope). Allow 8 ulps of the highest corner, plus output rounding.
    const ulp = 2 ** (Math.floor(Math.log2(edges[m + 2])) - 23);
    const slope = 1 / Math.min(edges[m + 1] - edges[m], edges[m + 2] - edges[m + 1]);
    const tol = 8 * ulp * slope + 2e-7;
    for (let f = 0; f < PAPER.nFreqs; f++) {
      const i = f * PAPER.nMels + m;
      const d = Math.abs(fb[i] - expected.data[i]);
      assert.ok(d <= tol, `bin ${f} mel ${m}: ${fb[i]} vs ${expected.data[i]} (tol ${tol})`);
      if (d <= 1e-6) within1e6++;
    }
  }
  assert.ok(within1e6 / fb.length > 0.98, `only ${within1e6} of ${fb.length} within 1e-6`);
});

Deno.test("melFilterbank rows are triangles between their corner frequencies, peaking at most 1", () => {
  const fb = melFilterbank(PAPER);
  const edges = melFilterEdges(PAPER);
  const binHz = PAPER.sampleRate / 2 / (PAPER.nFreqs - 1);
  for (let m = 0; m < PAPER.nMels; m++) {
    let peak = 0;
    for (let f = 0; f < PAPER.nFreqs; f++) {
      const v = fb[f * PAPER.nMels + m];
      const hz = f * binHz;
      assert.ok(v >= 0 && v <= 1);
      if (hz <= edges[m] || hz >= edges[m + 2]) assert.equal(v, 0, `filter ${m} leaks to ${hz} Hz`);
      peak = Math.max(peak, v);
    }
    // A filter spanning at least two bins on each side must sample its triangle at least halfway up.
    if (Math.min(edges[m + 1] - edges[m], edges[m + 2] - edges[m + 1]) >= 2 * binHz) assert.ok(peak >= 0.5);
  }
  const slaney = melFilterbank({ ...PAPER, norm: "slaney" });
  const i = 300 * PAPER.nMels + 90;
  assert.ok(Math.abs(slaney[i] - fb[i] * 2 / (edges[92] - edges[90])) < 1e-15);
  assert.throws(() => melFilterbank({ ...PAPER, fMin: 20000 }), /fMin < fMax/);
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
