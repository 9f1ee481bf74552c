/**
 * The tiled GEMM core shared by matmul and the implicit-GEMM convolutions: `C[b] = A[b] · B[b]` with A `[M, K]` and
 * B `[K, N]` seen through operand callbacks (so transposes, broadcast batches and im2col gathers are index math).
 *
 * Structure (the classic register-blocked SGEMM, fully unrolled by the generator):
 * - a workgroup computes a BM×BN tile with (BM/TM)·(BN/TN) threads; each thread owns TM rows × TN columns held in
 *   named `vec4` accumulators `acc{row}_{colvec}` (never arrays indexed in loops, which spill);
 * - per K-step of BK, the A and B tiles are staged in workgroup memory (k-major, as vec4 along M / N), loaded from
 *   global memory into registers one step ahead (in a branch) so the loads overlap the FMAs. Optionally two stages
 *   (double buffering: one barrier per step) and an XOR-swizzled or padded layout for k-contiguous tiles; for the
 *   sweep (bench/gemm_sweep.ts) also tiles typed per row (fewer bounds-check clamps), the K-step's inner product as a
 *   loop over unrolled blocks, a k-major A tile and the raster group size;
 * - a thread's rows are `4·(q·TY + ty) + c`, its columns `4·(p·TX + tx) + c`, so each K-step reads TM/4 + TN/4 vec4s
 *   from workgroup memory for TM·TN FMAs, and a warp's reads are broadcasts or consecutive vec4s;
 * - global loads are vec4 where the layout allows, along whichever index is contiguous (two threads share a row of a
 *   k-contiguous tile: one 32-byte sector);
 * - tiles are visited in grouped order (GROUP_M rows of tiles at a time) for L2 reuse;
 * - split-K writes partial tiles to a scratch buffer `[S, batch, M, N]` that a second dispatch sums.
 *
 * On the H100 (Vulkan through wgpu) the single-stage BK=8 form is the fastest measured: 39 TFLOP/s at 4096³ (plain
 * layouts), 41–43 with a transposed operand; BK=16, double buffering and the swizzle each measured 3–15 % slower, so
 * they are options, not defaults. The 8×8-per-thread 256-thread workgroup holds more than 128 registers a thread, so
 * one fits an SM: split-K counts whole waves of 132 (see {@link gemmCost}).
 *
 * @module
 */
import { u32, XYZW } from "./wgsl.ts";

/** Tile sizes: BM×BN outputs per workgroup, BK depth per stage, TM×TN outputs per thread (multiples of 4). */
export interface GemmTiles {
  /** Output rows per workgroup. */
  readonly BM: number;
  /** Output columns per workgroup. */
  readonly BN: number;
  /** Depth of one workgroup-memory stage. */
  readonly BK: number;
  /** Output rows per thread (multiple of 4). */
  readonly TM: number;
  /** Output columns per thread (multiple of 4). */
  readonly TN: number;
  /** Workgroup-memory stages: 1 (default) or 2 (double buffering, one barrier per K-step). */
  readonly stages?: 1 | 2;
  /**
   * Layout of a k-contiguous operand's tile in workgroup memory, whose scalar stores may share banks: `plain`
   * (default), `swizzle` (XOR the vec4 column with bit 2 of k; needs TX or TY a multiple of 8, else plain) or `pad`
   * (one vec4 more per row).
   */
  readonly kLayout?: "swizzle" | "pad" | "plain";
  /**
   * Type the workgroup tiles per K-row (`array<array<vec4, row>, BK>`, and per stage), so that a read's runtime
   * indices are the thread's loop-invariant column (and the stage). WGSL's bounds checks clamp each runtime index
   * (wgpu's Vulkan backend emits a `min` per access): on the flat default each of a K-step's TM/4 + TN/4 reads per k
   * clamps its own `base + k·row + t`, which costs an instruction per read or a register per distinct offset; nested,
   * the clamps are TM/4 + TN/4 values for the whole loop. Default false (flat arrays).
   */
  readonly nested?: boolean;
  /**
   * k's per unrolled block of a K-step's inner product (divides BK; default BK: the whole step unrolled). Smaller
   * values loop over blocks, which bounds how far the compiler can hoist workgroup reads ahead of the FMAs (each
   * hoisted k holds TM/4 + TN/4 vec4 registers; fully unrolled, 8×16 per thread ran at 14–17 TFLOP/s on the H100,
   * as if spilling). The swizzled layout needs blocks of a multiple of 8 k (else it is plain).
   */
  readonly kUnroll?: number;
  /**
   * Loop bound of the blocks when `kUnroll` < BK: `const` (default; the compiler may unroll it back) or `opaque`
   * (BK plus a term that is zero for every dispatchable workgroup but that the compiler cannot prove zero).
   */
  readonly kBound?: "const" | "opaque";
  /** Rows of tiles per raster group (consecutive workgroups walk M within a group, then N; default 8). */
  readonly groupM?: number;
  /**
   * Keep a k-contiguous A tile k-major in workgroup memory (`[BM][BK/4]` vec4 along k): one vec4 store per global
   * load instead of four scalar ones, and the inner product reads TM vec4 per 4 k instead of TM/4 per k (the same
   * count). Ignored when A is m-contiguous; needs `kUnroll` a multiple of 4. Default false (A transposed on store).
   */
  readonly aKMajor?: boolean;
}

