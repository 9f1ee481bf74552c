/**
 * Matmul generator against a float64 reference: random batched shapes with transposed and batch-broadcast operands
 * over the GEMM core's variants (one or two workgroup-memory stages, swizzled / padded / plain layouts of
 * k-contiguous tiles, K-steps 4…16, non-square per-thread tiles, nested workgroup arrays, looped K-blocks with a
 * constant or opaque bound, raster group sizes), ragged edges, split-K (with the sum pass and a fused
 * epilogue), integer matmul, an empty contraction, and the tile/split chooser's invariants.
 *
 * Tolerance (f32): |err| ≤ 2e-6 · Σₖ|aₘₖ·bₖₙ| + 1e-6, a bound on the rounding of a K-term f32 dot product; i32 exact.
 * Tiles stay small (4×4 or 8×8 per thread, BK ≤ 16) because llvmpipe compiles the fully unrolled body slowly; the
 * 128×128 defaults run the same generator with larger constants (and were checked against the previous generator's
 * output on an H100 at 4096³ and the ConvNeXt-T pointwise shapes).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chooseGemm,
  GEMM_CANDIDATES,
  type GemmTiles,
  gemmWorkgroups,
  splitChunk,
  TILES_128,
  TILES_128_BT,
  TILES_128x64,
  TILES_32,
  tilesForB,
  usableSplit,
} from "../kernels/gemm.ts";
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
  const what = `${JSON.stringify(c)} tiles ${JSON.stringify(tiles)} split ${splitK}`;
  for (let i = 0; i < ref.out.length; i++) {
    const err = Math.abs(y[i] - ref.out[i]);
    assert.ok(err <= 2e-6 * ref.abs[i] + 1e-6, `${what} [${i}]: got ${y[i]}, expected ${ref.out[i]}`);
  }
  return program;
}

const caseArb = (maxDim: number, maxK: number): fc.Arbitrary<Case> =>
  fc.record({
    B: fc.integer({ min: 1, max: 3 }),
    M: fc.integer({ min: 1, max: maxDim }),
    N: fc.integer({ min: 1, max: maxDim }),
    K: fc.integer({ min: 1, max: maxK }),
    ta: fc.boolean(),
    tb: fc.boolean(),
    shareA: fc.boolean(),
    shareB: fc.boolean(),
  });

/**
 * Small configurations covering the generator's paths: TX, TY multiples of 8 (swizzle possible) or not (TY = 12:
 * padding), BK 4 (one thread per k-row), 8 and 16 (two threads per row, several k-groups), 4×8 and 8×4 per thread.
 */
const smallTiles: GemmTiles[] = [
  { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 },
  { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 },
  { BM: 32, BN: 64, BK: 4, TM: 4, TN: 8 },
  { BM: 64, BN: 32, BK: 8, TM: 8, TN: 4 },
  { BM: 48, BN: 32, BK: 8, TM: 4, TN: 4 },
];
const tilesArb: fc.Arbitrary<GemmTiles> = fc.record({
  base: fc.constantFrom(...smallTiles),
  stages: fc.constantFrom(1 as const, 2 as const),
  kLayout: fc.constantFrom("swizzle" as const, "pad" as const, "plain" as const),
}).map(({ base, stages, kLayout }) => ({ ...base, stages, kLayout }));

gpuTest("gpu kernels: matmul variants with transposed and batch-broadcast operands, ragged edges", async () => {
  await check(
    fc.record({ c: caseArb(70, 40), tiles: tilesArb }),
    async ({ c, tiles }) => void (await runCase(c, tiles, 1)),
    10,
  );
});

/**
 * The sweep options on top of {@link tilesArb}: nested arrays, K-blocks dividing BK (multiples of 4 for a k-major A),
 * loop bound, raster group, k-major A.
 */
const sweepTilesArb: fc.Arbitrary<GemmTiles> = fc.record({
  tiles: tilesArb,
  nested: fc.boolean(),
  unrollDiv: fc.constantFrom(1, 2, 4, 8, 16),
  kBound: fc.constantFrom("const" as const, "opaque" as const),
  groupM: fc.constantFrom(1, 2, 3, 8),
  aKMajor: fc.boolean(),
}).map(({ tiles, nested, unrollDiv, kBound, groupM, aKMajor }) => {
  const kUnroll = tiles.BK / Math.min(unrollDiv, tiles.BK);
  return { ...tiles, nested, kUnroll: aKMajor ? Math.max(4, kUnroll) : kUnroll, kBound, groupM, aKMajor };
});

gpuTest("gpu kernels: nested tiles, looped K-blocks and raster groups match the reference", async () => {
  await check(
    fc.record({ c: caseArb(90, 60), tiles: sweepTilesArb, S: fc.constantFrom(1, 1, 3) }),
    async ({ c, tiles, S }) => void (await runCase(c, tiles, S)),
    10,
  );
});

