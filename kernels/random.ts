/**
 * Random bits on the GPU: the Threefry-2x32 block function (20 rounds, JAX's `threefry2x32_p`) in WGSL, and
 * `randomBits {shape}` in the same stream layout as the host (lib/random/threefry.ts): by default JAX's original
 * layout, where counter pairs `(i, half + i)` are hashed together and land at `out[i]` and `out[half + i]`; optionally
 * the partitionable layout (element i = XOR of the words of threefry(key, (0, i))).
 *
 * @module
 */
import { bindingDecl, foldGrid, shaderSource, u32 } from "./wgsl.ts";
import type { KernelProgram } from "./program.ts";
import { ref } from "./program.ts";

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

/** WGSL of `fn threefry2x32(k0, k1, x0, x1) -> vec2<u32>`, fully unrolled. */
export function threefrySource(): string {
  const lines = [
    "fn threefry2x32(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {",
    "  let ks = array<u32, 3>(k0, k1, k0 ^ k1 ^ 0x1bd11bdau);",
    "  var x0 = c0 + k0;",
    "  var x1 = c1 + k1;",
  ];
  for (let g = 0; g < 5; g++) {
    for (let r = 0; r < 4; r++) {
      const s = ROTATIONS[(g & 1) * 4 + r];
      lines.push(`  x0 = x0 + x1; x1 = ((x1 << ${s}u) | (x1 >> ${32 - s}u)) ^ x0;`);
    }
    lines.push(`  x0 = x0 + ks[${(g + 1) % 3}]; x1 = x1 + ks[${(g + 2) % 3}] + ${g + 1}u;`);
  }
  lines.push("  return vec2<u32>(x0, x1);", "}");
  return lines.join("\n");
}

/** Options of {@link randomBitsKernel}. */
export interface RandomBitsOptions {
  /** Use JAX's partitionable layout (`jax_threefry_partitionable=True`) instead of the original one. */
  readonly partitionable?: boolean;
}

/** `randomBits {shape}`: input the key (u32 [2]), output u32 bits of `shape`. */
export function randomBitsKernel(shape: readonly number[], opts: RandomBitsOptions = {}): KernelProgram {
  const n = shape.reduce((a, b) => a * b, 1);
  const half = Math.ceil(n / 2);
  const threads = opts.partitionable ? n : half;
  const base = {
    inputs: [{ dtype: "u32" as const, size: 2 }],
    outputs: [{ dtype: "u32" as const, size: n }],
    scratch: [],
    flops: 0,
    bytes: 4 * (n + 2),
  };
  if (n === 0) return { ...base, dispatches: [] };
  const grid = foldGrid(Math.ceil(threads / 256));
  const body = [
    ...(grid.guard ? [grid.guard] : []),
    `let i = ${grid.flatId} * 256u + lid;`,
    `if (i >= ${u32(threads)}) { return; }`,
  ];
  if (opts.partitionable) body.push("let y = threefry2x32(key[0], key[1], 0u, i);", "bits[i] = y.x ^ y.y;");
  else {
    // An odd count pads the counters with one 0, which pairs with the last counter of the first half.
    body.push(
      `let j = ${u32(half)} + i;`,
      `let y = threefry2x32(key[0], key[1], i, select(0u, j, j < ${u32(n)}));`,
      "bits[i] = y.x;",
      `if (j < ${u32(n)}) { bits[j] = y.y; }`,
    );
  }
  const decls = [bindingDecl(0, "key", "u32", "read"), bindingDecl(1, "bits", "u32", "read_write")];
  return {
    ...base,
    dispatches: [{
      label: `random_bits${opts.partitionable ? "_partitionable" : ""}`,
      code: shaderSource({ decls, helpers: threefrySource(), workgroupSize: 256, body }),
      bindings: [ref.input(0), ref.output(0)],
      workgroups: grid.workgroups,
    }],
  };
}
