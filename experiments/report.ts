/**
 * Table 1 from the runs: per configuration (family × convolution), parameters, forward GFLOPs, mAP mean ± std over
 * seeds (sample standard deviation), mAUC and d′, training and inference throughput, and for DCLS rows the mAP with
 * pruned kernels (cells below a relative threshold dropped at inference); as JSON and as Markdown.
 * @module
 */
import type { RunResult } from "./runs.ts";
import type { Family } from "./profiles.ts";

/** Display names of the two convolutions. */
export const VARIANT_LABEL = { dsc: "Depthwise 7×7", dcls: "DCLS-Gauss" } as const;

/** One row of Table 1. */
export interface TableRow {
  /** Family label. */
  readonly family: string;
  /** Convolution. */
  readonly variant: keyof typeof VARIANT_LABEL;
  /** Registry name. */
  readonly model: string;
  /** Trainable scalars. */
  readonly params: number;
  /** Forward GFLOPs for one clip. */
  readonly gflops: number;
  /** Seeds of the runs. */
  readonly seeds: readonly number[];
  /** mAP per seed, in seed order. */
  readonly mAPs: readonly number[];
  /** mAP mean and sample standard deviation over seeds. */
  readonly mAP: { readonly mean: number; readonly std: number };
  /** Mean mAUC over seeds. */
  readonly mAUC: number;
  /** Mean d′ over seeds. */
  readonly dPrime: number;
  /** Training samples/s (data pipeline included): the median step's, averaged over the seeds' runs. */
  readonly trainSamplesPerSecond: number;
  /** Training samples/s of the compiled step alone (synthetic batch, no data pipeline). */
  readonly stepSamplesPerSecond: number;
  /** Inference samples/s of the compiled forward pass. */
  readonly throughput: number;
  /** DCLS rows: the final weights evaluated with pruned kernels (absent for depthwise rows). */
  readonly pruned?: PrunedSummary;
}

/** One run's final weights evaluated with and without pruned DCLS kernels (`deno task eval --prune`). */
export interface PrunedEval {
  /** Relative threshold: cells with |k| < threshold · max|k| of their channel are dropped. */
  readonly threshold: number;
  /** mAP with pruned kernels. */
  readonly mAP: number;
  /** Pruned mAP minus the same evaluation's unpruned mAP. */
  readonly mAPChange: number;
  /** Fraction of DCLS kernel cells kept. */
  readonly fraction: number;
}

/** Pruned-kernel evaluation of a DCLS row, over its seeds. */
export interface PrunedSummary {
  /** Relative threshold. */
  readonly threshold: number;
  /** Pruned mAP mean and sample standard deviation over seeds. */
  readonly mAP: { readonly mean: number; readonly std: number };
  /** Mean change of mAP from pruning. */
  readonly mAPChange: number;
  /** Mean percentage of DCLS kernel cells kept. */
  readonly keptPercent: number;
}

/** Mean and sample standard deviation (0 for one value). */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, std: Math.sqrt(v) };
}

const avg = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** The median: per-step rates have outliers (the first step compiles; steps read back in pairs around a checkpoint). */
function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Rows in family order, depthwise before DCLS. */
export function tableRows(
  families: readonly Family[],
  results: readonly RunResult[],
  info: (model: string) => { params: number; gflops: number; throughput: number; stepThroughput: number },
  prunedOf: (r: RunResult) => PrunedEval | undefined = () => undefined,
): TableRow[] {
  return families.flatMap((f) =>
    (["dsc", "dcls"] as const).map((variant): TableRow => {
      const model = f[variant];
      const runs = results.filter((r) => r.spec.model === model).sort((a, b) => a.spec.seed - b.spec.seed);
      const i = info(model);
      const pe = runs.map(prunedOf).filter((x): x is PrunedEval => x !== undefined);
      const pruned = pe.length === 0 ? {} : {
        pruned: {
          threshold: pe[0].threshold,
          mAP: meanStd(pe.map((x) => x.mAP)),
          mAPChange: avg(pe.map((x) => x.mAPChange)),
          keptPercent: 100 * avg(pe.map((x) => x.fraction)),
        },
      };
      return {
        family: f.label,
        variant,
        model,
        params: i.params,
        gflops: i.gflops,
        seeds: runs.map((r) => r.spec.seed),
        mAPs: runs.map((r) => r.eval.mAP),
        mAP: meanStd(runs.map((r) => r.eval.mAP)),
        mAUC: avg(runs.map((r) => r.eval.mAUC)),
        dPrime: avg(runs.map((r) => r.eval.dPrime)),
        trainSamplesPerSecond: avg(runs.map((r) => median(r.log.flatMap((e) => (e.kind === "train" ? [e.sps] : []))))),
        stepSamplesPerSecond: i.stepThroughput,
        throughput: i.throughput,
        ...pruned,
      };
    })
  );
}

const fmtParams = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`);

function prunedCells(p: PrunedSummary | undefined): string {
  if (!p) return "— | — | —";
  const sign = p.mAPChange >= 0 ? "+" : "";
  return `${p.mAP.mean.toFixed(4)} ± ${p.mAP.std.toFixed(4)} | ${sign}${p.mAPChange.toFixed(4)} | ` +
    `${p.keptPercent.toFixed(2)} %`;
}

/** Table 1 as Markdown, with the setting it was measured in. */
export function tableMarkdown(rows: readonly TableRow[], context: Readonly<Record<string, string>>): string {
  const lines = [
    "# Table 1: depthwise 7×7 vs DCLS-Gauss",
    "",
    ...Object.entries(context).map(([k, v]) => `- ${k}: ${v}`),
    "",
    "| Model | Convolution | Params | GFLOPs | mAP (mean ± std) | per seed | mAUC | d′ | Train samples/s | Step samples/s | Throughput (samples/s) | Pruned mAP | ΔmAP (pruned) | Kept cells |",
    "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.family} | ${VARIANT_LABEL[r.variant]} | ${fmtParams(r.params)} | ${r.gflops.toFixed(3)} | ` +
      `${r.mAP.mean.toFixed(4)} ± ${r.mAP.std.toFixed(4)} | ${r.mAPs.map((m) => m.toFixed(4)).join(", ")} | ` +
      `${r.mAUC.toFixed(4)} | ${r.dPrime.toFixed(3)} | ${r.trainSamplesPerSecond.toFixed(1)} | ` +
      `${r.stepSamplesPerSecond.toFixed(1)} | ${r.throughput.toFixed(1)} | ${prunedCells(r.pruned)} |`
    ),
    "",
    "mAP: macro average precision on the evaluation split (classes without a positive excluded); std: sample standard",
    "deviation over seeds. Train samples/s: whole training runs, data pipeline included; step samples/s: the compiled",
    "training step alone on a synthetic batch (as PyTorch benchmarks report it). Throughput: compiled forward pass in",
    "evaluation mode on this machine; GFLOPs: 2 × MACs of the traced forward graph's matmuls and convolutions for one",
    "clip.",
    ...(rows.some((r) => r.pruned)
      ? [
        "Pruned: the DCLS rows' final weights evaluated again (same split) with every constructed kernel cell below",
        `${rows.find((r) => r.pruned)!.pruned!.threshold} · max|k| of its channel dropped; ΔmAP against the same ` +
        "evaluation unpruned (mean over seeds);",
        "kept cells: the share of DCLS kernel cells (channels × D × D) left.",
      ]
      : []),
    "",
  ];
  return lines.join("\n");
}