/**
 * 128×128 tile, 256 threads of 8×8 (16 vec4 accumulators), K-step 16, nested workgroup tiles: large problems. On the
 * H100 (bench/gemm_sweep.ts, 2026-11-26) 42.9 TFLOP/s at 4096³ against 39.1 flat with K-step 8; flat with K-step 16
 * ran at 32 (the per-read bounds clamps of a flat tile cost more the longer the K-step).
 */
export const TILES_128: GemmTiles = { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8, nested: true };
/**
 * The 128×128 tile for a k-contiguous B (the `linear` layout, x·Wᵀ): flat, K-step 8. There the nested K-step-16 tile
 * measured slower on the H100 (4096³ with Bᵀ: 38.2 against 40.6; ConvNeXt-T's forward pointwise shapes 2–8 % slower).
 */
export const TILES_128_BT: GemmTiles = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };

/** The chooser's tiles adjusted to B's layout: {@link TILES_128} becomes {@link TILES_128_BT} for a k-contiguous B. */
export function tilesForB(tiles: GemmTiles, bContiguous: "k" | "mn"): GemmTiles {
  return tiles === TILES_128 && bContiguous === "k" ? TILES_128_BT : tiles;
}
/** 128×64 tile, 128 threads of 8×8, nested: widths of 64·odd (192 channels) and finer waves (7–17 % over flat). */
export const TILES_128x64: GemmTiles = { BM: 128, BN: 64, BK: 8, TM: 8, TN: 8, nested: true };
/** 64×128 tile, 128 threads of 8×8, nested. */
export const TILES_64x128: GemmTiles = { BM: 64, BN: 128, BK: 8, TM: 8, TN: 8, nested: true };
/** 64×64 tile, 256 threads of 4×4, K-step 16. */
export const TILES_64: GemmTiles = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
/** 32×32 tile, 64 threads of 4×4, K-step 16: tiny problems. */
export const TILES_32: GemmTiles = { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 };

/** How the core reads one operand. `i` is the row of A (m) or the column of B (n). */
export interface GemmOperand {
  /** WGSL expression of the element at u32 expressions (batch, i, k); the core checks i and k bounds. */
  readonly element: (b: string, i: string, k: string) => string;
  /** Which index is adjacent in memory; tile loads walk it with consecutive threads so reads coalesce. */
  readonly contiguous: "k" | "mn";
  /** When given: an aligned vec4 along `contiguous` starting at (b, i, k) (that coordinate a multiple of 4). */
  readonly vec4?: (b: string, i: string, k: string) => string;
}

/** Everything the core needs to emit one GEMM dispatch. */
export interface GemmSpec {
  readonly dtype: "f32" | "i32" | "u32";
  readonly batch: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly tiles: GemmTiles;
  readonly a: GemmOperand;
  readonly b: GemmOperand;
  /** Read-only binding declarations (bindings 0…) the operands and the store use. */
  readonly inputDecls: readonly string[];
  /** Statements run once per workgroup, given the batch index expression `bi`. */
  readonly prelude?: (bi: string) => string[];
  /** Number of K splits; > 1 writes partial sums to `part` (binding after the inputs) instead of calling `store`. */
  readonly splitK: number;
  /** Output binding declarations (after the inputs); unused when split. */
  readonly outputDecls: readonly string[];
  /** Stores value `v` (scalar, or vec4 of 4 consecutive columns when `width` is 4) at (batch, row, col). */
  readonly store: (b: string, row: string, col: string, v: string, width: 1 | 4) => string[];
  /** Whether `store` accepts width 4 (then used when N % 4 == 0). */
  readonly storeVec4: boolean;
  /** Extra WGSL (helper functions) the store needs. */
  readonly helpers?: string;
}

