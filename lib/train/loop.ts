/**
 * The training loop as an Effect program: the backend (CPU interpreter or a GPU device) is a scoped resource, the
 * data a prefetched stream of batches (lib/data/loader.ts), and every optimizer step a call of the compiled training
 * step. It prints a progress line to stderr, evaluates mAP periodically, and writes atomic checkpoints every N
 * steps and at the end. Data order and every random choice are pure functions of (seed, step), so `resume`
 * continues a run exactly where its last checkpoint left it (bit-identically on the CPU). SIGINT/SIGTERM finish the
 * current step, write a checkpoint and end the run cleanly; a run killed outright loses at most the steps since its
 * last checkpoint.
 * @module
 */
import { Data, Effect, type Scope, Stream } from "effect";
import type { Tensor } from "../core/tensor.ts";
import { compile } from "../core/compile.ts";
import { tensor } from "../ops/create.ts";
import { keyFromSeed } from "../random/threefry.ts";
import type { AudioDataset } from "../data/dataset.ts";
import { batchStream, type LoaderSource, recycleFor } from "../data/loader.ts";
import { preparerFor, type Split, type WorkerPool, workerPool } from "../data/worker_pool.ts";
import type { DataArgs } from "../cli/data.ts";
import { evaluate } from "../metrics/evaluate.ts";
import type { Model, ModelConfig, Params, State } from "../models/common.ts";
import { getModel } from "../models/registry.ts";
import { saveCheckpoint } from "../models/checkpoint.ts";
import { adamw, lamb, type Optimizer, type OptState } from "./optim.ts";
import { learningRate } from "./schedule.ts";
import { accumulateStep, applyAccumulated, evalStep, trainStep } from "./step.ts";
import {
  type AugmentSettings,
  epochView,
  evalInputs,
  initKey,
  type InputSettings,
  modelKey,
  stepsPerEpoch,
  trainInputs,
} from "./batches.ts";
import { profileMainThread, topOfProfile } from "./host_profile.ts";
import { loadTrainingCheckpoint, saveTrainingCheckpoint, type TrainingSnapshot } from "./checkpoint_io.ts";

/** A training failure, with a one-line message. */
export class TrainError extends Data.TaggedError("TrainError")<{ readonly message: string }> {}

/** Where compiled steps run. */
export interface Backend {
  /** Description (e.g. "cpu", or the GPU adapter's name). */
  readonly name: string;
  /**
   * Compiles a pure tensor function. Calls resolve to its results, which may stay on the device (read them with
   * {@link Backend.toHost}); `donate` lists argument indices whose tensors a call may overwrite with its outputs
   * (the parameters and optimizer state of a training step), so only the returned values may be used afterwards.
   */
  compile<A extends unknown[], R>(
    fn: (...args: A) => R,
    opts?: { readonly donate?: readonly number[] },
  ): (...args: A) => Promise<R>;
  /** Host tensors for a tree of results (the identity on the CPU). */
  toHost<T>(tree: T): Promise<T>;
}

/**
 * A model's parameters and state (and the optimizer's state, when given) made by the backend itself, from `key`: the
 * full models take tens of seconds to initialise on the CPU interpreter, and on a GPU nothing large is uploaded.
 */
export function initOnBackend(
  backend: Backend,
  model: Model,
  key: Tensor,
): Promise<{ params: Params; state: State }>;
/** With the optimizer's state too. */
export function initOnBackend(
  backend: Backend,
  model: Model,
  key: Tensor,
  optimizer: Optimizer,
): Promise<{ params: Params; state: State; optState: OptState }>;
export function initOnBackend(backend: Backend, model: Model, key: Tensor, optimizer?: Optimizer) {
  return backend.compile((k: Tensor) => {
    const { params, state } = model.init(k);
    return optimizer ? { params, state, optState: optimizer.init(params) } : { params, state };
  })(key);
}

/** The CPU interpreter. */
export const cpuBackend: Backend = {
  name: "cpu",
  compile<A extends unknown[], R>(fn: (...args: A) => R) {
    const f = compile(fn);
    return (...args: A) => Promise.resolve(f(...args));
  },
  toHost: (tree) => Promise.resolve(tree),
};

