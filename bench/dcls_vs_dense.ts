/**
 * The cost of DCLS against the dense depthwise convolution it replaces, at the four ConvNeXt-T stage shapes.
 *
 *     deno run -A bench/dcls_vs_dense.ts [--batch 64] [--steps 20] [--reps 8] [--rounds 3] [--small]
 *
 * Per stage (batch 64: C = 96 @ 64×62, 192 @ 32×31, 384 @ 16×15, 768 @ 8×7): the DCLS-Gauss layer (26 elements on a
 * 23×23 grid: kernel construction, then the 23×23 depthwise convolution) against a dense 7×7 depthwise convolution,
 * forward alone and forward + backward (gradients of every parameter and of the input), and the construction alone
 * (forward + backward). Each timed call runs `reps` layers in a row (each forward on the previous pass's output or
 * input gradient, as in a network) and the times are per layer: GPU times from timestamp queries when present, else
 * the wall clock. Those chained layers share their parameters, and their input gradients depend only on the fixed
 * cotangent, so many of their kernels do not wait for each other; the stage measurement runs the stage as ConvNeXt-T
 * does (its depth of layers stacked, each with its own weight and bias, P and SIG shared, forward through all then
 * backward through all, per layer). The window measurement is the convolution DCLS runs with its kernel given.
 * Every measurement is run once untimed, then timed once a round, in turn, for `rounds` rounds; each figure is the
 * median over the rounds, the ratio the median of the rounds' ratios. Prints a markdown table; writes
 * `$OUT/dcls_vs_dense.json`.
 * @module
 */
import type { Tensor } from "../lib/core/tensor.ts";
import { vjp } from "../lib/core/autodiff.ts";
import { conv2d, type ConvAlgorithm, mul, normal, randomKey, split } from "../lib/core/mod.ts";
import { construct } from "../lib/dcls/construct.ts";
import { dcls2d, type DclsParams, initDcls2d } from "../lib/dcls/layer.ts";
import { type CommandSpec, helpText, parseArgs } from "../lib/cli/args.ts";
import { type Gpu, requestGpu } from "../lib/gpu/device.ts";
import { type FnTiming, median, type PreparedGpu, prepareGpu, timeReplays } from "./harness.ts";
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
    { name: "reps", kind: "int", min: 1, help: "layers in a row per timed call (default 8; 1 with --small)" },
    { name: "rounds", kind: "int", min: 1, default: 3, help: "rounds of measurements, taken in turn" },
    { name: "small", kind: "flag", help: "narrow, small stages (for software adapters)" },
  ],
};

/** One stage's channels, plane and depth. */
export interface StageShape {
  /** Channels. */
  readonly C: number;
  /** Blocks, each with one depthwise convolution (ConvNeXt-T: 3, 3, 9, 3). */
  readonly depth: number;
  /** Height (mel axis). */
  readonly H: number;
  /** Width (time axis). */
  readonly W: number;
}

/** The ConvNeXt-T stage shapes on a 128 × 1001 log-mel (after the (2, 16) stem and each 2× downsampling). */
export const CONVNEXT_T_STAGES: readonly StageShape[] = [
  { C: 96, H: 64, W: 62, depth: 3 },
  { C: 192, H: 32, W: 31, depth: 3 },
  { C: 384, H: 16, W: 15, depth: 9 },
  { C: 768, H: 8, W: 7, depth: 3 },
];

/** Small stand-ins for llvmpipe. */
export const SMALL_STAGES: readonly StageShape[] = [{ C: 8, H: 16, W: 15, depth: 2 }, { C: 16, H: 8, W: 7, depth: 2 }];

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
  /**
   * The convolution the DCLS layer runs, forward and backward, with its kernel given instead of built: a dense
   * depthwise convolution over the window of the 23×23 grid that reaches the plane ({@link windowSize}). What the
   * DCLS layer takes beyond it is what the construction costs in the chain.
   */
  readonly windowForwardBackward: FnTiming;
  /**
   * The stage as the network runs it, per layer: `depth` DCLS layers stacked (each on the previous one's output, with
   * its own weights, positions and widths shared as in the paper), forward through all then backward through all.
   */
  readonly dclsStage: FnTiming;
  /** The dense 7×7 stage likewise, per layer. */
  readonly denseStage: FnTiming;
  /** DCLS stage time over the dense one: the median of the rounds' ratios. */
  readonly stageRatio: number;
  /** Each round's stage ratio. */
  readonly stageRatios: readonly number[];
  /** Layers per timed call. */
  readonly reps: number;
  /** Rounds of measurements (each time above is the median over them). */
  readonly rounds: number;
  /** DCLS forward + backward time over the dense one: the median of the rounds' ratios. */
  readonly ratio: number;
  /** Each round's ratio. */
  readonly ratios: readonly number[];
}