/** Tiles along M and N for a problem. */
export function tileCounts(spec: Pick<GemmSpec, "M" | "N" | "tiles">): { tilesM: number; tilesN: number } {
  return { tilesM: Math.ceil(spec.M / spec.tiles.BM), tilesN: Math.ceil(spec.N / spec.tiles.BN) };
}

/** Number of workgroups a GEMM dispatch launches. */
export function gemmWorkgroups(spec: Pick<GemmSpec, "M" | "N" | "tiles" | "batch" | "splitK">): number {
  const { tilesM, tilesN } = tileCounts(spec);
  return tilesM * tilesN * spec.batch * spec.splitK;
}

/** K elements per split: a multiple of BK so no tile straddles two splits. */
export function splitChunk(K: number, splitK: number, BK: number): number {
  return Math.ceil(Math.ceil(K / splitK) / BK) * BK;
}

/** The largest split ≤ `splitK` that leaves no split empty once chunks are rounded up to BK (at least 1). */
export function usableSplit(K: number, splitK: number, BK: number): number {
  let s = Math.max(1, Math.floor(splitK));
  while (s > 1 && splitChunk(K, s, BK) * (s - 1) >= K) s--;
  return s;
}

const GROUP_M = 8;

/** Where one operand's tile lives in workgroup memory and how threads load it. */
interface TileLayout {
  /** vec4 slots per k-row (R/4, plus one when padded). */
  readonly row: number;
  /** vec4 slots per stage. */
  readonly stage: number;
  /** Whether the vec4 column is XORed with `k & 4`. */
  readonly swizzle: boolean;
  /** Rows are the tile's m rows, each `row` vec4 along k (A only), instead of k-rows of vec4 along m / n. */
  readonly kMajor: boolean;
}

function tileLayout(
  op: GemmOperand,
  R: number,
  BK: number,
  T: number,
  mode: GemmTiles["kLayout"],
  kUnroll: number,
  kMajor = false,
): TileLayout {
  const plain = { row: R / 4, stage: (BK * R) / 4, swizzle: false, kMajor: false };
  if (op.contiguous === "mn") return plain;
  if (kMajor) return { row: BK / 4, stage: (BK * R) / 4, swizzle: false, kMajor: true };
  // The swizzle must commute with the reads' `q·T + t` split: t ^ 4 < T needs T a multiple of 8. Reads pick the
  // swizzled column by bit 2 of k at generation time, so a looped block must keep k's bit 2: blocks of 8.
  const canSwizzle = T % 8 === 0 && R % 32 === 0 && kUnroll % 8 === 0;
  const m = mode ?? "plain";
  if (m === "swizzle" && canSwizzle) return { ...plain, swizzle: true };
  if (m === "pad") return { row: R / 4 + 1, stage: BK * (R / 4 + 1), swizzle: false, kMajor: false };
  return plain;
}

/** Workgroup-memory stages and per-operand layouts of a GEMM. */
function gemmLayout(spec: Pick<GemmSpec, "tiles" | "a" | "b">): { stages: 1 | 2; A: TileLayout; B: TileLayout } {
  const { BM, BN, BK, TM, TN, kLayout } = spec.tiles;
  const U = spec.tiles.kUnroll ?? BK;
  const A = tileLayout(spec.a, BM, BK, BM / TM, kLayout, U, spec.tiles.aKMajor);
  const B = tileLayout(spec.b, BN, BK, BN / TN, kLayout, U);
  const stages = spec.tiles.stages ?? 1;
  return { stages, A, B };
}

/** Bytes of workgroup memory a GEMM dispatch declares (the provided tiles stay within 16 KiB; check larger ones). */
export function gemmWorkgroupBytes(spec: Pick<GemmSpec, "tiles" | "a" | "b">): number {
  const { stages, A, B } = gemmLayout(spec);
  return stages * 16 * (A.stage + B.stage);
}