/** Everything that defines a run (stored in its checkpoints). */
export interface TrainSettings {
  /** Registry name of the model. */
  readonly model: string;
  /** Configuration overrides of the model (the class count is set from the data). */
  readonly modelOverrides?: Partial<ModelConfig>;
  /** Total optimizer steps. */
  readonly steps: number;
  /** Clips per step. */
  readonly batchSize: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Floor of the cosine schedule. */
  readonly minLr: number;
  /** Steps of linear warm-up. */
  readonly warmupSteps: number;
  /** Decoupled weight decay of the decayed group. */
  readonly weightDecay: number;
  /** AdamW, or LAMB (ConvFormer in the paper). */
  readonly optimizer: "adamw" | "lamb";
  /**
   * Micro-batches of `batchSize` whose gradients are averaged into one optimizer step (effective batch
   * batchSize · accumSteps); absent or 1: none. Steps, warm-up and checkpoints count optimizer steps.
   */
  readonly accumSteps?: number;
  /** Clip gradients to this global L2 norm before each update; absent: no clipping. */
  readonly clipGrad?: number;
  /** Drop-path rate of the last block (0.4 in the paper). */
  readonly dropPathRate: number;
  /** Seed of initialisation, data order and every augmentation. */
  readonly seed: number;
  /** Checkpoint every N steps (0: only at the end). */
  readonly checkpointEvery: number;
  /** Evaluate every N steps (0: only at the end). */
  readonly evalEvery: number;
  /** Clips per evaluation batch. */
  readonly evalBatchSize: number;
  /** Clip length and front end. */
  readonly input: InputSettings;
  /** Training augmentations. */
  readonly augment: AugmentSettings;
  /** Label smoothing ε. */
  readonly labelSmoothing: number;
  /** Items loaded at once, and batches prefetched. */
  readonly concurrency: number;
  /** Batches buffered ahead of the step. */
  readonly prefetch: number;
  /**
   * Web Workers that load and augment clips (reopening the data from `data`), absent or 0: the main thread.
   * Results do not depend on it; with workers at least 2 per worker are loaded at once, whatever `concurrency` says.
   */
  readonly workers?: number;
  /** Where the data came from (command-line data options), kept so a resumed run can reopen it. */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** One line of the run's log (`log.jsonl`). */
export type LogEntry =
  | { readonly kind: "train"; readonly step: number; readonly loss: number; readonly lr: number; readonly sps: number }
  | {
    readonly kind: "eval";
    readonly step: number;
    readonly mAP: number;
    readonly mAUC: number;
    readonly dPrime: number;
    /** Classes without a positive in the evaluation data (left out of mAP). */
    readonly excluded: number;
  };

/** An evaluation log entry. */
export type EvalEntry = Extract<LogEntry, { kind: "eval" }>;

/** A run: settings, data, output folder. */
export interface TrainRun {
  /** What to train and how. */
  readonly settings: TrainSettings;
  /** Training data, and evaluation data for the periodic and final mAP. */
  readonly data: { readonly train: AudioDataset; readonly eval?: AudioDataset };
  /** Folder for `checkpoint.safetensors`, `model.safetensors` and `log.jsonl`. */
  readonly outDir: string;
  /** Continue from `outDir/checkpoint.safetensors` when it exists. */
  readonly resume?: boolean;
  /** Acquires the backend for the run's scope (default: the CPU). */
  readonly backend?: Effect.Effect<Backend, TrainError, Scope.Scope>;
  /** Receives progress lines (default: stderr). `transient` lines may be overwritten by the next. */
  readonly progress?: (line: string, transient: boolean) => void;
  /** Handle SIGINT/SIGTERM (default true). */
  readonly handleSignals?: boolean;
}

/** What a run produced. */
export interface TrainResult {
  /** Optimizer steps done. */
  readonly step: number;
  /** Whether a signal stopped the run before its last step. */
  readonly interrupted: boolean;
  /** The log of the whole run (resumed parts included). */
  readonly log: readonly LogEntry[];
  /** The last evaluation, if any. */
  readonly lastEval?: EvalEntry;
  /** Path of the training checkpoint. */
  readonly checkpoint: string;
  /** Path of the final model-only weights (absent when interrupted). */
  readonly modelFile?: string;
  /** Mean training throughput of this invocation (samples/s, data included). */
  readonly samplesPerSecond: number;
  /** Wall-clock seconds of this invocation's steps. */
  readonly seconds: number;
}

/** Files of a run folder. */
export function runFiles(outDir: string): { checkpoint: string; model: string; log: string } {
  const dir = outDir.replace(/\/+$/, "") || ".";
  return { checkpoint: `${dir}/checkpoint.safetensors`, model: `${dir}/model.safetensors`, log: `${dir}/log.jsonl` };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
const attempt = <A>(f: () => A) => Effect.try({ try: f, catch: (e) => new TrainError({ message: message(e) }) });
const attemptPromise = <A>(f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new TrainError({ message: message(e) }) });

/** A flag raised by SIGINT/SIGTERM while the scope is open. */
function stopFlag(enabled: boolean): Effect.Effect<{ requested: boolean }, never, Scope.Scope> {
  const flag = { requested: false };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handler = () => void (flag.requested = true);
  return Effect.acquireRelease(
    Effect.sync(() => {
      if (enabled) { for (const s of signals) Deno.addSignalListener(s, handler); }
      return flag;
    }),
    () => Effect.sync(() => enabled && signals.forEach((s) => Deno.removeSignalListener(s, handler))),
  );
}

/** Lets timers and signal handlers run between synchronous steps. */
/** Steps between loss read-backs on a GPU (see the training loop). */
const REPORT_EVERY_GPU = 10;

const yieldToEventLoop = Effect.promise(() => new Promise<void>((r) => setTimeout(r, 0)));

function optimizerOf(s: TrainSettings): Optimizer {
  const o = { weightDecay: s.weightDecay };
  return s.optimizer === "lamb" ? lamb(o) : adamw(o);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

function stderrProgress(): (line: string, transient: boolean) => void {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let pending = false;
  return (line, transient) => {
    if (transient && !tty) return;
    const text = transient ? `\r\x1b[2K${line}` : `${pending ? "\r\x1b[2K" : ""}${line}\n`;
    pending = transient;
    Deno.stderr.writeSync(enc.encode(text));
  };
}

/** Validates settings, with one-line errors naming the field. */
export function checkSettings(s: TrainSettings): void {
  const positiveInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
  };
  const nonNegInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what} must be an integer ≥ 0, got ${v}`);
  };
  positiveInt(s.steps, "steps");
  positiveInt(s.batchSize, "batch size");
  positiveInt(s.evalBatchSize, "eval batch size");
  positiveInt(s.concurrency, "concurrency");
  nonNegInt(s.prefetch, "prefetch");
  nonNegInt(s.workers ?? 0, "workers");
  nonNegInt(s.checkpointEvery, "checkpoint interval");
  nonNegInt(s.evalEvery, "eval interval");
  nonNegInt(s.warmupSteps, "warm-up steps");
  positiveInt(s.accumSteps ?? 1, "accumulation steps");
  if (s.clipGrad !== undefined && !(s.clipGrad > 0 && Number.isFinite(s.clipGrad))) {
    throw new Error(`gradient clipping norm must be positive, got ${s.clipGrad}`);
  }
  if (s.warmupSteps > s.steps) throw new Error(`warm-up (${s.warmupSteps} steps) is longer than the run (${s.steps})`);
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) throw new Error(`learning rate must be positive, got ${s.lr}`);
  if (!(s.minLr >= 0 && s.minLr <= s.lr)) throw new Error(`min lr must be in [0, lr], got ${s.minLr}`);
  if (!(s.weightDecay >= 0)) throw new Error(`weight decay must be ≥ 0, got ${s.weightDecay}`);
  if (!(s.dropPathRate >= 0 && s.dropPathRate < 1)) throw new Error(`drop path must be in [0, 1)`);
  if (!(s.labelSmoothing >= 0 && s.labelSmoothing < 1)) throw new Error(`label smoothing must be in [0, 1)`);
  if (!(s.augment.mixupAlpha >= 0)) throw new Error(`mixup alpha must be ≥ 0`);
  if (!Number.isInteger(s.seed) || s.seed < 0) throw new Error(`seed must be an integer ≥ 0, got ${s.seed}`);
  positiveInt(s.input.clipSamples, "clip samples");
}

/**
 * Evaluates `params` on a dataset: sigmoid scores of every clip, then mAP, mAUC and d′ (classes without a positive
 * excluded and counted). With `loading.pool` the clips are loaded by its workers (its "eval" split, which must be
 * `ds`), `loading.concurrency` at once.
 */
export function evaluateDataset(
  ds: AudioDataset,
  score: (x: Tensor) => Promise<Tensor>,
  input: InputSettings,
  batchSize: number,
  prefetch = 2,
  loading: { readonly pool?: WorkerPool; readonly concurrency?: number } = {},
): Effect.Effect<Omit<EvalEntry, "kind" | "step">, TrainError> {
  const classes = ds.classNames.length;
  const scores = new Float32Array(ds.length * classes);
  const targets = new Float32Array(ds.length * classes);
  let row = 0;
  const { pool, concurrency } = loading;
  const source: LoaderSource = pool
    ? {
      length: ds.length,
      get: (i) => pool.prepare("eval", i, undefined, input.clipSamples),
      pathOf: (ds as LoaderSource).pathOf?.bind(ds),
    }
    : ds;
  return Stream.runForEach(
    batchStream(source, { batchSize, prefetch, concurrency }).pipe(
      Stream.mapError((e) => new TrainError({ message: message(e) })),
    ),
    (batch) =>
      attemptPromise(async () => {
        const b = batch.shape[0];
        const s = (await score(evalInputs(batch, input, batchSize))).toArray();
        scores.set(s.subarray(0, b * classes), row * classes);
        targets.set(batch.targets, row * classes);
        row += b;
      }),
  ).pipe(
    Effect.flatMap(() =>
      attempt(() => {
        const r = evaluate(scores, targets, classes);
        return { mAP: r.mAP, mAUC: r.mAUC, dPrime: r.dPrimeMeanOfClasses, excluded: r.classesWithoutPositives.count };
      })
    ),
  );
}

async function readLog(path: string, upTo: number): Promise<LogEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  // Lines after the checkpoint's step belong to steps that will be redone; a torn last line is dropped.
  return text.split("\n").flatMap((l) => {
    try {
      const e = JSON.parse(l) as LogEntry;
      return e.step <= upTo ? [e] : [];
    } catch {
      return [];
    }
  });
}

/**
 * The data workers of a run, as a scoped resource: they reopen the data from `settings.data`, which must describe
 * the run's datasets (their sizes and class counts are checked).
 */
function dataWorkers(
  s: TrainSettings,
  data: TrainRun["data"],
  workers: number,
): Effect.Effect<WorkerPool, TrainError, Scope.Scope> {
  if (!s.data) {
    return Effect.fail(new TrainError({ message: "data workers need the data's arguments (settings.data)" }));
  }
  const splits: Split[] = data.eval ? ["train", "eval"] : ["train"];
  return workerPool({ data: s.data as unknown as DataArgs, input: s.input, splits }, workers).pipe(
    Effect.mapError((e) => new TrainError({ message: `data workers: ${e.message}` })),
    Effect.tap((pool) =>
      attempt(() => {
        for (const split of splits) {
          const ds = split === "train" ? data.train : data.eval!, got = pool.splits[split];
          if (got?.length !== ds.length || got.classes !== ds.classNames.length) {
            throw new Error(
              `data workers opened ${got?.length} ${split} items of ${got?.classes} classes, ` +
                `the run has ${ds.length} of ${ds.classNames.length}`,
            );
          }
        }
      })
    ),
  );
}

/** The training program (see the module comment). Fails with a {@link TrainError}. */
export function trainProgram(run: TrainRun): Effect.Effect<TrainResult, TrainError> {
  return Effect.scoped(Effect.gen(function* () {
    const s = run.settings;
    yield* attempt(() => checkSettings(s));
    const progress = run.progress ?? stderrProgress();
    const files = runFiles(run.outDir);
    const backend = yield* (run.backend ?? Effect.succeed(cpuBackend));
    const stop = yield* stopFlag(run.handleSignals ?? true);
    yield* attemptPromise(() => Deno.mkdir(run.outDir, { recursive: true }));
    const { train: trainDs, eval: evalDs } = run.data;
    const classNames = trainDs.classNames;
    if (evalDs && evalDs.classNames.length !== classNames.length) {
      return yield* new TrainError({
        message: `eval data has ${evalDs.classNames.length} classes, training data ${classNames.length}`,
      });
    }
    const perEpoch = yield* attempt(() => stepsPerEpoch(trainDs.length, s.batchSize));
    const workers = s.workers ?? 0;
    const pool = workers > 0 ? yield* dataWorkers(s, run.data, workers) : undefined;
    // Two requests per worker keep each busy while its last result travels back.
    // Enough requests queued that workers keep going while the main thread uploads and submits a step (tens of ms),
    // but at most a batch: the in-place path writes items to rows of a batch known in advance.
    const concurrency = pool ? Math.min(Math.max(s.concurrency, 4 * workers), Math.max(s.batchSize, 1)) : s.concurrency;
    const fromPool = pool && preparerFor(pool, "train");

    const resumed = run.resume && (yield* attemptPromise(() => exists(files.checkpoint)))
      ? yield* attemptPromise(() => loadTrainingCheckpoint(files.checkpoint))
      : undefined;
    if (resumed && resumed.model.name !== s.model) {
      return yield* new TrainError({
        message: `${files.checkpoint}: checkpoint is for model "${resumed.model.name}", not "${s.model}"`,
      });
    }
    let snap: TrainingSnapshot;
    if (resumed) snap = resumed;
    else {
      const model = yield* attempt(() =>
        getModel(s.model, { ...s.modelOverrides, numClasses: classNames.length, dropPathRate: s.dropPathRate })
      );
      const key = keyFromSeed(s.seed);
      const init = yield* attemptPromise(() => initOnBackend(backend, model, initKey(key), optimizerOf(s)));
      snap = { model, ...init, step: 0, seed: s.seed, key, classNames, settings: { ...s } };
    }
    const model = snap.model;
    const log: LogEntry[] = resumed ? yield* attemptPromise(() => readLog(files.log, snap.step)) : [];
    yield* attemptPromise(() => Deno.writeTextFile(files.log, log.map((e) => JSON.stringify(e) + "\n").join("")));
    const append = (e: LogEntry) =>
      attemptPromise(async () => {
        log.push(e);
        await Deno.writeTextFile(files.log, JSON.stringify(e) + "\n", { append: true });
      });

    const stepOpts = {
      model,
      optimizer: optimizerOf(s),
      frontEnd: s.input.frontEnd,
      labelSmoothing: s.labelSmoothing,
      clipGrad: s.clipGrad,
    };
    const accum = s.accumSteps ?? 1;
    // With accumulation: the first micro-batch's gradients start the sum, later ones add to it (donated in place),
    // and the update averages them. Without, the one fused step.
    const firstMicro = backend.compile(accumulateStep(stepOpts, true), { donate: [2] });
    const nextMicro = backend.compile(accumulateStep(stepOpts), { donate: [2] });
    const applyAcc = backend.compile(applyAccumulated(stepOpts, accum), { donate: [0, 1, 2] });
    // The step may overwrite its parameters, state and optimizer state: only its results are used afterwards.
    const step = backend.compile(trainStep(stepOpts), { donate: [0, 1, 2] });
    const scoreOn = backend.compile(evalStep(stepOpts));
    const score = async (x: Tensor) => await backend.toHost(await scoreOn(params, state, x));
    let { params, state, optState } = snap as { params: Params; state: State; optState: OptState };
    let done = snap.step;
    const save = () =>
      attemptPromise(async () => {
        const host = await backend.toHost({ params, state, optState });
        await saveTrainingCheckpoint(files.checkpoint, { ...snap, ...host, step: done, settings: { ...s } });
      });
    const evalNow = () =>
      evalDs
        ? evaluateDataset(evalDs, score, s.input, s.evalBatchSize, s.prefetch, { pool, concurrency }).pipe(
          Effect.flatMap((r) => {
            const entry: EvalEntry = { kind: "eval", step: done, ...r };
            progress(
              `eval step ${done}: mAP ${r.mAP.toFixed(4)} mAUC ${r.mAUC.toFixed(4)} d' ${r.dPrime.toFixed(3)}` +
                (r.excluded ? ` (${r.excluded} classes without positives excluded)` : ""),
              false,
            );
            return Effect.as(append(entry), entry);
          }),
        )
        : Effect.succeed(undefined);

    const schedule = { baseLr: s.lr, warmupSteps: s.warmupSteps, totalSteps: s.steps, minLr: s.minLr };
    const start = done;
    const t0 = performance.now();
    let tLast = t0, rate = 0;
    // Where each step's wall time goes on the host: what bounds a run (data, uploads, the device) shows here.
    const host = { data: 0, step: 0, wait: 0, end: t0, steps: 0, since: 0 };
    const profiling = Deno.env.get("DCLS_HOST_PROFILE") !== undefined;
    let stopProfile: (() => Promise<Map<string, number>>) | undefined;
    let lastEval = log.findLast((e): e is EvalEntry => e.kind === "eval");
    if (start < s.steps) {
      // The stream is of micro-batches: `accum` of them per optimizer step.
      const startMicro = start * accum, endMicro = s.steps * accum;
      const firstEpoch = Math.floor(startMicro / perEpoch), lastEpoch = Math.floor((endMicro - 1) / perEpoch);
      const batches = Stream.range(firstEpoch, lastEpoch).pipe(
        Stream.flatMap((epoch) =>
          batchStream(
            epochView(
              trainDs,
              snap.key,
              epoch,
              epoch === firstEpoch ? startMicro % perEpoch : 0,
              s.batchSize,
              s.input,
              { ...s.augment },
              fromPool,
            ),
            // Consumed batches are uploaded (inside the step call) before the next is taken, and one buffer of
            // max(1, prefetch) follows: recycleFor's count of arrays in turn is never in use. With workers, each
            // clip is written by its worker straight into its batch's row.
            {
              batchSize: s.batchSize,
              dropLast: true,
              concurrency,
              prefetch: 0,
              recycle: recycleFor(Math.max(1, s.prefetch)),
            },
          )
        ),
        Stream.take(endMicro - startMicro),
        Stream.buffer({ capacity: Math.max(1, s.prefetch) }),
        Stream.mapError((e) => new TrainError({ message: message(e) })),
        Stream.takeWhile(() => !stop.requested),
      );
      // Reading a loss waits for the device: WebGPU's mapAsync (Deno's, measured on an H100) holds the main thread
      // until the queue drains, so on a GPU the loss is read (and logged, and checked for NaN) every
      // REPORT_EVERY_GPU steps and where a checkpoint, an evaluation or the end needs that step's state.
      const reportEvery = backend.name === "cpu" ? 1 : REPORT_EVERY_GPU;
      let reported = start;
      let micro = 0, acc: Params | undefined;
      yield* Stream.runForEach(batches, (batch) =>
        Effect.gen(function* () {
          const lr = learningRate(done, schedule);
          const tBatch = performance.now();
          host.data += tBatch - host.end;
          // Augmentation and drop-path keys follow the micro-batch (the optimizer step when accum is 1).
          const at = done * accum + micro;
          let r: { loss: Tensor };
          if (accum === 1) {
            const out = yield* attemptPromise(() => {
              const inputs = trainInputs(batch, snap.key, at, s.input, s.augment);
              return step(params, state, optState, inputs, modelKey(snap.key, at), tensor(lr, { dtype: "f32" }));
            });
            ({ params, state, optState } = out);
            r = out;
          } else {
            const out = yield* attemptPromise(() => {
              const inputs = trainInputs(batch, snap.key, at, s.input, s.augment);
              return micro === 0
                ? firstMicro(params, state, {}, inputs, modelKey(snap.key, at))
                : nextMicro(params, state, acc!, inputs, modelKey(snap.key, at));
            });
            ({ acc, state } = out);
            r = out;
            if (++micro < accum) {
              host.step += performance.now() - tBatch;
              host.end = performance.now();
              return;
            }
            micro = 0;
            const upd = yield* attemptPromise(() => applyAcc(params, optState, acc!, tensor(lr, { dtype: "f32" })));
            ({ params, optState } = upd);
            acc = undefined;
          }
          host.step += performance.now() - tBatch;
          done++;
          const checkpoint = s.checkpointEvery > 0 && done % s.checkpointEvery === 0 && done < s.steps;
          const evaluate = s.evalEvery > 0 && done % s.evalEvery === 0 && done < s.steps;
          if (done % reportEvery === 0 || done === start + 1 || done === s.steps || checkpoint || evaluate) {
            const tWait = performance.now();
            const loss = (yield* attemptPromise(() => backend.toHost(r.loss))).item();
            host.wait += performance.now() - tWait;
            if (!Number.isFinite(loss)) {
              return yield* new TrainError({ message: `loss is ${loss} at step ${done}; lower the learning rate` });
            }
            const now = performance.now();
            const sps = ((done - reported) * s.batchSize * accum * 1000) / Math.max(1e-3, now - tLast);
            rate = rate === 0 ? sps : 0.9 * rate + 0.1 * sps;
            tLast = now;
            reported = done;
            yield* append({ kind: "train", step: done, loss, lr, sps });
            const eta = ((s.steps - done) * s.batchSize * accum) / rate;
            const line = `step ${done}/${s.steps} | ${rate.toFixed(1)} samples/s | loss ${loss.toFixed(4)} | ` +
              `lr ${lr.toExponential(2)} | ETA ${formatDuration(eta)}`;
            const every = Math.max(1, Math.floor(s.steps / 20));
            progress(line, !(done % every === 0 || done === s.steps));
          }
          if (checkpoint) yield* save();
          if (evaluate) lastEval = yield* evalNow();
          host.end = performance.now();
          // The first step of an invocation traces and compiles: the breakdown starts after it.
          if (done === start + 1) {
            Object.assign(host, { data: 0, step: 0, wait: 0, steps: 0, since: host.end });
            if (profiling) stopProfile = yield* attemptPromise(profileMainThread);
          } else host.steps++;
          yield* yieldToEventLoop;
        }));
    }
    const seconds = (performance.now() - t0) / 1000;
    if (stopProfile && host.steps > 0) {
      const byName = yield* attemptPromise(stopProfile);
      progress(`main thread, ms per step (DCLS_HOST_PROFILE):\n${topOfProfile(byName, host.steps).join("\n")}`, false);
    }
    if (host.steps > 0) {
      const per = (ms: number) => `${(ms / host.steps).toFixed(1)} ms`;
      const steady = (host.steps * s.batchSize * accum * 1000) / (host.end - host.since);
      progress(
        `after the first step: ${steady.toFixed(1)} samples/s; per step ${per(host.data)} waiting for data, ` +
          `${per(host.step)} preparing inputs and submitting the step (uploads included), ` +
          `${per(host.wait)} waiting for the device`,
        false,
      );
    }
    const interrupted = done < s.steps;
    yield* save();
    if (interrupted) {
      progress(`interrupted at step ${done}/${s.steps}; checkpoint written to ${files.checkpoint}`, false);
    } else {
      if (lastEval?.step !== done) lastEval = yield* evalNow();
      yield* attemptPromise(async () => {
        const host = await backend.toHost({ params, state });
        await saveCheckpoint(files.model, model, host.params, host.state, {
          classNames: JSON.stringify(classNames),
          input: JSON.stringify(s.input),
        });
      });
    }
    const samplesPerSecond = seconds > 0 ? ((done - start) * s.batchSize * accum) / seconds : 0;
    return {
      step: done,
      interrupted,
      log,
      lastEval,
      checkpoint: files.checkpoint,
      modelFile: interrupted ? undefined : files.model,
      samplesPerSecond,
      seconds,
    };
  }));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Runs {@link trainProgram}; rejects with an Error carrying the one-line message. */
export async function train(run: TrainRun): Promise<TrainResult> {
  const exit = await Effect.runPromiseExit(trainProgram(run));
  if (exit._tag === "Success") return exit.value;
  const err = exit.cause.reasons.map((r) => ("error" in r ? r.error : "defect" in r ? r.defect : "interrupted"))[0];
  throw new Error(err instanceof TrainError ? err.message : message(err));
}
