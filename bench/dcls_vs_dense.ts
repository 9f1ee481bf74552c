/**
 * The cost of DCLS against the dense depthwise convolution it replaces, at the four ConvNeXt-T stage shapes.
 *
 *     deno run -A bench/dcls_vs_dense.ts [--batch 64] [--steps 20] [--small]
 *
 * Per stage (batch 64: C = 96 @ 64×62, 192 @ 32×31, 384 @ 16×15, 768 @ 8×7): the DCLS-Gauss layer (26 elements on a
 * 23×23 grid: kernel construction, then the 23×23 depthwise convolution) against a dense 7×7 depthwise convolution,
 * forward alone and forward + backward (gradients of every parameter and of the input), and the construction alone
 * (forward + backward). Times are GPU times from timestamp queries when present, else the wall clock. Prints a
 * markdown table; writes `$OUT/dcls_vs_dense.json`.
 * @module
 */
import type { Tensor } from "../lib/core/tensor.ts";
import { vjp } from "../lib/core/autodiff.ts";
import { conv2d, type ConvAlgorithm, mul, normal, randomKey, split } from "../lib/core/mod.ts";
import { construct } from "../lib/dcls/construct.ts";
import { dcls2d, type DclsParams, initDcls2d } from "../lib/dcls/layer.ts";
import { type CommandSpec, helpText, parseArgs } from "../lib/cli/args.ts";
import { type Gpu, requestGpu } from "../lib/gpu/device.ts";
import { type FnTiming, measureFn } from "./harness.ts";
import { markdownTable, progress, runScript, writeResult } from "./report.ts";
import { normalOnGpu } from "./setup.ts";

/** The command line of this script. */
export const DCLS_VS_DENSE_COMMAND: CommandSpec = {
  name: "bench/dcls_vs_dense.ts",
  summary: "DCLS-Gauss 23×23 (construction + convolution) against dense depthwise 7×7 at the ConvNeXt-T stage shapes.",
  options: [
    { name: "batch", kind: "int", min: 1, help: "batch size (default 64; 2 with --small)" },
    { name: "steps", kind: "int", min: 1, default: 20, help: "timed replays per measurement (at most)" },
    {
      name: "budget",
      kind: "number",
      min: 0,
      exclusiveMin: true,
      default: 5,
      help: "seconds per timed loop (at most)",
    },
    { name: "small", kind: "flag", help: "narrow, small stages (for software adapters)" },
  ],
};

/** One stage's channels and plane. */
export interface StageShape {
  /** Channels. */
  readonly C: number;
  /** Height (mel axis). */
  readonly H: number;
  /** Width (time axis). */
  readonly W: number;
}

/** The ConvNeXt-T stage shapes on a 128 × 1001 log-mel (after the (2, 16) stem and each 2× downsampling). */
export const CONVNEXT_T_STAGES: readonly StageShape[] = [
  { C: 96, H: 64, W: 62 },
  { C: 192, H: 32, W: 31 },
  { C: 384, H: 16, W: 15 },
  { C: 768, H: 8, W: 7 },
];

/** Small stand-ins for llvmpipe. */
export const SMALL_STAGES: readonly StageShape[] = [{ C: 8, H: 16, W: 15 }, { C: 16, H: 8, W: 7 }];

/** The paper's DCLS settings for the depthwise replacement. */
const KERNEL_COUNT = 26, GRID = 23, DENSE = 7;

/** Timings of one stage. */
export interface StageResult extends StageShape {
  /** Batch size. */
  readonly batch: number;
  /** DCLS layer forward (construction + convolution). */
  readonly dclsForward: FnTiming;
  /** DCLS layer forward and backward (gradients of weight, P, SIG, bias and input). */
  readonly dclsForwardBackward: FnTiming;
  /** Kernel construction alone, forward and backward. */
  readonly constructForwardBackward: FnTiming;
  /** Dense depthwise 7×7 forward. */
  readonly denseForward: FnTiming;
  /** Dense depthwise 7×7 forward and backward. */
  readonly denseForwardBackward: FnTiming;
  /** DCLS forward and backward with the direct 23×23 convolution. */
  readonly directForwardBackward: FnTiming;
  /** DCLS forward and backward with the spectral 23×23 convolution. */
  readonly spectralForwardBackward: FnTiming;
  /** DCLS forward + backward time over the dense one. */
  readonly ratio: number;
}

const dclsOpts = (C: number, algorithm: ConvAlgorithm = "auto") => ({
  dilatedKernelSize: GRID,
  groups: C,
  version: "gauss" as const,
  algorithm,
});

/** The forward and backward of `f` at `primals` with cotangent `ct`: the output and every input's gradient. */
function forwardBackward<P extends unknown[]>(f: (...p: P) => Tensor) {
  return (ct: Tensor, ...primals: P) => {
    const [y, pull] = vjp(f as unknown as (...a: never[]) => Tensor, ...primals);
    // The output is returned too, so the forward is not pruned where the backward does not need it.
    return [y, pull(ct)];
  };
}