/** Emits the WGSL module of one GEMM dispatch (the caller folds the grid with {@link gemmWorkgroups}). */
export function gemmCode(spec: GemmSpec, flatId: string, guard: string): string {
  const { BM, BN, BK, TM, TN } = spec.tiles;
  const { M, N, K, batch, dtype } = spec;
  if (TM % 4 || TN % 4 || BM % TM || BN % TN || BK % 4 || BM % 4 || BN % 4) {
    throw new Error(`gemm: bad tiles ${JSON.stringify(spec.tiles)}`);
  }
  const U = spec.tiles.kUnroll ?? BK;
  if (!Number.isInteger(U) || U < 1 || BK % U) {
    throw new Error(`gemm: kUnroll ${U} must be a positive divisor of BK ${BK}`);
  }
  const groupM = spec.tiles.groupM ?? GROUP_M;
  if (!Number.isInteger(groupM) || groupM < 1) throw new Error(`gemm: groupM ${groupM} must be a positive integer`);
  const nested = spec.tiles.nested ?? false;
  const looped = U < BK;
  const { stages, A: layA, B: layB } = gemmLayout(spec);
  if (layA.kMajor && U % 4) throw new Error(`gemm: aKMajor needs kUnroll a multiple of 4, got ${U}`);
  const TX = BN / TN, TY = BM / TM, NT = TX * TY;
  const { tilesM, tilesN } = tileCounts(spec);
  const V = `vec4<${dtype}>`;
  const zero = `${dtype}(0)`;
  const split = spec.splitK > 1;
  const Kc = split ? splitChunk(K, spec.splitK, BK) : K;
  const body: string[] = [];
  if (guard) body.push(guard);
  const perBatch = tilesM * tilesN;
  const group = Math.min(groupM, tilesM);
  body.push(
    `let wid = ${flatId};`,
    `let tile = wid % ${u32(perBatch)};`,
    `let bs = wid / ${u32(perBatch)};`,
    `let bi = bs % ${u32(batch)};`,
    `let si = bs / ${u32(batch)};`,
    `let grp = tile / ${u32(group * tilesN)};`,
    `let gsz = min(${u32(tilesM)} - grp * ${u32(group)}, ${u32(group)});`,
    `let m0 = (grp * ${u32(group)} + tile % gsz) * ${u32(BM)};`,
    `let n0 = ((tile % ${u32(group * tilesN)}) / gsz) * ${u32(BN)};`,
    `let ty = lid / ${u32(TX)};`,
    `let tx = lid % ${u32(TX)};`,
  );
  if (layA.swizzle) body.push("let tyS = ty ^ 4u;");
  if (layA.kMajor) body.push(nested ? "let tyR = ty * 4u;" : `let tyA = ty * ${u32(4 * layA.row)};`);
  if (layB.swizzle) body.push("let txS = tx ^ 4u;");
  body.push(
    `let k_begin = si * ${u32(Kc)};`,
    // A split past the end of K (callers may ask for more splits than K has steps) runs no steps and stores zeros.
    split
      ? `let k_end = max(min(k_begin + ${u32(Kc)}, ${u32(K)}), k_begin);`
      : `let k_end = min(k_begin + ${u32(Kc)}, ${u32(K)});`,
    `let n_kt = (k_end - k_begin + ${u32(BK - 1)}) / ${u32(BK)};`,
  );
  // The flat workgroup id never reaches 2³²−1 (grids fold to at most 65535²), which the compiler cannot know.
  if (looped && spec.tiles.kBound === "opaque") body.push(`let k_lim = ${u32(BK)} + u32(wid == 4294967295u);`);
  if (spec.prelude) body.push(...spec.prelude("bi"));

  /**
   * A workgroup tile element: operand `name`, stage (null for one stage; else its index expression, and the flat
   * form's offset prefix), row (a K-row, or an m row when k-major) and vec4 column within the row.
   */
  type Stage = { readonly index: string; readonly flat: string } | null;
  const tileRef = (name: string, lay: TileLayout, stage: Stage, row: string, col: string): string =>
    nested
      ? `${name}s[${stage ? `${stage.index}][` : ""}${row}][${col}]`
      : `${name}s[${stage ? stage.flat : ""}${row} * ${u32(lay.row)} + ${col}]`;

  // Tile loads: per operand, the thread→element mapping (hoisted), staging registers, global loads, shared stores.
  const load = (name: "A" | "B", op: GemmOperand, lay: TileLayout, R: number, D: number, i0: string) => {
    const vec = op.vec4 !== undefined && (op.contiguous === "k" ? K % 4 === 0 : D % 4 === 0);
    const w = vec ? 4 : 1;
    const E = (R * BK) / w;
    const L = Math.ceil(E / NT);
    const exact = E % NT === 0;
    const hoisted: string[] = [];
    const fetch: string[] = [];
    const stash = (stage: Stage): string[] => {
      const out: string[] = [];
      for (let l = 0; l < L; l++) {
        const u = `${name}_u${l}`, iN = `${name}_i${l}`, kN = `${name}_k${l}`;
        // k is a multiple of 4 for vec4 loads, so k + c keeps bit 2 of k: one swizzled column for the four rows.
        const col = lay.swizzle ? `((${iN} / 4u) ^ (${kN} & 4u))` : `${iN} / 4u`;
        const at = (kk: string) => tileRef(name, lay, stage, kk, col);
        const st: string[] = [];
        if (lay.kMajor) {
          const ref = tileRef(name, lay, stage, iN, `${kN} / 4u`);
          st.push(vec ? `${ref} = ${name}_r${l};` : `${ref}[${kN} % 4u] = ${name}_r${l};`);
        } else if (vec && op.contiguous === "mn") st.push(`${at(kN)} = ${name}_r${l};`);
        else if (vec) {
          for (let c = 0; c < 4; c++) st.push(`${at(`(${kN} + ${c}u)`)}[${iN} % 4u] = ${name}_r${l}.${XYZW[c]};`);
        } else st.push(`${at(kN)}[${iN} % 4u] = ${name}_r${l};`);
        out.push(exact ? st.join(" ") : `if (${u} < ${u32(E)}) { ${st.join(" ")} }`);
      }
      return out;
    };
    for (let l = 0; l < L; l++) {
      const u = `${name}_u${l}`, iN = `${name}_i${l}`, kN = `${name}_k${l}`;
      hoisted.push(`let ${u} = lid + ${u32(l * NT)};`);
      if (op.contiguous === "k") {
        // `per` threads walk k within a row (vec4: two threads = one 32-byte sector), the rest walk rows; with more
        // than `per·w` k per stage, further row sweeps take the next k-groups.
        const per = vec ? Math.min(2, BK / 4) : Math.min(8, BK);
        if (per * w === BK) {
          hoisted.push(`let ${kN} = (${u} % ${u32(per)}) * ${u32(w)};`, `let ${iN} = ${u} / ${u32(per)};`);
        } else {
          hoisted.push(
            `let ${kN} = ((${u} / ${u32(per * R)}) * ${u32(per)} + ${u} % ${u32(per)}) * ${u32(w)};`,
            `let ${iN} = (${u} / ${u32(per)}) % ${u32(R)};`,
          );
        }
      } else {
        const per = R / w;
        hoisted.push(`let ${iN} = (${u} % ${u32(per)}) * ${u32(w)};`, `let ${kN} = ${u} / ${u32(per)};`);
      }
      hoisted.push(`var ${name}_r${l}: ${vec ? V : dtype};`);
      const gi = `(${i0} + ${iN})`;
      const gk = `(k0 + ${kN})`;
      const conds: string[] = [];
      if (!exact) conds.push(`${u} < ${u32(E)}`);
      if (D % R !== 0) conds.push(`${gi} < ${u32(D)}`);
      if (K % BK !== 0) conds.push(`${gk} < ${u32(K)}`);
      const value = vec ? op.vec4!("bi", gi, gk) : op.element("bi", gi, gk);
      if (conds.length) {
        fetch.push(
          `if (${conds.join(" && ")}) { ${name}_r${l} = ${value}; } else { ${name}_r${l} = ${
            vec ? `${V}(${zero})` : zero
          }; }`,
        );
      } else fetch.push(`${name}_r${l} = ${value};`);
    }
    return { hoisted, fetch, stash };
  };
  const la = load("A", spec.a, layA, BM, M, "m0");
  const lb = load("B", spec.b, layB, BN, N, "n0");
  body.push(...la.hoisted, ...lb.hoisted);
  for (let r = 0; r < TM; r++) for (let p = 0; p < TN / 4; p++) body.push(`var acc${r}_${p} = ${V}(${zero});`);

  // One K-step's FMAs reading stage `stA` / `stB`: fully unrolled, or a loop over blocks of U unrolled k's.
  const compute = (stA: Stage, stB: Stage): string[] => {
    const out: string[] = [];
    // k-th row of a block: a constant, or `kk + j` when looped (the flat form folds kk·row into kA / kB).
    const read = (name: string, lay: TileLayout, st: Stage, k: number, j: number, T: number, id: string) => {
      const col = `${u32(j * T)} + ${id}`;
      if (!looped) {
        return nested
          ? tileRef(name, lay, st, u32(k), col)
          : `${name}s[${st ? st.flat : ""}${u32(k * lay.row + j * T)} + ${id}]`;
      }
      if (nested) return tileRef(name, lay, st, k ? `kk + ${u32(k)}` : "kk", col);
      return `${name}s[${st ? st.flat : ""}k${name} + ${u32(k * lay.row + j * T)} + ${id}]`;
    };
    // k-major A: the vec4 of 4 k at m row 4·(q·TY + ty) + c, read at the block's k-groups.
    const readKMajor = (q: number, c: number, g: number) => {
      const r = 4 * q * TY + c;
      if (nested) return tileRef("A", layA, stA, `${u32(r)} + tyR`, looped ? (g ? `kg + ${u32(g)}` : "kg") : u32(g));
      return `As[${stA ? stA.flat : ""}${u32(r * layA.row + g)} + tyA${looped ? " + kg" : ""}]`;
    };
    const aValue = (k: number, q: number, c: number) =>
      layA.kMajor ? `${V}(a${k >> 2}_${q}_${c}.${XYZW[k & 3]})` : `${V}(a${k}_${q}.${XYZW[c]})`;
    for (let k = 0; k < U; k++) {
      const sw = (lay: TileLayout, id: string, swId: string) => (lay.swizzle && k & 4 ? swId : id);
      for (let q = 0; q < TM / 4; q++) {
        if (!layA.kMajor) out.push(`let a${k}_${q} = ${read("A", layA, stA, k, q, TY, sw(layA, "ty", "tyS"))};`);
        else if (k % 4 === 0) {
          for (let c = 0; c < 4; c++) out.push(`let a${k >> 2}_${q}_${c} = ${readKMajor(q, c, k >> 2)};`);
        }
      }
      for (let p = 0; p < TN / 4; p++) {
        out.push(`let b${k}_${p} = ${read("B", layB, stB, k, p, TX, sw(layB, "tx", "txS"))};`);
      }
      for (let q = 0; q < TM / 4; q++) {
        for (let c = 0; c < 4; c++) {
          for (let p = 0; p < TN / 4; p++) {
            const acc = `acc${q * 4 + c}_${p}`;
            const a = aValue(k, q, c);
            out.push(
              dtype === "f32" ? `${acc} = fma(${a}, b${k}_${p}, ${acc});` : `${acc} = ${acc} + ${a} * b${k}_${p};`,
            );
          }
        }
      }
    }
    if (!looped) return out;
    const bound = spec.tiles.kBound === "opaque" ? "k_lim" : u32(BK);
    const offsets = [
      ...(layA.kMajor ? ["  let kg = kk / 4u;"] : nested ? [] : [`  let kA = kk * ${u32(layA.row)};`]),
      ...(nested ? [] : [`  let kB = kk * ${u32(layB.row)};`]),
    ];
    return [`for (var kk = 0u; kk < ${bound}; kk = kk + ${u32(U)}) {`, ...offsets, ...indent(out), "}"];
  };
  const fetch = [...la.fetch, ...lb.fetch];
  const stash = (stA: Stage, stB: Stage) => [...la.stash(stA), ...lb.stash(stB)];
  const indent = (ls: string[]) => ls.map((l) => "  " + l);
  // Only a split can be empty (n_kt = 0); its prologue must not read past K.
  const prologue = split ? ["if (n_kt > 0u) {", ...indent(fetch), "}"] : fetch;
  if (K > 0 && stages === 2) {
    const SA = layA.stage, SB = layB.stage;
    const first = { index: "0u", flat: "" };
    const cur = (S: number) => ({ index: "odd", flat: `odd * ${u32(S)} + ` });
    const next = (S: number) => ({ index: "1u - odd", flat: `${u32(S)} - odd * ${u32(S)} + ` });
    body.push(
      "var k0 = k_begin;",
      ...prologue,
      ...stash(first, first),
      "workgroupBarrier();",
      "for (var kt = 0u; kt < n_kt; kt++) {",
      "  let odd = kt & 1u;",
      "  let more = kt + 1u < n_kt;",
      `  k0 = k0 + ${u32(BK)};`,
      "  if (more) {",
      ...indent(indent(fetch)),
      "  }",
      ...indent(compute(cur(SA), cur(SB))),
      "  if (more) {",
      ...indent(indent(stash(next(SA), next(SB)))),
      "  }",
      "  workgroupBarrier();",
      "}",
    );
  } else if (K > 0) {
    // The prefetch of the next step sits in a branch: unconditional loads (re-reading the last tile) measured slower.
    body.push(
      "var k0 = k_begin;",
      ...prologue,
      "for (var kt = 0u; kt < n_kt; kt++) {",
      "  workgroupBarrier();",
      ...indent(stash(null, null)),
      "  workgroupBarrier();",
      `  k0 = k0 + ${u32(BK)};`,
      "  if (kt + 1u < n_kt) {",
      ...indent(indent(fetch)),
      "  }",
      ...indent(compute(null, null)),
      "}",
    );
  }

  // Stores.
  const vecStore = N % 4 === 0 && (split || spec.storeVec4);
  const store = (row: string, col: string, v: string, width: 1 | 4): string[] => {
    if (!split) return spec.store("bi", row, col, v, width);
    const flat = `((si * ${u32(batch)} + bi) * ${u32(M)} + ${row}) * ${u32(N)} + ${col}`;
    return [width === 4 ? `part[(${flat}) / 4u] = ${v};` : `part[${flat}] = ${v};`];
  };
  for (let q = 0; q < TM / 4; q++) {
    for (let c = 0; c < 4; c++) {
      const row = `row${q}_${c}`;
      body.push(`let ${row} = m0 + ${u32((q * TY) * 4 + c)} + ty * 4u;`);
      const rowLines: string[] = [];
      for (let p = 0; p < TN / 4; p++) {
        const col = `col${q}_${c}_${p}`;
        const acc = `acc${q * 4 + c}_${p}`;
        rowLines.push(`let ${col} = n0 + ${u32(p * TX * 4)} + tx * 4u;`);
        if (vecStore) {
          const s = store(row, col, acc, 4);
          rowLines.push(...(N % BN === 0 ? s : [`if (${col} < ${u32(N)}) {`, ...indent(s), "}"]));
        } else {
          for (let j = 0; j < 4; j++) {
            const s = store(row, `(${col} + ${j}u)`, `${acc}.${XYZW[j]}`, 1);
            rowLines.push(`if (${col} + ${j}u < ${u32(N)}) {`, ...indent(s), "}");
          }
        }
      }
      if (M % BM === 0) body.push("{", ...indent(rowLines), "}");
      else body.push(`if (${row} < ${u32(M)}) {`, ...indent(rowLines), "}");
    }
  }
  const wgDecl = (name: string, lay: TileLayout): string => {
    if (!nested) return `var<workgroup> ${name}: array<${V}, ${stages * lay.stage}>;`;
    const rows = `array<array<${V}, ${lay.row}>, ${lay.stage / lay.row}>`;
    return `var<workgroup> ${name}: ${stages === 2 ? `array<${rows}, 2>` : rows};`;
  };
  const nIn = spec.inputDecls.length;
  const decls = [
    ...spec.inputDecls,
    ...(split
      ? [`@group(0) @binding(${nIn}) var<storage, read_write> part: array<${vecStore ? V : dtype}>;`]
      : spec.outputDecls),
    wgDecl("As", layA),
    wgDecl("Bs", layB),
  ];
  return [
    ...decls,
    "",
    ...(spec.helpers ? [spec.helpers, ""] : []),
    `@compute @workgroup_size(${NT})`,
    "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
    ...indent(body),
    "}",
    "",
  ].join("\n");
}

