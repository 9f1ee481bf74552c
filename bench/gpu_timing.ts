/**
 * GPU-side helpers shared by the kernel benchmarks (bench/gpu_kernels.ts, the sweeps): the sweeps' start, small uniform
 * buffers, one-pass dispatches, a random-fill shader for inputs, and timing of back-to-back compute passes by
 * timestamp queries.
 * @module
 */
import { KernelRunner, type PreparedProgram, type ProgramBuffers } from "../kernels/runner.ts";
import { shaderSource } from "../kernels/wgsl.ts";
import { type Gpu, requestGpu } from "../lib/gpu/device.ts";

/**
 * The start the kernel sweeps share: `--help` prints `deno run -A bench/NAME.ts [--rounds=R]` and exits; otherwise
 * the interleaved rounds (`--rounds=R`, default 3), the GPU and a kernel runner on it.
 */
export async function startSweep(name: string): Promise<{ rounds: number; gpu: Gpu; runner: KernelRunner }> {
  if (Deno.args.includes("--help")) {
    console.log(`deno run -A bench/${name}.ts [--rounds=R]`);
    Deno.exit(0);
  }
  const rounds = Number(Deno.args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 3);
  const gpu = await requestGpu();
  return { rounds, gpu, runner: new KernelRunner(gpu) };
}

/** A 16-byte uniform buffer holding up to four u32 words (the rest zero); the caller destroys it. */
export function uniformWords(device: GPUDevice, words: readonly number[]): GPUBuffer {
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(u, 0, Uint32Array.from([...words, 0, 0, 0, 0].slice(0, 4)));
  return u;
}

/**
 * Encodes one compute pass that runs `pipeline` over an x × y grid of workgroups, with `buffers` bound in order to
 * bindings 0, 1, … of group 0.
 */
export function encodeDispatch(
  device: GPUDevice,
  enc: GPUCommandEncoder,
  pipeline: GPUComputePipeline,
  buffers: readonly GPUBuffer[],
  x: number,
  y = 1,
): void {
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
  pass.dispatchWorkgroups(x, y);
  pass.end();
}

/** A compute pipeline (automatic layout) of one 256-invocation shader. */
function pipelineOf(device: GPUDevice, shader: { decls: string[]; body: string[] }): GPUComputePipeline {
  const code = shaderSource({ ...shader, workgroupSize: 256 });
  return device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
}

/** Fills the first `n` f32 of `buf` with pseudo-random values in [-0.5, 0.5) determined by `seed`. */
export type FillRandom = (buf: GPUBuffer, n: number, seed: number) => void;

/**
 * Compiles the fill shader on `device` and returns a function that submits one fill; host-side filling of GiB-sized
 * inputs is slow, hence on the GPU.
 */
export function randomFiller(device: GPUDevice): FillRandom {
  const pipeline = pipelineOf(device, {
    decls: [
      "@group(0) @binding(0) var<storage, read_write> out: array<f32>;",
      "struct P { n: u32, seed: u32 }",
      "@group(0) @binding(1) var<uniform> p: P;",
    ],
    body: [
      "let i = (wg.x + wg.y * 65535u) * 256u + lid;",
      "if (i >= p.n) { return; }",
      "var h = i * 747796405u + p.seed * 2891336453u;",
      "h = ((h >> ((h >> 28u) + 4u)) ^ h) * 277803737u;",
      "h = (h >> 22u) ^ h;",
      "out[i] = f32(h) * 2.3283064e-10 - 0.5;",
    ],
  });
  return (buf, n, seed) => {
    const u = uniformWords(device, [n, seed]);
    const enc = device.createCommandEncoder();
    // Past 65535 workgroups in x the grid wraps into y (the shader folds wg.y back into the index).
    const wg = Math.ceil(n / 256);
    encodeDispatch(device, enc, pipeline, [buf, u], Math.min(wg, 65535), Math.ceil(wg / 65535));
    device.queue.submit([enc.finish()]);
    u.destroy();
  };
}

/**
 * Runs a prepared program `reps` times back to back, one compute pass each, in one submission, and resolves to the
 * seconds of each pass from timestamp queries; without `stamps` (or when the driver reports zero-length stamps) to
 * one value, the wall-clock mean per run over the submission.
 */