/** Measures one stage. */
export async function measureStage(
  gpu: Gpu,
  batch: number,
  s: StageShape,
  replay: { iters: number; budgetMs: number },
): Promise<StageResult> {
  const { C, H, W } = s;
  const [kd, kw] = split(randomKey(7), 2);
  const dcls: DclsParams = initDcls2d(kd, {
    inChannels: C,
    outChannels: C,
    groups: C,
    kernelCount: KERNEL_COUNT,
    dilatedKernelSize: GRID,
    init: "paper",
  });
  const dense = { weight: mul(normal(kw, [C, 1, DENSE, DENSE]), 0.02), bias: dcls.bias! };
  const data = await normalOnGpu(gpu, { x: [batch, C, H, W], gy: [batch, C, H, W], gk: [C, 1, GRID, GRID] });
  const { x, gy, gk } = data.value;
  try {
    const dclsFwd = (p: DclsParams, x: Tensor) => dcls2d(p, x, dclsOpts(C));
    const withAlgorithm = (a: ConvAlgorithm) => (p: DclsParams, x: Tensor) => dcls2d(p, x, dclsOpts(C, a));
    const denseFwd = (p: typeof dense, x: Tensor) => conv2d(x, p.weight, { padding: DENSE >> 1, groups: C }, p.bias);
    const build = (p: DclsParams) => construct(p.weight, p.P, p.SIG, { version: "gauss", dilatedKernelSize: GRID });
    const time = (f: (...a: never[]) => unknown, args: unknown[]) => measureFn(gpu, f, args, replay);
    const dclsForward = await time(dclsFwd as never, [dcls, x]);
    const dclsForwardBackward = await time(forwardBackward(dclsFwd) as never, [gy, dcls, x]);
    const directForwardBackward = await time(forwardBackward(withAlgorithm("direct")) as never, [gy, dcls, x]);
    const spectralForwardBackward = await time(forwardBackward(withAlgorithm("spectral")) as never, [gy, dcls, x]);
    const constructForwardBackward = await time(forwardBackward(build) as never, [gk, dcls]);
    const denseForward = await time(denseFwd as never, [dense, x]);
    const denseForwardBackward = await time(forwardBackward(denseFwd) as never, [gy, dense, x]);
    return {
      ...s,
      batch,
      dclsForward,
      dclsForwardBackward,
      constructForwardBackward,
      denseForward,
      denseForwardBackward,
      directForwardBackward,
      spectralForwardBackward,
      ratio: dclsForwardBackward.ms / denseForwardBackward.ms,
    };
  } finally {
    data.prepared.destroy();
  }
}

/** The comparison table. */
export function dclsTable(results: readonly StageResult[]): string {
  return markdownTable(
    [
      "stage (B×C×H×W)",
      "DCLS fwd ms",
      "DCLS fwd+bwd ms",
      "construct fwd+bwd ms",
      "dense 7×7 fwd ms",
      "dense fwd+bwd ms",
      "DCLS / dense (fwd+bwd)",
      "direct fwd+bwd ms",
      "spectral fwd+bwd ms",
    ],
    results.map((r) => [
      `${r.batch}×${r.C}×${r.H}×${r.W}`,
      r.dclsForward.ms,
      r.dclsForwardBackward.ms,
      r.constructForwardBackward.ms,
      r.denseForward.ms,
      r.denseForwardBackward.ms,
      r.ratio,
      r.directForwardBackward.ms,
      r.spectralForwardBackward.ms,
    ]),
  );
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(DCLS_VS_DENSE_COMMAND, argv);
  if (args.help) {
    console.log(helpText(DCLS_VS_DENSE_COMMAND).replace(/^deno task /, "deno run -A "));
    return;
  }
  const small = args.values.small === true;
  const batch = (args.values.batch as number | undefined) ?? (small ? 2 : 64);
  const replay = { iters: args.values.steps as number, budgetMs: (args.values.budget as number) * 1000 };
  const gpu = await requestGpu();
  progress(`adapter: ${gpu.description}; timestamp queries: ${gpu.features.timestampQuery}`);
  const results: StageResult[] = [];
  for (const s of small ? SMALL_STAGES : CONVNEXT_T_STAGES) {
    progress(`stage ${batch}×${s.C}×${s.H}×${s.W}`);
    results.push(await measureStage(gpu, batch, s, replay));
  }
  const clock = results[0]?.dclsForward.clock ?? "wall";
  console.log(
    `\n## DCLS-Gauss ${GRID}×${GRID} (${KERNEL_COUNT} elements) vs dense depthwise ${DENSE}×${DENSE} on ` +
      `${gpu.description} (${clock} clock)\n\n${dclsTable(results)}`,
  );
  const path = await writeResult("dcls_vs_dense.json", { adapter: gpu.description, clock, results });
  if (path) progress(`wrote ${path}`);
  gpu.destroy();
}

if (import.meta.main) await runScript("bench/dcls_vs_dense.ts", main);
