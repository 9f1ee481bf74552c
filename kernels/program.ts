/**
 * The contract between kernel generators and whoever runs them (the plan compiler, the test runner, benchmarks).
 *
 * A generator is a pure function from static shapes and parameters to a {@link KernelProgram}: one or more compute
 * dispatches whose WGSL is fully specialised to those shapes (every size is a literal, so loops unroll and integer
 * division by constants becomes multiply-shift). Programs name buffers abstractly ({@link BufferRef}); the caller binds
 * real buffers, allocating the program's scratch buffers for the duration of the program.
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";

/** Which buffer a binding refers to: the program's n-th input, n-th output, or n-th scratch buffer. */
export interface BufferRef {
  /** Which list the buffer comes from. */
  readonly kind: "input" | "output" | "scratch";
  /** Position in that list. */
  readonly index: number;
}

/** A buffer bound to a dispatch; `write` bindings are declared `read_write` in the WGSL, the others `read`. */
export interface KernelBinding {
  /** The buffer bound. */
  readonly buffer: BufferRef;
  /** Whether the dispatch writes it. */
  readonly write: boolean;
}

/** One compute dispatch. Its WGSL declares `@group(0) @binding(i)` for `bindings[i]` and an entry point `main`. */
export interface KernelDispatch {
  /** Human-readable label, used for pipeline labels and profiling. */
  readonly label: string;
  /** Complete WGSL module. Identical code strings may share one compiled pipeline. */
  readonly code: string;
  /** Buffers bound at `@binding(0..)`, in order. */
  readonly bindings: readonly KernelBinding[];
  /** Workgroup counts for `dispatchWorkgroups(x, y, z)`; each at most {@link MAX_WORKGROUPS_PER_DIM}. */
  readonly workgroups: readonly [number, number, number];
}

/** A sequence of dispatches that together compute one (possibly fused) operation. */
export interface KernelProgram {
  /** Dispatches in execution order; each reads what earlier ones wrote (scratch), so run them in order. */
  readonly dispatches: readonly KernelDispatch[];
  /** Element dtype and element count of each input, in binding-reference order. */
  readonly inputs: readonly BufferSpec[];
  /** Element dtype and element count of each output. */
  readonly outputs: readonly BufferSpec[];
  /** Temporary buffers used between dispatches; the caller allocates them (contents need not be initialised). */
  readonly scratch: readonly BufferSpec[];
  /** Floating-point (or integer) multiply-adds ×2, for throughput reports; 0 where not meaningful. */
  readonly flops: number;
  /** Minimum bytes moved to and from global memory (each input read once, each output written once). */
  readonly bytes: number;
}

/** Element type and count of a buffer a program uses. `bool` is stored as one u32 per element. */
export interface BufferSpec {
  /** Element type. */
  readonly dtype: DType;
  /** Element count. */
  readonly size: number;
}

/** WebGPU's guaranteed limit on workgroups per dispatch dimension; larger grids are folded into two dimensions. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/** Device limits a generator may specialise for (tile sizes that fit workgroup memory, workgroup sizes). */
export interface KernelLimits {
  /** Bytes of `var<workgroup>` memory a workgroup may use. */
  readonly maxWorkgroupStorage: number;
  /** Invocations per workgroup. */
  readonly maxInvocations: number;
}

/** The limits WebGPU guarantees on every device; generators default to these. */
export const DEFAULT_LIMITS: KernelLimits = { maxWorkgroupStorage: 16384, maxInvocations: 256 };

/**
 * Bytes to allocate for a buffer of `size` elements of `dtype` that kernels bind: rounded up to 16 bytes because
 * generated code may view any buffer as `array<vec4<…>>`.
 */
export function kernelBufferBytes(size: number, dtype: DType): number {
  if (dtype === "f64") throw new Error("kernelBufferBytes: f64 is not supported on the GPU");
  return Math.max(16, Math.ceil((size * 4) / 16) * 16);
}

/** Shorthand constructors for bindings: inputs are read, outputs written, scratch either. */
export const ref = {
  /** The program's `i`-th input, read. */
  input: (index: number): KernelBinding => ({ buffer: { kind: "input", index }, write: false }),
  /** The program's `i`-th output, written. */
  output: (index: number): KernelBinding => ({ buffer: { kind: "output", index }, write: true }),
  /** The program's `i`-th scratch buffer, written when `write`. */
  scratch: (index: number, write: boolean): KernelBinding => ({ buffer: { kind: "scratch", index }, write }),
};

/** Bytes a list of buffers occupies (elements × 4, bool included), for {@link KernelProgram.bytes}. */
export function bytesOf(specs: readonly BufferSpec[]): number {
  return specs.reduce((s, b) => s + b.size * 4, 0);
}

/**
 * Rebinds a program's buffer references (e.g. to splice a sub-program's input 0 onto a scratch buffer of the
 * enclosing program). `map` receives each binding's reference and returns the new one; access is kept.
 */
export function remapBindings(
  dispatches: readonly KernelDispatch[],
  map: (r: BufferRef) => BufferRef,
): KernelDispatch[] {
  return dispatches.map((d) => ({
    ...d,
    bindings: d.bindings.map((b) => ({ buffer: map(b.buffer), write: b.write })),
  }));
}
