import { Tensor } from "./tensor.ts";

/** A parameter tree: tensors in nested plain objects and arrays (other leaves, e.g. numbers, pass through). */
export type Tree =
  | Tensor
  | readonly Tree[]
  | { readonly [k: string]: Tree }
  | number
  | string
  | boolean
  | null
  | undefined;

/** The structure of a tree with its tensor leaves removed, enough to rebuild it. */
export type TreeDef =
  | { kind: "leaf" }
  | { kind: "static"; value: unknown }
  | { kind: "array"; items: TreeDef[] }
  | { kind: "object"; keys: string[]; items: TreeDef[] };

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && Object.getPrototypeOf(x) === Object.prototype;
}

/** Tensor leaves in a deterministic order (object keys sorted) and the structure to rebuild the tree. */
export function treeFlatten(tree: unknown): { leaves: Tensor[]; def: TreeDef } {
  const leaves: Tensor[] = [];
  const walk = (x: unknown): TreeDef => {
    if (x instanceof Tensor) {
      leaves.push(x);
      return { kind: "leaf" };
    }
    if (Array.isArray(x)) return { kind: "array", items: x.map(walk) };
    if (isPlainObject(x)) {
      const keys = Object.keys(x).sort();
      return { kind: "object", keys, items: keys.map((k) => walk(x[k])) };
    }
    return { kind: "static", value: x };
  };
  const def = walk(tree);
  return { leaves, def };
}

/** Rebuilds a tree from its structure and leaves. */
export function treeUnflatten<T = unknown>(def: TreeDef, leaves: readonly Tensor[]): T {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case "leaf":
        if (i >= leaves.length) throw new Error(`treeUnflatten: too few leaves (${leaves.length})`);
        return leaves[i++];
      case "static":
        return d.value;
      case "array":
        return d.items.map(build);
      case "object":
        return Object.fromEntries(d.keys.map((k, j) => [k, build(d.items[j])]));
    }
  };
  const out = build(def);
  if (i !== leaves.length) throw new Error(`treeUnflatten: ${leaves.length} leaves for a tree of ${i}`);
  return out as T;
}

/** The tensor leaves of a tree. */
export function treeLeaves(tree: unknown): Tensor[] {
  return treeFlatten(tree).leaves;
}

/** Applies `f` to corresponding leaves of trees with the same structure. */
export function treeMap<T = unknown>(f: (...xs: Tensor[]) => Tensor, tree: unknown, ...rest: unknown[]): T {
  const { leaves, def } = treeFlatten(tree);
  const others = rest.map((r) => treeFlatten(r));
  for (const o of others) {
    if (!sameDef(o.def, def)) throw new Error("treeMap: trees have different structures");
  }
  return treeUnflatten<T>(def, leaves.map((l, i) => f(l, ...others.map((o) => o.leaves[i]))));
}

/** Corresponding leaves of several trees, as tuples. */
export function treeZip(...trees: unknown[]): Tensor[][] {
  const flats = trees.map((t) => treeFlatten(t));
  for (const f of flats) if (!sameDef(f.def, flats[0].def)) throw new Error("treeZip: trees have different structures");
  return flats[0].leaves.map((_, i) => flats.map((f) => f.leaves[i]));
}

/** Number of scalars in all tensor leaves. */
export function treeCount(tree: unknown): number {
  return treeLeaves(tree).reduce((n, t) => n + t.size, 0);
}

/** Whether two tree structures are equal. */
export function sameDef(a: TreeDef, b: TreeDef): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "leaf" || a.kind === "static") return true;
  const bi = (b as typeof a).items;
  if (a.items.length !== bi.length) return false;
  if (a.kind === "object" && a.keys.join("\0") !== (b as typeof a).keys.join("\0")) return false;
  return a.items.every((d, i) => sameDef(d, bi[i]));
}
