/**
 * Host-side costs of compiling a step, without a GPU: tracing a small model's training step into a graph, and planning
 * that graph (fusion, kernel generation, memory planning). `deno bench -A bench/host_costs.bench.ts`.
 * @module
 */
import { Tensor } from "../lib/core/tensor.ts";
import { type Traced, traceGraph } from "../lib/core/compile.ts";
import { buildPlan } from "../lib/gpu/plan.ts";
import { fuseGraph } from "../lib/gpu/fuse.ts";
import { acceptsView } from "../lib/gpu/plan_kernels.ts";
import type { Model, Params, State } from "../lib/models/common.ts";
import type { OptState } from "../lib/train/optim.ts";
import { leafPaths, leafRange } from "./harness.ts";
import { benchEval, benchModel, benchShape, benchTrainStep } from "./setup.ts";

/** Typical storage-buffer limit of desktop GPUs. */
const MAX_BINDINGS = 10;

function stepArgs(model: Model): unknown[] {
  const s = benchShape(true);
  const params: Params = {}, state: State = {};
  for (const e of model.layout().entries) {
    if (e.kind === "param") params[e.name] = new Tensor(e.shape, "f32", {});
    else if (e.kind === "buffer") state[e.name] = new Tensor(e.shape, "f32", {});
  }
  const optState: OptState = { m: { ...params }, v: { ...params }, step: new Tensor([], "f32", {}) };
  return [
    params,
    state,
    optState,
    new Tensor([s.batch, 1, s.mels, s.frames], "f32", {}),
    new Tensor([s.batch, s.classes], "f32", {}),
    new Tensor([], "f32", {}),
  ];
}

for (const name of ["convnext_audio_nano", "convnext_dcls_audio_nano", "fastvit_dcls_audio_nano"]) {
  const model = benchModel(name);
  const args = stepArgs(model);
  const step = benchTrainStep(model);
  const traced: Traced = traceGraph(step as never, args);

  Deno.bench({ name: `trace ${name} train step`, group: "trace" }, () => {
    traceGraph(step as never, args);
  });
  Deno.bench({ name: `trace ${name} eval`, group: "trace" }, () => {
    traceGraph(benchEval(model) as never, args.slice(0, 2).concat([args[3]]));
  });
  Deno.bench({ name: `fuse ${name} train step`, group: "plan" }, () => {
    fuseGraph(traced.graph, { maxBindings: MAX_BINDINGS, acceptsView });
  });
  Deno.bench({ name: `plan ${name} train step (donated)`, group: "plan" }, () => {
    buildPlan(traced.graph, {
      donate: leafRange(args, [0, 1, 2]),
      inputPaths: leafPaths(traced.inDef),
      outputPaths: leafPaths(traced.outDef),
      maxBindings: MAX_BINDINGS,
    });
  });
}