/**
 * The kernel window of the 23×23 grid that reaches an H × W plane at stride 1 and "same" padding: the taps within
 * H − 1 rows and W − 1 columns of the centre.
 */
export function windowSize(H: number, W: number): [number, number] {
  return [Math.min(GRID, 2 * H - 1), Math.min(GRID, 2 * W - 1)];
}

type Key = ReturnType<typeof randomKey>;

const dclsOpts = (C: number, algorithm: ConvAlgorithm = "auto") => ({
  dilatedKernelSize: GRID,
  groups: C,
  version: "gauss" as const,
  algorithm,
});

/**
 * `reps` layers in a row, as in a network: each forward takes the previous one's output. A call then keeps the GPU
 * busy for several milliseconds, longer than the host takes to submit the next one, so its clocks stay where a
 * training step has them (one layer alone took 0.2–0.5 ms of GPU time and 0.9–1.3 ms of wall time a call: the GPU
 * idled most of the time and its clocks, and the times measured, wandered by 2× between runs).
 */
function forwardChain<P>(f: (p: P, x: Tensor) => Tensor, reps: number) {
  return (p: P, x: Tensor) => {
    for (let i = 0; i < reps; i++) x = f(p, x);
    return x;
  };
}

/**
 * `reps` forward and backward passes in a row: each forward takes the previous backward's input gradient, so each
 * pass waits for the one before it, as the layers of a network do. Every output and gradient is returned, so
 * nothing is pruned.
 */
export function forwardBackwardChain<P>(f: (p: P, x: Tensor) => Tensor, reps: number) {
  return (ct: Tensor, p: P, x: Tensor) => {
    const outs: unknown[] = [];
    for (let i = 0; i < reps; i++) {
      const [y, pull] = vjp(f as unknown as (...a: never[]) => Tensor, p as never, x as never);
      const [dp, dx] = pull(ct) as [unknown, Tensor];
      outs.push(y, dp);
      x = dx;
    }
    return [outs, x];
  };
}

/**
 * A stage's forward and backward: `layer` applied with each of `p.layers` in turn, each on the previous one's output,
 * then the gradients of every parameter and of the input (the backward then runs through the layers in reverse, each
 * waiting for the one after it, as in a network).
 */
function stageForwardBackward<S, L>(layer: (s: S, l: L, x: Tensor) => Tensor) {
  return (ct: Tensor, p: { shared: S; layers: readonly L[] }, x: Tensor) => {
    const stack = (q: typeof p, x: Tensor) => q.layers.reduce((h, l) => layer(q.shared, l, h), x);
    const [y, pull] = vjp(stack as unknown as (...a: never[]) => Tensor, p as never, x as never);
    return [y, pull(ct)];
  };
}

/** `reps` independent forward and backward passes of `f` (nothing to chain: its output is not its input's shape). */
function forwardBackwardRepeat<P>(f: (p: P) => Tensor, reps: number) {
  return (ct: Tensor, p: P) =>
    Array.from({ length: reps }, () => {
      const [y, pull] = vjp(f as unknown as (...a: never[]) => Tensor, p as never);
      return [y, pull(ct)];
    });
}

/** How a stage is measured. */
export interface MeasureOptions {
  /** Timed replays per measurement (at most) and the time their loop may take. */
  readonly replay: { iters: number; budgetMs: number };
  /** Layers per call (see {@link forwardChain}). */
  readonly reps: number;
  /** Rounds: every measurement is timed once a round, in turn, so all see the GPU in the same state. */
  readonly rounds: number;
}

