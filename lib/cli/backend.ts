/**
 * Choosing where compiled steps run: `cpu` (the interpreter), `gpu` (WebGPU, through the GPU compiler once
 * lib/gpu provides it), or `auto` (a real GPU when one and the compiler are there, else the CPU; a software
 * adapter such as llvmpipe counts as no GPU). The GPU is a scoped resource: its device is destroyed with the scope.
 * @module
 */
import { Effect, type Scope } from "effect";
import { acquireGpu, type Gpu } from "../gpu/device.ts";
import { type Backend, cpuBackend, TrainError } from "../train/loop.ts";
import type { Compiler } from "../train/step.ts";

/** Backend choices of the `--backend` option. */
export const BACKEND_CHOICES: readonly string[] = ["auto", "cpu", "gpu"];

/** Where the GPU compiler is expected; loaded lazily so CPU runs never need it. */
const GPU_COMPILER_MODULE = "../gpu/compile.ts";

type GpuCompilerModule = { compileGpu?: (fn: never, opts: { device: Gpu }) => unknown };

async function gpuCompiler(): Promise<((gpu: Gpu) => Compiler) | undefined> {
  try {
    const mod = (await import(GPU_COMPILER_MODULE)) as GpuCompilerModule;
    if (typeof mod.compileGpu !== "function") return undefined;
    const compileGpu = mod.compileGpu;
    return (gpu) => ((fn: never) => compileGpu(fn, { device: gpu })) as unknown as Compiler;
  } catch {
    return undefined;
  }
}

/** Whether a usable (non-software) WebGPU adapter exists, without keeping a device. */
export async function hasHardwareGpu(): Promise<boolean> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return false;
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) return false;
    const info = adapter.info;
    const software = info.isFallbackAdapter || /llvmpipe|swiftshader|software/i.test(info.description ?? "");
    return !software;
  } catch {
    return false;
  }
}

/** What `auto` means here: "gpu" when a hardware adapter and the GPU compiler are both present, else "cpu". */
export async function resolveBackendChoice(choice: string): Promise<"cpu" | "gpu"> {
  if (choice === "cpu" || choice === "gpu") return choice;
  return (await gpuCompiler()) && (await hasHardwareGpu()) ? "gpu" : "cpu";
}

/** The backend for a choice, as a scoped resource. */
export function acquireBackend(choice: string): Effect.Effect<Backend, TrainError, Scope.Scope> {
  if (choice === "cpu") return Effect.succeed(cpuBackend);
  return Effect.gen(function* () {
    const compiler = yield* Effect.promise(() => gpuCompiler());
    if (choice === "auto" && (!compiler || !(yield* Effect.promise(() => hasHardwareGpu())))) return cpuBackend;
    if (!compiler) {
      return yield* new TrainError({ message: "the WebGPU backend is not available in this build; use --backend cpu" });
    }
    const gpu = yield* acquireGpu().pipe(Effect.mapError((e) => new TrainError({ message: e.message })));
    return { name: gpu.description, compile: compiler(gpu) };
  });
}
