/**
 * The spectral convolution's transforms (ConvNeXt-T stages 1 and 2, batch 64, 23×23 kernel) as `realDft` kernels
 * (kernels/real_dft.ts: the centred and the dense straight-line programs, coefficients as shader constants) against
 * the same products as batched GEMMs with a broadcast constant matrix (what the transforms were before). TFLOP/s
 * count the dense product's flops for all three. Each program's output is compared on the GPU with the first's;
 * times as bench/complex_sweep.ts (interleaved rounds, the minimum).
 *
 *     deno run -A bench/real_dft_sweep.ts [--rounds=3]
 * @module
 */
import { realDftKernel } from "../kernels/real_dft.ts";
import { matmulKernel } from "../kernels/matmul.ts";
import type { KernelProgram } from "../kernels/program.ts";
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";
import { spectralLength } from "../lib/ops/spectral_conv.ts";
import { startSweep, timeInterleaved } from "./gpu_timing.ts";
import { markdownTable, writeResult } from "./report.ts";

const { rounds, gpu, runner } = await startSweep("real_dft_sweep");
const rows: (string | number)[][] = [];
for (const [C, H, W] of [[96, 64, 62], [192, 32, 31]]) {
  const { N } = spectralLength(H, 23, [11, 11]);
  const planes = 64 * C;
  for (const [inverse, transpose] of [[false, false], [true, false], [false, true], [true, true]]) {
    const p = { length: N, size: H, inverse, transpose };
    const { rows: M, cols: K } = dftMatrix(p);
    const gemm = matmulKernel({
      batchShape: [planes],
      M,
      K,
      N: W,
      a: { transposed: false, batchStride: 0, offset: 0 },
    });
    // Both programs take (matrix, x): the realDft kernel ignores the matrix, which is written into the shared input
    // once its reference output exists, so the GEMM's output is compared with the realDft's.
    const shifted = (dft: KernelProgram): KernelProgram => ({
      ...dft,
      inputs: [{ dtype: "f32", size: M * K }, ...dft.inputs],
      dispatches: dft.dispatches.map((d) => ({
        ...d,
        bindings: d.bindings.map((b) =>
          b.buffer.kind === "input" ? { ...b, buffer: { kind: "input" as const, index: b.buffer.index + 1 } } : b
        ),
      })),
    });
    const forms: [string, KernelProgram][] = [
      ["realDft paired", shifted(realDftKernel(planes, W, p, { program: "paired" }))],
      ["realDft dense", shifted(realDftKernel(planes, W, p, { program: "dense" }))],
      ["gemm", gemm],
    ];
    const programs = await Promise.all(forms.map(([, k]) => runner.prepare(k)));
    const matrix = Float32Array.from(dftMatrix(p).data);
    const { times, errs } = await timeInterleaved(
      runner,
      programs,
      { rounds, warmS: 0.3, batchS: 0.03 },
      async (inputs) => {
        gpu.device.queue.writeBuffer(inputs[0], 0, matrix);
        await gpu.device.queue.onSubmittedWorkDone();
      },
    );
    const flops = 2 * planes * M * K * W;
    forms.forEach(([name], i) => {
      const s = Math.min(...times[i]);
      rows.push([
        `${planes}×${K}→${M}×${W}${inverse ? " inverse" : ""}${transpose ? " ᵀ" : ""}`,
        name,
        s * 1e3,
        flops / s / 1e12,
        errs[i],
      ]);
    });
  }
}
console.log(markdownTable(["transform", "kernel", "ms", "TFLOP/s", "err"], rows));
await writeResult("real_dft_sweep.json", { adapter: gpu.description, rows });
gpu.destroy();
