/** The README's example runs as written. */
import assert from "node:assert/strict";

Deno.test("README example runs as written and prints the gradient", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const code = readme.match(/```ts\n([\s\S]*?)```/)![1].replaceAll(
    '"./mod.ts"',
    JSON.stringify(new URL("../mod.ts", import.meta.url).href),
  );
  const logged: unknown[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => logged.push(...a);
  try {
    const url = `data:application/typescript;base64,${btoa(unescape(encodeURIComponent(code)))}`;
    await import(url);
  } finally {
    console.log = orig;
  }
  // d/dw mean((xw − y)²) at w = [0.5, −0.5]: residuals −1.5 and −0.5 → (2/2)·xᵀr = [−3, −5].
  assert.deepEqual(logged[0], [[-3], [-5]]);
});