export async function timePasses(
  runner: KernelRunner,
  prepared: PreparedProgram,
  buffers: ProgramBuffers,
  reps: number,
  stamps: boolean = runner.gpu.features.timestampQuery,
): Promise<number[]> {
  const device = runner.gpu.device;
  const qs = stamps ? device.createQuerySet({ type: "timestamp", count: 2 * reps }) : undefined;
  const enc = device.createCommandEncoder();
  for (let r = 0; r < reps; r++) {
    const pass = enc.beginComputePass(
      qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } } : {},
    );
    runner.encode(pass, prepared, buffers);
    pass.end();
  }
  let resolve: GPUBuffer | undefined, read: GPUBuffer | undefined;
  if (qs) {
    resolve = device.createBuffer({ size: 16 * reps, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    read = device.createBuffer({ size: 16 * reps, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(qs, 0, 2 * reps, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * reps);
  }
  const w0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const wall = (performance.now() - w0) / 1000 / reps;
  if (!qs) return [wall];
  await read!.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(read!.getMappedRange().slice(0));
  read!.unmap();
  for (const b of [resolve!, read!]) b.destroy();
  qs.destroy();
  const out: number[] = [];
  for (let r = 0; r < reps; r++) out.push(Number(t[2 * r + 1] - t[2 * r]) / 1e9);
  // Some drivers report zeros for unsupported stamps: fall back to wall clock then.
  return out.every((x) => x > 0) ? out : [wall];
}

const DIFF_GROUPS = 512;

/**
 * Compiles a max-difference reduction on `device` and returns `relDiff(x, ref, n)`: max |x − ref| / max |ref| over the
 * first n f32 (NaN counts as infinite), reduced on the GPU so that checking a large output reads back 4 KiB.
 */
export function gpuRelDiff(device: GPUDevice): (x: GPUBuffer, ref: GPUBuffer, n: number) => Promise<number> {
  // Per workgroup: max |x − ref| and max |ref| over a grid-stride share of the elements.
  const pipeline = pipelineOf(device, {
    decls: [
      "@group(0) @binding(0) var<storage, read> x: array<f32>;",
      "@group(0) @binding(1) var<storage, read> r: array<f32>;",
      "@group(0) @binding(2) var<storage, read_write> out: array<f32>;",
      "struct P { n: u32 }",
      "@group(0) @binding(3) var<uniform> p: P;",
      "var<workgroup> sd: array<f32, 256>;",
      "var<workgroup> sr: array<f32, 256>;",
    ],
    body: [
      "var d = 0.0;",
      "var m = 0.0;",
      `for (var i = wg.x * 256u + lid; i < p.n; i += ${DIFF_GROUPS * 256}u) {`,
      "  let e = abs(x[i] - r[i]);",
      "  d = max(d, select(3.0e38, e, e == e));",
      "  m = max(m, abs(r[i]));",
      "}",
      "sd[lid] = d;",
      "sr[lid] = m;",
      "for (var s = 128u; s > 0u; s >>= 1u) {",
      "  workgroupBarrier();",
      "  if (lid < s) { sd[lid] = max(sd[lid], sd[lid + s]); sr[lid] = max(sr[lid], sr[lid + s]); }",
      "}",
      "if (lid == 0u) { out[2u * wg.x] = sd[0]; out[2u * wg.x + 1u] = sr[0]; }",
    ],
  });
  return async (x, ref, n) => {
    const size = DIFF_GROUPS * 8;
    const out = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const u = uniformWords(device, [n]);
    const enc = device.createCommandEncoder();
    encodeDispatch(device, enc, pipeline, [x, ref, out, u], DIFF_GROUPS);
    enc.copyBufferToBuffer(out, 0, read, 0, size);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const v = new Float32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [out, read, u]) b.destroy();
    let d = 0, m = 0;
    for (let i = 0; i < DIFF_GROUPS; i++) [d, m] = [Math.max(d, v[2 * i]), Math.max(m, v[2 * i + 1])];
    return d / Math.max(m, 1e-30);
  };
}

const HELPERS = new WeakMap<GPUDevice, { fill: FillRandom; relDiff: ReturnType<typeof gpuRelDiff> }>();

/** The fill and difference pipelines of a device, compiled once. */
function helpersOf(device: GPUDevice) {
  let h = HELPERS.get(device);
  if (!h) HELPERS.set(device, h = { fill: randomFiller(device), relDiff: gpuRelDiff(device) });
  return h;
}

/** How {@link timeInterleaved} paces its runs. */
export interface InterleavedPacing {
  /** Rounds over all programs; a program's time is the minimum over rounds of each round's median. */
  readonly rounds: number;
  /** Seconds the reference program runs untimed first: clocks idle while pipelines compile. */
  readonly warmS: number;
  /** Seconds each timed batch of back-to-back runs aims at (3 to 15 runs). */
  readonly batchS: number;
  /** A software adapter: one warm-up run and one run per batch (its timestamps say little, its runs are slow). */
  readonly small?: boolean;
}

/**
 * Times programs that compute the same single output from the same inputs (random, filled on the GPU), interleaved
 * over rounds so that clock drift spreads evenly. The first program is the reference: every other output is compared
 * with it (max |Δ| / max |ref|, on an output cleared beforehand). `onReference` sees the inputs and the reference
 * output before anything else runs (e.g. to check it against the CPU). Resolves per program to its per-round medians
 * in seconds and its error; every buffer it made is destroyed.
 */
export async function timeInterleaved(
  runner: KernelRunner,
  programs: readonly PreparedProgram[],
  pacing: InterleavedPacing,
  onReference?: (inputs: readonly GPUBuffer[], ref: GPUBuffer) => Promise<void>,
): Promise<{ times: number[][]; errs: number[] }> {
  const gpu = runner.gpu, device = gpu.device;
  const { fill, relDiff } = helpersOf(device);
  const p0 = programs[0].program;
  const inputs = p0.inputs.map((s, i) => {
    const b = runner.createBuffer(s);
    fill(b, s.size, 7 + i);
    return b;
  });
  const n = p0.outputs[0].size;
  const output = runner.createBuffer(p0.outputs[0]), ref = runner.createBuffer(p0.outputs[0]);
  const buffers: ProgramBuffers[] = programs.map((p) => ({
    inputs,
    outputs: [output],
    scratch: p.program.scratch.map((s) => runner.createBuffer(s)),
  }));
  const times: number[][] = programs.map(() => []), errs = programs.map(() => 0);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  try {
    const first = await timePasses(runner, programs[0], buffers[0], 1);
    const warm = pacing.small ? 1 : Math.max(2, Math.min(1000, Math.ceil(pacing.warmS / Math.max(first[0], 1e-5))));
    await timePasses(runner, programs[0], buffers[0], warm);
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(output, 0, ref, 0, n * 4);
    device.queue.submit([enc.finish()]);
    await onReference?.(inputs, ref);
    for (let r = 0; r < pacing.rounds; r++) {
      for (let i = 0; i < programs.length; i++) {
        if (r === 0) {
          const e = device.createCommandEncoder();
          e.clearBuffer(output);
          device.queue.submit([e.finish()]);
        }
        const once = await timePasses(runner, programs[i], buffers[i], 1);
        if (r === 0) errs[i] = i === 0 ? 0 : await relDiff(output, ref, n);
        // A batch long enough (batchS) to keep the GPU busy, so its clocks stay up: with at most 15 passes, kernels of
        // tens of microseconds ran in sub-millisecond submissions separated by host waits.
        const reps = pacing.small
          ? 1
          : Math.max(3, Math.min(MAX_BATCH, Math.ceil(pacing.batchS / Math.max(once[0], 1e-6))));
        times[i].push(median(await timePasses(runner, programs[i], buffers[i], reps)));
      }
    }
  } finally {
    for (const b of [...inputs, output, ref, ...buffers.flatMap((b) => b.scratch)]) gpu.memory.destroy(b);
  }
  return { times, errs };
}

/** Most passes in one timed batch (two timestamps each; a query set holds at most 4,096). */
const MAX_BATCH = 1000;

/** Deterministic pseudo-random f32 values in [-1, 1) (xorshift32), for inputs built on the host. */
export function pseudoRandom(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) / 2 ** 31 - 1;
  }
  return out;
}
