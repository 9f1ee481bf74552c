import assert from "node:assert/strict";
import { Effect, Exit, Fiber, Stream } from "effect";
import { type DataArgs, inputSettings, openTrainEval } from "../lib/cli/data.ts";
import { entryUrl } from "../lib/data/entry_url.ts";
import { type Batch, batchStream, type LoaderSource, recycleFor, runEpoch } from "../lib/data/loader.ts";
import { openWorkerPool, preparerFor, type WorkerPool, workerPool } from "../lib/data/worker_pool.ts";
import { encodeWav } from "../lib/audio/wav.ts";
import { keyFromSeed } from "../lib/random/threefry.ts";
import { epochView, prepareItem } from "../lib/train/batches.ts";
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from "../lib/train/checkpoint_io.ts";

const DATA: DataArgs = { data: "procedural", trainSize: 10, evalSize: 3, dataSeed: 4, input: "small" };
const INPUT = inputSettings(DATA, "host");
const AUG = { waveform: true, erasing: true, mixupAlpha: 0.8 };
const ROOT = new URL("../", import.meta.url).pathname;
const TRAIN_ARGS = ["--model", "convnext_audio_nano", "--input", "small", "--train-size", "8", "--eval-size", "4"]
  .concat(["--batch-size", "4", "--eval-batch-size", "4", "--seed", "2", "--backend", "cpu"]);

/** Equality of the bits, so that -0 vs 0 or two NaN payloads would count as differences. */
function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const bad = x.findIndex((v, i) => v !== y[i]);
  assert.equal(bad, -1, `${what}: first difference at ${bad}`);
}

async function withPool<T>(data: DataArgs, size: number, fn: (pool: WorkerPool) => Promise<T>): Promise<T> {
  const pool = await openWorkerPool({ data, input: INPUT, splits: ["train", "eval"] }, size);
  try {
    return await fn(pool);
  } finally {
    pool.close();
  }
}

/** A pool's "train" split as a loader's `getInto`. */
const preparerOf = (pool: WorkerPool) => (i: number, dest: Float32Array) =>
  pool.prepareInto("train", i, undefined, dest);

/** Batches as the consumer sees them when it takes each (copies: recycled arrays are rewritten later). */
async function snapshots(stream: Stream.Stream<Batch, Error>) {
  const out: {
    x: Float32Array;
    targets: Float32Array;
    names: string[];
    indices: number[];
    shape: number[];
    shared: boolean;
  }[] = [];
  await Effect.runPromise(Stream.runForEach(stream, (b) =>
    Effect.sync(() =>
      void out.push({
        x: b.x.slice(),
        targets: b.targets.slice(),
        names: [...b.names],
        indices: [...b.indices],
        shape: [...b.shape],
        shared: b.x.buffer instanceof SharedArrayBuffer,
      })
    )));
  return out;
}

const collect = (source: LoaderSource, batchSize: number, concurrency: number) =>
  Effect.runPromise(Stream.runCollect(batchStream(source, { batchSize, dropLast: true, concurrency })));

Deno.test("worker pool: a worker-backed epoch equals the in-thread epoch bit for bit (augmentation on)", async () => {
  const { train } = await openTrainEval(DATA, INPUT);
  const key = keyFromSeed(11), batch = 3;
  await withPool(DATA, 2, async (pool) => {
    for (const [epoch, position] of [[0, 0], [2, 1]]) {
      const local = await collect(epochView(train, key, epoch, position, batch, INPUT, AUG), batch, 2);
      const remote = await collect(
        epochView(train, key, epoch, position, batch, INPUT, AUG, (i, k, n) => pool.prepare("train", i, k, n)),
        batch,
        4,
      );
      assert.equal(local.length, 3 - position);
      assert.equal(remote.length, local.length);
      remote.forEach((b, i) => {
        assert.deepEqual(b.names, local[i].names);
        assert.deepEqual([...b.indices], [...local[i].indices]);
        assert.deepEqual(b.shape, [batch, INPUT.clipSamples]);
        sameBits(b.x, local[i].x, `epoch ${epoch} batch ${i} waveforms`);
        sameBits(b.targets, local[i].targets, `epoch ${epoch} batch ${i} targets`);
      });
    }
  });
});

