/**
 * Acquiring the WebGPU device: a plain async {@link requestGpu} for scripts and tests, and an Effect scoped resource
 * ({@link acquireGpu}, {@link GpuLive}) that destroys the device when its scope closes. Both request the adapter's real
 * limits (WebGPU otherwise grants only the small guaranteed defaults) and the optional features we can use.
 *
 * @module
 */
import { Context, Data, Effect, Layer, type Scope } from "effect";
import type { KernelLimits } from "../../kernels/program.ts";

/** Counts GPU buffers created and destroyed through it, and the bytes they hold. */
export class GpuMemory {
  #live = new Map<GPUBuffer, number>();
  #created = 0;
  #destroyed = 0;
  #liveBytes = 0;
  #peakBytes = 0;

  /** Creates a buffer on `device` and counts it. */
  createBuffer(device: GPUDevice, desc: GPUBufferDescriptor): GPUBuffer {
    const buf = device.createBuffer(desc);
    this.#live.set(buf, desc.size);
    this.#created++;
    this.#liveBytes += desc.size;
    this.#peakBytes = Math.max(this.#peakBytes, this.#liveBytes);
    return buf;
  }

  /** Destroys a buffer created by {@link GpuMemory.createBuffer} (destroying twice is harmless). */
  destroy(buf: GPUBuffer): void {
    const size = this.#live.get(buf);
    buf.destroy();
    if (size === undefined) return;
    this.#live.delete(buf);
    this.#destroyed++;
    this.#liveBytes -= size;
  }

  /** Current counts. */
  stats(): GpuMemoryStats {
    return {
      buffersCreated: this.#created,
      buffersDestroyed: this.#destroyed,
      buffersLive: this.#live.size,
      bytesLive: this.#liveBytes,
      bytesPeak: this.#peakBytes,
    };
  }

  /** Forgets the peak, so a later phase can measure its own. */
  resetPeak(): void {
    this.#peakBytes = this.#liveBytes;
  }
}

/** A snapshot of {@link GpuMemory}. */
export interface GpuMemoryStats {
  /** Buffers created so far. */
  readonly buffersCreated: number;
  /** Buffers destroyed so far. */
  readonly buffersDestroyed: number;
  /** Buffers currently alive. */
  readonly buffersLive: number;
  /** Bytes held by live buffers. */
  readonly bytesLive: number;
  /** Largest `bytesLive` seen (since the last resetPeak). */
  readonly bytesPeak: number;
}

/** An acquired GPU. */
export interface Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly description: string;
  /** Whether the adapter is a software fallback (llvmpipe, SwiftShader). */
  readonly isFallback: boolean;
  /** Optional features that were enabled on the device. */
  readonly features: { readonly shaderF16: boolean; readonly timestampQuery: boolean };
  /** The device's limits (the adapter's real limits, as requested). */
  readonly limits: GPUSupportedLimits;
  /** Buffer accounting for everything allocated through this GPU. */
  readonly memory: GpuMemory;
  /** Resolves when the device is lost (destroyed or failed). */
  readonly lost: Promise<GPUDeviceLostInfo>;
  /** Destroys the device. */
  readonly destroy: () => void;
}

/** Options for acquiring a GPU. */
export interface GpuOptions {
  /** Adapter preference; "high-performance" by default, falling back to any adapter. */
  readonly powerPreference?: GPUPowerPreference;
}

/** No WebGPU adapter or device could be acquired; the message names what was tried. */
export class GpuUnavailable extends Data.TaggedError("GpuUnavailable")<{ readonly message: string }> {}

const OPTIONAL_FEATURES = ["shader-f16", "timestamp-query"] as const;

/** Whether an adapter is a software rasterizer on the CPU (llvmpipe, lavapipe, SwiftShader). */
export function isSoftwareAdapter(
  info: { readonly isFallbackAdapter?: boolean; readonly description?: string },
): boolean {
  return (info.isFallbackAdapter ?? false) || /llvmpipe|lavapipe|swiftshader|software/i.test(info.description ?? "");
}

/**
 * The limits kernel generators size their tiles for on this device: its own workgroup memory and up to 256
 * invocations. A software adapter gets WebGPU's guaranteed 16 KiB and 64 invocations: its shader compiler's time grows
 * steeply with the workgroup (a 23×23 depthwise kernel took 18 s to compile for 256 invocations, 5 s for 64), and it
 * gains nothing from larger tiles.
 */
export function kernelLimits(gpu: Gpu): KernelLimits {
  if (isSoftwareAdapter({ isFallbackAdapter: gpu.isFallback, description: gpu.description })) {
    return { maxWorkgroupStorage: 16384, maxInvocations: 64 };
  }
  return {
    maxWorkgroupStorage: gpu.limits.maxComputeWorkgroupStorageSize,
    maxInvocations: Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup),
  };
}

/** Acquires the GPU (adapter's real limits, shader-f16 and timestamp-query when present). Throws a clear error if none. */
export async function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new Error("no WebGPU: navigator.gpu is undefined (this runtime has no WebGPU; use Deno ≥ 2 or a browser)");
  }
  const preference = options.powerPreference ?? "high-performance";
  const tried = [`requestAdapter({ powerPreference: "${preference}" })`];
  let adapter = await gpu.requestAdapter({ powerPreference: preference });
  if (!adapter) {
    tried.push("requestAdapter()");
    adapter = await gpu.requestAdapter();
  }
  if (!adapter) {
    throw new Error(
      `no WebGPU adapter: ${tried.join(" and ")} returned null ` +
        "(no Vulkan/Metal/D3D12 driver visible; on Linux check VK_DRIVER_FILES and that libvulkan.so.1 is installed)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  // WebIDL attributes are enumerable getters on the prototype, so for-in lists every limit this runtime knows.
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === "number") requiredLimits[key] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new Error(`WebGPU adapter "${adapter.info.description}" refused requestDevice: ${(e as Error).message}`);
  }
  return {
    device,
    description: adapter.info.description || `${adapter.info.vendor} ${adapter.info.device}`.trim(),
    isFallback: adapter.info.isFallbackAdapter ?? false,
    features: {
      shaderF16: device.features.has("shader-f16"),
      timestampQuery: device.features.has("timestamp-query"),
    },
    limits: device.limits,
    memory: new GpuMemory(),
    lost: device.lost,
    destroy: () => device.destroy(),
  };
}

/** Context key under which the acquired {@link Gpu} is provided. */
export class GpuService extends Context.Service<GpuService, Gpu>()("@dcls/audio/GpuService") {}

/** The GPU as a scoped resource: acquired on use, destroyed when the enclosing scope closes. */
export function acquireGpu(options: GpuOptions = {}): Effect.Effect<Gpu, GpuUnavailable, Scope.Scope> {
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: () => requestGpu(options),
      catch: (e) => new GpuUnavailable({ message: e instanceof Error ? e.message : String(e) }),
    }),
    (gpu) => Effect.sync(() => gpu.destroy()),
  );
}

/** A layer providing {@link GpuService}; the device lives as long as the layer's scope. */
export function GpuLive(options: GpuOptions = {}): Layer.Layer<GpuService, GpuUnavailable> {
  return Layer.effect(GpuService, acquireGpu(options));
}
