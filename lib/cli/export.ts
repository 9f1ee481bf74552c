/**
 * `deno task export`: a model's freshly initialised weights as a PyTorch-style state dict in safetensors (shared
 * DCLS P/SIG repeated under every layer that uses them), with the model name and configuration in the metadata.
 * @module
 */
import { getModel, modelNames } from "../models/registry.ts";
import { saveCheckpoint } from "../models/checkpoint.ts";
import { randomKey } from "../ops/random.ts";
import { type CommandSpec, num, type ParsedArgs, runCommand, str } from "./args.ts";

/** The command's options. */
export const EXPORT_SPEC: CommandSpec = {
  name: "export",
  summary: "Write a model's initial weights (seeded) as a safetensors state dict.",
  options: [
    { name: "model", kind: "string", value: "NAME", required: true, help: `model name (${modelNames().join(", ")})` },
    { name: "seed", kind: "int", min: 0, default: 0, help: "initialisation seed" },
    { name: "classes", kind: "int", min: 1, help: "output classes (default: the model's, 527)" },
    { name: "out", kind: "string", value: "FILE", required: true, help: "output .safetensors file" },
  ],
};

async function main(a: ParsedArgs): Promise<void> {
  const classes = num(a, "classes");
  const model = getModel(str(a, "model")!, classes ? { numClasses: classes } : {});
  const { params, state } = model.init(randomKey(num(a, "seed")!));
  await saveCheckpoint(str(a, "out")!, model, params, state, { seed: String(num(a, "seed")) });
  console.log(`wrote ${model.name} (seed ${num(a, "seed")}) to ${str(a, "out")}`);
}

if (import.meta.main) await runCommand(EXPORT_SPEC, main);