Deno.test("worker pool: clips written in place by the workers give the copying epoch's batches bit for bit", async () => {
  const { train } = await openTrainEval(DATA, INPUT);
  const key = keyFromSeed(11), batch = 3, epoch = 1;
  await withPool(DATA, 2, async (pool) => {
    // The view holds 3 batches of 3 clips: in batches of 2 that is 4 whole ones and a partial one.
    const local = await snapshots(
      batchStream(epochView(train, key, epoch, 0, batch, INPUT, AUG), { batchSize: 2, concurrency: 2 }),
    );
    const view = epochView(train, key, epoch, 0, batch, INPUT, AUG, preparerFor(pool, "train"));
    const shared = await snapshots(batchStream(view, { batchSize: 2, concurrency: 2, recycle: recycleFor(2) }));
    assert.deepEqual(local.map((b) => b.shape[0]), [2, 2, 2, 2, 1]);
    assert.equal(shared.length, local.length);
    shared.forEach((b, i) => {
      assert.ok(b.shared, `batch ${i} is in shared memory`);
      assert.deepEqual(b.names, local[i].names);
      assert.deepEqual(b.indices, local[i].indices);
      sameBits(b.x, local[i].x, `batch ${i} waveforms`);
      sameBits(b.targets, local[i].targets, `batch ${i} targets`);
    });
    await assert.rejects(
      pool.prepareInto("train", 0, undefined, new Float32Array(4)),
      /dest must be a view on a SharedArrayBuffer/,
    );
  });
});

Deno.test("worker pool: eval items, and items without augmentation, equal prepareItem on the main thread", async () => {
  const { train, eval: evalDs } = await openTrainEval(DATA, INPUT);
  await withPool(DATA, 1, async (pool) => {
    assert.deepEqual(pool.splits, { train: { length: 10, classes: 14 }, eval: { length: 3, classes: 14 } });
    for (let i = 0; i < 3; i++) {
      const got = await pool.prepare("eval", i, undefined, INPUT.clipSamples - 7);
      const want = prepareItem(await evalDs!.get(i), INPUT.clipSamples - 7);
      assert.equal(got.name, want.name);
      sameBits(got.waveform, want.waveform, `eval ${i}`);
      sameBits(got.target, want.target, `eval ${i} target`);
    }
    const plain = await pool.prepare("train", 5, undefined, INPUT.clipSamples);
    sameBits(plain.waveform, prepareItem(await train.get(5), INPUT.clipSamples).waveform, "train 5");
  });
});

