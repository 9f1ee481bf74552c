/**
 * The command-line tasks: `--help` on every deno.json task, bad options failing with one clear line and a non-zero
 * status, and the option parser itself.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { helpText, parseArgs, UsageError } from "../lib/cli/args.ts";
import { TRAIN_SPEC } from "../lib/cli/train.ts";
import { errorLines, task } from "./_cli.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const TASKS = ["train", "eval", "tag", "features", "models", "export", "infer", "experiments"];

Deno.test("every task has --help: usage, its options, status 0", async () => {
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  for (const t of TASKS) assert.ok(deno.tasks[t], `deno.json has no task "${t}"`);
  const results = await Promise.all(TASKS.map((t) => task(t, ["--help"])));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, `${TASKS[i]} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^deno task ${TASKS[i]}\\b`), TASKS[i]);
    assert.match(r.stdout, /--help/);
  });
  assert.match(results[0].stdout, /--model NAME/);
  assert.match(results[0].stdout, /--resume/);
});

Deno.test("bad options fail with one line naming the problem and a non-zero status", async () => {
  const cases: [string, string[], RegExp][] = [
    ["train", ["--model", "convnext_audio_nano", "--batch-size", "0"], /^train: --batch-size: 0 must be ≥ 1$/],
    ["train", ["--model", "convnext_audio_nano", "--lr", "fast"], /^train: --lr: "fast" is not a number$/],
    ["train", ["--model", "nope", "--steps", "1"], /^train: unknown model "nope" \(known: .*convnext_audio_tiny/],
    ["train", ["--bogus"], /^train: unknown option --bogus/],
    ["train", ["--model", "convnext_audio_nano", "--input", "huge"], /^train: --input: "huge" is not one of/],
    ["eval", [], /^eval: --checkpoint is required$/],
    ["eval", ["--checkpoint", "/nonexistent.safetensors"], /^eval: \/nonexistent\.safetensors: cannot read file/],
    ["tag", ["--model", "convnext_audio_nano"], /^tag: expected <audio files…>$/],
    ["tag", ["x.wav", "--top", "-1"], /^tag: --top: -1 must be ≥ 1$/],
    ["models", ["--input", "12"], /^models: --input: "12" is not HxW/],
    ["export", ["--model", "convnext_audio_nano"], /^export: --out is required$/],
    ["infer", ["--checkpoint", "a", "--input"], /^infer: --input needs a value/],
    ["experiments", ["--profile", "fast"], /^experiments: --profile: "fast" is not one of auto, smoke, paper$/],
  ];
  const results = await Promise.all(cases.map(([t, args]) => task(t, args)));
  results.forEach((r, i) => {
    const [t, args, re] = cases[i];
    const lines = errorLines(r.stderr);
    assert.notEqual(r.code, 0, `${t} ${args.join(" ")} succeeded`);
    assert.equal(lines.length, 1, `${t} ${args.join(" ")} printed ${JSON.stringify(lines)}`);
    assert.match(lines[0], re);
  });
});

Deno.test("parseArgs: values, defaults, flags, = syntax; help text lists every option", () => {
  const a = parseArgs(TRAIN_SPEC, ["--model=convnext_audio_nano", "--steps", "5", "--resume", "--lr", "3e-4"]);
  assert.equal(a.values.model, "convnext_audio_nano");
  assert.equal(a.values.steps, 5);
  assert.equal(a.values.lr, 3e-4);
  assert.equal(a.values.resume, true);
  assert.equal(a.values["batch-size"], 8, "default filled in");
  assert.ok(a.given.has("steps") && !a.given.has("batch-size"));
  assert.throws(() => parseArgs(TRAIN_SPEC, ["--steps", "1.5"]), (e: Error) => e instanceof UsageError);
  assert.throws(() => parseArgs(TRAIN_SPEC, ["--resume=yes"]), /--resume takes no value/);
  assert.throws(() => parseArgs(TRAIN_SPEC, ["--seed", "1", "--seed", "2"]), /--seed given twice/);
  assert.throws(() => parseArgs(TRAIN_SPEC, ["stray"]), /unexpected argument "stray"/);
  const help = helpText(TRAIN_SPEC);
  for (const o of TRAIN_SPEC.options) assert.ok(help.includes(`--${o.name}`), o.name);
});

Deno.test("parseArgs: any integer ≥ the minimum parses back to itself; below it is refused", () => {
  fc.assert(
    fc.property(fc.integer({ min: -1000, max: 100000 }), (n) => {
      const parse = () => parseArgs(TRAIN_SPEC, ["--batch-size", String(n)]).values["batch-size"];
      if (n >= 1) assert.equal(parse(), n);
      else assert.throws(parse, /--batch-size: .* must be ≥ 1/);
    }),
  );
});
