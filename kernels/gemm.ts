/**
 * The tiled GEMM core shared by matmul and the implicit-GEMM convolutions: `C[b] = A[b] · B[b]` with A `[M, K]` and
 * B `[K, N]` seen through operand callbacks (so transposes, broadcast batches and im2col gathers are index math).
 *
 * Structure (the classic register-blocked SGEMM, fully unrolled by the generator):
 * - a workgroup computes a BM×BN tile with (BM/TM)·(BN/TN) threads; each thread owns TM rows × TN columns held in
 *   named `vec4` accumulators `acc{row}_{colvec}` (never arrays indexed in loops, which spill);
 * - per K-step of BK, the A and B tiles are staged in workgroup memory (k-major, as vec4 along M / N), loaded from
 *   global memory into registers one step ahead so the loads overlap the FMAs;
 * - a thread's rows are `4·(q·TY + ty) + c`, its columns `4·(p·TX + tx) + c`, so each K-step reads TM/4 + TN/4 vec4s
 *   from workgroup memory for TM·TN FMAs;
 * - tiles are visited in grouped order (GROUP_M rows of tiles at a time) for L2 reuse;
 * - split-K writes partial tiles to a scratch buffer `[S, batch, M, N]` that a second dispatch sums.
 *
 * @module
 */
import { u32 } from "./wgsl.ts";

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
}

/** 128×128 tile, 256 threads of 8×8 (16 vec4 accumulators), K-step 8: for large problems. */
export const TILES_128: GemmTiles = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
/** 64×64 tile, 256 threads of 4×4, K-step 16: when 128-tiles leave the GPU under-filled. */
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

const GROUP_M = 8;
const XYZW = ["x", "y", "z", "w"];

