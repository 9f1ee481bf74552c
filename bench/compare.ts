/**
 * The side-by-side table: our throughput (bench/throughput.ts's JSON) against the PyTorch reference
 * (bench/pytorch_reference.py's JSON lines), with ratios ours / PyTorch, and what DCLS costs against the same family's
 * depthwise model on each side.
 *
 *     deno run -A bench/compare.ts --ours OUT/throughput.json --torch OUT/pytorch.jsonl
 *
 * Prints markdown; writes `$OUT/compare.json` and `$OUT/compare.md` when `$OUT` is set.
 * @module
 */
import { type CommandSpec, helpText, parseArgs, UsageError } from "../lib/cli/args.ts";
import { markdownTable, progress, writeResult } from "./report.ts";
import type { ThroughputReport } from "./throughput.ts";

/** The command line of this script. */
export const COMPARE_COMMAND: CommandSpec = {
  name: "bench/compare.ts",
  summary: "Our throughput against the PyTorch reference, with ratios.",
  options: [
    { name: "ours", kind: "string", value: "FILE", required: true, help: "throughput.json from bench/throughput.ts" },
    { name: "torch", kind: "string", value: "FILE", help: "JSON lines from bench/pytorch_reference.py" },
  ],
};

/** One line of bench/pytorch_reference.py's output. */
export interface TorchRecord {
  /** Model family (convnext, convformer, fastvit). */
  readonly family: string;
  /** Whether the depthwise convolutions are DCLS. */
  readonly dcls: boolean;
  /** Parameter count. */
  readonly params?: number;
  /** Batch size. */
  readonly batch?: number;
  /** Whether autocast to bf16 was on. */
  readonly bf16?: boolean;
  /** Training samples per second. */
  readonly train_samples_per_s: number;
  /** Inference samples per second. */
  readonly infer_samples_per_s: number;
  /** CUDA device name. */
  readonly device?: string;
}

/** One row of the comparison. */
export interface CompareRow {
  /** Model family. */
  readonly family: string;
  /** Whether this is the DCLS variant. */
  readonly dcls: boolean;
  /** Our registry name, when we measured it. */
  readonly model?: string;
  /** Our training samples/s. */
  readonly oursTrain?: number;
  /** PyTorch training samples/s. */
  readonly torchTrain?: number;
  /** Ours over PyTorch, training. */
  readonly trainRatio?: number;
  /** Our inference samples/s. */
  readonly oursInfer?: number;
  /** PyTorch inference samples/s. */
  readonly torchInfer?: number;
  /** Ours over PyTorch, inference. */
  readonly inferRatio?: number;
  /** For a DCLS row: the depthwise model's training samples/s over this one's, ours (how much slower DCLS is). */
  readonly oursDclsCostTrain?: number;
  /** As `oursDclsCostTrain`, PyTorch. */
  readonly torchDclsCostTrain?: number;
  /** As `oursDclsCostTrain`, for inference. */
  readonly oursDclsCostInfer?: number;
  /** As `oursDclsCostInfer`, PyTorch. */
  readonly torchDclsCostInfer?: number;
}

/** Parses the PyTorch script's stdout: one JSON object per line; other lines (warnings) are skipped. */
export function parseTorchLines(text: string, file = "PyTorch output"): TorchRecord[] {
  const out: TorchRecord[] = [];
  text.split("\n").forEach((line, i) => {
    const s = line.trim();
    if (!s.startsWith("{")) return;
    let r: unknown;
    try {
      r = JSON.parse(s);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const o = r as Partial<TorchRecord>;
    if (typeof o.family !== "string" || typeof o.dcls !== "boolean") {
      throw new Error(`${file}:${i + 1}: a record needs "family" (string) and "dcls" (boolean)`);
    }
    if (typeof o.train_samples_per_s !== "number" || typeof o.infer_samples_per_s !== "number") {
      throw new Error(`${file}:${i + 1}: a record needs train_samples_per_s and infer_samples_per_s (numbers)`);
    }
    out.push(o as TorchRecord);
  });
  return out;
}

const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);

