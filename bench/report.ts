/**
 * Output of the benchmark scripts: markdown tables for the terminal, JSON files under `$OUT` (the folder the GPU
 * machine sends back), and the number formats the tables share.
 * @module
 */
import { UsageError } from "../lib/cli/args.ts";

/** A markdown table; numbers are right-aligned, text left-aligned, columns padded so the raw text reads as a table. */
export function markdownTable(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)));
  const numeric = head.map((_, j) => rows.length > 0 && rows.every((r) => typeof r[j] === "number" || r[j] === "–"));
  const width = head.map((h, j) => Math.max(3, h.length, ...cells.map((r) => (r[j] ?? "").length)));
  const line = (r: readonly string[]) =>
    `| ${r.map((c, j) => (numeric[j] ? c.padStart(width[j]) : c.padEnd(width[j]))).join(" | ")} |`;
  const rule = `|${width.map((w, j) => (numeric[j] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(head), rule, ...cells.map(line)].join("\n");
}

/** A number with about four significant digits, no exponent for the magnitudes benchmarks produce. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (Number.isInteger(x)) return String(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 10) return x.toFixed(2);
  if (a >= 0.01 || a === 0) return x.toFixed(3);
  return x.toPrecision(3);
}

/** The results folder: `$OUT` when set (the device machine's return folder), else undefined. */
export function outDir(): string | undefined {
  const dir = Deno.env.get("OUT");
  return dir ? dir : undefined;
}

/** Writes `value` as indented JSON to `$OUT/name` when `$OUT` is set; returns the path written, or undefined. */
export async function writeResult(name: string, value: unknown): Promise<string | undefined> {
  const dir = outDir();
  if (!dir) return undefined;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir.replace(/\/$/, "")}/${name}`;
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
  return path;
}

/** Milliseconds since `t0` (a `performance.now()` reading). */
export function since(t0: number): number {
  return performance.now() - t0;
}

/** Logs a progress line on stderr, so stdout carries only the tables. */
export function progress(msg: string): void {
  console.error(`[bench ${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${msg}`);
}

/**
 * Runs a benchmark script's `main` with its command line. A bad command line (a `UsageError`) prints one line and
 * exits 2; anything else keeps its stack, which a benchmark log needs, and exits 1.
 */
export async function runScript(name: string, main: (argv: readonly string[]) => Promise<void>): Promise<void> {
  try {
    await main(Deno.args);
  } catch (e) {
    const usage = e instanceof UsageError;
    console.error(`${name}: ${usage ? e.message : e instanceof Error ? (e.stack ?? e.message) : e}`);
    Deno.exit(usage ? 2 : 1);
  }
}