/** Emits the WGSL module of one GEMM dispatch (the caller folds the grid with {@link gemmWorkgroups}). */
export function gemmCode(spec: GemmSpec, flatId: string, guard: string): string {
  const { BM, BN, BK, TM, TN } = spec.tiles;
  const { M, N, K, batch, dtype } = spec;
  if (TM % 4 || TN % 4 || BM % TM || BN % TN || BK % 4) {
    throw new Error(`gemm: bad tiles ${JSON.stringify(spec.tiles)}`);
  }
  const TX = BN / TN, TY = BM / TM, NT = TX * TY;
  const { tilesM, tilesN } = tileCounts(spec);
  const V = `vec4<${dtype}>`;
  const zero = `${dtype}(0)`;
  const split = spec.splitK > 1;
  const Kc = split ? splitChunk(K, spec.splitK, BK) : K;
  const body: string[] = [];
  if (guard) body.push(guard);
  const perBatch = tilesM * tilesN;
  const group = Math.min(GROUP_M, tilesM);
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
    `let k_begin = si * ${u32(Kc)};`,
    `let k_end = min(k_begin + ${u32(Kc)}, ${u32(K)});`,
    `let n_kt = (k_end - k_begin + ${u32(BK - 1)}) / ${u32(BK)};`,
  );
  if (spec.prelude) body.push(...spec.prelude("bi"));

  // Tile loads: per operand, the thread→element mapping (hoisted), staging registers, global loads, shared stores.
  const load = (name: "A" | "B", op: GemmOperand, R: number, D: number, i0: string) => {
    const vec = op.vec4 !== undefined && (op.contiguous === "k" ? K % 4 === 0 : D % 4 === 0);
    const w = vec ? 4 : 1;
    const E = (R * BK) / w;
    const L = Math.ceil(E / NT);
    const exact = E % NT === 0;
    const hoisted: string[] = [];
    const fetch: string[] = [];
    const stash: string[] = [];
    for (let l = 0; l < L; l++) {
      const u = `${name}_u${l}`;
      hoisted.push(`let ${u} = lid + ${u32(l * NT)};`);
      if (op.contiguous === "k") {
        const per = BK / w;
        hoisted.push(
          `let ${name}_k${l} = (${u} % ${u32(per)}) * ${u32(w)};`,
          `let ${name}_i${l} = ${u} / ${u32(per)};`,
        );
      } else {
        const per = R / w;
        hoisted.push(
          `let ${name}_i${l} = (${u} % ${u32(per)}) * ${u32(w)};`,
          `let ${name}_k${l} = ${u} / ${u32(per)};`,
        );
      }
      hoisted.push(`var ${name}_r${l}: ${vec ? V : dtype};`);
      const gi = `(${i0} + ${name}_i${l})`;
      const gk = `(k0 + ${name}_k${l})`;
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
      const sidx = (kk: string) => `${kk} * ${u32(R / 4)} + ${name}_i${l} / 4u`;
      const st: string[] = [];
      if (vec && op.contiguous === "mn") st.push(`${name}s[${sidx(`${name}_k${l}`)}] = ${name}_r${l};`);
      else if (vec) {
        for (let c = 0; c < 4; c++) {
          st.push(`${name}s[${sidx(`(${name}_k${l} + ${c}u)`)}][${name}_i${l} % 4u] = ${name}_r${l}.${XYZW[c]};`);
        }
      } else st.push(`${name}s[${sidx(`${name}_k${l}`)}][${name}_i${l} % 4u] = ${name}_r${l};`);
      stash.push(exact ? st.join(" ") : `if (${u} < ${u32(E)}) { ${st.join(" ")} }`);
    }
    return { hoisted, fetch, stash };
  };
  const la = load("A", spec.a, BM, M, "m0");
  const lb = load("B", spec.b, BN, N, "n0");
  body.push(...la.hoisted, ...lb.hoisted);
  for (let r = 0; r < TM; r++) for (let p = 0; p < TN / 4; p++) body.push(`var acc${r}_${p} = ${V}(${zero});`);
  body.push("var k0 = k_begin;", ...la.fetch, ...lb.fetch);
  body.push("for (var kt = 0u; kt < n_kt; kt++) {");
  const inner: string[] = ["workgroupBarrier();", ...la.stash, ...lb.stash, "workgroupBarrier();"];
  inner.push(`k0 = k0 + ${u32(BK)};`, "if (kt + 1u < n_kt) {", ...[...la.fetch, ...lb.fetch].map((l) => "  " + l), "}");
  for (let k = 0; k < BK; k++) {
    for (let q = 0; q < TM / 4; q++) inner.push(`let a${k}_${q} = As[${u32(k * (BM / 4) + q * TY)} + ty];`);
    for (let p = 0; p < TN / 4; p++) inner.push(`let b${k}_${p} = Bs[${u32(k * (BN / 4) + p * TX)} + tx];`);
    for (let q = 0; q < TM / 4; q++) {
      for (let c = 0; c < 4; c++) {
        for (let p = 0; p < TN / 4; p++) {
          const acc = `acc${q * 4 + c}_${p}`;
          const a = `${V}(a${k}_${q}.${XYZW[c]})`;
          inner.push(
            dtype === "f32" ? `${acc} = fma(${a}, b${k}_${p}, ${acc});` : `${acc} = ${acc} + ${a} * b${k}_${p};`,
          );
        }
      }
    }
  }
  body.push(...inner.map((l) => "  " + l), "}");

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
          rowLines.push(...(N % BN === 0 ? s : [`if (${col} < ${u32(N)}) {`, ...s.map((l) => "  " + l), "}"]));
        } else {
          for (let j = 0; j < 4; j++) {
            const s = store(row, `(${col} + ${j}u)`, `${acc}.${XYZW[j]}`, 1);
            rowLines.push(`if (${col} + ${j}u < ${u32(N)}) {`, ...s.map((l) => "  " + l), "}");
          }
        }
      }
      if (M % BM === 0) body.push("{", ...rowLines.map((l) => "  " + l), "}");
      else body.push(`if (${row} < ${u32(M)}) {`, ...rowLines.map((l) => "  " + l), "}");
    }
  }
  const nIn = spec.inputDecls.length;
  const decls = [
    ...spec.inputDecls,
    ...(split
      ? [`@group(0) @binding(${nIn}) var<storage, read_write> part: array<${vecStore ? V : dtype}>;`]
      : spec.outputDecls),
    `var<workgroup> As: array<${V}, ${(BK * BM) / 4}>;`,
    `var<workgroup> Bs: array<${V}, ${(BK * BN) / 4}>;`,
  ];
  return [
    ...decls,
    "",
    ...(spec.helpers ? [spec.helpers, ""] : []),
    `@compute @workgroup_size(${NT})`,
    "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
    ...body.map((l) => "  " + l),
    "}",
    "",
  ].join("\n");
}

/**
 * Picks tiles and a K split so that at least `fill` workgroups run (default: two per SM of a 132-SM H100): the
 * largest tile that reaches `fill` by itself or with a split of at most 64 ways that keeps ≥ 8 K-steps per split;
 * small tiles with the largest such split otherwise.
 */
export function chooseGemm(
  batch: number,
  M: number,
  N: number,
  K: number,
  fill = 264,
): { tiles: GemmTiles; splitK: number } {
  const pick = (tiles: GemmTiles, want: number) => {
    let splitK = Math.max(1, Math.min(64, want, Math.floor(K / (8 * tiles.BK))));
    // Drop splits that would be empty after rounding the chunk up to BK.
    while (splitK > 1 && splitChunk(K, splitK, tiles.BK) * (splitK - 1) >= K) splitK--;
    return { tiles, splitK };
  };
  for (const tiles of [TILES_128, TILES_64, TILES_32]) {
    const wg = gemmWorkgroups({ M, N, tiles, batch, splitK: 1 });
    if (wg >= fill) return { tiles, splitK: 1 };
    const maxSplit = Math.min(64, Math.floor(K / (8 * tiles.BK)));
    if (wg * maxSplit >= fill) return pick(tiles, Math.ceil(fill / wg));
  }
  return pick(TILES_32, 64);
}