Deno.test("worker pool: a failing item gives the main thread's one-line error and file name (skipBad too)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dcls_worker_pool_" });
  try {
    const sr = 16000;
    const tone = Float32Array.from({ length: sr / 4 }, (_, i) => 0.3 * Math.sin(i / 5));
    await Deno.writeFile(`${dir}/good.wav`, encodeWav([tone], { sampleRate: sr }));
    await Deno.writeFile(`${dir}/bad.wav`, new TextEncoder().encode("RIFF, but not really a wave file"));
    await Deno.writeFile(`${dir}/also_good.wav`, encodeWav([tone], { sampleRate: sr }));
    await Deno.writeTextFile(`${dir}/labels.csv`, "path,labels\ngood.wav,a\nbad.wav,b\nalso_good.wav,a;b\n");
    const data: DataArgs = { ...DATA, data: dir, labels: `${dir}/labels.csv`, evalData: dir };
    const { train } = await openTrainEval(data, INPUT);
    const local = await runEpoch(train as LoaderSource, { batchSize: 2, skipBad: true }, () => {});
    assert.equal(local.skipped, 1, "the fixture must have one bad file");
    await withPool(data, 2, async (pool) => {
      const source: LoaderSource = {
        length: train.length,
        get: (i) => pool.prepare("train", i, undefined, INPUT.clipSamples),
        pathOf: (train as LoaderSource).pathOf!.bind(train),
      };
      const remote = await runEpoch(source, { batchSize: 2, skipBad: true }, () => {});
      assert.deepEqual(remote.bad, local.bad);
      // In place: the bad file leaves its row untouched, and the good one behind it moves up into the batch.
      const row = new Float32Array(new SharedArrayBuffer(4 * INPUT.clipSamples)).fill(7);
      const failed = await pool.prepareInto("train", 1, undefined, row).then(() => undefined, (e) => e);
      assert.equal(failed?.message, local.bad[0].message);
      assert.ok(row.every((v) => v === 7));
      const inPlace = { ...source, samples: INPUT.clipSamples, getInto: preparerOf(pool) };
      const want = await snapshots(batchStream(train as LoaderSource, { batchSize: 2, skipBad: true, concurrency: 2 }));
      const got = await snapshots(
        batchStream(inPlace, { batchSize: 2, skipBad: true, concurrency: 2, recycle: recycleFor(2) }),
      );
      assert.equal(got.length, 1);
      assert.ok(got[0].shared);
      sameBits(got[0].x, want[0].x, "waveforms");
      assert.deepEqual(got[0].names, want[0].names);
      assert.match(remote.bad[0].name, /bad\.wav$/);
      assert.equal(remote.items, 2);
      const err = await runEpoch(source, { batchSize: 2 }, () => {}).then(() => undefined, (e) => e);
      assert.equal(err?.name, "LoadError");
      assert.equal(err.message, local.bad[0].message);
      assert.ok(!err.message.includes("\n"));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("worker pool: data that cannot be opened fails the pool with the main thread's message", async () => {
  const data: DataArgs = { ...DATA, data: "/nonexistent/clips.h5" };
  const main = await openTrainEval(data, INPUT).then(() => undefined, (e: Error) => e.message);
  assert.ok(main, "opening must fail on the main thread");
  await assert.rejects(openWorkerPool({ data, input: INPUT, splits: ["train"] }, 2), (e: Error) => {
    assert.equal(e.message, main);
    return true;
  });
});

Deno.test("worker pool: the scoped pool is closed when its scope ends by failure or interruption", async () => {
  let failed: WorkerPool | undefined, interrupted: WorkerPool | undefined;
  const source = { data: DATA, input: INPUT, splits: ["train"] as const };
  const exit = await Effect.runPromiseExit(
    Effect.scoped(
      workerPool(source, 1).pipe(
        Effect.flatMap((p) => Effect.sync(() => (failed = p))),
        Effect.andThen(Effect.fail(1)),
      ),
    ),
  );
  assert.ok(Exit.isFailure(exit));
  assert.equal(failed?.closed, true);
  await assert.rejects(failed!.prepare("train", 0, undefined, 10), /closed/);

  let opened!: () => void;
  const ready = new Promise<void>((r) => (opened = r));
  const fiber = Effect.runFork(
    Effect.scoped(
      workerPool(source, 2).pipe(
        Effect.flatMap((p) => Effect.sync(() => (interrupted = p, opened()))),
        Effect.andThen(Effect.never),
      ),
    ),
  );
  await ready;
  assert.equal(interrupted?.closed, false);
  await Effect.runPromise(Fiber.interrupt(fiber));
  assert.equal(interrupted?.closed, true);
});

Deno.test("worker pool: a crashed worker fails its requests and is replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dcls_worker_crash_" });
  try {
    // A stand-in worker speaking the protocol: item 0 throws outside any handler, which kills the worker (Deno
    // prints the uncaught error to stderr even though the pool handles it).
    await Deno.writeTextFile(
      `${dir}/crashy.ts`,
      `self.onmessage = (e) => {
        const m = e.data;
        if (m.type === "open") return self.postMessage({ type: "opened", splits: { train: { length: 2, classes: 1 } } });
        if (m.index === 0) return setTimeout(() => { throw new Error("segfault-ish"); });
        const w = new Float32Array(m.clipSamples);
        self.postMessage({ type: "item", id: m.id, name: "ok", waveform: w, target: new Float32Array(1) }, [w.buffer]);
      };`,
    );
    const pool = await openWorkerPool({ data: DATA, input: INPUT, splits: ["train"] }, 1, {
      url: new URL(`file://${dir}/crashy.ts`),
      maxRestarts: 1,
    });
    try {
      await assert.rejects(pool.prepare("train", 0, undefined, 4), /^Error: data worker crashed: .*segfault-ish/);
      const item = await pool.prepare("train", 1, undefined, 4);
      assert.equal(item.waveform.length, 4);
      await assert.rejects(pool.prepare("train", 0, undefined, 4), /crashed/);
      await assert.rejects(pool.prepare("train", 1, undefined, 4), /crashed too often/);
    } finally {
      pool.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("entryUrl: the source entry from source, the sibling bundle from a bundle", () => {
  assert.equal(entryUrl("file:///r/lib/data/pool.ts", "./data_worker.ts").href, "file:///r/lib/data/data_worker.ts");
  assert.equal(entryUrl("file:///r/lib/cli/x.ts", "../data/w.ts").href, "file:///r/lib/data/w.ts");
  assert.equal(entryUrl("file:///r/.device/train.js", "./data_worker.ts").href, "file:///r/.device/data_worker.js");
  assert.equal(entryUrl("file:///r/.device/train.js", "../data/w.ts").href, "file:///r/.device/w.js");
});

Deno.test("bundled: data_pipeline.js finds the bundled data_worker.js beside it and measures both paths", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dcls_bundle_" });
  try {
    for (const entry of ["lib/data/data_worker.ts", "bench/data_pipeline.ts"]) {
      const out = `${dir}/${entry.replace(/^.*\//, "").replace(/\.ts$/, ".js")}`;
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "--external=@audio/decode-ape", entry, "-o", out],
        cwd: ROOT,
      })
        .output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    }
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${dir}/data_pipeline.js`,
        "--input",
        "small",
        "--batch",
        "3",
        "--workers",
        "0,2",
        "--batches",
        "2",
      ],
      cwd: dir,
      env: { OUT: "" },
    }).output();
    const text = new TextDecoder().decode(r.stdout);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const rows = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => [x.workers, x.batches, x.clipSamples]), [[0, 2, 32000], [2, 2, 32000]]);
    for (const x of rows) assert.ok(x.clipsPerS > 0 && Number.isFinite(x.clipsPerS));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --workers: same weights and log as in-thread loading, also resuming a checkpoint without workers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dcls_train_workers_" });
  const train = async (out: string, args: string[]) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}lib/cli/train.ts`, ...TRAIN_ARGS, "--out", out, ...args],
      stdin: "null",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  };
  try {
    await train(`${dir}/main`, ["--steps", "2", "--workers", "0"]);
    await train(`${dir}/main`, ["--steps", "3", "--workers", "0", "--resume"]);
    await train(`${dir}/pool`, ["--steps", "2", "--workers", "2"]);
    // A checkpoint written before `workers` existed.
    const ckpt = `${dir}/pool/checkpoint.safetensors`;
    const snap = await loadTrainingCheckpoint(ckpt);
    assert.equal(snap.settings.workers, 2);
    const { workers: _, ...old } = snap.settings;
    await saveTrainingCheckpoint(ckpt, { ...snap, settings: old });
    await train(`${dir}/pool`, ["--steps", "3", "--workers", "2", "--resume"]);
    const a = await Deno.readFile(`${dir}/main/model.safetensors`),
      b = await Deno.readFile(`${dir}/pool/model.safetensors`);
    assert.ok(a.length === b.length && a.every((v, i) => v === b[i]), "final weights differ");
    const log = async (d: string) =>
      (await Deno.readTextFile(`${d}/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
        .map((e) => e.kind === "train" ? [e.step, e.loss] : [e.step, e.mAP, e.mAUC]);
    const [la, lb] = [await log(`${dir}/main`), await log(`${dir}/pool`)];
    assert.equal(la.length, 5, "three steps and two evaluations");
    assert.deepEqual(lb, la);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
