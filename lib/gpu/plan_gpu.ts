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
import { type BufferMaker, BufferStore, GpuTensor } from "./plan_tensor.ts";

/** What the plan machinery has created on one GPU, for asserting that a replay allocates nothing. */
export interface PlanCounters {
  buffersCreated: number;
  bytesAllocated: number;
  pipelinesCompiled: number;
  pipelineCacheHits: number;
  bindGroupsCreated: number;
  plansBuilt: number;
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
export function pipelineFor(gpu: Gpu, d: Pick<PlanDispatch, "label" | "code" | "bindings">): Promise<GPUComputePipeline> {
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

async function compilePipeline(
  device: GPUDevice,
  d: Pick<PlanDispatch, "label" | "code" | "bindings">,
): Promise<GPUComputePipeline> {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ label: d.label, code: d.code });
  const layout = device.createBindGroupLayout({
    label: d.label,
    entries: d.bindings.map((b, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.write ? "storage" : "read-only-storage" },
    })),
  });
  const pipeline = device.createComputePipeline({
    label: d.label,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: "main" },
  });
  const err = await device.popErrorScope();
  if (err) {
    const info = await module.getCompilationInfo();
    const msgs = info.messages.map((m) => `  ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`).join("\n");
    const numbered = d.code.split("\n").map((l, i) => `${String(i + 1).padStart(4)} ${l}`).join("\n");
    throw new Error(`compileGpu: kernel ${d.label} failed to compile: ${err.message}\n${msgs}\n${numbered}`);
  }
  return pipeline;
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

/** Options of one replay. */
export interface ReplayOptions {
  /** Output indices to read back with this replay; their handles then hold the values. */
  readonly readback?: ReadonlySet<number>;
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
  #queue: Promise<unknown> = Promise.resolve();
  #timing: { query: GPUQuerySet; resolve: GPUBuffer; store: BufferStore } | undefined;
  #gpuTimeNs: number | undefined;
  #destroyed = false;

  private constructor(gpu: Gpu, plan: StaticPlan, pipelines: GPUComputePipeline[]) {
    this.#gpu = gpu;
    this.#plan = plan;
    this.#maker = bufferMaker(gpu);
    this.#buffers = plan.buffers.map((b) => this.#maker.createBuffer(b.bytes, STORAGE, `plan_${b.role}_${b.id}`));
    this.#stores = plan.buffers.map((b, i) =>
      b.role === "input" || b.role === "output" ? new BufferStore(this.#maker, this.#buffers[i], b.bytes) : undefined
    );
    for (const c of plan.consts) {
      gpu.device.queue.writeBuffer(this.#buffers[c.buffer], 0, toGpuWords(c.value, c.dtype) as Float32Array<ArrayBuffer>);
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
    counters.plansBuilt++;
  }

  /** Creates every buffer, pipeline and bind group of `plan` on `gpu`. */
  static async create(gpu: Gpu, plan: StaticPlan): Promise<GpuPlan> {
    const pipelines = await Promise.all(plan.dispatches.map((d) => pipelineFor(gpu, d)));
    return new GpuPlan(gpu, plan, pipelines);
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
   * otherwise). Resolves with one handle per output once the requested readbacks have arrived. Replays of one plan run
   * one after another.
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
    // Reads of buffers this replay overwrites must finish first.
    const waits = [...new Set([...written, ...plan.inputs.map((x) => this.#stores[x.buffer]!)])].map((s) => s.pending);
    await Promise.all(waits);
    const enc = device.createCommandEncoder();
    const copies: { src: GPUBuffer; dst: GPUBuffer; bytes: number }[] = [];
    const sources = new Set<BufferStore>();
    inputs.forEach((x, i) => {
      const slot = plan.inputs[i];
      const store = this.#stores[slot.buffer]!;
      if (x instanceof GpuTensor) {
        x.assertFresh(`compileGpu input ${i}`);
        if (x.store === store) return;
        sources.add(x.store);
        copies.push({ src: x.buffer, dst: store.buffer, bytes: Math.min(store.bytes, x.store.bytes) });
      } else {
        const words = toGpuWords(x, slot.aval.dtype);
        device.queue.writeBuffer(store.buffer, 0, words as Float32Array<ArrayBuffer>);
      }
      store.version++;
      written.add(store);
    });
    for (const s of sources) {
      if (plan.inputs.some((x) => this.#stores[x.buffer] === s) && written.has(s)) {
        throw new Error(
          "compileGpu: an input handle is this plan's own input buffer at another position, which this call overwrites; " +
            "pass it at its own position or read it first",
        );
      }
    }
    for (const c of copies) enc.copyBufferToBuffer(c.src, 0, c.dst, 0, c.bytes);
    for (const c of plan.begin) enc.copyBufferToBuffer(this.#buffers[c.src], 0, this.#buffers[c.dst], 0, c.bytes);
    const timing = opts.timing && this.#gpu.features.timestampQuery ? this.#timingState() : undefined;
    const pass = enc.beginComputePass(
      timing ? { timestampWrites: { querySet: timing.query, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
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
    const outs = plan.outputs.map((o) => new GpuTensor(o.aval.shape, o.aval.dtype, this.#stores[o.buffer]!));
    const reads: Promise<void>[] = [];
    for (const j of opts.readback ?? []) {
      const store = outs[j].store;
      enc.copyBufferToBuffer(store.buffer, 0, store.staging(), 0, store.bytes);
    }
    if (timing) {
      enc.resolveQuerySet(timing.query, 0, 2, timing.resolve, 0);
      enc.copyBufferToBuffer(timing.resolve, 0, timing.store.staging(), 0, 16);
    }
    device.queue.submit([enc.finish()]);
    stateOf(device).counters.replays++;
    for (const j of opts.readback ?? []) {
      const h = outs[j];
      const p = h.store.mapStaging(h.size, h.dtype).then((d) => h.setData(d));
      h.store.pending = p.catch(() => undefined);
      reads.push(p);
    }
    if (timing) {
      const p = timing.store.mapStaging(4, "u32").then((w) => {
        const t = new BigUint64Array((w as Uint32Array).buffer);
        this.#gpuTimeNs = Number(t[1] - t[0]);
      });
      reads.push(p);
    }
    await Promise.all(reads);
    return outs;
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
    if (this.#timing) {
      this.#timing.store.destroyStaging(destroy);
      destroy(this.#timing.resolve);
      this.#timing.query.destroy();
    }
  }
}
