/**
 * Sampling of the main thread through the in-process inspector, for finding what bounds a run on the host (the
 * training loop prints it when `DCLS_HOST_PROFILE` is set; bench/data_pipeline.ts with `--profile`).
 * @module
 */

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: { functionName: string; url: string } }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Starts sampling the main thread; the returned `stop` gives self milliseconds per function name. */
export async function profileMainThread(): Promise<() => Promise<Map<string, number>>> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async () => {
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: CpuProfile };
    session.disconnect();
    const selfUs = new Map<number, number>();
    profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[i]));
    const byName = new Map<string, number>();
    for (const n of profile.nodes) {
      // The profiler's own calls are not the program's.
      if (n.callFrame.url.includes("inspector")) continue;
      const name = n.callFrame.functionName || n.callFrame.url.split("/").pop() || "(anonymous)";
      byName.set(name, (byName.get(name) ?? 0) + (selfUs.get(n.id) ?? 0) / 1000);
    }
    return byName;
  };
}

/** The `n` largest entries of a profile, per `per` units (e.g. per step), as "name ms" lines. */
export function topOfProfile(byName: ReadonlyMap<string, number>, per: number, n = 15): string[] {
  return [...byName.entries()]
    .filter(([name]) => name !== "(idle)" && name !== "(program)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => `${(ms / per).toFixed(2).padStart(8)} ms  ${name}`);
}
