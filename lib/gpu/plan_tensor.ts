/**
 * {@link GpuTensor}: a handle on a tensor that lives in a GPU buffer owned by a compiled plan. Handles are what a
 * compiled GPU function returns and what it accepts back as inputs with zero copies.
 *
 * A plan rewrites its buffers on every replay, so each buffer carries a version; a handle remembers the version it
 * was created at and refuses to be read or passed once the buffer has moved on ("stale"): a donated input after the
 * call that consumed it, or any output after the next replay of the same plan.
 *
 * @module
 */
import type { DType, TypedArray } from "../core/dtype.ts";
import { fmt, sizeOf } from "../core/shape.ts";
import { Tensor } from "../core/tensor.ts";
import { fromGpuWords } from "../../kernels/runner.ts";

/** Creates counted buffers on one device (see plan_gpu.ts). */
export interface BufferMaker {
  readonly device: GPUDevice;
  createBuffer(bytes: number, usage: number, label: string): GPUBuffer;
}

/** Maps a MAP_READ buffer (after a submitted copy into it) and decodes `size` elements of `dtype`. */
export async function mapRead(buffer: GPUBuffer, size: number, dtype: DType): Promise<TypedArray> {
  await buffer.mapAsync(GPUMapMode.READ);
  const words = buffer.getMappedRange(0, buffer.size).slice(0, size * 4);
  buffer.unmap();
  return fromGpuWords(words, dtype);
}

/** A device buffer that handles point at, with its version and the staging buffer used to read it back. */
export class BufferStore {
  /** Incremented each time a replay writes the buffer. */
  version = 0;
  /** Reads and readbacks of this buffer, chained so that a replay can wait for them before overwriting it. */
  pending: Promise<unknown> = Promise.resolve();
  #staging: GPUBuffer | undefined;

  /** Wraps `buffer` (`bytes` long), made by `maker`. */
  constructor(readonly maker: BufferMaker, readonly buffer: GPUBuffer, readonly bytes: number) {}

  /** The MAP_READ buffer that readbacks copy into (created on first use, then reused). */
  staging(): GPUBuffer {
    this.#staging ??= this.maker.createBuffer(
      this.bytes,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      "readback",
    );
    return this.#staging;
  }

  /** Maps the staging buffer (after a submitted copy into it) and decodes `size` elements of `dtype`. */
  mapStaging(size: number, dtype: DType): Promise<TypedArray> {
    return mapRead(this.staging(), size, dtype);
  }

  /** Destroys the staging buffer, if any (the main buffer belongs to its plan). */
  destroyStaging(destroy: (b: GPUBuffer) => void): void {
    if (this.#staging) destroy(this.#staging);
    this.#staging = undefined;
  }
}

/** A tensor held in a GPU buffer. */
export class GpuTensor {
  /** Extent of each axis. */
  readonly shape: readonly number[];
  /** Element type (bool is stored as one u32 per element). */
  readonly dtype: DType;
  /** Where the tensor starts in {@link buffer}, in bytes (a view of part of a value that an output shares). */
  readonly byteOffset: number;
  readonly #store: BufferStore;
  readonly #version: number;
  #data: Promise<TypedArray> | undefined;

  /** @internal Handles are made by compiled GPU functions. */
  constructor(shape: readonly number[], dtype: DType, store: BufferStore, byteOffset = 0) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.byteOffset = byteOffset;
    this.#store = store;
    this.#version = store.version;
  }

  /** The device buffer (row-major, 4 bytes per element, from {@link byteOffset}, possibly longer than the tensor). */
  get buffer(): GPUBuffer {
    return this.#store.buffer;
  }

  /** @internal The buffer record, for plans deciding whether an input needs a copy. */
  get store(): BufferStore {
    return this.#store;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of axes. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Whether the buffer has been overwritten since this handle was made (donated, or its plan replayed). */
  get stale(): boolean {
    return this.#store.version !== this.#version;
  }

  /** Throws a clear error when the handle is stale. */
  assertFresh(what = "GpuTensor"): void {
    if (this.stale) throw new Error(this.#staleMessage(what));
  }

  #staleMessage(what: string): string {
    return `${what}: ${this} was overwritten (its input was donated, or its plan ran again); read or pass it before that`;
  }

  /**
   * The values, read back from the GPU. Outputs that the plan reads back with every call already have theirs on the
   * way (copied in the call's own command buffer), so this never waits for a later call.
   */
  read(): Promise<TypedArray> {
    if (this.#data) return this.#data;
    if (this.stale) return Promise.reject(new Error(this.#staleMessage("read")));
    const store = this.#store;
    const result = store.pending.then(() => {
      this.assertFresh("read");
      const device = store.maker.device;
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(store.buffer, this.byteOffset, store.staging(), 0, store.bytes - this.byteOffset);
      device.queue.submit([enc.finish()]);
      return store.mapStaging(this.size, this.dtype);
    });
    store.pending = result.catch(() => undefined);
    this.#data = result;
    return result;
  }

  /** A CPU tensor with the same values. */
  async toTensor(): Promise<Tensor> {
    const data = await this.read();
    return new Tensor(this.shape, this.dtype, { data });
  }

  /** @internal Records the readback a plan started together with the replay that made this handle. */
  setReadback(data: Promise<TypedArray>): void {
    this.#data = data;
  }

  /** Short description for debugging. */
  toString(): string {
    return `GpuTensor(${fmt(this.shape)}, ${this.dtype}${this.stale ? ", stale" : ""})`;
  }
}