gpuTest("gpu kernels: every combination of nested, looped, k-major A and stage count", async () => {
  // A k-contiguous A (ta false) so the k-major layout applies; BK 16 in blocks of 16 or 8 so a k-major A has several
  // k-groups per block; K 44 (vec4 loads) with one stage, 45 (scalar loads) with two.
  const base: GemmTiles = { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 };
  for (const nested of [false, true]) {
    for (const kUnroll of [16, 8]) {
      for (const aKMajor of [false, true]) {
        for (const stages of [1, 2] as const) {
          const c: Case = { B: 1, M: 37, N: 41, K: 43 + stages, ta: false, tb: false, shareA: false, shareB: false };
          await runCase(c, { ...base, nested, kUnroll, aKMajor, stages }, 1);
        }
      }
    }
  }
});

Deno.test("gemm generator: the sweep options generate the declared workgroup arrays and loops", () => {
  const t: GemmTiles = { BM: 32, BN: 32, BK: 8, TM: 4, TN: 4 };
  const code = (tiles: GemmTiles) =>
    matmulKernel({ batchShape: [], M: 64, N: 64, K: 64, tiles, splitK: 1 }).dispatches[0].code;
  assert.match(code({ ...t, nested: true }), /var<workgroup> As: array<array<vec4<f32>, 8>, 8>;/);
  assert.match(code({ ...t, nested: true, stages: 2 }), /var<workgroup> As: array<array<array<vec4<f32>, 8>, 8>, 2>;/);
  assert.match(code({ ...t, kUnroll: 2 }), /for \(var kk = 0u; kk < 8u; kk = kk \+ 2u\)/);
  assert.match(code({ ...t, kUnroll: 4, kBound: "opaque" }), /kk < k_lim;/);
  assert.doesNotMatch(code(t), /kk/);
  assert.match(code({ ...t, nested: true, aKMajor: true }), /var<workgroup> As: array<array<vec4<f32>, 2>, 32>;/);
  assert.throws(() => code({ ...t, aKMajor: true, kUnroll: 2 }), /aKMajor needs kUnroll a multiple of 4, got 2/);
  assert.throws(() => code({ ...t, kUnroll: 3 }), /kUnroll 3 must be a positive divisor of BK 8/);
  assert.throws(() => code({ ...t, groupM: 0 }), /groupM 0/);
});

gpuTest("gpu kernels: 8×8 per thread, both stage counts, vec4 and scalar loads in both orientations", async () => {
  // The default 128×128 tile's per-thread code (8×8, K-step 8, one stage, plain layout) on a 64×64 workgroup.
  const t: GemmTiles = { BM: 64, BN: 64, BK: 8, TM: 8, TN: 8 };
  await runCase({ B: 2, M: 67, N: 70, K: 2 * t.BK + 4, ta: false, tb: true, shareA: false, shareB: true }, t, 1);
  // Double-buffered and swizzled; K % 4 ≠ 0 forces scalar loads of the k-contiguous operand.
  await runCase(
    { B: 1, M: 65, N: 66, K: 3 * t.BK + 3, ta: false, tb: false, shareA: false, shareB: false },
    { ...t, stages: 2, kLayout: "swizzle" },
    1,
  );
});

gpuTest("gpu kernels: split-K sums partials in a second pass", async () => {
  await check(
    fc.record({
      c: caseArb(40, 300).map((c) => ({ ...c, K: c.K + 40 })),
      S: fc.integer({ min: 2, max: 6 }),
      tiles: tilesArb,
    }),
    async ({ c, S, tiles }) => {
      const p = await runCase(c, tiles, S);
      assert.equal(p.dispatches.length, usableSplit(c.K, S, tiles.BK) > 1 ? 2 : 1);
    },
    6,
  );
  // The default choice splits a long-K product with a tiny output.
  const p = matmulKernel({ batchShape: [], M: 8, N: 8, K: 50000 });
  assert.ok(p.dispatches.length >= 2 && p.scratch.length >= 1, "auto split-K");
});

