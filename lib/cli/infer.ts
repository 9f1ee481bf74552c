/**
 * `deno task infer`: logits of log-mel inputs: reads tensor `input` `[N, 1, 128, T]` from a safetensors file and
 * writes tensor `logits` `[N, classes]` (float32) to another.
 * @module
 */
import { tensor } from "../ops/create.ts";
import { slice } from "../ops/movement.ts";
import { loadSafetensors, saveSafetensors } from "../io/safetensors.ts";
import { type CommandSpec, num, type ParsedArgs, runCommand, str } from "./args.ts";
import { BACKEND_OPTION, compiledModel, loadWeights, runBatched, withBackend } from "./inference.ts";

/** The command's options. */
export const INFER_SPEC: CommandSpec = {
  name: "infer",
  summary: "Compute logits for log-mel inputs stored in a safetensors file.",
  options: [
    { name: "checkpoint", kind: "string", value: "FILE", required: true, help: "trained or exported weights" },
    { name: "model", kind: "string", value: "NAME", help: "model name, for weight files without metadata" },
    { name: "input", kind: "string", value: "FILE", required: true, help: "safetensors file with tensor `input`" },
    { name: "out", kind: "string", value: "FILE", required: true, help: "output safetensors file (tensor `logits`)" },
    { name: "batch-size", kind: "int", min: 1, default: 8, help: "inputs per batch" },
    BACKEND_OPTION,
  ],
};

async function main(a: ParsedArgs): Promise<void> {
  const inPath = str(a, "input")!;
  const { tensors } = await loadSafetensors(inPath);
  const e = tensors.get("input");
  if (!e) throw new Error(`${inPath}: no tensor named "input" (has ${[...tensors.keys()].join(", ") || "none"})`);
  if (e.shape.length !== 4 || e.shape[1] !== 1) {
    throw new Error(`${inPath}: "input" must be [N, 1, mels, frames], got [${e.shape}]`);
  }
  if (e.dtype !== "F32" && e.dtype !== "F64" && e.dtype !== "F16" && e.dtype !== "BF16") {
    throw new Error(`${inPath}: "input" has dtype ${e.dtype}, expected a float`);
  }
  const weights = await loadWeights({ checkpoint: str(a, "checkpoint"), modelName: str(a, "model") });
  const dtype = weights.model.config.dtype;
  const x = tensor(Float64Array.from(e.data as ArrayLike<number>), { shape: e.shape, dtype });
  const n = e.shape[0], b = num(a, "batch-size")!;
  const batches = Array.from({ length: Math.ceil(n / b) }, (_, i) => slice(x, [i * b], [Math.min(n, (i + 1) * b)]));
  const logits = await withBackend(str(a, "backend")!, async (backend) => {
    return await runBatched(batches, compiledModel(weights, backend));
  });
  const classes = weights.model.config.numClasses;
  await saveSafetensors(str(a, "out")!, { logits: { dtype: "F32", shape: [n, classes], data: logits } }, {
    model: weights.model.name,
  });
  console.log(`wrote logits [${n}, ${classes}] to ${str(a, "out")}`);
}

if (import.meta.main) await runCommand(INFER_SPEC, main);
