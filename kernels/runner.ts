/**
 * A minimal executor for {@link KernelProgram}s: compiles (and caches) pipelines, binds buffers, dispatches, reads
 * back. Tests and benchmarks use it directly; the plan compiler does the same with its own buffer management.
 *
 * @module
 */
import type { DType, TypedArray } from "../lib/core/dtype.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import { type BufferSpec, kernelBufferBytes, type KernelDispatch, type KernelProgram } from "./program.ts";
import { compileKernelPipeline } from "./pipeline.ts";

/** Real buffers for a program's abstract inputs, outputs and scratch. */
export interface ProgramBuffers {
  /** One buffer per program input. */
  readonly inputs: readonly GPUBuffer[];
  /** One buffer per program output. */
  readonly outputs: readonly GPUBuffer[];
  /** One buffer per program scratch buffer. */
  readonly scratch: readonly GPUBuffer[];
}

/** A program whose pipelines are compiled. */
export interface PreparedProgram {
  /** The program. */
  readonly program: KernelProgram;
  /** One compiled pipeline per dispatch. */
  readonly pipelines: readonly GPUComputePipeline[];
}

/** Compiles and runs kernel programs on one GPU. */
export class KernelRunner {
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>();

  /** Wraps an acquired GPU. */
  constructor(readonly gpu: Gpu) {}

  /** The compiled pipeline of a dispatch (cached by WGSL source); rejects with compiler messages on invalid WGSL. */
  pipeline(d: KernelDispatch): Promise<GPUComputePipeline> {
    let p = this.#pipelines.get(d.code);
    if (!p) {
      p = this.#compile(d);
      this.#pipelines.set(d.code, p);
    }
    return p;
  }

  #compile(d: KernelDispatch): Promise<GPUComputePipeline> {
    return compileKernelPipeline(this.gpu.device, d, `kernel ${d.label}`);
  }

  /** Compiles every dispatch of a program. */
  async prepare(program: KernelProgram): Promise<PreparedProgram> {
    return { program, pipelines: await Promise.all(program.dispatches.map((d) => this.pipeline(d))) };
  }

  /** Records a prepared program's dispatches into a compute pass. */
  encode(pass: GPUComputePassEncoder, prepared: PreparedProgram, buffers: ProgramBuffers): void {
    const device = this.gpu.device;
    prepared.program.dispatches.forEach((d, i) => {
      const pipeline = prepared.pipelines[i];
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: d.bindings.map((b, j) => {
          const list = b.buffer.kind === "input"
            ? buffers.inputs
            : b.buffer.kind === "output"
            ? buffers.outputs
            : buffers.scratch;
          const buffer = list[b.buffer.index];
          if (!buffer) throw new Error(`kernel ${d.label}: no ${b.buffer.kind} buffer ${b.buffer.index}`);
          return { binding: j, resource: { buffer } };
        }),
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    });
  }

  /** Allocates a storage buffer for `spec` (counted by the GPU's memory tracker). */
  createBuffer(spec: BufferSpec, extraUsage = 0): GPUBuffer {
    return this.gpu.memory.createBuffer(this.gpu.device, {
      size: kernelBufferBytes(spec.size, spec.dtype),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    });
  }

  /** Uploads a typed array (bool as one u32 per element) into a new buffer. */
  upload(data: TypedArray, dtype: DType): GPUBuffer {
    const buf = this.createBuffer({ dtype, size: data.length });
    const words = toGpuWords(data, dtype);
    this.gpu.device.queue.writeBuffer(buf, 0, words as Float32Array<ArrayBuffer>);
    return buf;
  }

  /** Reads `spec.size` elements back as the dtype's typed array. */
  async read(buf: GPUBuffer, spec: BufferSpec): Promise<TypedArray> {
    const device = this.gpu.device;
    const bytes = kernelBufferBytes(spec.size, spec.dtype);
    const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0, spec.size * 4);
    staging.unmap();
    staging.destroy();
    return fromGpuWords(copy, spec.dtype);
  }

  /** Runs a program on host arrays and returns its outputs (allocating and freeing all buffers). */
  async run(program: KernelProgram, inputs: readonly TypedArray[]): Promise<TypedArray[]> {
    if (inputs.length !== program.inputs.length) {
      throw new Error(`run: program takes ${program.inputs.length} inputs, got ${inputs.length}`);
    }
    inputs.forEach((x, i) => {
      if (x.length < program.inputs[i].size) {
        throw new Error(`run: input ${i} has ${x.length} elements, the program reads ${program.inputs[i].size}`);
      }
    });
    const prepared = await this.prepare(program);
    const buffers: ProgramBuffers = {
      inputs: inputs.map((x, i) => this.upload(x, program.inputs[i].dtype)),
      outputs: program.outputs.map((o) => this.createBuffer(o)),
      scratch: program.scratch.map((s) => this.createBuffer(s)),
    };
    try {
      const enc = this.gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      this.encode(pass, prepared, buffers);
      pass.end();
      this.gpu.device.queue.submit([enc.finish()]);
      return await Promise.all(program.outputs.map((o, i) => this.read(buffers.outputs[i], o)));
    } finally {
      for (const b of [...buffers.inputs, ...buffers.outputs, ...buffers.scratch]) this.gpu.memory.destroy(b);
    }
  }
}

/** A typed array as the 32-bit words a GPU buffer holds (bool widened to u32). */
export function toGpuWords(data: TypedArray, dtype: DType): Float32Array | Int32Array | Uint32Array {
  switch (dtype) {
    case "f32":
      return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    case "i32":
      return data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
    case "u32":
      return data instanceof Uint32Array ? data : Uint32Array.from(data as ArrayLike<number>);
    case "bool":
      return Uint32Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0));
    case "f64":
      throw new Error("toGpuWords: f64 is CPU-only");
  }
}

/** GPU words back into the dtype's typed array. */
export function fromGpuWords(bytes: ArrayBuffer, dtype: DType): TypedArray {
  switch (dtype) {
    case "f32":
      return new Float32Array(bytes);
    case "i32":
      return new Int32Array(bytes);
    case "u32":
      return new Uint32Array(bytes);
    case "bool":
      return Uint8Array.from(new Uint32Array(bytes), (v) => (v ? 1 : 0));
    case "f64":
      throw new Error("fromGpuWords: f64 is CPU-only");
  }
}
