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
import { batchStream, type LoaderSource, recycleFor } from "../lib/data/loader.ts";
import { openWorkerPool, preparerFor, type WorkerPool } from "../lib/data/worker_pool.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";
import { epochView } from "../lib/train/batches.ts";
import { markdownTable, writeResult } from "./report.ts";
import { profileMainThread } from "../lib/train/host_profile.ts";

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
    { name: "copy", kind: "flag", help: "the copying path: items returned whole and copied into the batch" },
    { name: "profile", kind: "flag", help: "sample the main thread: its busy ms per batch and where they go" },
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
  /** Whether items were written in place into shared batch memory (else returned whole and copied). */
  readonly inPlace: boolean;
  /** With `profile`: main-thread busy milliseconds per batch after the first (sampled, idle excluded). */
  readonly mainMsPerBatch?: number;
  /** With `profile`: the main thread's largest self times per batch, [function, ms]. */
  readonly mainTop?: readonly (readonly [string, number])[];
}

/** Runs one epoch of `batches` batches through the loader and times it. */
export async function measurePipeline(opts: {
  input: string;
  batch: number;
  workers: number;
  batches: number;
  concurrency?: number;
  augment?: boolean;
  /** Take the copying path (default: in place where the loader can). */
  copy?: boolean;
  /** Sample the main thread after the first batch. */
  profile?: boolean;
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
    const remote = pool && preparerFor(pool, "train");
    const view = epochView(ds, keyFromSeed(1), 0, 0, batch, input, augment, remote);
    // Without `getInto` the loader takes the copying path.
    const source: LoaderSource = opts.copy ? { length: view.length, get: (j) => view.get(j) } : view;
    const times: number[] = [];
    let stopProfile: (() => Promise<Map<string, number>>) | undefined;
    const start = performance.now();
    await Effect.runPromise(
      Stream.runForEach(
        // The training loop's options (prefetch 2): batch arrays recycled, as its host uploads them.
        batchStream(source, { batchSize: batch, dropLast: true, concurrency, prefetch: 2, recycle: recycleFor(2) }),
        () =>
          Effect.promise(async () => {
            times.push(performance.now());
            if (opts.profile && times.length === 1) stopProfile = await profileMainThread();
          }),
      ),
    );
    const steadyMs = times[times.length - 1] - times[0];
    const self = await stopProfile?.();
    const perBatch = (ms: number) => ms / Math.max(1, times.length - 1);
    const busy = self && [...self].filter(([name]) => name !== "(idle)");
    return {
      workers,
      concurrency,
      batch,
      clipSamples,
      batches: times.length,
      openMs,
      firstBatchMs: times[0] - start,
      clipsPerS: ((times.length - 1) * batch * 1000) / Math.max(1e-6, steadyMs),
      inPlace: !opts.copy,
      ...(busy && {
        mainMsPerBatch: perBatch(busy.reduce((t, [, ms]) => t + ms, 0)),
        mainTop: busy.sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, ms]) => [name, perBatch(ms)] as const),
      }),
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
      copy: a.values.copy === true,
      profile: a.values.profile === true,
    });
    results.push(r);
    console.log(JSON.stringify(r));
  }
  console.log(
    markdownTable(
      ["workers", "concurrency", "in place", "open ms", "first batch ms", "clips/s", "main ms/batch"],
      results.map((r) => [
        r.workers,
        r.concurrency,
        r.inPlace ? "yes" : "no",
        r.openMs,
        r.firstBatchMs,
        r.clipsPerS,
        r.mainMsPerBatch ?? "–",
      ]),
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
