/**
 * A pool of module Web Workers that load and prepare training clips off the main thread, so data preparation
 * (generation or decoding, padding, waveform augmentation) scales with the cores while the main thread drives the
 * GPU. Each worker opens the datasets itself from a serialisable {@link DataSource} and answers requests for
 * single items; items come back with their waveform's buffer transferred, not copied — or, with
 * {@link WorkerPool.prepareInto}, the worker writes the waveform straight into shared memory (a batch's row) and
 * only the item's name and target travel back.
 *
 * Results equal the main-thread path bit for bit: a worker runs the same `prepareItem` (lib/train/batches.ts) with
 * the augmentation key the caller computed. A failing item rejects its request with the error's one-line message,
 * so the loader reports it exactly as it would a failure on the main thread.
 *
 * The worker script is `data_worker.ts` next to this module, or `data_worker.js` next to a bundle (see
 * {@link entryUrl}): bundle it alongside any bundled entry that opens a pool.
 * @module
 */
import { Effect, type Scope } from "effect";
import type { Key } from "../random/threefry.ts";
import type { DataArgs } from "../cli/data.ts";
import type { InputSettings, RemotePreparer } from "../train/batches.ts";
import type { AudioItem } from "./dataset.ts";
import type { ItemMeta } from "./loader.ts";
import { entryUrl } from "./entry_url.ts";

/** A split of the data a pool serves. */
export type Split = "train" | "eval";

/** What every worker opens: the data's command-line arguments, the clip settings and the splits needed. */
export interface DataSource {
  /** The data options (`--data`, `--labels`, procedural sizes, …). */
  readonly data: DataArgs;
  /** Clip length and sample rate the datasets decode to. */
  readonly input: InputSettings;
  /** The splits to open. */
  readonly splits: readonly Split[];
}

/** Size of a split as a worker opened it. */
export interface SplitInfo {
  /** Items. */
  readonly length: number;
  /** Classes. */
  readonly classes: number;
}

/** A request to a worker. */
export type WorkerRequest =
  | { readonly type: "open"; readonly source: DataSource }
  | {
    readonly type: "get";
    readonly id: number;
    readonly split: Split;
    readonly index: number;
    /** The item's augmentation key (its two u32 words); absent: no augmentation. */
    readonly key?: readonly [number, number];
    /** Pad or truncate to this many samples. */
    readonly clipSamples: number;
  }
  | {
    readonly type: "getInto";
    readonly id: number;
    readonly split: Split;
    readonly index: number;
    /** As for "get". */
    readonly key?: readonly [number, number];
    /** As for "get"; also the samples written. */
    readonly clipSamples: number;
    /** Where the waveform goes: `clipSamples` float32 values at `byteOffset`. */
    readonly buffer: SharedArrayBuffer;
    readonly byteOffset: number;
  };

/** A worker's reply. */
export type WorkerReply =
  | { readonly type: "opened"; readonly splits: Readonly<Partial<Record<Split, SplitInfo>>> }
  | { readonly type: "openFailed"; readonly error: string }
  | {
    readonly type: "item";
    readonly id: number;
    readonly name: string;
    readonly waveform: Float32Array<ArrayBuffer>;
    readonly target: Float32Array<ArrayBuffer>;
  }
  | {
    /** The waveform of a "getInto" request is in place. */
    readonly type: "placed";
    readonly id: number;
    readonly name: string;
    readonly target: Float32Array<ArrayBuffer>;
  }
  | { readonly type: "failed"; readonly id: number; readonly error: string };

/** An open pool. */
export interface WorkerPool {
  /** Number of workers. */
  readonly size: number;
  /** The splits as the workers opened them. */
  readonly splits: Readonly<Partial<Record<Split, SplitInfo>>>;
  /** Whether {@link WorkerPool.close} has run. */
  readonly closed: boolean;
  /**
   * Item `index` of `split`, padded or truncated to `clipSamples` and augmented with `key` when given — what
   * `prepareItem(dataset.get(index), clipSamples, key)` gives on the main thread. Rejects with the item's error.
   */
  prepare(split: Split, index: number, key: Key | undefined, clipSamples: number): Promise<AudioItem>;
  /**
   * As {@link WorkerPool.prepare} with `dest.length` samples, the waveform written by the worker into `dest`
   * (a view on a `SharedArrayBuffer`) and only the name and target returned. `dest` is untouched on failure.
   */
  prepareInto(split: Split, index: number, key: Key | undefined, dest: Float32Array): Promise<ItemMeta>;
  /** Terminates the workers; pending requests reject. */
  close(): void;
}

/** Options of {@link openWorkerPool}. */
export interface WorkerPoolOptions {
  /** The worker script (default: `data_worker.ts` beside this module, or `data_worker.js` beside a bundle). */
  readonly url?: string | URL;
  /** Crashed workers replaced before the pool gives up (default: twice the pool size). */
  readonly maxRestarts?: number;
}

/** The default worker script. */
export function dataWorkerUrl(): URL {
  return entryUrl(import.meta.url, "./data_worker.ts");
}

const oneLine = (e: unknown) => ((e instanceof Error ? e.message : String(e)).split("\n")[0] || "unknown error").trim();

type ItemReply = Extract<WorkerReply, { type: "item" | "placed" }>;
type Pending = { resolve: (reply: ItemReply) => void; reject: (e: Error) => void };