gpuTest("gpu kernels: matmul epilogue fuses bias and activation (vec4 and scalar stores, split or not)", async () => {
  for (const N of [12, 7]) {
    const [M, K] = [9, 45];
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
      const program = matmulKernel({ batchShape: [], M, N, K, epilogue, tiles: TILES_32, splitK });
      assert.equal(program.dispatches.length, splitK > 1 ? 2 : 1);
      const [y] = await runner.run(program, [a, b, bias]);
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

gpuTest("gpu kernels: split-K sum pass applies a comparison epilogue to a bool output", async () => {
  const [M, N, K] = [5, 8, 64];
  const a = pseudoRandom(M * K, 4), b = pseudoRandom(K * N, 5);
  const epilogue = {
    inputs: [],
    nodes: [{ op: "acc" as const }, { op: "const" as const, value: 0, dtype: "f32" as const }, {
      op: "gt" as const,
      args: [0, 1] as const,
    }],
    outputs: [2],
  };
  const [y] = await runner.run(matmulKernel({ batchShape: [], M, N, K, epilogue, tiles: TILES_32, splitK: 2 }), [a, b]);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
      if (Math.abs(s) > 1e-5) assert.equal(y[i * N + j], s > 0 ? 1 : 0, `[${i},${j}] of ${s}`);
    }
  }
});

gpuTest("gpu kernels: i32 matmul is exact; an empty contraction gives zeros", async () => {
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
  // (Deno's writeBuffer panics on an empty array, so the unread inputs get one vec4 each.)
  const [z] = await runner.run(matmulKernel({ batchShape: [2], M: 3, N: 5, K: 0 }), [
    new Float32Array(4).fill(7),
    new Float32Array(4).fill(7),
  ]);
  assert.deepEqual(Array.from(z), new Array(30).fill(0));
});

Deno.test("gemm chooser: usable splits leave no split empty", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.integer({ min: 1, max: 512 }),
      fc.constantFrom(4, 8, 16),
      (K, S, BK) => {
        const s = usableSplit(K, S, BK);
        assert.ok(s >= 1 && s <= S);
        assert.ok(splitChunk(K, s, BK) * (s - 1) < K, `split ${s} of K=${K} leaves an empty split`);
        assert.equal(splitChunk(K, s, BK) % BK, 0);
      },
    ),
  );
});

Deno.test("gemm chooser: picks a candidate, fills the GPU for small outputs with long K, keeps 4096³ whole", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 1, max: 300000 }),
      (batch, M, N, K) => {
        const { tiles, splitK } = chooseGemm(batch, M, N, K);
        assert.ok(GEMM_CANDIDATES.some((c) => c.tiles === tiles));
        assert.equal(usableSplit(K, splitK, tiles.BK), splitK, "the split leaves no split empty");
        if (splitK > 1) assert.ok(splitChunk(K, splitK, tiles.BK) >= 8 * tiles.BK, "at least 8 K-steps per split");
      },
    ),
    { numRuns: 200 },
  );
  const big = chooseGemm(1, 4096, 4096, 4096);
  assert.deepEqual(big, { tiles: TILES_128, splitK: 1 });
  // Weight gradients of the ConvNeXt-T pointwise layers: small output, K = 64·H·W; at least one workgroup per SM.
  for (const [M, N, K] of [[384, 96, 253952], [96, 384, 253952], [768, 192, 63488], [1536, 384, 15360]]) {
    const c = chooseGemm(1, M, N, K);
    const wg = gemmWorkgroups({ M, N, tiles: c.tiles, batch: 1, splitK: c.splitK });
    assert.ok(wg >= 132 && c.splitK > 1, `${M}x${N}x${K}: ${wg} workgroups`);
  }
});

Deno.test("gemm chooser: the 128×128 tile follows B's layout (flat K-step 8 for k-contiguous B)", () => {
  assert.equal(tilesForB(TILES_128, "mn"), TILES_128);
  assert.deepEqual(tilesForB(TILES_128, "k"), TILES_128_BT);
  assert.ok(TILES_128.nested && TILES_128.BK === 16 && !TILES_128_BT.nested && TILES_128_BT.BK === 8);
  const linear = matmulKernel({ batchShape: [], M: 4096, N: 4096, K: 4096, b: { transposed: true } });
  const plain = matmulKernel({ batchShape: [], M: 4096, N: 4096, K: 4096 });
  assert.ok(!linear.dispatches[0].code.includes("array<array<"), "x·Wᵀ uses the flat tiles");
  assert.ok(plain.dispatches[0].code.includes("array<array<"), "x·W uses the nested tiles");
});

Deno.test("gemm chooser: thousands of tiny matrices take one 128×64 tile each (32×32 where one fits)", () => {
  for (const [batch, M, N, K] of [[6144, 76, 62, 64], [6144, 64, 62, 76], [12288, 44, 31, 32]]) {
    assert.deepEqual(chooseGemm(batch, M, N, K), { tiles: TILES_128x64, splitK: 1 }, `${batch}×${M}×${N}×${K}`);
  }
  assert.deepEqual(chooseGemm(12288, 32, 31, 44), { tiles: TILES_32, splitK: 1 });
  // Outside the regime the cost model decides: a long contraction is split, one big matrix takes 128×128 tiles.
  assert.ok(chooseGemm(6144, 76, 62, 1 << 17).splitK > 1);
  assert.equal(chooseGemm(1, 4096, 4096, 4096).tiles, TILES_128);
});

gpuTest(
  "gpu kernels: a batch of 4096 tiny products with a shared, transposed A (the spectral transforms)",
  async () => {
    for (const c of [{ M: 44, N: 31, K: 32 }, { M: 20, N: 7, K: 9 }]) {
      const cs = { B: 4096, ...c, ta: true, tb: false, shareA: true, shareB: false };
      await runCase(cs);
    }
  },
);
