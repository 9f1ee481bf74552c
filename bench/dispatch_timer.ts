/**
 * Per-dispatch GPU times of a static plan. `GpuPlan` records all dispatches into one compute pass and can time only
 * the whole pass, so this instantiates the plan itself (its own buffers, the shared pipeline cache) and records each
 * dispatch in a compute pass of its own with timestamp writes at the pass's beginning and end. Inputs are filled with
 * small pseudo-random values (kernel times do not depend on them).
 *
 * Separate passes add a little per-dispatch overhead, so the sum of dispatch times is compared with the same plan run
 * as one pass (the replay `GpuPlan` does).
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import type { Gpu } from "../lib/gpu/device.ts";
import type { StaticPlan } from "../lib/gpu/plan.ts";
import { pipelineFor } from "../lib/gpu/plan_gpu.ts";
import { toGpuWords } from "../kernels/runner.ts";
import { checked, CLOCK_WARM_MS, median } from "./harness.ts";

/** Milliseconds of GPU work in each untimed pass (see {@link timeDispatches}). */
const FILL_PASS_MS = 2;
/** Milliseconds of untimed passes queued in front of each timed run. */
const BUSY_MS = 30;

/** What {@link timeDispatches} measured. */
export interface DispatchTimes {
  /** Median GPU nanoseconds of each dispatch, in plan order. */
  readonly ns: readonly number[];
  /** Median nanoseconds of the whole plan recorded as one compute pass. */
  readonly onePassNs: number;
  /** Repetitions the medians are over. */
  readonly reps: number;
}

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** WebGPU caps a query set at 4096 queries: two per dispatch. */
const PER_SET = 2048;

/** Host values for an input: small uniform floats, zeros for integers (valid gather indices), random bits for keys. */
function fill(size: number, dtype: DType, seed: number): Float32Array | Int32Array | Uint32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  if (dtype === "f32") return Float32Array.from({ length: size }, () => (next() - 0.5) * 0.1);
  if (dtype === "u32") return Uint32Array.from({ length: size }, () => Math.floor(next() * 4294967296));
  return dtype === "i32" ? new Int32Array(size) : new Uint32Array(size);
}

/**
 * Times every dispatch of `plan` on `gpu` (which must have timestamp queries): one warm-up run, then `reps` runs
 * with one pass per dispatch and `reps` runs as one pass.
 */
