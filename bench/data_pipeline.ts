/**
 * Throughput of training-data preparation: procedural clips generated, padded, waveform-augmented (roll and speed
 * perturbation) and collated into batches by the training loop's own stream (`epochView` + `batchStream`), on the
 * main thread (`--workers 0`) or in a pool of data workers.
 *
 *     deno run -A bench/data_pipeline.ts [--input paper] [--batch 64] [--workers 0,2] [--batches 10]
 *
 * Prints clips/s per worker count (steady state: after the first batch) and writes `$OUT/data_pipeline.json`. As a
 * bundled entry (bench/pack_device.sh bundles it with `lib/data/data_worker.ts`) it finds the bundled worker
 * `.device/data_worker.js` beside itself.
 * @module
 */
import { Effect, Stream } from "effect";
import { type CommandSpec, helpText, parseArgs, UsageError } from "../lib/cli/args.ts";
import { type DataArgs, INPUT_PRESETS, inputSettings, openTrainEval } from "../lib/cli/data.ts";
import { batchStream } from "../lib/data/loader.ts";
import { openWorkerPool, type WorkerPool } from "../lib/data/worker_pool.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";
import { epochView } from "../lib/train/batches.ts";
import { markdownTable, writeResult } from "./report.ts";

/** The command line of this script. */
export const DATA_PIPELINE_COMMAND: CommandSpec = {
  name: "bench/data_pipeline.ts",
  summary: "Clips/s of training-data preparation (generation, augmentation, collation) with 0…N data workers.",
  options: [
    { name: "input", kind: "string", choices: Object.keys(INPUT_PRESETS), default: "paper", help: "input preset" },
    { name: "batch", kind: "int", min: 1, default: 64, help: "clips per batch" },
    { name: "workers", kind: "string", value: "N[,N…]", default: "0,2", help: "worker counts to measure" },
    { name: "batches", kind: "int", min: 2, default: 10, help: "batches per measurement (the first is warm-up)" },
    { name: "concurrency", kind: "int", min: 1, help: "clips requested at once (default max(4, 2 × workers))" },
    { name: "no-augment", kind: "flag", help: "leave waveform augmentation out" },
  ],
};

/** One measurement. */
export interface PipelineResult {
  /** Data workers (0: main thread). */
  readonly workers: number;
  /** Clips requested at once. */
  readonly concurrency: number;
  /** Clips per batch. */
  readonly batch: number;
  /** Samples per clip. */
  readonly clipSamples: number;
  /** Batches delivered. */
  readonly batches: number;
  /** Milliseconds to start the workers and open the data in each. */
  readonly openMs: number;
  /** Milliseconds to the first batch. */
  readonly firstBatchMs: number;
  /** Clips per second after the first batch. */
  readonly clipsPerS: number;
}

/** Runs one epoch of `batches` batches through the loader and times it. */
export async function measurePipeline(opts: {
  input: string;
  batch: number;
  workers: number;
  batches: number;
  concurrency?: number;
  augment?: boolean;
}): Promise<PipelineResult> {
  const { batch, workers, batches } = opts;
  const data: DataArgs = {
    data: "procedural",
    trainSize: batch * batches,
    evalSize: 1,
    dataSeed: 0,
    input: opts.input,
  };
  // The GPU's setting: the front end runs in the step, so the host's work per clip ends with the collated batch.
  const input = inputSettings(data, "step");
  const clipSamples = input.clipSamples;
  const { train: ds } = await openTrainEval(data, input);
  const concurrency = opts.concurrency ?? Math.max(4, 2 * workers);
  const t0 = performance.now();
  let pool: WorkerPool | undefined;
  if (workers > 0) pool = await openWorkerPool({ data, input, splits: ["train"] }, workers);
  const openMs = performance.now() - t0;
  try {
    const augment = { waveform: opts.augment ?? true, erasing: false, mixupAlpha: 0 };
    const remote = pool && ((i: number, k: Uint32Array | undefined, n: number) => pool.prepare("train", i, k, n));
    const view = epochView(ds, keyFromSeed(1), 0, 0, batch, input, augment, remote);
    const times: number[] = [];
    const start = performance.now();
    await Effect.runPromise(
      Stream.runForEach(
        // The training loop's options (prefetch 2): batch arrays recycled, as its host uploads them.
        batchStream(view, { batchSize: batch, dropLast: true, concurrency, prefetch: 2, recycle: 6 }),
        () => Effect.sync(() => void times.push(performance.now())),
      ),
    );
    const steadyMs = times[times.length - 1] - times[0];
    return {
      workers,
      concurrency,
      batch,
      clipSamples,
      batches: times.length,
      openMs,
      firstBatchMs: times[0] - start,
      clipsPerS: ((times.length - 1) * batch * 1000) / Math.max(1e-6, steadyMs),
    };
  } finally {
    pool?.close();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(DATA_PIPELINE_COMMAND, Deno.args);
  if (a.help) return console.log(helpText(DATA_PIPELINE_COMMAND));
  const counts = String(a.values.workers).split(",").map((w) => {
    const n = Number(w);
    if (w.trim() === "" || !Number.isInteger(n) || n < 0) {
      throw new UsageError(`--workers: "${w}" is not an integer ≥ 0`);
    }
    return n;
  });
  const results: PipelineResult[] = [];
  for (const workers of counts) {
    const r = await measurePipeline({
      input: String(a.values.input),
      batch: Number(a.values.batch),
      workers,
      batches: Number(a.values.batches),
      concurrency: a.values.concurrency === undefined ? undefined : Number(a.values.concurrency),
      augment: a.values["no-augment"] !== true,
    });
    results.push(r);
    console.log(JSON.stringify(r));
  }
  console.log(
    markdownTable(
      ["workers", "concurrency", "open ms", "first batch ms", "clips/s"],
      results.map((r) => [r.workers, r.concurrency, r.openMs, r.firstBatchMs, r.clipsPerS]),
    ),
  );
  const cores = navigator.hardwareConcurrency;
  const path = await writeResult("data_pipeline.json", { cores, input: a.values.input, results });
  if (path) console.log(`wrote ${path}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`data_pipeline: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
