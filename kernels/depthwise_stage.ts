/**
 * Staging global data into workgroup memory for the direct depthwise kernels: copies that keep several loads in
 * flight per thread, and row pitches that keep vec4 reads of neighbouring rows free of bank conflicts.
 *
 * @module
 */
import { u32 } from "./wgsl.ts";

/**
 * A pitch of at least `n` words whose vec4 count is odd: rows (or planes) that neighbouring threads read at the same
 * time then start in different 16-byte bank groups, so vec4 reads from workgroup memory do not conflict.
 */
export function oddPitch(n: number): number {
  const v = Math.ceil(n / 4);
  return 4 * (v % 2 ? v : v + 1);
}

/** A copy of global elements into workgroup memory (a vec4 array), for {@link stageLines}. */
export interface StagedCopy {
  /** Elements copied. */
  readonly count: number;
  /** The storage array read. */
  readonly from: string;
  /** The workgroup array written (default `sm`). */
  readonly into?: string;
  /** Threads of the workgroup. */
  readonly threads: number;
  /**
   * For element index `i` (a WGSL u32 name) and a name suffix: statements decoding it, the condition under which the
   * source is read (the slot gets 0 otherwise), the source index and the destination word.
   */
  readonly decode: (i: string, suffix: string) => { lines: string[]; ok: string; src: string; dst: string };
}

/** Elements each thread loads before storing any: independent loads in flight instead of one latency per element. */
const IN_FLIGHT = 4;

/**
 * WGSL statements performing a staged copy: each thread issues up to {@link IN_FLIGHT} global loads, then stores
 * them. Workgroup words no element maps to (pitch padding) are left alone; no kernel reads them.
 */
export function stageLines(copy: StagedCopy): string[] {
  const { count, threads } = copy;
  const U = Math.max(1, Math.min(IN_FLIGHT, Math.ceil(count / threads)));
  const lines = [`for (var base = lid; base < ${u32(count)}; base += ${u32(U * threads)}) {`];
  const stores: string[] = [];
  for (let u = 0; u < U; u++) {
    const i = `i${u}`, x = `_${u}`;
    const d = copy.decode(i, x);
    // Element `base` is in range by the loop condition; the later ones only when the count is not a multiple.
    const inRange = u === 0 || count % (U * threads) === 0 ? "" : `${i} < ${u32(count)} && `;
    lines.push(
      `  let ${i} = base + ${u32(u * threads)};`,
      ...d.lines.map((l) => `  ${l}`),
      `  let ok${x} = ${inRange}${d.ok};`,
      `  let v${x} = select(0.0, ${copy.from}[select(0u, ${d.src}, ok${x})], ok${x});`,
    );
    const to = copy.into ?? "sm";
    const store = `let at${x} = ${d.dst}; ${to}[at${x} / 4u][at${x} % 4u] = v${x};`;
    stores.push(inRange ? `  if (${i} < ${u32(count)}) { ${store} }` : `  { ${store} }`);
  }
  lines.push(...stores, "}");
  return lines;
}
