/**
 * A {@link StaticPlan} instantiated on a device: every buffer, pipeline and bind group is created once, and a replay
 * records the whole plan into one command encoder (input copies, one compute pass with every dispatch in order, the
 * closing copies and the requested readbacks) with no allocation. Pipelines are cached by WGSL source per device, so
 * plans (and the input signatures of one compiled function) share them.
 *
 * @module
 */
import type { TypedArray } from "../core/dtype.ts";
import type { Gpu } from "./device.ts";
import { toGpuWords } from "../../kernels/runner.ts";
import type { PlanDispatch, StaticPlan } from "./plan.ts";
import { type BufferMaker, BufferStore, GpuTensor, mapRead } from "./plan_tensor.ts";
import { compileKernelPipeline } from "../../kernels/pipeline.ts";

/** What the plan machinery has created on one GPU, for asserting that a replay allocates nothing. */
export interface PlanCounters {
  /** GPU buffers created by plans (including readback staging buffers). */
  buffersCreated: number;
  /** Bytes of those buffers. */
  bytesAllocated: number;
  /** Compute pipelines compiled (cache misses). */
  pipelinesCompiled: number;
  /** Pipelines found in the cache, shared with an earlier plan or dispatch. */
  pipelineCacheHits: number;
  /** Bind groups created (once per dispatch of a plan). */
  bindGroupsCreated: number;
  /** Plans instantiated. */
  plansBuilt: number;
  /** Replays submitted. */
  replays: number;
}

interface DeviceState {
  readonly counters: PlanCounters;
  readonly pipelines: Map<string, Promise<GPUComputePipeline>>;
}

const states = new WeakMap<GPUDevice, DeviceState>();

function stateOf(device: GPUDevice): DeviceState {
  let s = states.get(device);
  if (!s) {
    s = {
      counters: {
        buffersCreated: 0,
        bytesAllocated: 0,
        pipelinesCompiled: 0,
        pipelineCacheHits: 0,
        bindGroupsCreated: 0,
        plansBuilt: 0,
        replays: 0,
      },
      pipelines: new Map(),
    };
    states.set(device, s);
  }
  return s;
}

/** The counters of everything plans created on this GPU (a live object; copy it to keep a snapshot). */
export function planCounters(gpu: Gpu): Readonly<PlanCounters> {
  return stateOf(gpu.device).counters;
}

/** The compute pipeline for a dispatch, compiled once per device and WGSL source. */
export function pipelineFor(
  gpu: Gpu,
  d: Pick<PlanDispatch, "label" | "code" | "bindings">,
): Promise<GPUComputePipeline> {
  const st = stateOf(gpu.device);
  const key = d.bindings.map((b) => (b.write ? "w" : "r")).join("") + "\n" + d.code;
  let p = st.pipelines.get(key);
  if (p) {
    st.counters.pipelineCacheHits++;
    return p;
  }
  st.counters.pipelinesCompiled++;
  p = compilePipeline(gpu.device, d);
  st.pipelines.set(key, p);
  p.catch(() => st.pipelines.delete(key));
  return p;
}

function compilePipeline(
  device: GPUDevice,
  d: Pick<PlanDispatch, "label" | "code" | "bindings">,
): Promise<GPUComputePipeline> {
  return compileKernelPipeline(device, d, `compileGpu: kernel ${d.label} failed to compile`);
}

/** A counted buffer factory on one GPU (also counted by the GPU's own memory tracker). */
export function bufferMaker(gpu: Gpu): BufferMaker {
  const counters = stateOf(gpu.device).counters;
  return {
    device: gpu.device,
    createBuffer(bytes, usage, label) {
      counters.buffersCreated++;
      counters.bytesAllocated += bytes;
      return gpu.memory.createBuffer(gpu.device, { size: bytes, usage, label });
    },
  };
}

/** One input of a replay: host data (uploaded into the plan's input buffer) or a GPU handle. */
export type PlanInput = TypedArray | GpuTensor;

/** Options of a plan on a device. */
export interface GpuPlanOptions {
  /** Outputs copied back to the host with every replay (their handles' `read()` is already under way). */
  readonly readback?: Iterable<number>;
  /** Replays whose readbacks may be in flight at once (staging buffers per read-back output; default 3). */
  readonly depth?: number;
}

/** Options of one replay. */
export interface ReplayOptions {
  /** Measure the compute pass with timestamp queries (when the device has them); see {@link GpuPlan.lastGpuTimeNs}. */
  readonly timing?: boolean;
}

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A plan instantiated on a GPU. */
export class GpuPlan {
  readonly #gpu: Gpu;
  readonly #plan: StaticPlan;
  readonly #maker: BufferMaker;
  readonly #buffers: GPUBuffer[];
  readonly #stores: (BufferStore | undefined)[];
  readonly #pipelines: GPUComputePipeline[];
  readonly #bindGroups: GPUBindGroup[];
  readonly #swaps = new Map<BufferStore, GPUBuffer>();
  readonly #rings: { readonly output: number; readonly staging: GPUBuffer[]; readonly pending: Promise<unknown>[] }[];
  readonly #depth: number;
  #replays = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #timing: { query: GPUQuerySet; resolve: GPUBuffer; store: BufferStore } | undefined;
  #gpuTimeNs: number | undefined;
  #destroyed = false;
  #validated = false;

