/**
 * A streaming batch loader on Effect streams: one epoch of a dataset in the order of a keyed permutation, items
 * prepared (loaded and optionally augmented) with bounded concurrency, grouped into collated batches, with a few
 * batches prefetched ahead of the consumer.
 *
 * Batches are deterministic: for a given epoch key they hold the same items in the same order whatever the
 * concurrency, since preparation keeps stream order. Concurrency overlaps asynchronous work (file reads, decoding
 * that yields); synchronous generation still runs on one thread.
 *
 * Bad items: with `skipBad` an item whose loading or augmentation fails is left out and reported (`onBad`, and the
 * summary of {@link runEpoch}); without it the first failure fails the stream with a {@link LoadError} carrying the
 * item's one-line message.
 *
 * @module
 */

import { Effect, Stream } from "effect";
import { foldIn, type Key, splitKey } from "../random/threefry.ts";
import { permutation } from "../random/distributions.ts";
import type { AudioItem } from "./dataset.ts";

/** An item without its waveform: what {@link LoaderSource.getInto} returns, the waveform being written in place. */
export type ItemMeta = Omit<AudioItem, "waveform">;

/**
 * What the loader needs from a dataset: a length and item access (sync or async); `pathOf` names failures.
 * A source whose waveforms all have `samples` samples may also offer `getInto`, which writes item `i`'s waveform
 * into `dest` (e.g. from a data worker, into shared memory): the loader then has items written straight into
 * their batch's rows (see {@link LoaderOptions.recycle}).
 */
export interface LoaderSource {
  /** Number of items. */
  readonly length: number;
  /** Item `i`. */
  get(i: number): AudioItem | Promise<AudioItem>;
  /** The file behind item `i`, if any (used to name items that fail to load). */
  pathOf?(i: number): string;
  /** Samples of every item's waveform, where fixed (needed for `getInto`). */
  readonly samples?: number;
  /**
   * Item `i` as `get` gives it, its waveform written into `dest` (a view on a `SharedArrayBuffer`, `samples` long)
   * instead of returned; writes nothing when it fails.
   */
  getInto?(i: number, dest: Float32Array): Omit<AudioItem, "waveform"> | Promise<Omit<AudioItem, "waveform">>;
}

/** A collated batch. */
export interface Batch {
  /** Waveforms, row-major [B, L] (on a `SharedArrayBuffer` where items were written in place). */
  readonly x: Float32Array;
  /** [B, L]. */
  readonly shape: readonly [number, number];
  /** Targets, row-major [B, C]. */
  readonly targets: Float32Array<ArrayBuffer>;
  /** C. */
  readonly classes: number;
  /** Item names, in batch order. */
  readonly names: readonly string[];
  /** Dataset indices, in batch order. */
  readonly indices: Int32Array<ArrayBuffer>;
}

/** An item that failed to load or augment. */
export interface BadItem {
  /** Dataset index. */
  readonly index: number;
  /** File path or, without one, `#<index>`. */
  readonly name: string;
  /** The failure's first line. */
  readonly message: string;
}

/** The failure of an item, as the stream's error when bad items are not skipped. */
export class LoadError extends Error {
  /** The failed item. */
  readonly item: BadItem;
  /** Wraps a failed item; the message is the item's one-line message. */
  constructor(item: BadItem) {
    super(item.message);
    this.name = "LoadError";
    this.item = item;
  }
}

/** Per-item augmentation: gets the loaded item, its own key and its dataset index. */
export type Augment = (item: AudioItem, key: Key, index: number) => AudioItem | Promise<AudioItem>;

/** Options of {@link batchStream}. */
export interface LoaderOptions {
  /** Items per batch (≥ 1). */
  readonly batchSize: number;
  /**
   * Epoch key. `split(key)[0]` draws the epoch permutation (as `permutation`); `split(key)[1]` folded with the
   * dataset index keys each item's augmentation. Without a key items come in index order and `augment` is refused.
   */
  readonly key?: Key;
  /** Items prepared at once, default 4. */
  readonly concurrency?: number;
  /** Batches buffered ahead of the consumer, default 2. */
  readonly prefetch?: number;
  /**
   * Reuse the waveform arrays of batches: batch k's `x` is overwritten while batch k + `recycle` is prepared, so the
   * consumer must be done with it by then — {@link recycleFor} gives the count that guarantees it. Fresh arrays of
   * tens of MB cost more in page faults than the copy into them. Default 0: a new array per batch.
   *
   * With recycling, a source offering `getInto` and `samples`, no `augment` and `concurrency` ≤ `batchSize`, the
   * arrays are `SharedArrayBuffer`s and each item is written straight into its row (the item at epoch position j
   * into batch ⌊j / batchSize⌋, row j mod batchSize: preparation keeps order), so nothing is copied. Once an item
   * is skipped (`skipBad`) the rows behind it shift: the rest of the epoch is collated by copying, as without
   * `getInto`. Batches are the same either way.
   */
  readonly recycle?: number;
  /** Optional per-item augmentation. */
  readonly augment?: Augment;
  /** Leave failing items out (and report them) instead of failing the stream. Default false. */
  readonly skipBad?: boolean;
  /** Drop a final batch smaller than `batchSize`. Default false. */
  readonly dropLast?: boolean;
  /** Called for each skipped item (only with `skipBad`). */
  readonly onBad?: (item: BadItem) => void;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0] || "unknown error";
}

