/**
 * Host-side costs of feeding a training batch of waveforms to the GPU (64 clips × 10 s at 32 kHz = 82 MB of float32):
 * copying into a fresh or a reused array, `queue.writeBuffer`, and a mapped staging buffer plus a GPU-side copy.
 *
 *     deno run -A bench/host_upload.ts [--mb 82] [--reps 5]
 * @module
 */
const arg = (name: string, dflt: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const bytes = Math.round(arg("mb", 81.92) * 1e6 / 4) * 4;
const reps = arg("reps", 5);
const adapter = await navigator.gpu.requestAdapter();
if (!adapter) throw new Error("host_upload: no WebGPU adapter");
const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize } });
const n = bytes / 4;
const src = new Float32Array(n).map((_, i) => i % 7);
const target = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(name: string, f: () => Promise<void> | void) {
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await f();
    ts.push(performance.now() - t);
  }
  const ms = median(ts);
  console.log(`${name.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms  ${(bytes / ms / 1e6).toFixed(2)} GB/s`);
}
await time("copy into a fresh array", () => {
  new Float32Array(n).set(src);
});
const reused = new Float32Array(n);
await time("copy into a reused array", () => reused.set(src));
await time("writeBuffer + onSubmittedWorkDone", async () => {
  device.queue.writeBuffer(target, 0, src);
  await device.queue.onSubmittedWorkDone();
});
await time("writeBuffer (call only)", () => device.queue.writeBuffer(target, 0, src));
await device.queue.onSubmittedWorkDone();
const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC });
await time("mapAsync(WRITE) + fill + unmap + GPU copy", async () => {
  await staging.mapAsync(GPUMapMode.WRITE);
  new Float32Array(staging.getMappedRange()).set(src);
  staging.unmap();
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(staging, 0, target, 0, bytes);
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
});
const half = new Int16Array(n);
await time("writeBuffer of int16 (half the bytes)", async () => {
  device.queue.writeBuffer(target, 0, half);
  await device.queue.onSubmittedWorkDone();
});