  private constructor(gpu: Gpu, plan: StaticPlan, pipelines: GPUComputePipeline[], opts: GpuPlanOptions) {
    this.#gpu = gpu;
    this.#plan = plan;
    this.#maker = bufferMaker(gpu);
    this.#buffers = plan.buffers.map((b) => this.#maker.createBuffer(b.bytes, STORAGE, `plan_${b.role}_${b.id}`));
    this.#stores = plan.buffers.map((b, i) =>
      b.role === "input" || b.role === "output" ? new BufferStore(this.#maker, this.#buffers[i], b.bytes) : undefined
    );
    for (const c of plan.consts) {
      gpu.device.queue.writeBuffer(
        this.#buffers[c.buffer],
        0,
        toGpuWords(c.value, c.dtype) as Float32Array<ArrayBuffer>,
      );
    }
    this.#pipelines = pipelines;
    const counters = stateOf(gpu.device).counters;
    this.#bindGroups = plan.dispatches.map((d, i) => {
      counters.bindGroupsCreated++;
      return gpu.device.createBindGroup({
        label: d.label,
        layout: pipelines[i].getBindGroupLayout(0),
        entries: d.bindings.map((b, j) => ({ binding: j, resource: { buffer: this.#buffers[b.buffer] } })),
      });
    });
    this.#depth = Math.max(1, opts.depth ?? 3);
    this.#rings = [...new Set(opts.readback ?? [])].map((output) => {
      if (!(output >= 0 && output < plan.outputs.length)) {
        throw new Error(`compileGpu: no output ${output} to read back`);
      }
      const bytes = plan.buffers[plan.outputs[output].buffer].bytes;
      const staging = Array.from(
        { length: this.#depth },
        () => this.#maker.createBuffer(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "plan_readback"),
      );
      return { output, staging, pending: staging.map(() => Promise.resolve()) };
    });
    counters.plansBuilt++;
  }

  /** Creates every buffer, pipeline and bind group of `plan` on `gpu`. */
  static async create(gpu: Gpu, plan: StaticPlan, opts: GpuPlanOptions = {}): Promise<GpuPlan> {
    const pipelines = await Promise.all(plan.dispatches.map((d) => pipelineFor(gpu, d)));
    gpu.device.pushErrorScope("validation");
    const p = new GpuPlan(gpu, plan, pipelines, opts);
    const err = await gpu.device.popErrorScope();
    if (err) {
      p.destroy();
      throw new Error(`compileGpu: creating the plan's buffers and bind groups failed: ${err.message}`);
    }
    return p;
  }

  /** The static plan this was built from. */
  get plan(): StaticPlan {
    return this.#plan;
  }

  /** GPU time of the last replay run with `timing`, in nanoseconds (undefined without timestamp queries). */
  get lastGpuTimeNs(): number | undefined {
    return this.#gpuTimeNs;
  }

  /**
   * Runs the plan once. Inputs are host arrays (uploaded into the plan's input buffers) or GPU handles (used in place
   * when they already are the plan's input buffer, e.g. a donated output of the previous replay; copied on the GPU
   * otherwise). Resolves with one handle per output as soon as the work is submitted; read-back outputs arrive
   * asynchronously (`read()`), so several replays can be in flight. Replays of one plan run one after another.
   */
  replay(inputs: readonly PlanInput[], opts: ReplayOptions = {}): Promise<GpuTensor[]> {
    const run = this.#queue.then(() => this.#replay(inputs, opts));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #replay(inputs: readonly PlanInput[], opts: ReplayOptions): Promise<GpuTensor[]> {
    if (this.#destroyed) throw new Error("compileGpu: the plan was disposed");
    const plan = this.#plan;
    if (inputs.length !== plan.inputs.length) {
      throw new Error(`compileGpu: plan takes ${plan.inputs.length} inputs, got ${inputs.length}`);
    }
    const device = this.#gpu.device;
    const written = new Set<BufferStore>();
    for (const o of plan.outputs) written.add(this.#stores[o.buffer]!);
    // Reads of buffers this replay overwrites must finish first, and so must the readback that last used this slot.
    const slot = this.#replays++ % this.#depth;
    const waits = [...new Set([...written, ...plan.inputs.map((x) => this.#stores[x.buffer]!)])].map((s) => s.pending);
    await Promise.all([...waits, ...this.#rings.map((r) => r.pending[slot])]);
    inputs.forEach((x, i) => {
      if (x instanceof GpuTensor) x.assertFresh(`compileGpu input ${i}`);
    });
    const slots = plan.inputs.map((x) => this.#stores[x.buffer]!);
    const fed = inputs.map((x, i) => (x instanceof GpuTensor && x.store === slots[i] && !x.byteOffset ? undefined : x));
    const overwritten = new Set(slots.filter((_, i) => fed[i] !== undefined));
    // A handle on one of this plan's input buffers that this call overwrites (outputs fed back at other positions)
    // is first staged aside, before any upload or copy lands.
    const staged = new Map<BufferStore, GPUBuffer>();
    for (const x of fed) {
      if (x instanceof GpuTensor && overwritten.has(x.store) && !staged.has(x.store)) {
        staged.set(x.store, this.#swap(x.store));
      }
    }
    if (staged.size) {
      const pre = device.createCommandEncoder();
      for (const [src, dst] of staged) pre.copyBufferToBuffer(src.buffer, 0, dst, 0, src.bytes);
      device.queue.submit([pre.finish()]);
    }
    // A static plan that validates once validates always: only the first replay pays for an error scope.
    const validate = !this.#validated;
    if (validate) device.pushErrorScope("validation");
    const enc = device.createCommandEncoder();
    fed.forEach((x, i) => {
      if (x === undefined) return;
      const store = slots[i];
      if (x instanceof GpuTensor) {
        const src = staged.get(x.store) ?? x.buffer;
        enc.copyBufferToBuffer(src, x.byteOffset, store.buffer, 0, Math.min(store.bytes, x.store.bytes - x.byteOffset));
      } else {
        const words = toGpuWords(x, plan.inputs[i].aval.dtype);
        device.queue.writeBuffer(store.buffer, 0, words as Float32Array<ArrayBuffer>);
      }
      store.version++;
    });
    for (const c of plan.begin) enc.copyBufferToBuffer(this.#buffers[c.src], 0, this.#buffers[c.dst], 0, c.bytes);
    const timing = opts.timing && this.#gpu.features.timestampQuery ? this.#timingState() : undefined;
    const pass = enc.beginComputePass(
      timing
        ? { timestampWrites: { querySet: timing.query, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }
        : {},
    );
    let last: GPUComputePipeline | undefined;
    plan.dispatches.forEach((d, i) => {
      const p = this.#pipelines[i];
      if (p !== last) pass.setPipeline(p);
      last = p;
      pass.setBindGroup(0, this.#bindGroups[i]);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    });
    pass.end();
    for (const c of plan.end) enc.copyBufferToBuffer(this.#buffers[c.src], 0, this.#buffers[c.dst], 0, c.bytes);
    for (const o of plan.outputs) this.#stores[o.buffer]!.version++;
    const outs = plan.outputs.map((o) =>
      new GpuTensor(o.aval.shape, o.aval.dtype, this.#stores[o.buffer]!, 4 * (o.offset ?? 0))
    );
    for (const r of this.#rings) {
      const h = outs[r.output];
      enc.copyBufferToBuffer(h.buffer, h.byteOffset, r.staging[slot], 0, h.store.bytes - h.byteOffset);
    }
    if (timing) {
      enc.resolveQuerySet(timing.query, 0, 2, timing.resolve, 0);
      enc.copyBufferToBuffer(timing.resolve, 0, timing.store.staging(), 0, 16);
    }
    device.queue.submit([enc.finish()]);
    stateOf(device).counters.replays++;
    for (const r of this.#rings) {
      const h = outs[r.output];
      const data = mapRead(r.staging[slot], h.size, h.dtype);
      r.pending[slot] = data.catch(() => undefined);
      h.setReadback(data);
    }
    if (validate) {
      const err = await device.popErrorScope();
      if (err) throw new Error(`compileGpu: the plan failed WebGPU validation: ${err.message}`);
      this.#validated = true;
    }
    if (timing) {
      const w = await timing.store.mapStaging(4, "u32");
      const t = new BigUint64Array((w as Uint32Array).buffer);
      this.#gpuTimeNs = Number(t[1] - t[0]);
    }
    return outs;
  }

  /** A buffer to stage an input handle through when this replay overwrites its buffer (made once per buffer). */
  #swap(store: BufferStore): GPUBuffer {
    let b = this.#swaps.get(store);
    if (!b) {
      b = this.#maker.createBuffer(store.bytes, STORAGE, "plan_swap");
      this.#swaps.set(store, b);
    }
    return b;
  }

  #timingState() {
    if (!this.#timing) {
      const query = this.#gpu.device.createQuerySet({ type: "timestamp", count: 2 });
      const resolve = this.#maker.createBuffer(
        16,
        GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        "timestamps",
      );
      this.#timing = { query, resolve, store: new BufferStore(this.#maker, resolve, 16) };
    }
    return this.#timing;
  }

  /** Frees every buffer of the plan (pipelines stay cached for other plans). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const destroy = (b: GPUBuffer) => this.#gpu.memory.destroy(b);
    for (const s of this.#stores) s?.destroyStaging(destroy);
    for (const b of this.#buffers) destroy(b);
    for (const b of this.#swaps.values()) destroy(b);
    for (const r of this.#rings) r.staging.forEach(destroy);
    if (this.#timing) {
      this.#timing.store.destroyStaging(destroy);
      destroy(this.#timing.resolve);
      this.#timing.query.destroy();
    }
  }
}