export async function timeDispatches(gpu: Gpu, plan: StaticPlan, reps = 3): Promise<DispatchTimes> {
  if (!gpu.features.timestampQuery) throw new Error("timeDispatches: the device has no timestamp queries");
  const device = gpu.device;
  const made: GPUBuffer[] = [];
  const buffer = (size: number, usage: number, label: string) => {
    const b = device.createBuffer({ size, usage, label });
    made.push(b);
    return b;
  };
  const sets: GPUQuerySet[] = [];
  try {
    const buffers = plan.buffers.map((b) => buffer(b.bytes, STORAGE, `profile_${b.role}_${b.id}`));
    for (const c of plan.consts) {
      device.queue.writeBuffer(buffers[c.buffer], 0, toGpuWords(c.value, c.dtype) as Float32Array<ArrayBuffer>);
    }
    plan.inputs.forEach((x, i) => {
      const size = x.aval.shape.reduce((a, b) => a * b, 1);
      device.queue.writeBuffer(buffers[x.buffer], 0, fill(size, x.aval.dtype, i + 1) as Float32Array<ArrayBuffer>);
    });
    const pipelines = await Promise.all(plan.dispatches.map((d) => pipelineFor(gpu, d)));
    const groups = plan.dispatches.map((d, i) =>
      device.createBindGroup({
        layout: pipelines[i].getBindGroupLayout(0),
        entries: d.bindings.map((b, j) => ({ binding: j, resource: { buffer: buffers[b.buffer] } })),
      })
    );
    const n = plan.dispatches.length;
    const setCount = Math.max(1, Math.ceil(n / PER_SET));
    for (let s = 0; s < setCount; s++) {
      sets.push(device.createQuerySet({ type: "timestamp", count: 2 * Math.min(PER_SET, n - s * PER_SET || 1) }));
    }
    const resolve = buffer(16 * n + 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, "profile_resolve");
    const read = buffer(16 * n + 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "profile_read");

    const copies = (enc: GPUCommandEncoder, list: StaticPlan["begin"]) => {
      for (const c of list) enc.copyBufferToBuffer(buffers[c.src], 0, buffers[c.dst], 0, c.bytes);
    };
    const dispatch = (pass: GPUComputePassEncoder, i: number) => {
      const w = plan.dispatches[i].workgroups;
      pass.setPipeline(pipelines[i]);
      pass.setBindGroup(0, groups[i]);
      pass.dispatchWorkgroups(w[0], w[1], w[2]);
    };
    /** One run; returns nanoseconds per dispatch (separate passes) or the one pass's nanoseconds. */
    const run = async (separate: boolean): Promise<number[]> => {
      const enc = device.createCommandEncoder();
      copies(enc, plan.begin);
      if (separate) {
        for (let i = 0; i < n; i++) {
          const j = i % PER_SET;
          const pass = enc.beginComputePass({
            timestampWrites: {
              querySet: sets[Math.floor(i / PER_SET)],
              beginningOfPassWriteIndex: 2 * j,
              endOfPassWriteIndex: 2 * j + 1,
            },
          });
          dispatch(pass, i);
          pass.end();
        }
      } else {
        const pass = enc.beginComputePass({
          timestampWrites: { querySet: sets[0], beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
        });
        for (let i = 0; i < n; i++) dispatch(pass, i);
        pass.end();
      }
      copies(enc, plan.end);
      const queries = separate ? 2 * n : 2;
      for (let s = 0; s * PER_SET * 2 < queries; s++) {
        const count = Math.min(2 * PER_SET, queries - s * 2 * PER_SET);
        enc.resolveQuerySet(sets[s], 0, count, resolve, s * 2 * PER_SET * 8);
      }
      enc.copyBufferToBuffer(resolve, 0, read, 0, queries * 8);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ, 0, queries * 8);
      const t = new BigUint64Array(read.getMappedRange(0, queries * 8).slice(0));
      read.unmap();
      return Array.from({ length: queries / 2 }, (_, i) => Number(t[2 * i + 1] - t[2 * i]));
    };
    await checked(gpu, () => run(true));
    // The GPU keeps its clocks up only while it stays busy, and the host takes longer to submit a pass than a small
    // plan takes to run: each untimed pass below holds the plan's dispatches repeated for at least FILL_PASS_MS, and
    // BUSY_MS of them are queued in front of every timed run (with FILL_MS of single plans, the 8×7 DCLS layer's
    // dispatches measured 1–4× their steady-state times from one call to the next).
    const planMs = Math.max(((await run(false))[0]) / 1e6, 1e-3);
    const repeat = Math.ceil(FILL_PASS_MS / planMs);
    const busy = (ms: number) => {
      for (let k = 0; k < Math.ceil(ms / (repeat * planMs)); k++) {
        const enc = device.createCommandEncoder(), pass = enc.beginComputePass();
        for (let r = 0; r < repeat; r++) for (let i = 0; i < n; i++) dispatch(pass, i);
        pass.end();
        device.queue.submit([enc.finish()]);
      }
    };
    busy(CLOCK_WARM_MS);
    const separate: number[][] = [], whole: number[] = [];
    for (let r = 0; r < reps; r++) {
      busy(BUSY_MS);
      separate.push(await run(true));
      busy(BUSY_MS);
      whole.push((await run(false))[0]);
    }
    return {
      ns: Array.from({ length: n }, (_, i) => median(separate.map((s) => s[i]))!),
      onePassNs: median(whole)!,
      reps,
    };
  } finally {
    for (const s of sets) s.destroy();
    for (const b of made) b.destroy();
  }
}