interface Slot {
  worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Starts `size` workers, has each open `source`, and resolves once all have (rejecting with the first failure's
 * one-line message, every worker terminated). A worker that crashes later is replaced; the requests it held
 * reject with the crash's message.
 */
export async function openWorkerPool(
  source: DataSource,
  size: number,
  opts: WorkerPoolOptions = {},
): Promise<WorkerPool> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`worker pool size must be an integer ≥ 1, got ${size}`);
  const url = opts.url ?? dataWorkerUrl();
  let restartsLeft = opts.maxRestarts ?? 2 * size;
  let closed = false;
  let broken: Error | undefined;
  let nextId = 0;
  const slots: Slot[] = [];
  const opened: Promise<Readonly<Partial<Record<Split, SplitInfo>>>>[] = [];

  const fail = (slot: Slot, e: Error) => {
    for (const p of slot.pending.values()) p.reject(e);
    slot.pending.clear();
  };

  const spawn = (slot: Slot | undefined, i: number): Slot => {
    const worker = new Worker(url, { type: "module", name: `data-worker-${i}` });
    const s: Slot = slot ?? { worker, pending: new Map() };
    s.worker = worker;
    let resolveOpen!: (v: Readonly<Partial<Record<Split, SplitInfo>>>) => void;
    let rejectOpen!: (e: Error) => void;
    const ready = new Promise<Readonly<Partial<Record<Split, SplitInfo>>>>((res, rej) => {
      resolveOpen = res;
      rejectOpen = rej;
    });
    // Later crashes also land here; nobody awaits a replacement's open, so keep it from being unhandled.
    ready.catch(() => {});
    if (!slot) opened.push(ready);
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const m = e.data;
      if (m.type === "opened") return resolveOpen(m.splits);
      if (m.type === "openFailed") {
        const err = new Error(m.error);
        rejectOpen(err);
        return fail(s, err);
      }
      const p = s.pending.get(m.id);
      if (!p) return;
      s.pending.delete(m.id);
      if (m.type === "failed") p.reject(new Error(m.error));
      else p.resolve(m);
    };
    const crashed = (message: string) => {
      const err = new Error(`data worker crashed: ${message}`);
      worker.terminate();
      rejectOpen(err);
      fail(s, err);
      if (closed || s.worker !== worker) return;
      if (restartsLeft-- > 0) spawn(s, i);
      else broken = new Error(`data workers crashed too often; last: ${message}`);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      crashed(oneLine(e.message || e.error));
    };
    worker.onmessageerror = () => crashed("a reply could not be deserialised");
    worker.postMessage({ type: "open", source } satisfies WorkerRequest);
    return s;
  };

  for (let i = 0; i < size; i++) slots.push(spawn(undefined, i));
  let splits: Readonly<Partial<Record<Split, SplitInfo>>>;
  try {
    [splits] = await Promise.all(opened);
  } catch (e) {
    closed = true;
    for (const s of slots) s.worker.terminate();
    throw new Error(oneLine(e));
  }

  const words = (key: Key | undefined) => (key ? [key[0], key[1]] as const : undefined);
  const send = (request: (id: number) => WorkerRequest): Promise<ItemReply> => {
    if (closed) return Promise.reject(new Error("the data worker pool is closed"));
    if (broken) return Promise.reject(broken);
    // The least busy worker; requests are small and items similar, so this keeps all of them fed.
    let slot = slots[0];
    for (const s of slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = nextId++;
    return new Promise<ItemReply>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(request(id));
    });
  };

  return {
    size,
    splits,
    get closed() {
      return closed;
    },
    prepare(split, index, key, clipSamples) {
      return send((id) => ({ type: "get", id, split, index, key: words(key), clipSamples })).then((m) => {
        if (m.type !== "item") throw new Error(`data worker answered "get" with "${m.type}"`);
        return { name: m.name, waveform: m.waveform, target: m.target };
      });
    },
    prepareInto(split, index, key, dest) {
      if (!(dest.buffer instanceof SharedArrayBuffer)) {
        return Promise.reject(new Error("prepareInto: dest must be a view on a SharedArrayBuffer"));
      }
      const { buffer, byteOffset, length: clipSamples } = dest;
      return send((id) => ({ type: "getInto", id, split, index, key: words(key), clipSamples, buffer, byteOffset }))
        .then((m) => {
          if (m.type !== "placed") throw new Error(`data worker answered "getInto" with "${m.type}"`);
          return { name: m.name, target: m.target };
        });
    },
    close() {
      if (closed) return;
      closed = true;
      const err = new Error("the data worker pool is closed");
      for (const s of slots) {
        s.worker.terminate();
        fail(s, err);
      }
    },
  };
}

/** One split of a pool as `epochView`'s remote preparation: whole items, or waveforms written in place. */
export function preparerFor(pool: WorkerPool, split: Split): RemotePreparer {
  return {
    prepare: (index, key, clipSamples) => pool.prepare(split, index, key, clipSamples),
    prepareInto: (index, key, dest) => pool.prepareInto(split, index, key, dest),
  };
}

/** {@link openWorkerPool} as a scoped resource: the workers are terminated when the scope closes, however it ends. */
export function workerPool(
  source: DataSource,
  size: number,
  opts: WorkerPoolOptions = {},
): Effect.Effect<WorkerPool, Error, Scope.Scope> {
  return Effect.acquireRelease(
    Effect.tryPromise({ try: () => openWorkerPool(source, size, opts), catch: (e) => new Error(oneLine(e)) }),
    (pool) => Effect.sync(() => pool.close()),
  );
}
