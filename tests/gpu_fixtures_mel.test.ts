/**
 * The tensor front end compiled for the WebGPU backend (float32) against the torchaudio fixtures: the power
 * spectrogram within 1e-4 relative (norm-wise) and the mel dB within 1e-3 dB (max abs), for both STFT forms, and the
 * normalised 10 s log-mel within 1e-3 (max abs). One compiled graph computes everything (each new shader costs seconds
 * to compile on a software adapter); the tests share its outputs.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { logMel, powerSpectrogram, powerToDb } from "../lib/audio/frontend.ts";
import { padOrTruncate } from "../lib/audio/waveform.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { fixtureTensor, loadFixture } from "./_fixtures.ts";
import { f32, gpu, GPU_TEST, readTree } from "./_gpu_fixture.ts";
import { relError } from "./_gradcheck.ts";

const fx = loadFixture("mel");
const STFTS = ["fft", "dft"] as const;

/** Power and mel dB of a clip [1, N] for both STFT forms, and the normalised log-mel of a 10 s clip. */
function frontEnd(wave: T.Tensor, fbank: T.Tensor, wave10s: T.Tensor) {
  const forms = Object.fromEntries(STFTS.map((stft) => {
    const power = powerSpectrogram(wave, { stft });
    const bins = power.shape[1];
    return [stft, { power, db: powerToDb(T.matmul(T.transpose(fbank), T.reshape(power, [bins, -1]))) }];
  }));
  return { ...forms, normalized: logMel(wave10s) };
}

interface Got {
  fft: { power: Float32Array; db: Float32Array };
  dft: { power: Float32Array; db: Float32Array };
  normalized: Float32Array;
}

let results: Promise<Got> | undefined;

/** The graph's outputs, computed on the first call. */
function gpuResults(): Promise<Got> {
  results ??= (async () => {
    const wave = fixtureTensor(fx, "waveform");
    const x = f32(wave);
    const x10 = T.tensor(padOrTruncate(Float32Array.from(wave.data), 320000), { shape: [1, 320000] });
    const g = compileGpu(frontEnd, { device: gpu!, readback: "all" });
    try {
      return await readTree(await g(T.reshape(x, [1, -1]), f32(fixtureTensor(fx, "mel_fbank")), x10)) as Got;
    } finally {
      g.dispose();
    }
  })();
  return results;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "size");
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

for (const stft of STFTS) {
  Deno.test({
    name: `gpu f32 front end, stft "${stft}": power within 1e-4 relative, mel dB within 1e-3`,
    ...GPU_TEST,
    fn: async () => {
      const got = (await gpuResults())[stft];
      const power = fixtureTensor(fx, "power_spectrogram");
      assert.equal(got.power.length, power.data.length, "power size");
      const err = relError(got.power, power.data);
      const db = maxAbs(got.db, fixtureTensor(fx, "mel_db").data);
      assert.ok(err < 1e-4, `power relative error ${err}`);
      assert.ok(db < 1e-3, `dB max abs error ${db}`);
    },
  });
}

Deno.test({
  name: "gpu f32 front end: normalised 10 s log-mel within 1e-3",
  ...GPU_TEST,
  fn: async () => {
    const got = (await gpuResults()).normalized;
    const worst = maxAbs(got, fixtureTensor(fx, "normalized_10s").data);
    assert.ok(worst < 1e-3, `max abs error ${worst}`);
  },
});
