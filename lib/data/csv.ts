/**
 * Label files as text: a small CSV reader and parsers for AudioSet's segment lists and class index, and for plain
 * `path,label;label` lists. Errors are one line naming the file and line: `"<file>:<line>: <problem>"`.
 *
 * @module
 */

/** One CSV record with the line it starts on (1-based). */
export interface CsvRow {
  /** Fields, unquoted. */
  readonly fields: string[];
  /** Line number of the record's first character. */
  readonly line: number;
}

/** Options of {@link parseCsv}. */
export interface CsvOptions {
  /** Skip lines whose first character is `#` (AudioSet's headers). Default false. */
  readonly comments?: boolean;
}

/**
 * Parses CSV text: comma-separated fields, double-quoted fields with `""` escapes (which may span lines), spaces
 * after a comma ignored before a quoted field (AudioSet writes `, "…"`), blank lines skipped, CRLF accepted.
 * Unquoted fields are trimmed.
 */
export function parseCsv(text: string, file: string, opts: CsvOptions = {}): CsvRow[] {
  const rows: CsvRow[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // byte-order mark
  while (i < n) {
    const start = line;
    if (text[i] === "\n" || (text[i] === "\r" && text[i + 1] === "\n")) {
      i += text[i] === "\r" ? 2 : 1;
      line++;
      continue;
    }
    if (opts.comments && text[i] === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      while (text[i] === " " || text[i] === "\t") i++;
      let field = "";
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new Error(`${file}:${start}: unterminated quoted field`);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        while (text[i] === " " || text[i] === "\t" || text[i] === "\r") i++;
        if (i < n && text[i] !== "," && text[i] !== "\n") {
          throw new Error(`${file}:${line}: unexpected character ${JSON.stringify(text[i])} after a quoted field`);
        }
      } else {
        const s = i;
        while (i < n && text[i] !== "," && text[i] !== "\n") {
          if (text[i] === '"') throw new Error(`${file}:${line}: stray quote inside an unquoted field`);
          i++;
        }
        field = text.slice(s, i).trim();
      }
      fields.push(field);
      if (i < n && text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    rows.push({ fields, line: start });
    if (i < n && text[i] === "\n") {
      i++;
      line++;
    }
  }
  return rows;
}

/** AudioSet's class index (`class_labels_indices.csv`). */
export interface ClassIndex {
  /** Display names in index order. */
  readonly names: string[];
  /** Machine ids (`/m/…`) in index order. */
  readonly mids: string[];
  /** Index of each mid. */
  readonly indexOfMid: ReadonlyMap<string, number>;
}

/** Parses `index,mid,display_name` rows (header required, indices 0..n−1 in order, mids unique). */
export function parseClassLabels(text: string, file: string): ClassIndex {
  const rows = parseCsv(text, file);
  if (rows.length === 0) throw new Error(`${file}:1: empty class list`);
  const header = rows[0].fields.map((f) => f.toLowerCase());
  if (header.join(",") !== "index,mid,display_name") {
    throw new Error(
      `${file}:${rows[0].line}: expected header "index,mid,display_name", got "${rows[0].fields.join(",")}"`,
    );
  }
  const names: string[] = [];
  const mids: string[] = [];
  const indexOfMid = new Map<string, number>();
  for (const { fields, line } of rows.slice(1)) {
    if (fields.length !== 3) {
      throw new Error(`${file}:${line}: expected 3 fields (index,mid,display_name), got ${fields.length}`);
    }
    const [index, mid, name] = fields;
    if (index !== String(names.length)) {
      throw new Error(`${file}:${line}: expected index ${names.length}, got "${index}"`);
    }
    if (!mid) throw new Error(`${file}:${line}: empty mid`);
    if (indexOfMid.has(mid)) throw new Error(`${file}:${line}: duplicate mid ${mid}`);
    indexOfMid.set(mid, names.length);
    names.push(name);
    mids.push(mid);
  }
  return { names, mids, indexOfMid };
}

/** One row of an AudioSet segments CSV. */
export interface Segment {
  /** YouTube id. */
  readonly ytid: string;
  /** Segment start (seconds). */
  readonly start: number;
  /** Segment end (seconds). */
  readonly end: number;
  /** Positive label mids. */
  readonly labels: string[];
  /** Line in the CSV. */
  readonly line: number;
}

/**
 * Parses AudioSet segment lists (`balanced_train_segments.csv` …): `#` comment lines, then
 * `YTID, start_seconds, end_seconds, "mid,mid,…"` rows.
 */
export function parseSegments(text: string, file: string): Segment[] {
  return parseCsv(text, file, { comments: true }).map(({ fields, line }) => {
    if (fields.length !== 4) {
      throw new Error(
        `${file}:${line}: expected 4 fields (YTID, start_seconds, end_seconds, positive_labels), got ${fields.length}`,
      );
    }
    const [ytid, s, e, labels] = fields;
    const start = Number(s);
    const end = Number(e);
    if (!ytid) throw new Error(`${file}:${line}: empty YTID`);
    if (s === "" || !Number.isFinite(start)) throw new Error(`${file}:${line}: start_seconds "${s}" is not a number`);
    if (e === "" || !Number.isFinite(end)) throw new Error(`${file}:${line}: end_seconds "${e}" is not a number`);
    return { ytid, start, end, labels: labels.split(",").map((l) => l.trim()).filter((l) => l !== ""), line };
  });
}

/** One row of a plain `path,label;label` list. */
export interface LabelledPath {
  /** The path as written (relative paths are relative to the CSV). */
  readonly path: string;
  /** Labels, in file order. */
  readonly labels: string[];
  /** Line in the CSV. */
  readonly line: number;
}

const PATH_HEADERS = new Set(["path", "file", "filename", "file_name", "audio", "name"]);
const LABEL_HEADERS = new Set(["label", "labels", "target", "targets", "tags"]);

/**
 * Parses a `path,label;label` list; a first row like `path,labels` is taken as a header. An empty label field means
 * no positive class.
 */
export function parseLabelList(text: string, file: string): LabelledPath[] {
  const rows = parseCsv(text, file);
  const first = rows[0]?.fields.map((f) => f.toLowerCase());
  const body = first && first.length === 2 && PATH_HEADERS.has(first[0]) && LABEL_HEADERS.has(first[1])
    ? rows.slice(1)
    : rows;
  return body.map(({ fields, line }) => {
    if (fields.length < 1 || fields.length > 2) {
      throw new Error(`${file}:${line}: expected "path,label;label", got ${fields.length} fields`);
    }
    const [path, labels = ""] = fields;
    if (!path) throw new Error(`${file}:${line}: empty path`);
    return { path, labels: labels.split(";").map((l) => l.trim()).filter((l) => l !== ""), line };
  });
}
