/**
 * The WebGPU backend: acquire a GPU, compile traced functions into static plans (fused kernels, pooled buffers,
 * pipelines and bind groups created once) and replay them with one command encoder per call.
 *
 * ```ts
 * const gpu = await requestGpu();
 * const step = compileGpu(trainStep, { device: gpu, donate: [0, 1], readback: (path) => path[0] === "loss" });
 * let { params, opt } = init;
 * for (const batch of batches) {
 *   const r = await step(params, opt, batch.x, batch.y);
 *   ({ params, opt } = r); // GPU handles, fed back with zero copies
 *   console.log((await r.loss.read())[0]);
 * }
 * ```
 * @module
 */
export {
  acquireGpu,
  type Gpu,
  GpuLive,
  GpuMemory,
  type GpuMemoryStats,
  type GpuOptions,
  GpuService,
  GpuUnavailable,
  requestGpu,
} from "./device.ts";
export {
  compileGpu,
  type CompileGpuOptions,
  type GpuArg,
  type GpuCompiled,
  type GpuCompileStats,
  type OnGpu,
  type Readback,
} from "./compile_gpu.ts";
export { GpuTensor } from "./plan_tensor.ts";
export {
  GpuPlan,
  type GpuPlanOptions,
  type PlanCounters,
  planCounters,
  type PlanInput,
  type ReplayOptions,
} from "./plan_gpu.ts";
export type { PlanBuffer, PlanBufferRole, PlanConst, PlanCopy, PlanDispatch, PlanStats, StaticPlan } from "./plan.ts";
// Core types that the GPU API mentions.
export type { Aval, DType, Tensor, TypedArray } from "../core/mod.ts";
