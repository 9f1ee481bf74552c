/**
 * Timings on this machine: seconds per training step of a configuration (to size the smoke profile from a
 * measurement rather than a guess), the host data pipeline's seconds per batch, and inference throughput in samples
 * per second (Table 1's throughput column). The compiled functions run on synthetic inputs of the profile's shape
 * (values never affect the cost). Each configuration is measured in a fresh process ({@link measureInSubprocess}):
 * JavaScript engines tune code to what ran before, so one process timing several models one after another would
 * slow the later ones down.
 * @module
 */
import type { Tensor } from "../lib/core/tensor.ts";
import { normal, randomKey } from "../lib/ops/random.ts";
import { tensor, zeros } from "../lib/ops/create.ts";
import { getModel } from "../lib/models/registry.ts";
import { adamw, lamb } from "../lib/train/optim.ts";
import { evalStep, trainStep } from "../lib/train/step.ts";
import { type Backend, initOnBackend } from "../lib/train/loop.ts";
import { type InputSettings, inputsOf } from "../lib/train/batches.ts";
import { proceduralDataset } from "../lib/data/procedural.ts";
import { withBackend } from "../lib/cli/inference.ts";
import { entryUrl } from "../lib/data/entry_url.ts";

/** Input shape of the network for a profile: `[mels, frames]`. */
export type InputShape = readonly [number, number];

/** Seconds per training step of `model` at batch `batch` (median of `steps` timed steps after one warm-up). */
export async function secondsPerStep(
  model: string,
  classes: number,
  batch: number,
  shape: InputShape,
  backend: Backend,
  steps = 2,
): Promise<{ seconds: number; warmup: number }> {
  const m = getModel(model, { numClasses: classes, dropPathRate: 0.1 });
  const optimizer = model.startsWith("convformer") ? lamb() : adamw();
  const step = backend.compile(trainStep({ model: m, optimizer }), { donate: [0, 1, 2] });
  let { params, state, optState } = await initOnBackend(backend, m, randomKey(0), optimizer);
  const batchIn = {
    x: normal(randomKey(1), [batch, 1, ...shape]),
    targets: zeros([batch, classes]),
    lambda: tensor(0.7),
    perm: tensor(Int32Array.from({ length: batch }, (_, i) => batch - 1 - i), { dtype: "i32" }),
  };
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const t0 = performance.now();
    const r = await step(params, state, optState, batchIn, randomKey(i), tensor(1e-3));
    ({ params, state, optState } = r);
    // Reading the loss waits for the step to finish on any backend.
    (await backend.toHost(r.loss)).item();
    times.push((performance.now() - t0) / 1000);
  }
  const timed = times.slice(1).sort((a, b) => a - b);
  return { seconds: timed[Math.floor(timed.length / 2)], warmup: times[0] };
}

/** Inference throughput (samples/s) of `model` in evaluation mode, timed for at least `minSeconds`. */
export async function throughput(
  model: string,
  classes: number,
  batch: number,
  shape: InputShape,
  backend: Backend,
  minSeconds = 1.5,
): Promise<number> {
  const m = getModel(model, { numClasses: classes });
  const score = backend.compile(evalStep({ model: m }));
  const { params, state } = await initOnBackend(backend, m, randomKey(0));
  const x: Tensor = normal(randomKey(1), [batch, 1, ...shape]);
  await backend.toHost(await score(params, state, x)); // trace and warm up
  let n = 0;
  const t0 = performance.now();
  do {
    await backend.toHost(await score(params, state, x));
    n++;
  } while ((performance.now() - t0) / 1000 < minSeconds);
  return (n * batch) / ((performance.now() - t0) / 1000);
}

/** Seconds to generate and prepare one batch of procedural clips on the host (front end included). */
export function dataSecondsPerBatch(input: InputSettings, batch: number): number {
  const sampleRate = input.frontEnd.sampleRate ?? 32000;
  const ds = proceduralDataset({
    seed: 0,
    split: "train",
    size: 4 * batch,
    sampleRate,
    seconds: input.clipSamples / sampleRate,
  });
  const run = (b: number) => {
    const waves = Array.from(
      { length: batch },
      (_, i) => ds.get(b * batch + i).waveform,
    );
    inputsOf(waves, input);
  };
  run(0);
  const t0 = performance.now();
  for (let b = 1; b < 4; b++) run(b);
  return (performance.now() - t0) / 3000;
}

/** What {@link measureInSubprocess} measures for one configuration. */
export interface Measurement {
  /** Seconds per training step (median after a warm-up). */
  readonly stepSeconds: number;
  /** Seconds of the first step (tracing included). */
  readonly firstStepSeconds: number;
  /** Inference samples per second at the throughput batch. */
  readonly throughput: number;
  /** Host seconds per training batch of procedural data (0 when not timed). */
  readonly dataSeconds: number;
}

/** What to measure. */
export interface MeasureRequest {
  /** Registry name. */
  readonly model: string;
  /** Output classes. */
  readonly classes: number;
  /** Training batch size. */
  readonly batch: number;
  /** Inference batch size. */
  readonly throughputBatch: number;
  /** Clip and front-end settings (for the data timing). */
  readonly input: InputSettings;
  /** Network input `[mels, frames]`. */
  readonly shape: InputShape;
  /** `--backend` choice. */
  readonly backend: string;
  /** Time the host data pipeline too (the smoke profile sizes its runs with it); default true. */
  readonly timeData?: boolean;
}

/** Measures one configuration in this process. */
export async function measure(r: MeasureRequest): Promise<Measurement> {
  return await withBackend(r.backend, async (b) => {
    const { seconds, warmup } = await secondsPerStep(r.model, r.classes, r.batch, r.shape, b);
    return {
      stepSeconds: seconds,
      firstStepSeconds: warmup,
      throughput: await throughput(r.model, r.classes, r.throughputBatch, r.shape, b),
      dataSeconds: r.timeData === false ? 0 : dataSecondsPerBatch(r.input, r.batch),
    };
  });
}

/** Measures one configuration in a fresh `deno` process (see the module comment). */
export async function measureInSubprocess(r: MeasureRequest): Promise<Measurement> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", entryUrl(import.meta.url, "./measure.ts").pathname, JSON.stringify(r)],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`measuring ${r.model} failed: ${dec.decode(out.stderr).trim().split("\n").at(-1)}`);
  return JSON.parse(dec.decode(out.stdout)) as Measurement;
}

if (import.meta.main) console.log(JSON.stringify(await measure(JSON.parse(Deno.args[0]) as MeasureRequest)));
