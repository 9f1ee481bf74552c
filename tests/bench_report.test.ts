import assert from "node:assert/strict";
import fc from "fast-check";
import { fmt, markdownTable, writeResult } from "../bench/report.ts";

Deno.test("markdownTable: every line has the same width, numbers right-aligned", () => {
  const md = markdownTable(["name", "value"], [["a", 1.5], ["longer name", 1234.5678], ["c", "–"]]);
  const lines = md.split("\n");
  assert.equal(lines.length, 5);
  assert.ok(lines.every((l) => l.length === lines[0].length), md);
  assert.match(lines[1], /^\|-+\|-+:\|$/);
  assert.match(lines[3], /\| +1235 \|$/);
});

Deno.test("fmt: integers stay whole, other numbers keep about four significant digits", () => {
  assert.equal(fmt(64), "64");
  assert.equal(fmt(0.5), "0.500");
  assert.equal(fmt(12.3456), "12.35");
  assert.equal(fmt(0.000123456), "0.000123");
  assert.equal(fmt(Infinity), "Infinity");
  fc.assert(
    fc.property(fc.double({ min: 0.01, max: 1e6, noNaN: true }), (x) => {
      const back = Number(fmt(x));
      assert.ok(Math.abs(back - x) <= 0.005 * x + 0.5, `${x} → ${fmt(x)}`);
    }),
  );
});

Deno.test("writeResult: writes JSON under $OUT, and nothing without it", async () => {
  const dir = await Deno.makeTempDir();
  const before = Deno.env.get("OUT");
  try {
    Deno.env.set("OUT", `${dir}/nested`);
    const path = await writeResult("x.json", { a: [1, 2] });
    assert.equal(path, `${dir}/nested/x.json`);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path!)), { a: [1, 2] });
    Deno.env.delete("OUT");
    assert.equal(await writeResult("y.json", {}), undefined);
  } finally {
    if (before === undefined) Deno.env.delete("OUT");
    else Deno.env.set("OUT", before);
    await Deno.remove(dir, { recursive: true });
  }
});
