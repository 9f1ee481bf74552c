/**
 * Choosing where compiled steps run: `cpu` (the interpreter), `gpu` (WebGPU through `compileGpu`), or `auto` (a
 * hardware GPU when there is one, else the CPU; a software adapter such as llvmpipe counts as none). The GPU is a
 * scoped resource: its device, and with it every buffer of the compiled plans, is destroyed with the scope.
 * @module
 */
import { Effect, type Scope } from "effect";
import { Tensor } from "../core/tensor.ts";
import { acquireGpu, type Gpu, isSoftwareAdapter } from "../gpu/device.ts";
import { compileGpu } from "../gpu/compile_gpu.ts";
import { GpuTensor } from "../gpu/plan_tensor.ts";
import { type Backend, cpuBackend, TrainError } from "../train/loop.ts";

/** Backend choices of the `--backend` option. */
export const BACKEND_CHOICES: readonly string[] = ["auto", "cpu", "gpu"];

/** Whether a usable (non-software) WebGPU adapter exists, without keeping a device. */
export async function hasHardwareGpu(): Promise<boolean> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return false;
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return false;
    return !isSoftwareAdapter(adapter.info);
  } catch {
    return false;
  }
}

/** What `auto` means here: "gpu" when a hardware adapter is present, else "cpu". */
export async function resolveBackendChoice(choice: string): Promise<"cpu" | "gpu"> {
  if (choice === "cpu" || choice === "gpu") return choice;
  return (await hasHardwareGpu()) ? "gpu" : "cpu";
}

/** Host copies of every GPU handle in a tree of results. */
async function hostTree(x: unknown): Promise<unknown> {
  if (x instanceof GpuTensor) return await x.toTensor();
  if (x instanceof Tensor) return x;
  if (Array.isArray(x)) return await Promise.all(x.map(hostTree));
  if (typeof x === "object" && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
    const entries = await Promise.all(Object.entries(x).map(async ([k, v]) => [k, await hostTree(v)] as const));
    return Object.fromEntries(entries);
  }
  return x;
}

/** A backend on an acquired GPU: plans replayed by `compileGpu`, results kept on the device until read. */
export function gpuBackend(gpu: Gpu): Backend {
  return {
    name: gpu.description,
    compile<A extends unknown[], R>(fn: (...args: A) => R, opts: { readonly donate?: readonly number[] } = {}) {
      return compileGpu(fn, { device: gpu, donate: opts.donate }) as unknown as (...args: A) => Promise<R>;
    },
    toHost: async <T>(tree: T) => (await hostTree(tree)) as T,
  };
}

/** The backend for a choice, as a scoped resource. */
export function acquireBackend(choice: string): Effect.Effect<Backend, TrainError, Scope.Scope> {
  if (choice === "cpu") return Effect.succeed(cpuBackend);
  return Effect.gen(function* () {
    if (choice === "auto" && !(yield* Effect.promise(() => hasHardwareGpu()))) return cpuBackend;
    const gpu = yield* acquireGpu().pipe(Effect.mapError((e) => new TrainError({ message: e.message })));
    return gpuBackend(gpu);
  });
}
