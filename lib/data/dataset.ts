/**
 * What every dataset here provides: a length, class names and random access to labelled mono clips.
 *
 * @module
 */

/** One labelled clip. */
export interface AudioItem {
  /** Identifier of the clip (file stem, YTID or a generated name). */
  readonly name: string;
  /** Mono samples in [−1, 1]. */
  readonly waveform: Float32Array;
  /** Multi-hot (or soft) target over the dataset's classes. */
  readonly target: Float32Array;
}

/** Random access to labelled clips; `get` may be synchronous (generated data) or asynchronous (files). */
export interface AudioDataset {
  /** Class names, index = target position. */
  readonly classNames: readonly string[];
  /** Number of items. */
  readonly length: number;
  /** Item `i`, 0 ≤ i < length. */
  get(i: number): AudioItem | Promise<AudioItem>;
}

/** Throws unless `i` is an integer index into a dataset of `length` items. */
export function checkIndex(i: number, length: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new Error(`${what}: index ${i} out of range [0, ${length})`);
  }
}
