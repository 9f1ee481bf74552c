/**
 * `deno task models`: every registered configuration with its parameter count (unique tensors, as PyTorch counts
 * them), the output shape for a `[1, 1, 128, 1001]` input and the forward cost in GFLOPs, computed analytically from
 * the traced forward graph: the sum over its matmul and convolution equations of 2 × multiply–accumulates.
 * @module
 */
import { traceGraph } from "../core/compile.ts";
import type { Eqn, Graph } from "../core/graph.ts";
import { zeros } from "../ops/create.ts";
import type { Tensor } from "../core/tensor.ts";
import { countParams, type Model } from "../models/common.ts";
import { getModel, modelNames } from "../models/registry.ts";
import { type CommandSpec, flag, type ParsedArgs, runCommand, str } from "./args.ts";

/** The command's options. */
export const MODELS_SPEC: CommandSpec = {
  name: "models",
  summary: "List every model configuration: parameters, output shape and forward GFLOPs for a 1×1×128×1001 input.",
  options: [
    { name: "model", kind: "string", value: "NAME", help: "only this model" },
    { name: "input", kind: "string", value: "HxW", default: "128x1001", help: "input mel bins × frames" },
    { name: "json", kind: "flag", help: "print JSON instead of a table" },
  ],
};

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Multiply–accumulates of one equation (0 for everything but matmul and the convolutions). */
export function macsOf(e: Eqn): number {
  const out = e.out.aval.shape;
  if (e.prim === "matmul") {
    const a = e.inputs[0].aval.shape;
    return prod(out) * a[a.length - 1];
  }
  if (e.prim === "conv2d") {
    const w = e.inputs[1].aval.shape; // [Cout, Cin/g, kh, kw]
    return prod(out) * w[1] * w[2] * w[3];
  }
  if (e.prim === "conv2dInputGrad" || e.prim === "conv2dWeightGrad") {
    // Same MAC count as the forward convolution they differentiate.
    const ws = e.prim === "conv2dInputGrad" ? e.inputs[1].aval.shape : (e.params.weightShape as number[]);
    const dy = e.prim === "conv2dInputGrad" ? e.inputs[0].aval.shape : e.inputs[1].aval.shape;
    return prod(dy) * ws[1] * ws[2] * ws[3];
  }
  return 0;
}

/** FLOPs of a graph: 2 × MACs over its matmul and convolution equations. */
export function graphFlops(g: Graph): number {
  return g.eqns.reduce((n, e) => n + 2 * macsOf(e), 0);
}

/** One row of the models table. */
export interface ModelDescription {
  /** Registry name. */
  readonly name: string;
  /** Trainable scalars (shared tensors once). */
  readonly params: number;
  /** Output shape for the input. */
  readonly output: number[];
  /** Forward GFLOPs (2 × MACs of matmuls and convolutions). */
  readonly gflops: number;
}

/** Parameters, output shape and forward FLOPs of a model for an input `[1, 1, h, w]`. */
export function describeModel(model: Model, h: number, w: number): ModelDescription {
  const layout = model.layout();
  const dtype = model.config.dtype;
  // Zeros stand in for the weights: tracing records shapes only, so their values never matter.
  const params: Record<string, Tensor> = {}, state: Record<string, Tensor> = {};
  for (const e of layout.entries) {
    if (e.kind === "param") params[e.name] = zeros(e.shape, dtype);
    else if (e.kind === "buffer") state[e.name] = zeros(e.shape, dtype);
  }
  const x = zeros([1, 1, h, w], dtype);
  const { graph } = traceGraph(
    (p: Record<string, Tensor>, s: Record<string, Tensor>, xx: Tensor) =>
      model.apply(p, s, xx, { train: false }).logits,
    [params, state, x],
  );
  return {
    name: model.name,
    params: countParams(layout),
    output: [...graph.outputs[0].aval.shape],
    gflops: graphFlops(graph) / 1e9,
  };
}

function main(a: ParsedArgs): Promise<void> {
  const m = /^(\d+)x(\d+)$/.exec(str(a, "input")!);
  if (!m) throw new Error(`--input: "${str(a, "input")}" is not HxW (e.g. 128x1001)`);
  const [h, w] = [Number(m[1]), Number(m[2])];
  const names = str(a, "model") ? [str(a, "model")!] : modelNames();
  const rows = names.map((n) => describeModel(getModel(n), h, w));
  if (flag(a, "json")) {
    console.log(JSON.stringify(rows, null, 2));
    return Promise.resolve();
  }
  const header = ["model", "parameters", `output (1×1×${h}×${w})`, "GFLOPs"];
  const table = rows.map((
    r,
  ) => [r.name, r.params.toLocaleString("en-US"), `[${r.output.join(", ")}]`, r.gflops.toFixed(3)]);
  const widths = header.map((t, i) => Math.max(t.length, ...table.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(line(header));
  console.log(widths.map((n) => "-".repeat(n)).join("  "));
  for (const r of table) console.log(line(r));
  return Promise.resolve();
}

if (import.meta.main) await runCommand(MODELS_SPEC, main);
