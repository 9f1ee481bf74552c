/**
 * Matmul generator against a float64 reference: random batched shapes with transposed and batch-broadcast operands,
 * every tile configuration on shapes that are not tile multiples, split-K, a fused epilogue, integer matmul.
 *
 * Tolerance (f32): |err| ≤ 2e-6 · Σₖ|aₘₖ·bₖₙ| + 1e-6, a bound on the rounding of a K-term f32 dot product; i32 exact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type GemmTiles, TILES_128, TILES_32, TILES_64 } from "../kernels/gemm.ts";
import { matmulKernel, type MatmulOperandLayout } from "../kernels/matmul.ts";
import { applyMovement, contiguousView } from "../kernels/view.ts";
import { check, gpuTest, pseudoRandom, runner } from "./gpu_kernels_helpers.ts";

interface Case {
  B: number;
  M: number;
  N: number;
  K: number;
  ta: boolean;
  tb: boolean;
  /** Operand shared by the whole batch (batchStride 0). */
  shareA: boolean;
  shareB: boolean;
}

function reference(c: Case, a: Float32Array, b: Float32Array) {
  const out = new Float64Array(c.B * c.M * c.N), abs = new Float64Array(out.length);
  for (let z = 0; z < c.B; z++) {
    const oa = c.shareA ? 0 : z * c.M * c.K, ob = c.shareB ? 0 : z * c.K * c.N;
    for (let i = 0; i < c.M; i++) {
      for (let j = 0; j < c.N; j++) {
        let s = 0, t = 0;
        for (let k = 0; k < c.K; k++) {
          const p = a[oa + (c.ta ? k * c.M + i : i * c.K + k)] * b[ob + (c.tb ? j * c.K + k : k * c.N + j)];
          s += p;
          t += Math.abs(p);
        }
        out[(z * c.M + i) * c.N + j] = s;
        abs[(z * c.M + i) * c.N + j] = t;
      }
    }
  }
  return { out, abs };
}

async function runCase(c: Case, tiles?: GemmTiles, splitK?: number) {
  const a = pseudoRandom((c.shareA ? 1 : c.B) * c.M * c.K, c.M * 31 + c.K);
  const b = pseudoRandom((c.shareB ? 1 : c.B) * c.K * c.N, c.N * 17 + c.K);
  const la: MatmulOperandLayout = { transposed: c.ta, batchStride: c.shareA ? 0 : c.M * c.K };
  const lb: MatmulOperandLayout = { transposed: c.tb, batchStride: c.shareB ? 0 : c.K * c.N };
  const program = matmulKernel({ batchShape: [c.B], M: c.M, N: c.N, K: c.K, a: la, b: lb, tiles, splitK });
  const [y] = await runner.run(program, [a, b]);
  const ref = reference(c, a, b);
  for (let i = 0; i < ref.out.length; i++) {
    const err = Math.abs(y[i] - ref.out[i]);
    assert.ok(err <= 2e-6 * ref.abs[i] + 1e-6, `${JSON.stringify(c)} [${i}]: got ${y[i]}, expected ${ref.out[i]}`);
  }
  return program;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  M: fc.integer({ min: 1, max: 40 }),
  N: fc.integer({ min: 1, max: 40 }),
  K: fc.integer({ min: 1, max: 40 }),
  ta: fc.boolean(),
  tb: fc.boolean(),
  shareA: fc.boolean(),
  shareB: fc.boolean(),
});

gpuTest("gpu kernels: matmul with transposed and batch-broadcast operands (32-tiles)", async () => {
  await check(caseArb, async (c) => void (await runCase(c, TILES_32, 1)), 8);
});

gpuTest("gpu kernels: every tile size handles ragged edges, vec4 and scalar loads", async () => {
  // 64-tiles: both operand orientations (k- and mn-contiguous tile loads); 128-tiles: 8×8 per thread. llvmpipe
  // compiles the fully unrolled 128-tile kernel slowly, so it gets one ragged case.
  for (const [ta, tb] of [[false, false], [true, true]]) {
    const t = TILES_64;
    await runCase({ B: 2, M: t.BM + 3, N: t.BN + 5, K: 2 * t.BK + 1, ta, tb, shareA: false, shareB: true }, t, 1);
  }
  const t = TILES_128;
  await runCase(
    { B: 1, M: t.BM + 4, N: t.BN + 3, K: 3 * t.BK + 4, ta: false, tb: true, shareA: false, shareB: false },
    t,
    1,
  );
});

gpuTest("gpu kernels: split-K sums partials in a second pass", async () => {
  await check(
    fc.record({
      M: fc.integer({ min: 1, max: 20 }),
      N: fc.integer({ min: 1, max: 20 }),
      K: fc.integer({ min: 40, max: 300 }),
      S: fc.integer({ min: 2, max: 5 }),
    }),
    async ({ M, N, K, S }) => {
      const p = await runCase({ B: 2, M, N, K, ta: false, tb: false, shareA: false, shareB: false }, TILES_32, S);
      assert.equal(p.dispatches.length, 2);
    },
    6,
  );
  // The default choice splits a long-K product with a tiny output.
  const p = matmulKernel({ batchShape: [], M: 8, N: 8, K: 50000 });
  assert.ok(p.dispatches.length >= 2 && p.scratch.length >= 1, "auto split-K");
});

gpuTest("gpu kernels: matmul epilogue fuses bias and activation (vec4 and scalar stores)", async () => {
  for (const N of [12, 7]) {
    const [M, K] = [9, 13];
    const a = pseudoRandom(M * K, 1), b = pseudoRandom(K * N, 2), bias = pseudoRandom(N, 3);
    // y = max(a·b + bias[n], 0)
    const epilogue = {
      inputs: ["f32" as const],
      nodes: [
        { op: "acc" as const },
        { op: "load" as const, input: 0, view: applyMovement(contiguousView([1, N]), "broadcast", { shape: [M, N] }) },
        { op: "add" as const, args: [0, 1] as const },
        { op: "const" as const, value: 0, dtype: "f32" as const },
        { op: "maximum" as const, args: [2, 3] as const },
      ],
      outputs: [4],
    };
    for (const splitK of [1, 3]) {
      const [y] = await runner.run(matmulKernel({ batchShape: [], M, N, K, epilogue, tiles: TILES_32, splitK }), [
        a,
        b,
        bias,
      ]);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
          const e = Math.max(s + bias[j], 0);
          assert.ok(Math.abs(y[i * N + j] - e) <= 1e-5, `N=${N} split ${splitK} [${i},${j}]: ${y[i * N + j]} vs ${e}`);
        }
      }
    }
  }
});

gpuTest("gpu kernels: i32 matmul is exact", async () => {
  const [M, N, K] = [5, 6, 7];
  const a = Int32Array.from({ length: M * K }, (_, i) => (i * 7) % 11 - 5);
  const b = Int32Array.from({ length: K * N }, (_, i) => (i * 5) % 13 - 6);
  const [y] = await runner.run(matmulKernel({ batchShape: [], M, N, K, dtype: "i32", tiles: TILES_32 }), [a, b]);
  assert.ok(y instanceof Int32Array);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
      assert.equal(y[i * N + j], s);
    }
  }
});
