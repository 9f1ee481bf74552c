/**
 * Per-dispatch GPU times of one DCLS layer's forward and backward at the ConvNeXt-T stage shapes, for each way the
 * 23×23 depthwise convolution can be computed: what each kernel of the layer costs, to choose between them.
 *
 *     deno run -A bench/layer_profile.ts [--batch 64] [--stages 0,1,2,3] [--algorithms direct,spectral]
 *
 * Prints one table per stage and algorithm (dispatch label, µs, GFLOP/s where the plan counts them); writes
 * `$OUT/layer_profile.json`.
 * @module
 */
import { Tensor } from "../lib/core/tensor.ts";
import { traceGraph } from "../lib/core/compile.ts";
import type { ConvAlgorithm } from "../lib/core/mod.ts";
import { conv2d, randomKey } from "../lib/core/mod.ts";
import { dcls2d, type DclsParams, initDcls2d } from "../lib/dcls/layer.ts";
import { type CommandSpec, helpText, parseArgs } from "../lib/cli/args.ts";
import { requestGpu } from "../lib/gpu/device.ts";
import { timeDispatches } from "./dispatch_timer.ts";
import { planOnGpu } from "./harness.ts";
import { markdownTable, progress, runScript, writeResult } from "./report.ts";
import { CONVNEXT_T_STAGES, forwardBackwardChain, windowSize } from "./dcls_vs_dense.ts";

/** The command line of this script. */
export const LAYER_PROFILE_COMMAND: CommandSpec = {
  name: "bench/layer_profile.ts",
  summary: "Per-dispatch times of one DCLS layer's forward and backward, per stage and convolution algorithm.",
  options: [
    { name: "batch", kind: "int", min: 1, default: 64, help: "batch size" },
    { name: "stages", kind: "string", default: "0,1,2,3", help: "ConvNeXt-T stage indices" },
    {
      name: "algorithms",
      kind: "string",
      default: "direct,spectral",
      help: "convolution algorithms (auto, direct, spectral, toeplitz; dense: the depthwise 7×7 layer; window: a " +
        "depthwise convolution over the window of the 23×23 grid that reaches the plane, its kernel given)",
    },
    {
      name: "layers",
      kind: "int",
      min: 1,
      default: 1,
      help: "layers in a row (as bench/dcls_vs_dense.ts chains them)",
    },
    { name: "reps", kind: "int", min: 1, default: 5, help: "timed repetitions" },
  ],
};

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(LAYER_PROFILE_COMMAND, argv);
  if (args.help) {
    console.log(helpText(LAYER_PROFILE_COMMAND).replace(/^deno task /, "deno run -A "));
    return;
  }
  const batch = args.values.batch as number;
  const gpu = await requestGpu();
  const out: unknown[] = [];
  for (const si of String(args.values.stages).split(",").map(Number)) {
    const { C, H, W } = CONVNEXT_T_STAGES[si];
    const params = initDcls2d(randomKey(0), {
      inChannels: C,
      outChannels: C,
      groups: C,
      kernelCount: 26,
      dilatedKernelSize: 23,
      init: "paper",
    });
    const abstract = Object.fromEntries(
      Object.entries(params).map(([k, v]) => [k, new Tensor(v.shape, v.dtype, {})]),
    ) as unknown as DclsParams;
    const x = new Tensor([batch, C, H, W], "f32", {});
    const [KH, KW] = windowSize(H, W);
    for (const algorithm of String(args.values.algorithms).split(",") as (ConvAlgorithm | "dense" | "window")[]) {
      // "dense": the depthwise 7×7 layer DCLS replaces; "window": the convolution DCLS runs, its kernel given.
      const given = algorithm === "dense" ? [7, 7] : algorithm === "window" ? [KH, KW] : null;
      const layer = given
        ? (p: DclsParams, x: Tensor) =>
          conv2d(x, p.weight, { padding: [given[0] >> 1, given[1] >> 1], groups: C }, p.bias)
        : (p: DclsParams, x: Tensor) =>
          dcls2d(p, x, { dilatedKernelSize: 23, groups: C, algorithm: algorithm as ConvAlgorithm });
      const f = forwardBackwardChain(layer, args.values.layers as number);
      const p = given
        ? { weight: new Tensor([C, 1, ...given], "f32", {}), bias: abstract.bias } as unknown as DclsParams
        : abstract;
      const traced = traceGraph(f as never, [x, p, x]);
      const plan = planOnGpu(gpu, traced);
      const t = await timeDispatches(gpu, plan, args.values.reps as number);
      const rows = plan.dispatches.map((d, i) => ({ label: d.label, us: t.ns[i] / 1e3 }));
      const total = t.onePassNs / 1e3;
      const layers = args.values.layers as number;
      const head = `stage ${si} ${batch}×${C}×${H}×${W}, ${algorithm}${layers > 1 ? `, ${layers} layers` : ""}`;
      console.log(`\n### ${head}: ${total.toFixed(1)} µs in one pass\n`);
      console.log(markdownTable(["dispatch", "µs"], rows.map((r) => [r.label, r.us])));
      out.push({ stage: si, batch, C, H, W, algorithm, layers, onePassUs: total, rows });
    }
  }
  const path = await writeResult("layer_profile.json", { adapter: gpu.description, results: out });
  if (path) progress(`wrote ${path}`);
  gpu.destroy();
}

if (import.meta.main) await runScript("bench/layer_profile.ts", main);
