/**
 * Interruption safety of `deno task train` (run as the task runs it: `deno run -A lib/cli/train.ts`, so the signal
 * reaches the trainer itself rather than the task runner): a run killed with SIGKILL after its first checkpoint and
 * then resumed ends bit-for-bit where an uninterrupted run ends; SIGINT writes a checkpoint and exits with 130.
 */
import assert from "node:assert/strict";
import { readSafetensors } from "../lib/io/safetensors.ts";

const TRAIN = new URL("../lib/cli/train.ts", import.meta.url).pathname;
const ARGS = [
  "--model",
  "convnext_audio_nano",
  "--input",
  "small",
  "--train-size",
  "24",
  "--eval-size",
  "8",
  "--batch-size",
  "4",
  "--eval-batch-size",
  "8",
  "--drop-path",
  "0.2",
  "--seed",
  "3",
];

function spawnTrain(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...ARGS, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await spawnTrain(args).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function exists(path: string, minBytes = 0): Promise<boolean> {
  return await Deno.stat(path).then((s) => s.size >= minBytes, () => false);
}

/** Spawns a run and, once `file` holds at least `minBytes`, sends `signal`; returns the exit status and output. */
async function interrupt(args: string[], file: string, signal: Deno.Signal, minBytes = 0) {
  const child = spawnTrain(args);
  const output = child.output();
  const t0 = Date.now();
  while (!(await exists(file, minBytes))) {
    if (Date.now() - t0 > 60_000) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(signal);
  const out = await output;
  return { code: out.code, signal: out.signal, stdout: new TextDecoder().decode(out.stdout) };
}

const stepOf = (path: string) => Number(readSafetensors(Deno.readFileSync(path)).metadata.step);

for (const accum of [1, 2]) {
  const what = accum === 1 ? "" : ` (accumulating ${accum} micro-batches a step)`;
  Deno.test(`train: killed with SIGKILL after a checkpoint, then resumed, equals an uninterrupted run bit for bit${what}`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const steps = ["--steps", "12", "--checkpoint-every", "3", "--accum-steps", String(accum)];
      const a = await run([...steps, "--out", `${dir}/a`]);
      assert.equal(a.code, 0, a.stderr);
      assert.match(a.stdout, /trained convnext_audio_nano for 12 steps/);

      const killed = await interrupt([...steps, "--out", `${dir}/b`], `${dir}/b/checkpoint.safetensors`, "SIGKILL");
      assert.equal(killed.signal, "SIGKILL");
      const at = stepOf(`${dir}/b/checkpoint.safetensors`);
      assert.ok(at >= 3 && at < 12, `killed run's checkpoint is at step ${at}`);
      assert.equal(await exists(`${dir}/b/model.safetensors`), false, "the killed run must not have finished");

      const b = await run([...steps, "--out", `${dir}/b`, "--resume"]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stderr, new RegExp(`resuming convnext_audio_nano from step ${at}`));
      for (const f of ["model.safetensors", "checkpoint.safetensors"]) {
        const x = await Deno.readFile(`${dir}/a/${f}`), y = await Deno.readFile(`${dir}/b/${f}`);
        assert.ok(x.length === y.length && x.every((v, i) => v === y[i]), `${f} differs between the runs`);
      }
      // The log of the resumed run holds each step once, with the same losses.
      const losses = async (d: string) =>
        (await Deno.readTextFile(`${d}/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
          .filter((e) => e.kind === "train").map((e) => [e.step, e.loss]);
      assert.deepEqual(await losses(`${dir}/b`), await losses(`${dir}/a`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("train: SIGINT finishes the step, writes a checkpoint and exits with status 130", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The log gets its first line after the first step; stop long before the last of 400.
    const args = ["--steps", "400", "--checkpoint-every", "0", "--out", dir];
    const r = await interrupt(args, `${dir}/log.jsonl`, "SIGINT", 1);
    assert.equal(r.code, 130);
    assert.match(r.stdout, /^interrupted at step \d+\/400; resume with --resume/);
    const at = stepOf(`${dir}/checkpoint.safetensors`);
    assert.ok(at >= 1 && at < 400, `checkpoint at step ${at}`);
    assert.equal(await exists(`${dir}/model.safetensors`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
