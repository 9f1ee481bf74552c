/**
 * Training runs of the experiment as `deno task train` subprocesses, a few at a time: each run has its own folder
 * (checkpoints, final weights, `log.jsonl`, and the task's stderr in `train.log`), so a run that was interrupted is
 * resumed rather than redone. SIGINT stops launching runs and lets the running ones checkpoint and exit.
 * @module
 */
import type { EvalEntry, LogEntry } from "../lib/train/loop.ts";
import { runFiles } from "../lib/train/loop.ts";
import type { Family } from "./profiles.ts";
import { entryUrl } from "../lib/data/entry_url.ts";

/** One training run. */
export interface RunSpec {
  /** The model family. */
  readonly family: Family;
  /** Depthwise or DCLS. */
  readonly variant: "dsc" | "dcls";
  /** Registry name. */
  readonly model: string;
  /** Seed of the run. */
  readonly seed: number;
  /** Run folder. */
  readonly dir: string;
  /** Arguments of the train task (without `--model`, `--seed`, `--out`). */
  readonly args: readonly string[];
  /** Expected cost, to start the longest runs first. */
  readonly cost: number;
}

/** A finished run. */
export interface RunResult {
  /** What was run. */
  readonly spec: RunSpec;
  /** The final evaluation. */
  readonly eval: EvalEntry;
  /** Every training log line. */
  readonly log: readonly LogEntry[];
  /** Wall-clock seconds of the subprocess. */
  readonly seconds: number;
}

const TRAIN_CLI = entryUrl(import.meta.url, "../lib/cli/train.ts").pathname;

/** Reads a run's log. */
export async function readRunLog(dir: string): Promise<LogEntry[]> {
  const text = await Deno.readTextFile(runFiles(dir).log);
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as LogEntry);
}

async function runOne(spec: RunSpec, stop: { requested: boolean; children: Set<Deno.ChildProcess> }) {
  await Deno.mkdir(spec.dir, { recursive: true });
  const args = [
    "run",
    "-A",
    TRAIN_CLI,
    "--model",
    spec.model,
    "--seed",
    String(spec.seed),
    "--out",
    spec.dir,
    "--resume",
    ...spec.args,
  ];
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped", stdin: "null" }).spawn();
  stop.children.add(child);
  const logFile = await Deno.open(`${spec.dir}/train.log`, { write: true, create: true, truncate: true });
  await child.stderr.pipeTo(logFile.writable);
  const status = await child.status;
  stop.children.delete(child);
  const seconds = (performance.now() - t0) / 1000;
  if (status.code === 130 || stop.requested) throw new Interrupted();
  if (!status.success) {
    const tail = (await Deno.readTextFile(`${spec.dir}/train.log`)).trim().split("\n").at(-1) ?? "";
    throw new Error(`${spec.model} seed ${spec.seed} failed (exit ${status.code}): ${tail.replace(/^.*\r/, "")}`);
  }
  const log = await readRunLog(spec.dir);
  const ev = log.findLast((e): e is EvalEntry => e.kind === "eval");
  if (!ev) throw new Error(`${spec.dir}: the run wrote no evaluation`);
  return { spec, eval: ev, log, seconds };
}

/** Raised when SIGINT stopped the experiment. */
export class Interrupted extends Error {
  /** The experiment was interrupted. */
  constructor() {
    super("interrupted");
    this.name = "Interrupted";
  }
}

/**
 * Runs every spec, `jobs` at a time, longest first; `onDone` sees each result as it arrives. Rejects with
 * {@link Interrupted} after SIGINT (running subprocesses write their checkpoints first).
 */
export async function runAll(
  specs: readonly RunSpec[],
  jobs: number,
  onDone: (r: RunResult, done: number, total: number) => void,
): Promise<RunResult[]> {
  const stop = { requested: false, children: new Set<Deno.ChildProcess>() };
  const onSignal = () => {
    stop.requested = true;
    for (const c of stop.children) {
      try {
        c.kill("SIGINT");
      } catch { /* already gone */ }
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const queue = [...specs].sort((a, b) => b.cost - a.cost);
  const results: RunResult[] = [];
  let failure: unknown;
  const worker = async () => {
    while (queue.length > 0 && !stop.requested && failure === undefined) {
      const spec = queue.shift()!;
      try {
        const r = await runOne(spec, stop);
        results.push(r);
        onDone(r, results.length, specs.length);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  if (stop.requested) throw new Interrupted();
  if (failure !== undefined) throw failure;
  return specs.map((s) => results.find((r) => r.spec === s)!);
}
