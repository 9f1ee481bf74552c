/** Test helpers: run deno.json tasks as subprocesses and read their error lines. */

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;

/** Runs `deno task <task> …args` from the repository root. */
export async function task(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The non-empty stderr lines a task printed (`deno task -q` adds none of its own). */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "");
}
