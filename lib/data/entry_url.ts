/**
 * Where a second entry point (a Web Worker script, a subprocess) lives, both when running from source and when
 * each entry was bundled into its own single file side by side (`../shared/device/pack.sh` writes every entry to
 * `.device/<basename>.js`). In a bundle `import.meta.url` is the bundle's own file, so the other entry is the
 * sibling `<basename>.js`; from source it is the `.ts` file at its path relative to the caller.
 * @module
 */

/**
 * The URL of the entry `source` (a path relative to the calling module, e.g. `"./data_worker.ts"`) for a caller
 * whose `import.meta.url` is `base`: the source file itself, or — when the caller runs from a bundled `.js` — the
 * bundle `<basename of source>.js` next to it.
 */
export function entryUrl(base: string | URL, source: string): URL {
  const from = new URL(base);
  if (!from.pathname.endsWith(".js")) return new URL(source, from);
  const name = source.slice(source.lastIndexOf("/") + 1).replace(/\.[cm]?[jt]sx?$/, "");
  return new URL(`./${name}.js`, from);
}
