/**
 * Tile sweep of the spectral convolution's kernel transform products (lib/ops/spectral_conv.ts): per channel a
 * constant `[2F, kh]` matrix times the `[kh, kw]` kernel (23×23), and its transpose times the `[2F, kw]` gradient, at
 * the ConvNeXt-T stage shapes the spectral form runs (96, 192 and 384 channels). Times the chooser's tiles against
 * the other GEMM tiles; outputs are compared on the GPU with the chooser's.
 *
 *     deno run -A bench/spectral_gemm_sweep.ts [--rounds=3]
 * @module
 */
import { type GemmTiles, TILES_128x64, TILES_32, TILES_64, TILES_64x128 } from "../kernels/gemm.ts";
import { matmulKernel, type MatmulSpec } from "../kernels/matmul.ts";
import { spectralLength } from "../lib/ops/spectral_conv.ts";
import { startSweep, timeInterleaved } from "./gpu_timing.ts";
import { markdownTable, writeResult } from "./report.ts";

const { rounds, gpu, runner } = await startSweep("spectral_gemm_sweep");
const TILES: [string, GemmTiles | undefined][] = [
  ["auto", undefined],
  ["128x64", TILES_128x64],
  ["64x128", TILES_64x128],
  ["64", TILES_64],
  ["32", TILES_32],
  ["32x64", { BM: 32, BN: 64, BK: 16, TM: 4, TN: 4 }],
  ["64x32", { BM: 64, BN: 32, BK: 16, TM: 4, TN: 4 }],
  ["64 bk8", { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4 }],
  ["64 8x4", { BM: 64, BN: 64, BK: 16, TM: 8, TN: 4 }],
  ["32 bk8", { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 }],
  ["16x32", { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4 }],
];
const rows: (string | number)[][] = [];
for (const [C, H] of [[96, 64], [192, 32], [384, 16]]) {
  const { F } = spectralLength(H, 23, [11, 11]);
  const batch = C, R = 2 * F, W = 23;
  // (name, M, K, A transposed): the kernel's transform K̂ = D·k, and its VJP Dᵀ·K̄.
  for (const [pass, M, K, transposed] of [["kernel", R, 23, false], ["kernel vjp", 23, R, true]] as const) {
    const spec = (tiles?: GemmTiles): MatmulSpec => ({
      batchShape: [batch],
      M,
      N: W,
      K,
      a: { batchStride: 0, transposed },
      tiles,
      splitK: tiles ? 1 : undefined,
    });
    const programs = await Promise.all(TILES.map(([, t]) => runner.prepare(matmulKernel(spec(t)))));
    const { times, errs } = await timeInterleaved(runner, programs, { rounds, warmS: 0.3, batchS: 0.03 });
    const flops = 2 * batch * M * W * K;
    TILES.forEach(([name], i) => {
      const s = Math.min(...times[i]);
      rows.push([`${batch}×${M}×${W}×${K} ${pass}`, name, s * 1e3, flops / s / 1e12, errs[i]]);
    });
  }
}
console.log(markdownTable(["product (batch×M×N×K)", "tiles", "ms", "TFLOP/s", "err"], rows));
await writeResult("spectral_gemm_sweep.json", { adapter: gpu.description, rows });
gpu.destroy();