/** A tile configuration the chooser considers, with what the cost model assumes of it. */
export interface GemmCandidate {
  /** The tiles. */
  readonly tiles: GemmTiles;
  /** Throughput of an SM running this tile at full occupancy, relative to 128×128. */
  readonly efficiency: number;
  /** Workgroups one SM holds at once (registers and threads). */
  readonly perSM: number;
}

/**
 * Candidates, best first at equal estimated time, calibrated on an H100 (interleaved, clock-settled runs of 4096³
 * and the ConvNeXt-T pointwise shapes, 70 tile/split variants): with one 128×128 workgroup per SM, two 128×64 ones
 * at 0.97 of its throughput and the partial-round rule of {@link gemmCost}, the model predicts every variant's time
 * relative to its shape's others within ±4 % (8 % worst); 64×64 (4×4 per thread) ran at 0.78 of 128×128.
 */
export const GEMM_CANDIDATES: readonly GemmCandidate[] = [
  { tiles: TILES_128, efficiency: 1, perSM: 1 },
  { tiles: TILES_128x64, efficiency: 0.97, perSM: 2 },
  { tiles: TILES_64x128, efficiency: 0.97, perSM: 2 },
  { tiles: TILES_64, efficiency: 0.78, perSM: 3 },
  { tiles: TILES_32, efficiency: 0.3, perSM: 8 },
];

