/**
 * Gradient accumulation and clipping: two micro-batches of 4 accumulated into one step give the weights of one
 * batch of 8 (a model without batch statistics, no augmentation), and clipping bounds the update's gradient norm.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { readSafetensors } from "../lib/io/safetensors.ts";
import { clipByGlobalNorm, globalNorm } from "../lib/train/grad_utils.ts";
import { relError } from "./_gradcheck.ts";

const TRAIN = new URL("../lib/cli/train.ts", import.meta.url).pathname;
const COMMON = [
  "--model",
  "convnext_audio_nano",
  "--input",
  "small",
  "--train-size",
  "16",
  "--eval-size",
  "4",
  "--steps",
  "2",
  "--warmup-steps",
  "0",
  "--lr",
  "3e-3",
  "--no-augment",
  "--drop-path",
  "0",
  "--backend",
  "cpu",
  "--checkpoint-every",
  "0",
];

async function weights(args: string[]): Promise<Map<string, Float32Array>> {
  const out = await Deno.makeTempDir();
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...COMMON, ...args, "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const st = readSafetensors(await Deno.readFile(`${out}/model.safetensors`));
  await Deno.remove(out, { recursive: true });
  return new Map([...st.tensors].map(([k, t]) => [k, t.data as Float32Array]));
}

Deno.test("train --accum-steps: 2 micro-batches of 4 equal one batch of 8 (no batch statistics)", async () => {
  const [accumulated, whole, single] = await Promise.all([
    weights(["--batch-size", "4", "--accum-steps", "2"]),
    weights(["--batch-size", "8"]),
    weights(["--batch-size", "4"]),
  ]);
  let worst = 0, apart = 0;
  for (const [k, w] of whole) {
    worst = Math.max(worst, relError(accumulated.get(k)!, w));
    apart = Math.max(apart, relError(single.get(k)!, w));
  }
  assert.ok(worst < 1e-5, `accumulated vs whole batch: relative error ${worst}`);
  // The same two steps on half the data land elsewhere: the comparison can fail.
  assert.ok(apart > 1e-3, `batch 4 without accumulation should differ, got ${apart}`);
});

Deno.test("clipByGlobalNorm: no-op below the threshold, norm = max above it, direction kept", () => {
  fc.assert(
    fc.property(
      fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 12 }),
      fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 5 }),
      fc.double({ min: 0.01, max: 20, noNaN: true }),
      (a, b, max) => {
        const grads = { a: T.tensor(Float64Array.from(a)), b: T.tensor(Float64Array.from(b)) };
        const norm = globalNorm(grads).item();
        const clipped = clipByGlobalNorm(grads, max);
        const after = globalNorm(clipped).item();
        if (norm <= max) assert.ok(Math.abs(after - norm) <= 1e-6 * Math.max(1, norm));
        // PyTorch's coefficient max / (norm + 1e-6): the clipped norm sits just under max.
        else assert.ok(Math.abs(after - (norm * max) / (norm + 1e-6)) <= 1e-9 * max, `norm ${after}, max ${max}`);
        const s = norm > 0 ? after / norm : 1;
        for (const k of ["a", "b"] as const) {
          const g = grads[k].toArray(), c = clipped[k].toArray();
          g.forEach((v, i) => assert.ok(Math.abs(c[i] - v * s) <= 1e-9 + 1e-9 * Math.abs(v)));
        }
      },
    ),
    { numRuns: 60 },
  );
  assert.throws(() => clipByGlobalNorm({ a: T.tensor([1]) }, 0), /max norm must be a positive number/);
});