/** Pairs our results with the PyTorch records by (family, dcls); fp32 PyTorch records are preferred. */
export function compareRows(ours: ThroughputReport, torch: readonly TorchRecord[]): CompareRow[] {
  const key = (family: string, dcls: boolean) => `${family}|${dcls}`;
  const torchBy = new Map<string, TorchRecord>();
  for (const r of torch) {
    const k = key(r.family, r.dcls);
    const prev = torchBy.get(k);
    if (!prev || (prev.bf16 && !r.bf16)) torchBy.set(k, r);
  }
  const oursBy = new Map(ours.results.map((r) => [key(r.family, r.dcls), r]));
  const keys = [...new Set([...oursBy.keys(), ...torchBy.keys()])];
  const family = (k: string) => k.split("|")[0];
  const order = [...new Set(keys.map(family))];
  keys.sort((a, b) =>
    order.indexOf(family(a)) - order.indexOf(family(b)) || Number(a.endsWith("true")) - Number(b.endsWith("true"))
  );
  return keys.map((k) => {
    const [fam, d] = k.split("|");
    const dcls = d === "true";
    const o = oursBy.get(k), t = torchBy.get(k);
    const oDense = oursBy.get(key(fam, false)), tDense = torchBy.get(key(fam, false));
    const oursTrain = o?.train?.samplesPerS, oursInfer = o?.infer?.samplesPerS;
    const torchTrain = t?.train_samples_per_s, torchInfer = t?.infer_samples_per_s;
    return {
      family: fam,
      dcls,
      model: o?.model,
      oursTrain,
      torchTrain,
      trainRatio: ratio(oursTrain, torchTrain),
      oursInfer,
      torchInfer,
      inferRatio: ratio(oursInfer, torchInfer),
      ...(dcls
        ? {
          oursDclsCostTrain: ratio(oDense?.train?.samplesPerS, oursTrain),
          torchDclsCostTrain: ratio(tDense?.train_samples_per_s, torchTrain),
          oursDclsCostInfer: ratio(oDense?.infer?.samplesPerS, oursInfer),
          torchDclsCostInfer: ratio(tDense?.infer_samples_per_s, torchInfer),
        }
        : {}),
    };
  });
}

const dash = (x: number | undefined) => (x === undefined ? "–" : x);

/** The comparison as markdown: throughput with ratios, then DCLS cost per family. */
export function compareTables(rows: readonly CompareRow[]): string {
  const main = markdownTable(
    ["model", "train ours", "train PyTorch", "train ours/PyTorch", "infer ours", "infer PyTorch", "infer ours/PyTorch"],
    rows.map((r) => [
      r.model ?? `${r.family}${r.dcls ? " (DCLS)" : ""}`,
      dash(r.oursTrain),
      dash(r.torchTrain),
      dash(r.trainRatio),
      dash(r.oursInfer),
      dash(r.torchInfer),
      dash(r.inferRatio),
    ]),
  );
  const dcls = rows.filter((r) => r.dcls);
  const cost = markdownTable(
    ["family", "train: ours", "train: PyTorch", "infer: ours", "infer: PyTorch"],
    dcls.map((r) => [
      r.family,
      dash(r.oursDclsCostTrain),
      dash(r.torchDclsCostTrain),
      dash(r.oursDclsCostInfer),
      dash(r.torchDclsCostInfer),
    ]),
  );
  const head = `Samples/s (higher is better); ratios above 1 mean we are faster.\n\n${main}`;
  if (dcls.length === 0) return head;
  return `${head}\n\nDCLS cost: the depthwise model's samples/s over the DCLS model's ` +
    `(1 = free, 2 = DCLS halves throughput).\n\n${cost}`;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(COMPARE_COMMAND, argv);
  if (args.help) {
    console.log(helpText(COMPARE_COMMAND).replace(/^deno task /, "deno run -A "));
    return;
  }
  const oursFile = String(args.values.ours);
  let ours: ThroughputReport;
  try {
    ours = JSON.parse(await Deno.readTextFile(oursFile)) as ThroughputReport;
  } catch (e) {
    throw new Error(`${oursFile}: cannot read our results (${(e as Error).message.split("\n")[0]})`);
  }
  if (!Array.isArray(ours.results)) throw new Error(`${oursFile}: no "results" array (not a throughput.json?)`);
  const torchFile = args.values.torch === undefined ? undefined : String(args.values.torch);
  let torch: TorchRecord[] = [];
  if (torchFile) {
    try {
      torch = parseTorchLines(await Deno.readTextFile(torchFile), torchFile);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) progress(`${torchFile} not found: PyTorch columns left empty`);
      else throw e;
    }
  }
  const rows = compareRows(ours, torch);
  const device = torch.find((r) => r.device)?.device;
  const head = `## @dcls/audio vs PyTorch, batch ${ours.batch}${ours.small ? " (small models)" : ""}\n\n` +
    `Ours: ${ours.adapter}${device ? `; PyTorch: ${device}` : ""}.\n\n`;
  const notes = [
    ...(ours.failed ?? []).map((f) => `Ours failed on ${f.model}: ${f.error}`),
    ...(ours.skipped ?? []).map((m) => `Ours skipped ${m} (deadline).`),
  ];
  const md = head + compareTables(rows) + notes.map((n) => `\n\n${n}`).join("");
  console.log(md);
  const json = await writeResult("compare.json", { ours: ours.adapter, torch: device, batch: ours.batch, rows });
  if (json) {
    await Deno.writeTextFile(json.replace(/compare\.json$/, "compare.md"), md + "\n");
    progress(`wrote ${json} and compare.md`);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    // A bad command line is one line; anything else keeps its stack, which a benchmark log needs.
    const usage = e instanceof UsageError;
    console.error(`bench/compare.ts: ${usage ? e.message : e instanceof Error ? e.message : e}`);
    Deno.exit(usage ? 2 : 1);
  }
}
