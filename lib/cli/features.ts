/**
 * `deno task features`: per audio file, the waveform after decoding, mixdown, resampling and pad/truncate, and its
 * normalised log-mel (the network input), written to one safetensors file as `<file>.waveform` `[N]` and
 * `<file>.logmel` `[1, mels, frames]` (names are the paths as given), with the front-end settings in the metadata.
 * @module
 */
import { loadClip } from "../audio/waveform.ts";
import { type SafetensorInput, saveSafetensors } from "../io/safetensors.ts";
import { hostLogMel, spectrogramShape } from "../train/batches.ts";
import { type CommandSpec, type ParsedArgs, runCommand, str } from "./args.ts";
import { DATA_OPTIONS, dataArgs, inputSettings } from "./data.ts";

/** The command's options. */
export const FEATURES_SPEC: CommandSpec = {
  name: "features",
  summary: "Write each file's decoded waveform and normalised log-mel to a safetensors file.",
  positionals: { name: "<audio files…>", help: "files to process", min: 1 },
  options: [
    { name: "out", kind: "string", value: "FILE", required: true, help: "output .safetensors file" },
    ...DATA_OPTIONS.filter((o) => o.name === "input" || o.name === "seconds"),
  ],
};

async function main(a: ParsedArgs): Promise<void> {
  const input = inputSettings(dataArgs(a), "host");
  const sampleRate = input.frontEnd.sampleRate ?? 32000;
  const { mels, frames } = spectrogramShape(input);
  const entries = new Map<string, SafetensorInput>();
  for (const f of a.positionals) {
    const wave = await loadClip(f, { sampleRate, seconds: input.clipSamples / sampleRate });
    entries.set(`${f}.waveform`, { dtype: "F32", shape: [wave.length], data: wave });
    entries.set(`${f}.logmel`, { dtype: "F32", shape: [1, mels, frames], data: hostLogMel(wave, input.frontEnd) });
  }
  const out = str(a, "out")!;
  await saveSafetensors(out, entries, {
    files: JSON.stringify(a.positionals),
    sampleRate: String(sampleRate),
    frontEnd: JSON.stringify(input.frontEnd),
  });
  console.log(`wrote ${a.positionals.length} file(s) to ${out}`);
}

if (import.meta.main) await runCommand(FEATURES_SPEC, main);
