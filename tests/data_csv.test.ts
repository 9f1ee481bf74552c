import assert from "node:assert/strict";
import fc from "fast-check";
import { parseClassLabels, parseCsv, parseLabelList, parseSegments } from "../lib/data/csv.ts";

const quote = (f: string) => `"${f.replaceAll('"', '""')}"`;

Deno.test("parseCsv round-trips quoted fields with commas, quotes and newlines", () => {
  const field = fc.string({ unit: fc.constantFrom("a", "b", ",", '"', "\n", " ", "é", ";"), maxLength: 8 });
  fc.assert(
    fc.property(fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }), (rows) => {
      const text = rows.map((r) => r.map(quote).join(",")).join("\r\n") + "\n";
      const parsed = parseCsv(text, "x.csv");
      assert.deepEqual(parsed.map((r) => r.fields), rows);
    }),
  );
});

Deno.test("parseCsv: unquoted fields trimmed, blank lines skipped, comments optional, line numbers tracked", () => {
  const text = '# comment\n\n a , b\n"multi\nline",c\n\nlast, 1.5\n';
  const rows = parseCsv(text, "f.csv", { comments: true });
  assert.deepEqual(rows.map((r) => r.fields), [["a", "b"], ["multi\nline", "c"], ["last", "1.5"]]);
  assert.deepEqual(rows.map((r) => r.line), [3, 4, 7]);
  assert.deepEqual(parseCsv("#x,y\n", "f.csv").map((r) => r.fields), [["#x", "y"]]);
  assert.throws(() => parseCsv('a,"b\n', "bad.csv"), /^Error: bad\.csv:1: unterminated quoted field$/);
  assert.throws(() => parseCsv('ok\na,"b"x\n', "bad.csv"), /bad\.csv:2: unexpected character/);
  assert.throws(() => parseCsv('a,b"c\n', "bad.csv"), /bad\.csv:1: stray quote/);
});

Deno.test("parseClassLabels reads AudioSet's class_labels_indices.csv format", () => {
  const text =
    'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/05zppz,"Male speech, man speaking"\n2,/m/02zsn,Female\n';
  const c = parseClassLabels(text, "classes.csv");
  assert.deepEqual(c.names, ["Speech", "Male speech, man speaking", "Female"]);
  assert.deepEqual(c.mids, ["/m/09x0r", "/m/05zppz", "/m/02zsn"]);
  assert.equal(c.indexOfMid.get("/m/05zppz"), 1);
  assert.throws(() => parseClassLabels("idx,mid,name\n", "c.csv"), /c\.csv:1: expected header/);
  assert.throws(
    () => parseClassLabels("index,mid,display_name\n0,/m/a,A\n2,/m/b,B\n", "c.csv"),
    /c\.csv:3: expected index 1/,
  );
  assert.throws(
    () => parseClassLabels("index,mid,display_name\n0,/m/a,A\n1,/m/a,B\n", "c.csv"),
    /c\.csv:3: duplicate mid/,
  );
  assert.throws(() => parseClassLabels("index,mid,display_name\n0,/m/a\n", "c.csv"), /c\.csv:2: expected 3 fields/);
});

Deno.test("parseSegments reads AudioSet segment CSVs with comment headers and quoted label lists", () => {
  const text = [
    "# Segments csv created Sun Mar  5 10:54:25 2017",
    "# num_ytids=2, num_segs=2, num_unique_labels=3, num_positive_labels=3",
    "# YTID, start_seconds, end_seconds, positive_labels",
    '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"',
    '-0RWZT-miFs, 420.000, 430.000, "/m/03v3yw"',
    "",
  ].join("\n");
  const s = parseSegments(text, "seg.csv");
  assert.deepEqual(s.map((r) => [r.ytid, r.start, r.end, r.labels, r.line]), [
    ["--PJHxphWEs", 30, 40, ["/m/09x0r", "/t/dd00088"], 4],
    ["-0RWZT-miFs", 420, 430, ["/m/03v3yw"], 5],
  ]);
  assert.throws(() => parseSegments("# h\nabc, 1, 2\n", "seg.csv"), /seg\.csv:2: expected 4 fields/);
  assert.throws(() => parseSegments('abc, x, 2, "/m/a"\n', "seg.csv"), /seg\.csv:1: start_seconds "x" is not a number/);
});

Deno.test("parseLabelList: header optional, ';'-separated labels, empty labels allowed", () => {
  const withHeader = parseLabelList("path,labels\na.wav,dog;cat\nsub/b.flac,\n", "l.csv");
  assert.deepEqual(withHeader.map((r) => [r.path, r.labels, r.line]), [["a.wav", ["dog", "cat"], 2], [
    "sub/b.flac",
    [],
    3,
  ]]);
  const noHeader = parseLabelList("a.wav, dog ; cat \nb.wav\n", "l.csv");
  assert.deepEqual(noHeader.map((r) => [r.path, r.labels]), [["a.wav", ["dog", "cat"]], ["b.wav", []]]);
  assert.throws(() => parseLabelList("a.wav,dog,extra\n", "l.csv"), /l\.csv:1: expected "path,label;label"/);
});