/** Throughput of one SM on 128×128 tiles, FMA·2 per second (≈ 40 TFLOP/s over 132 SMs). */
const SM_FLOPS = 40e12 / 132;
/** Per-workgroup cost of the prologue, pipeline fill and stores, in K elements (one K-step; the fit wants ~0). */
const WG_OVERHEAD_K = 16;
/** Bytes per second the split-K partials move (written, then read by the sum pass; fitted). */
const SPLIT_BYTES_PER_S = 3e12;
/** Fixed cost of the extra dispatch. */
const SPLIT_LAUNCH_S = 4e-6;

/**
 * Estimated seconds of a GEMM with a candidate tile and split. Workgroups run in rounds of `perSM` per SM; a last,
 * partial round with `j` workgroups on the busiest SM runs each at the SM's throughput with `j` resident
 * (`(j/perSM)^0.5` of full, fitted), so a partial wave of single-resident tiles costs a whole one. The split adds the
 * partials' traffic and a dispatch.
 */
export function gemmCost(
  c: GemmCandidate,
  batch: number,
  M: number,
  N: number,
  K: number,
  splitK: number,
  sms = 132,
): number {
  const { BM, BN, BK } = c.tiles;
  const wg = gemmWorkgroups({ M, N, tiles: c.tiles, batch, splitK });
  const chunk = Math.max(BK, Math.min(K, splitChunk(K, splitK, BK)));
  // Seconds one workgroup takes with the SM to itself at full throughput.
  const work = (2 * BM * BN * (chunk + WG_OVERHEAD_K)) / (SM_FLOPS * c.efficiency);
  const slots = sms * c.perSM;
  const full = Math.floor(wg / slots), rest = wg - full * slots;
  let t = full * c.perSM * work;
  if (rest > 0) {
    const j = Math.ceil(rest / sms);
    t += (j * work) / Math.sqrt(j / c.perSM);
  }
  const extra = splitK > 1 ? (2 * splitK * batch * M * N * 4) / SPLIT_BYTES_PER_S + SPLIT_LAUNCH_S : 0;
  return t + extra;
}

