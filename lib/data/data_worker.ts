/**
 * The data worker of {@link openWorkerPool}'s pool: opens the datasets of a {@link DataSource} with `openSource`
 * (lib/cli/data.ts, as the main thread does) and answers item requests with `prepareItem` (the main thread's own
 * preparation), the waveform's buffer transferred — or, for "getInto", the waveform written into the shared memory
 * the request names and only the name and target sent back.
 *
 * Bundling it needs `--external=@audio/decode-ape` (an optional codec of the decoders; bench/pack_device.sh passes it).
 * @module
 */
import { clipOf, type DataArgs, openSource } from "../cli/data.ts";
import { type InputSettings, prepareItem } from "../train/batches.ts";
import type { AudioDataset } from "./dataset.ts";
import type { DataSource, Split, SplitInfo, WorkerReply, WorkerRequest } from "./worker_pool.ts";

/** The parts of the worker scope used here (typed locally: the project is checked with the window's globals). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

/** The whole message: the loader cuts it to its first line exactly as it does for main-thread failures. */
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Opens one split as `openTrainEval` does, without opening the other. */
async function openSplit(d: DataArgs, split: Split, input: InputSettings): Promise<AudioDataset> {
  const src = split === "train" ? d.data : d.evalData ?? (d.data === "procedural" ? "procedural" : undefined);
  if (!src) throw new Error("no evaluation data to open (give --eval-data)");
  const labels = split === "train" ? d.labels : d.evalLabels ?? d.labels;
  return await openSource(src, labels, split, d, clipOf(input));
}

let datasets: Promise<Partial<Record<Split, AudioDataset>>> | undefined;

async function open(source: DataSource): Promise<void> {
  datasets = (async () => {
    const out: Partial<Record<Split, AudioDataset>> = {};
    for (const split of source.splits) out[split] = await openSplit(source.data, split, source.input);
    return out;
  })();
  try {
    const ds = await datasets;
    const splits: Partial<Record<Split, SplitInfo>> = {};
    for (const [split, d] of Object.entries(ds) as [Split, AudioDataset][]) {
      splits[split] = { length: d.length, classes: d.classNames.length };
    }
    scope.postMessage({ type: "opened", splits });
  } catch (e) {
    scope.postMessage({ type: "openFailed", error: messageOf(e) });
  }
}

/** A waveform whose whole buffer may be handed over: a copy unless it owns its buffer and the dataset doesn't. */
function transferable(w: Float32Array, datasetOwned: boolean): Float32Array<ArrayBuffer> {
  const own = !datasetOwned && w.buffer instanceof ArrayBuffer && w.byteOffset === 0 &&
    w.byteLength === w.buffer.byteLength;
  return own ? w as Float32Array<ArrayBuffer> : w.slice();
}

type ItemRequest = Extract<WorkerRequest, { type: "get" | "getInto" }>;

async function get(m: ItemRequest): Promise<void> {
  try {
    const ds = (await datasets!)[m.split];
    if (!ds) throw new Error(`the data worker did not open the ${m.split} split`);
    const raw = await ds.get(m.index);
    const key = m.key ? Uint32Array.of(m.key[0], m.key[1]) : undefined;
    const item = prepareItem(raw, m.clipSamples, key);
    const target = Float32Array.from(item.target);
    if (m.type === "getInto") {
      // Written only once the whole item is ready, so a failure leaves the row untouched.
      new Float32Array(m.buffer, m.byteOffset, m.clipSamples).set(item.waveform);
      scope.postMessage({ type: "placed", id: m.id, name: item.name, target }, [target.buffer]);
      return;
    }
    const waveform = transferable(item.waveform, item.waveform === raw.waveform);
    scope.postMessage({ type: "item", id: m.id, name: item.name, waveform, target }, [waveform.buffer]);
  } catch (e) {
    scope.postMessage({ type: "failed", id: m.id, error: messageOf(e) });
  }
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "open") void open(m.source);
  else void get(m);
};
