/**
 * GPU-side helpers shared by the kernel benchmarks (bench/gpu_kernels.ts, bench/gemm_sweep.ts): small uniform
 * buffers, one-pass dispatches, a random-fill shader for inputs, and timing of back-to-back compute passes by
 * timestamp queries.
 * @module
 */
import type { KernelRunner, PreparedProgram, ProgramBuffers } from "../kernels/runner.ts";
import { shaderSource } from "../kernels/wgsl.ts";

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
