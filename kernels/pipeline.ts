/**
 * Turning a generated dispatch into a compute pipeline, shared by the test runner and the plan backend.
 * @module
 */

/** What a pipeline needs from a generated dispatch. */
export interface PipelineSource {
  /** Shown in errors and GPU debuggers. */
  readonly label: string;
  /** WGSL with entry point `main`. */
  readonly code: string;
  /** One entry per binding, in binding order. */
  readonly bindings: readonly { readonly write: boolean }[];
}

/**
 * Compiles a dispatch into a pipeline under a validation error scope; on failure throws with the compiler messages
 * and the numbered source, prefixed by `what` (which names the caller's context).
 */
export async function compileKernelPipeline(
  device: GPUDevice,
  d: PipelineSource,
  what: string,
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
    throw new Error(`${what}: ${err.message}\n${msgs}\n${numbered}`);
  }
  return pipeline;
}
