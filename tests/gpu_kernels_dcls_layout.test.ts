/**
 * The fused DCLS kernels' work layout (kernels/dcls_gauss.ts): the workgroup memory that `dclsGaussWorkgroupBytes`
 * reports (callers choose the fused construction by it) is exactly what the backward declares, with and without an
 * output window (with a spectrum, the larger of the two kernels'), and the kernels match the float64 reference where
 * the layout changes shape: every element count modulo 4 (the lanes past K), one, two and four partial sums per
 * element sum, square and non-square grids and windows, and more than 128 elements. Grids stay small, as llvmpipe compiles each shape anew.
 * Which form of the construction serves which case (`dclsGaussProgram`).
 */
import assert from "node:assert/strict";
import { dclsGaussGradKernel, dclsGaussKernel, dclsGaussWorkgroupBytes } from "../kernels/dcls_gauss.ts";
import { dclsGaussGradProgram, dclsGaussProgram } from "../kernels/dcls_gauss_lanes.ts";
import { gpuTest } from "./gpu_kernels_helpers.ts";
import { checkDclsGaussKernels, gaussParams as params } from "./_dcls_kernels.ts";

/** Bytes of the `var<workgroup>` arrays a WGSL module declares. */
function declaredBytes(code: string): number {
  let bytes = 0;
  for (const [, type, n] of code.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(vec4<f32>|f32),\s*(\d+)>/g)) {
    bytes += (type === "f32" ? 4 : 16) * Number(n);
  }
  return bytes;
}

Deno.test("dclsGaussWorkgroupBytes is the backward's declared workgroup memory, and the forward's is no more", () => {
  for (const k of [1, 2, 3, 4, 5, 8, 26, 27, 36, 60, 130, 256]) {
    for (const [d0, d1] of [[1, 1], [1, 23], [2, 3], [7, 7], [9, 5], [23, 23]]) {
      const p = params(d0, d1), bytes = dclsGaussWorkgroupBytes(p, k);
      const what = `k${k} ${d0}×${d1}`;
      assert.equal(declaredBytes(dclsGaussGradKernel(3, k, p).dispatches[0].code), bytes, what);
      assert.ok(declaredBytes(dclsGaussKernel(3, k, p).dispatches[0].code) <= bytes, what);
    }
  }
  // A window shrinks the cotangent's array, which then holds less than the partial sums it is reused for.
  const windows: [d0: number, d1: number, rows: [number, number], cols: [number, number]][] = [
    [23, 23, [4, 15], [5, 13]],
    [23, 23, [11, 1], [0, 23]],
    [9, 5, [2, 3], [4, 1]],
    [7, 7, [0, 7], [1, 6]],
  ];
  for (const k of [1, 5, 26, 60]) {
    for (const [d0, d1, rows, cols] of windows) {
      const p = params(d0, d1, { rows, cols }), bytes = dclsGaussWorkgroupBytes(p, k);
      const what = `k${k} ${d0}×${d1} window ${rows} ${cols}`;
      assert.equal(declaredBytes(dclsGaussGradKernel(3, k, p).dispatches[0].code), bytes, what);
      assert.ok(declaredBytes(dclsGaussKernel(3, k, p).dispatches[0].code) <= bytes, what);
      assert.ok(bytes <= dclsGaussWorkgroupBytes(params(d0, d1), k), what);
    }
  }
  // With a spectrum, the larger of the two kernels' memory (the forward holds the spectrum's rows, the backward stages
  // the spectrum's cotangent).
  for (const k of [1, 5, 26]) {
    for (const [d0, d1, length] of [[3, 4, 1], [7, 7, 9], [23, 23, 27], [23, 23, 75]]) {
      const p = params(d0, d1, undefined, { length, top: (d0 - 1) >> 1 }), bytes = dclsGaussWorkgroupBytes(p, k);
      const declared = [dclsGaussKernel, dclsGaussGradKernel].map((f) => declaredBytes(f(3, k, p).dispatches[0].code));
      assert.equal(Math.max(...declared), bytes, `k${k} ${d0}×${d1} spectrum ${length}`);
    }
  }
  // The models' layers (23×23 grid, 26 elements) fit WebGPU's guaranteed 16 KiB, whole or cut to an 8×7 map's reach,
  // and as the spectrum of a 64-row map's spectral convolution.
  assert.ok(dclsGaussWorkgroupBytes(params(23, 23, undefined, { length: 75, top: 11 }), 26) <= 16384);
  assert.ok(dclsGaussWorkgroupBytes(params(23, 23), 26) <= 16384);
  assert.ok(dclsGaussWorkgroupBytes(params(23, 23, { rows: [4, 15], cols: [5, 13] }), 26) <= 16384);
  assert.throws(() => dclsGaussGradKernel(1, 513, params(3, 3)), /513 elements/);
  assert.equal(dclsGaussWorkgroupBytes(params(3, 3), 513), Infinity);
});

gpuTest(
  "gpu kernels: dclsGauss and dclsGaussGrad match the float64 reference across the layout's edge cases",
  async () => {
    // K mod 4 = 1, 2, 3, 0; R = 1 partial sum (a 1×1 grid, and 130 elements), 2 (60 elements on 2×3) and 4, on
    // square grids with and without D mod R = 0, non-square ones, and a line shorter than R (1×9).
    const cases: [c: number, k: number, d0: number, d1: number][] = [
      [2, 1, 1, 1],
      [3, 2, 2, 3],
      [2, 3, 5, 7],
      [2, 4, 4, 4],
      [3, 5, 7, 7],
      [2, 26, 1, 9],
      [2, 60, 2, 3],
      [2, 130, 1, 1],
    ];
    for (const [c, k, d0, d1] of cases) {
      await checkDclsGaussKernels(c, k, d0, d1, c * 1000 + k * 10 + d0 + d1, 4);
    }
    // Windows: the models' 23×23 grid cut to an 8×7 map's reach (15×13), one line of a square grid (the guard on
    // the lines outside the window then differs by axis), a window at the far corner, and one whose rows are whole.
    const windowed: [c: number, k: number, d0: number, d1: number, [number, number], [number, number]][] = [
      [2, 26, 23, 23, [4, 15], [5, 13]],
      [2, 5, 7, 7, [3, 1], [0, 7]],
      [3, 3, 5, 7, [4, 1], [6, 1]],
      [2, 60, 2, 3, [0, 2], [1, 2]],
    ];
    for (const [c, k, d0, d1, rows, cols] of windowed) {
      await checkDclsGaussKernels(c, k, d0, d1, c * 1000 + k * 10 + d0 + d1 + 1, 4, { rows, cols });
    }
  },
);

Deno.test("the per-element construction kernels serve small windows, the shared-memory ones the rest", () => {
  const label = (p: ReturnType<typeof params>, k: number) =>
    [dclsGaussProgram(3, k, p), dclsGaussGradProgram(3, k, p)].map((q) => q.dispatches[0].label.includes("lanes"));
  // The 8×7 stage's 15×13 window of the 23×23 grid: per element.
  assert.deepEqual(label(params(23, 23, { rows: [4, 15], cols: [5, 13] }), 26), [true, true]);
  // The whole grid, a spectrum, or more elements than a warp has threads: shared memory.
  assert.deepEqual(label(params(23, 23), 26), [false, false]);
  assert.deepEqual(label(params(7, 7, undefined, { length: 9, top: 3 }), 5), [false, false]);
  assert.deepEqual(label(params(9, 9), 33), [false, false]);
  assert.deepEqual(label(params(9, 9), 32), [true, true]);
});
