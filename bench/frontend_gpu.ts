/**
 * The log-mel front end on the GPU: one batch of ten-second clips at 32 kHz through `logMel` (reflect-padded STFT as a
 * strided convolution, power, mel matmul, dB, normalisation), compiled once and replayed.
 *
 *     deno run -A bench/frontend_gpu.ts [--batch 64] [--seconds 10] [--steps 20] [--small]
 *
 * Prints milliseconds per batch (GPU time from timestamp queries when present, and wall clock), clips/s and seconds of
 * audio per second; writes `$OUT/frontend_gpu.json`.
 * @module
 */
import { logMel } from "../lib/audio/frontend.ts";
import { FRONTEND } from "../lib/audio/mel.ts";
import type { Tensor } from "../lib/core/tensor.ts";
import { type CommandSpec, helpText, parseArgs } from "../lib/cli/args.ts";
import { type Gpu, requestGpu } from "../lib/gpu/device.ts";
import { type FnTiming, measureFn } from "./harness.ts";
import { markdownTable, progress, runScript, writeResult } from "./report.ts";
import { normalOnGpu } from "./setup.ts";

/** The command line of this script. */
export const FRONTEND_COMMAND: CommandSpec = {
  name: "bench/frontend_gpu.ts",
  summary: "Log-mel front end on the GPU: milliseconds per batch of clips.",
  options: [
    { name: "batch", kind: "int", min: 1, help: "clips per batch (default 64; 2 with --small)" },
    { name: "seconds", kind: "number", min: 0, exclusiveMin: true, help: "clip length (default 10; 1 with --small)" },
    { name: "steps", kind: "int", min: 1, default: 20, help: "timed replays (at most)" },
    { name: "budget", kind: "number", min: 0, exclusiveMin: true, default: 10, help: "seconds for the timed loop" },
    { name: "small", kind: "flag", help: "a small batch of short clips (for software adapters)" },
  ],
};

/** The front end's timing for one batch shape. */
export interface FrontEndResult {
  /** Clips per batch. */
  readonly batch: number;
  /** Samples per clip. */
  readonly samples: number;
  /** Sample rate (Hz). */
  readonly sampleRate: number;
  /** Output shape `[B, 1, mels, frames]`. */
  readonly output: readonly number[];
  /** The measurement. */
  readonly timing: FnTiming;
  /** Milliseconds per batch (the timing's preferred clock). */
  readonly msPerBatch: number;
  /** Clips per second. */
  readonly clipsPerS: number;
  /** Seconds of audio processed per second. */
  readonly audioSecondsPerS: number;
}

/** Measures the front end on `batch` random clips of `samples` samples. */
export async function measureFrontEnd(
  gpu: Gpu,
  batch: number,
  samples: number,
  replay: { iters: number; budgetMs: number },
): Promise<FrontEndResult> {
  const data = await normalOnGpu(gpu, { wave: [batch, samples] });
  try {
    const fn = (wave: Tensor) => logMel(wave);
    const timing = await measureFn(gpu, fn as never, [data.value.wave], replay);
    const output = timing.outputShapes[0];
    const msPerBatch = timing.ms;
    return {
      batch,
      samples,
      sampleRate: FRONTEND.sampleRate,
      output,
      timing,
      msPerBatch,
      clipsPerS: batch / (msPerBatch / 1000),
      audioSecondsPerS: (batch * samples) / FRONTEND.sampleRate / (msPerBatch / 1000),
    };
  } finally {
    data.prepared.destroy();
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(FRONTEND_COMMAND, argv);
  if (args.help) {
    console.log(helpText(FRONTEND_COMMAND).replace(/^deno task /, "deno run -A "));
    return;
  }
  const small = args.values.small === true;
  const batch = (args.values.batch as number | undefined) ?? (small ? 2 : 64);
  const seconds = (args.values.seconds as number | undefined) ?? (small ? 1 : 10);
  const samples = Math.round(seconds * FRONTEND.sampleRate);
  const gpu = await requestGpu();
  progress(`adapter: ${gpu.description}; timestamp queries: ${gpu.features.timestampQuery}`);
  const r = await measureFrontEnd(gpu, batch, samples, {
    iters: args.values.steps as number,
    budgetMs: (args.values.budget as number) * 1000,
  });
  const table = markdownTable(
    [
      "batch",
      "clip s",
      "output",
      `ms/batch (${r.timing.clock})`,
      "wall ms/batch",
      "clips/s",
      "audio s/s",
      "dispatches",
    ],
    [[
      batch,
      seconds,
      r.output.join("×"),
      r.msPerBatch,
      r.timing.wallMs,
      r.clipsPerS,
      r.audioSecondsPerS,
      r.timing.dispatches,
    ]],
  );
  console.log(`\n## Log-mel front end on ${gpu.description}\n\n${table}`);
  const path = await writeResult("frontend_gpu.json", { adapter: gpu.description, ...r });
  if (path) progress(`wrote ${path}`);
  gpu.destroy();
}

if (import.meta.main) await runScript("bench/frontend_gpu.ts", main);
