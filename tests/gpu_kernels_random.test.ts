/**
 * Threefry-2x32 in WGSL is bit-identical to the host implementation (lib/random/threefry.ts): the block function on
 * random keys and counters (and Random123's known-answer vectors), and randomBits in both JAX stream layouts for
 * even and odd counts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { randomBits, threefry2x32 } from "../lib/random/threefry.ts";
import type { KernelProgram } from "../kernels/program.ts";
import { ref } from "../kernels/program.ts";
import { randomBitsKernel, threefrySource } from "../kernels/random.ts";
import { bindingDecl, shaderSource } from "../kernels/wgsl.ts";
import { assertEqualArrays, check, gpuTest, runner } from "./gpu_kernels_helpers.ts";

/** A test kernel applying the WGSL block function to counter pairs: out[2i], out[2i+1] = threefry(key, (c0[i], c1[i])). */
function blockProgram(n: number): KernelProgram {
  const body = [
    "let i = wg.x * 64u + lid;",
    `if (i >= ${n}u) { return; }`,
    "let y = threefry2x32(key[0], key[1], c0[i], c1[i]);",
    "out[2u * i] = y.x;",
    "out[2u * i + 1u] = y.y;",
  ];
  const decls = [
    bindingDecl(0, "key", "u32", "read"),
    bindingDecl(1, "c0", "u32", "read"),
    bindingDecl(2, "c1", "u32", "read"),
    bindingDecl(3, "out", "u32", "read_write"),
  ];
  return {
    inputs: [{ dtype: "u32", size: 2 }, { dtype: "u32", size: n }, { dtype: "u32", size: n }],
    outputs: [{ dtype: "u32", size: 2 * n }],
    scratch: [],
    flops: 0,
    bytes: 0,
    dispatches: [{
      label: "threefry_block",
      code: shaderSource({ decls, helpers: threefrySource(), workgroupSize: 64, body }),
      bindings: [ref.input(0), ref.input(1), ref.input(2), ref.output(0)],
      workgroups: [Math.ceil(n / 64), 1, 1],
    }],
  };
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });

gpuTest("gpu kernels: WGSL threefry2x32 equals the host block function", async () => {
  await check(
    fc.tuple(u32, u32, fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 40 })),
    async ([k0, k1, ctr]) => {
      const key = Uint32Array.from([k0, k1]);
      const c0 = Uint32Array.from(ctr, (c) => c[0]), c1 = Uint32Array.from(ctr, (c) => c[1]);
      const [out] = await runner.run(blockProgram(ctr.length), [key, c0, c1]);
      const [y0, y1] = threefry2x32(key, c0, c1);
      assertEqualArrays(out, Array.from(y0).flatMap((v, i) => [v, y1[i]]), "block");
    },
  );
  // Random123 known-answer vectors (threefry2x32_20), which JAX's tests also use.
  const kat: [number[], number[], number[]][] = [
    [[0, 0], [0, 0], [0x6b200159, 0x99ba4efe]],
    [[0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x1cb996fc, 0xbb002be7]],
    [[0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3], [0xc4923a9c, 0x483df7a0]],
  ];
  for (const [key, ctr, expected] of kat) {
    const [out] = await runner.run(blockProgram(1), [
      Uint32Array.from(key),
      Uint32Array.of(ctr[0]),
      Uint32Array.of(ctr[1]),
    ]);
    assertEqualArrays(out, expected, `KAT key ${key}`);
  }
});

gpuTest("gpu kernels: randomBits matches the host stream in both layouts", async () => {
  await check(
    fc.tuple(u32, u32, fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }), fc.boolean()),
    async ([k0, k1, shape, partitionable]) => {
      const key = Uint32Array.from([k0, k1]);
      const n = shape.reduce((a, b) => a * b, 1);
      const [bits] = await runner.run(randomBitsKernel(shape, { partitionable }), [key]);
      assert.ok(bits instanceof Uint32Array);
      assertEqualArrays(
        bits,
        randomBits(key, n, { partitionable }),
        `${partitionable ? "partitionable" : "original"} n=${n}`,
      );
    },
  );
});
