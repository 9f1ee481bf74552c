/**
 * A depthwise convolution layer (forward and every gradient, with a bias) under a chosen `conv2d` algorithm, and the
 * check that the layer compiled for the GPU matches the direct form in float64: shared by the spectral and Toeplitz
 * tests.
 */
import * as T from "../lib/core/mod.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { assertClose, gpu } from "./gpu_kernels_helpers.ts";

/** `(x, k, bias, ct) → [y, dx, dk, dbias]` of a depthwise `conv2d` with `padding` under `algorithm`. */
export function depthwiseLayer(algorithm: T.ConvAlgorithm, padding: [number, number], groups: number) {
  return (x: T.Tensor, k: T.Tensor, bias: T.Tensor, ct: T.Tensor): T.Tensor[] => {
    const [y, pull] = T.vjp(
      (x: T.Tensor, k: T.Tensor, bias: T.Tensor) => T.conv2d(x, k, { padding, groups, algorithm }, bias),
      x,
      k,
      bias,
    );
    return [y, ...(pull(ct) as T.Tensor[])];
  };
}

/** Compiles the layer under `algorithm` for the GPU and compares its four results with the direct form's in f64. */
export async function assertGpuLayerMatchesDirect(
  algorithm: T.ConvAlgorithm,
  padding: [number, number],
  groups: number,
  args: readonly [x: T.Tensor, k: T.Tensor, bias: T.Tensor, ct: T.Tensor],
): Promise<void> {
  const want = depthwiseLayer("direct", padding, groups)(...args);
  const g = compileGpu(depthwiseLayer(algorithm, padding, groups) as never, { device: gpu!, readback: "all" });
  try {
    const f32 = args.map((t) => T.cast(t, "f32"));
    const got = await g(...f32) as unknown as { read(): Promise<ArrayLike<number>> }[];
    for (const [i, name] of ["output", "input gradient", "kernel gradient", "bias gradient"].entries()) {
      const w = want[i].toArray(), scale = Math.max(...Array.from(w, (v) => Math.abs(Number(v))));
      assertClose(await got[i].read(), Array.from(w, Number), { rtol: 1e-4, atol: 1e-5 * scale }, name);
    }
  } finally {
    g.dispose();
  }
}