function collate(
  items: readonly { index: number; item: AudioItem }[],
  alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
): Batch {
  const b = items.length;
  const len = items[0].item.waveform.length;
  const classes = items[0].item.target.length;
  const x = alloc(b * len);
  const targets = new Float32Array(b * classes);
  const indices = new Int32Array(b);
  const names: string[] = [];
  items.forEach(({ index, item }, r) => {
    if (item.waveform.length !== len) {
      throw new Error(`${item.name}: waveform has ${item.waveform.length} samples, the batch's first has ${len}`);
    }
    if (item.target.length !== classes) {
      throw new Error(`${item.name}: target has ${item.target.length} classes, the batch's first has ${classes}`);
    }
    x.set(item.waveform, r * len);
    targets.set(item.target, r * classes);
    indices[r] = index;
    names.push(item.name);
  });
  return { x, shape: [b, len], targets, classes, names, indices };
}

/**
 * The smallest `recycle` under which no batch array is reused while its batch is still in use, for a consumer that
 * is done with each batch before it takes the next and a stream with at most one buffer of `prefetch` batches
 * (`batchStream`'s own `prefetch`, or one `Stream.buffer` after it) and `concurrency` ≤ `batchSize`.
 *
 * Why 2·prefetch + 2: while the consumer holds batch k, Effect's buffer hands over everything queued at once, so up
 * to prefetch − 1 later batches wait in the consumer's chunk and prefetch more in the queue (to k + 2·prefetch − 1);
 * the buffer's producer holds k + 2·prefetch, collated, waiting to be queued; the ordered item preparation has at
 * most `concurrency` ≤ `batchSize` items started past those handed on, which reach into batch k + 2·prefetch + 1.
 * Without a buffer, one batch is held and the next one started: 2.
 */
export function recycleFor(prefetch: number): number {
  return 2 * prefetch + 2;
}

/** The order of one epoch: a keyed permutation, or 0..n−1 without a key. */
export function epochOrder(length: number, key?: Key): Int32Array<ArrayBuffer> {
  if (key) return permutation(splitKey(key, 2)[0], length);
  return Int32Array.from({ length }, (_, i) => i);
}