/**
 * Picks tiles and a K split by {@link gemmCost} over {@link GEMM_CANDIDATES} and splits up to `maxSplit` that keep
 * at least 8 K-steps per split (`sms`: streaming multiprocessors to fill, 132 on an H100). Callers that cannot sum
 * partials pass `maxSplit` 1.
 */
export function chooseGemm(
  batch: number,
  M: number,
  N: number,
  K: number,
  sms = 132,
  maxSplit = 256,
): { tiles: GemmTiles; splitK: number } {
  // Thousands of tiny products (the spectral convolution's transforms, a constant matrix times each sample-channel
  // plane) are bound by per-workgroup costs the model does not see: on the H100 (bench/spectral_gemm_sweep.ts) one
  // 128×64 tile per matrix ran 44×31×32 products in 0.094 ms where the model's 64×64 took 0.193, and 64×62×76 in
  // 0.172 against 0.204; 32×32 tiles stay best where the matrix fits one.
  if (batch >= 4096 && M <= 128 && N <= 64 && K <= 128) {
    return { tiles: M <= 32 && N <= 32 ? TILES_32 : TILES_128x64, splitK: 1 };
  }
  let best = { tiles: TILES_32, splitK: 1 }, bestCost = Infinity;
  for (const c of GEMM_CANDIDATES) {
    const top = Math.max(1, Math.min(maxSplit, Math.floor(K / (8 * c.tiles.BK))));
    let prev = 0;
    for (let s = 1; s <= top; s++) {
      const split = usableSplit(K, s, c.tiles.BK);
      if (split === prev) continue;
      prev = split;
      const cost = gemmCost(c, batch, M, N, K, split, sms);
      // The model is good to a few percent: a later (smaller) tile must win by 3 %, a larger split by 0.5 %.
      if (cost < bestCost * (c.tiles === best.tiles ? 0.995 : 0.97)) {
        bestCost = cost;
        best = { tiles: c.tiles, splitK: split };
      }
    }
  }
  return best;
}