/** One measurement: the prepared call and its per-layer times, a sample a round. */
interface Measurement {
  readonly prepared: PreparedGpu;
  readonly args: readonly unknown[];
  readonly samples: number[];
  readonly wallSamples: number[];
}

/** Measures one stage. */
export async function measureStage(
  gpu: Gpu,
  batch: number,
  s: StageShape,
  opts: MeasureOptions,
): Promise<StageResult> {
  const { C, H, W } = s;
  const { reps, rounds } = opts;
  const [kd, kw] = split(randomKey(7), 2);
  const dclsLayer = (k: Key): DclsParams =>
    initDcls2d(k, {
      inChannels: C,
      outChannels: C,
      groups: C,
      kernelCount: KERNEL_COUNT,
      dilatedKernelSize: GRID,
      init: "paper",
    });
  // A depthwise kernel of `kh × kw` taps, with the DCLS layer's bias.
  const given = (k: Key, kh: number, kwid: number) => ({
    weight: mul(normal(k, [C, 1, kh, kwid]), 0.02),
    bias: dcls.bias!,
  });
  const dcls = dclsLayer(kd);
  const dense = given(kw, DENSE, DENSE);
  const [KH, KW] = windowSize(H, W);
  const window = given(kw, KH, KW);
  // A stage: each layer its own weight and bias; DCLS positions and widths are the first layer's (shared per stage).
  const layerKeys = split(randomKey(11), s.depth);
  const dclsLayers = layerKeys.map((k, i) => {
    const q = i === 0 ? dcls : dclsLayer(k);
    return { weight: q.weight, bias: q.bias! };
  });
  const denseLayers = layerKeys.map((k) => given(k, DENSE, DENSE));
  const data = await normalOnGpu(gpu, { x: [batch, C, H, W], gy: [batch, C, H, W], gk: [C, 1, GRID, GRID] });
  const { x, gy, gk } = data.value;
  const measurements: Measurement[] = [];
  try {
    const withAlgorithm = (a: ConvAlgorithm) => (p: DclsParams, x: Tensor) => dcls2d(p, x, dclsOpts(C, a));
    const denseFwd = (p: typeof dense, x: Tensor) => conv2d(x, p.weight, { padding: DENSE >> 1, groups: C }, p.bias);
    const build = (p: DclsParams) => construct(p.weight, p.P, p.SIG, { version: "gauss", dilatedKernelSize: GRID });
    const prepare = async (f: (...a: never[]) => unknown, args: unknown[]): Promise<Measurement> => {
      const m: Measurement = { prepared: await prepareGpu(gpu, f, args), args, samples: [], wallSamples: [] };
      measurements.push(m);
      return m;
    };
    const dclsFwd = await prepare(forwardChain(withAlgorithm("auto"), reps) as never, [dcls, x]);
    const dclsFb = await prepare(forwardBackwardChain(withAlgorithm("auto"), reps) as never, [gy, dcls, x]);
    const directFb = await prepare(forwardBackwardChain(withAlgorithm("direct"), reps) as never, [gy, dcls, x]);
    const spectralFb = await prepare(forwardBackwardChain(withAlgorithm("spectral"), reps) as never, [gy, dcls, x]);
    const constructFb = await prepare(forwardBackwardRepeat(build, reps) as never, [gk, dcls]);
    const windowFwd = (p: typeof window, x: Tensor) =>
      conv2d(x, p.weight, { padding: [KH >> 1, KW >> 1], groups: C }, p.bias);
    const windowFb = await prepare(forwardBackwardChain(windowFwd, reps) as never, [gy, window, x]);
    type Layer = { weight: Tensor; bias: Tensor };
    const dclsStageM = await prepare(
      stageForwardBackward((sh: { P: Tensor; SIG: Tensor }, l: Layer, x: Tensor) =>
        dcls2d({ ...sh, ...l }, x, dclsOpts(C))
      ) as never,
      [gy, { shared: { P: dcls.P, SIG: dcls.SIG! }, layers: dclsLayers }, x],
    );
    const denseStageM = await prepare(
      stageForwardBackward((_: Record<string, never>, l: Layer, x: Tensor) =>
        conv2d(x, l.weight, { padding: DENSE >> 1, groups: C }, l.bias)
      ) as never,
      [gy, { shared: {}, layers: denseLayers }, x],
    );
    const stageOnes = new Set<Measurement>([dclsStageM, denseStageM]);
    const denseFwdM = await prepare(forwardChain(denseFwd, reps) as never, [dense, x]);
    const denseFb = await prepare(forwardBackwardChain(denseFwd, reps) as never, [gy, dense, x]);
    // One untimed round first: the first timed round of a call ran up to 3× slow at 16×15 and 8×7 (run 13), a cost of
    // the process's first calls, not of the layers.
    for (const m of measurements) await timeReplays(gpu, m.prepared, () => m.args, opts.replay);
    for (let r = 0; r < rounds; r++) {
      for (const m of measurements) {
        const t = await timeReplays(gpu, m.prepared, () => m.args, opts.replay);
        const layers = stageOnes.has(m) ? s.depth : reps;
        m.samples.push((t.gpuMs ?? t.wallMs) / layers);
        m.wallSamples.push(t.wallMs / layers);
      }
    }
    const timing = (m: Measurement): FnTiming => ({
      ms: median(m.samples)!,
      clock: gpu.features.timestampQuery ? "gpu" : "wall",
      wallMs: median(m.wallSamples)!,
      prepare: m.prepared.phases,
      dispatches: m.prepared.plan.stats.dispatches / (stageOnes.has(m) ? s.depth : reps),
      outputShapes: m.prepared.plan.outputs.map((o) => o.aval.shape),
    });
    return {
      ...s,
      batch,
      reps,
      rounds,
      dclsForward: timing(dclsFwd),
      dclsForwardBackward: timing(dclsFb),
      constructForwardBackward: timing(constructFb),
      denseForward: timing(denseFwdM),
      denseForwardBackward: timing(denseFb),
      directForwardBackward: timing(directFb),
      spectralForwardBackward: timing(spectralFb),
      windowForwardBackward: timing(windowFb),
      dclsStage: timing(dclsStageM),
      denseStage: timing(denseStageM),
      stageRatio: median(dclsStageM.samples.map((d, i) => d / denseStageM.samples[i]))!,
      stageRatios: dclsStageM.samples.map((d, i) => d / denseStageM.samples[i]),
      ratio: median(dclsFb.samples.map((d, i) => d / denseFb.samples[i]))!,
      ratios: dclsFb.samples.map((d, i) => d / denseFb.samples[i]),
    };
  } finally {
    for (const m of measurements) m.prepared.destroy();
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
      "rounds' ratios",
      "direct fwd+bwd ms",
      "spectral fwd+bwd ms",
      "window conv fwd+bwd ms",
      "DCLS stage ms / layer",
      "dense stage ms / layer",
      "stage DCLS / dense",
      "rounds' stage ratios",
    ],
    results.map((r) => [
      `${r.batch}×${r.C}×${r.H}×${r.W}`,
      r.dclsForward.ms,
      r.dclsForwardBackward.ms,
      r.constructForwardBackward.ms,
      r.denseForward.ms,
      r.denseForwardBackward.ms,
      r.ratio,
      r.ratios.map((x) => x.toFixed(3)).join(" "),
      r.directForwardBackward.ms,
      r.spectralForwardBackward.ms,
      r.windowForwardBackward.ms,
      r.dclsStage.ms,
      r.denseStage.ms,
      r.stageRatio,
      r.stageRatios.map((x) => x.toFixed(3)).join(" "),
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
  const reps = (args.values.reps as number | undefined) ?? (small ? 1 : 8);
  const opts = { replay, reps, rounds: args.values.rounds as number };
  const gpu = await requestGpu();
  progress(`adapter: ${gpu.description}; timestamp queries: ${gpu.features.timestampQuery}`);
  const results: StageResult[] = [];
  for (const s of small ? SMALL_STAGES : CONVNEXT_T_STAGES) {
    progress(`stage ${batch}×${s.C}×${s.H}×${s.W}`);
    results.push(await measureStage(gpu, batch, s, opts));
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