/** One epoch of `dataset` as a stream of collated batches (see the module comment). */
export function batchStream(dataset: LoaderSource, opts: LoaderOptions): Stream.Stream<Batch, LoadError | Error> {
  const { batchSize, key, augment, skipBad = false, dropLast = false, onBad } = opts;
  const concurrency = opts.concurrency ?? 4;
  const prefetch = opts.prefetch ?? 2;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchStream: batchSize must be an integer ≥ 1, got ${batchSize}`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`batchStream: concurrency must be an integer ≥ 1`);
  }
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`batchStream: prefetch must be an integer ≥ 0`);
  if (augment && !key) throw new Error("batchStream: augment needs an epoch key");
  const augmentKey = key ? splitKey(key, 2)[1] : undefined;
  const recycle = opts.recycle ?? 0;
  if (!Number.isInteger(recycle) || recycle < 0) throw new Error(`batchStream: recycle must be an integer ≥ 0`);
  if (recycle > 0 && recycle < recycleFor(prefetch)) {
    throw new Error(`batchStream: recycle must be 0 or ≥ ${recycleFor(prefetch)} with prefetch ${prefetch}`);
  }
  const samples = dataset.samples;
  const inPlaceOk = recycle > 0 && dataset.getInto !== undefined && samples !== undefined && !augment &&
    concurrency <= batchSize;
  if (inPlaceOk && (!Number.isInteger(samples) || samples < 1)) {
    throw new Error(`batchStream: the source's samples must be an integer ≥ 1, got ${samples}`);
  }
  // Each run of the stream has its own arrays and progress.
  return Stream.suspend(() => {
    const ring: Float32Array[] = [];
    let turn = 0;
    const recycled = (n: number): Float32Array => {
      if (recycle === 0) return new Float32Array(n);
      const k = turn++ % recycle;
      if (ring[k]?.length !== n) ring[k] = new Float32Array(n);
      return ring[k];
    };
    // In place: batch n's rows are ring[n mod recycle]; cleared by the first skipped item (rows shift after it).
    let inPlace = inPlaceOk;
    const shared = (n: number): Float32Array => {
      const k = n % recycle;
      ring[k] ??= new Float32Array(new SharedArrayBuffer(batchSize * samples! * 4));
      return ring[k];
    };

    const prepare = (position: number, index: number): Effect.Effect<Prepared, LoadError> =>
      Effect.tryPromise({
        try: async (): Promise<Prepared> => {
          // Decided when preparation starts: items started after a skip is known are returned whole.
          if (inPlace) {
            const n = Math.floor(position / batchSize), row = position % batchSize;
            const dest = shared(n).subarray(row * samples!, (row + 1) * samples!);
            return { index, meta: await dataset.getInto!(index, dest), batch: n, row };
          }
          let item = await dataset.get(index);
          if (augment) item = await augment(item, foldIn(augmentKey!, index), index);
          return { index, item };
        },
        catch: (e) => {
          let name = `#${index}`;
          try {
            name = dataset.pathOf?.(index) ?? name;
          } catch { /* keep the index */ }
          return new LoadError({ index, name, message: firstLine(e) });
        },
      }).pipe(
        Effect.catch((e: LoadError) => {
          if (!skipBad) return Effect.fail(e);
          inPlace = false;
          onBad?.(e.item);
          return Effect.succeed({ index, bad: e.item } as Prepared);
        }),
      );

    let collated = 0;
    const collateNext = (group: Good[]): Batch => {
      const m = collated++;
      // Without in-place items every item came back whole.
      return inPlaceOk ? collateInPlace(group, m) : collate(group as Extract<Good, { item: AudioItem }>[], recycled);
    };
    // Batch m goes to ring[m mod recycle]: where its rows already are unless a skip shifted them (then they are
    // moved up, from this batch's rows or the next's, which only later batches overwrite).
    const collateInPlace = (items: readonly Good[], m: number): Batch => {
      const b = items.length, len = samples!;
      const x = shared(m).subarray(0, b * len);
      const classes = ("item" in items[0] ? items[0].item : items[0].meta).target.length;
      const targets = new Float32Array(b * classes);
      const indices = new Int32Array(b);
      const names: string[] = [];
      items.forEach((p, r) => {
        const item = "item" in p ? p.item : p.meta;
        if ("item" in p) {
          if (p.item.waveform.length !== len) {
            throw new Error(
              `${item.name}: waveform has ${p.item.waveform.length} samples, the batch's first has ${len}`,
            );
          }
          x.set(p.item.waveform, r * len);
        } else if (p.batch !== m || p.row !== r) {
          x.set(shared(p.batch).subarray(p.row * len, (p.row + 1) * len), r * len);
        }
        if (item.target.length !== classes) {
          throw new Error(`${item.name}: target has ${item.target.length} classes, the batch's first has ${classes}`);
        }
        targets.set(item.target, r * classes);
        indices[r] = p.index;
        names.push(item.name);
      });
      return { x, shape: [b, len], targets, classes, names, indices };
    };

    const order = epochOrder(dataset.length, key);
    const batches = Stream.range(0, order.length - 1).pipe(
      Stream.mapEffect((j) => prepare(j, order[j]), { concurrency }),
      Stream.filter((p): p is Good => !("bad" in p)),
      Stream.mapAccum(
        (): Good[] => [],
        (pending: Good[], p: Good): readonly [Good[], Good[][]] => {
          pending.push(p);
          return pending.length === batchSize ? [[], [pending]] : [pending, []];
        },
        { onHalt: (pending: Good[]) => (pending.length > 0 && !dropLast ? [pending] : []) },
      ),
      Stream.mapEffect((group) => Effect.try({ try: () => collateNext(group), catch: (e) => new Error(firstLine(e)) })),
    );
    return prefetch > 0 ? batches.pipe(Stream.buffer({ capacity: prefetch })) : batches;
  });
}

type Good =
  | { readonly index: number; readonly item: AudioItem }
  | { readonly index: number; readonly meta: ItemMeta; readonly batch: number; readonly row: number };
type Prepared = Good | { readonly index: number; readonly bad: BadItem };

/** What one epoch produced. */
export interface EpochSummary {
  /** Batches delivered. */
  readonly batches: number;
  /** Items delivered. */
  readonly items: number;
  /** Items skipped (with `skipBad`). */
  readonly skipped: number;
  /** The skipped items. */
  readonly bad: readonly BadItem[];
}

/**
 * Runs one epoch, handing each batch to `onBatch` (awaited before the next is taken, while prefetching goes on),
 * and resolves to a summary. Rejects with the stream's error (a {@link LoadError} with the item's one-line message)
 * when an item fails and `skipBad` is off.
 */
export async function runEpoch(
  dataset: LoaderSource,
  opts: LoaderOptions,
  onBatch: (batch: Batch) => void | Promise<void>,
): Promise<EpochSummary> {
  const bad: BadItem[] = [];
  let batches = 0;
  let items = 0;
  const stream = batchStream(dataset, {
    ...opts,
    onBad: (item) => {
      bad.push(item);
      opts.onBad?.(item);
    },
  });
  await Effect.runPromise(
    Stream.runForEach(stream, (batch) =>
      Effect.tryPromise({
        try: async () => {
          batches++;
          items += batch.shape[0];
          await onBatch(batch);
        },
        // The consumer's own failure ends the epoch unchanged.
        catch: (e) => (e instanceof Error ? e : new Error(String(e))),
      })),
  );
  return { batches, items, skipped: bad.length, bad };
}
