/** compile: traced once per signature, same results as eager execution; random streams agree with the host PRNG. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { randomBits as hostBits, splitKey } from "../lib/random/threefry.ts";
import { rand, relError } from "./_gradcheck.ts";

Deno.test("a compiled training step equals eager execution and is traced once", () => {
  const x = rand([8, 3], 1), y = rand([8, 1], 2);
  const step = (p: { w: T.Tensor; b: T.Tensor }) => {
    const [loss, g] = T.valueAndGrad((q: typeof p) => T.mean(T.square(T.sub(T.add(T.matmul(x, q.w), q.b), y))))(p) as [
      T.Tensor,
      typeof p,
    ];
    return { loss, params: T.treeMap((a, b) => T.sub(a, T.mul(b, 0.1)), p, g) as typeof p };
  };
  const compiled = T.compile(step);
  let pe = { w: rand([3, 1], 3), b: rand([1], 4) }, pc = pe;
  for (let i = 0; i < 5; i++) {
    const e = step(pe), c = compiled(pc);
    assert.ok(Math.abs(e.loss.item() - c.loss.item()) < 1e-14);
    pe = e.params;
    pc = c.params;
  }
  assert.equal(compiled.traced.size, 1);
  assert.ok(relError(pc.w.toArray(), pe.w.toArray()) < 1e-14);
});

Deno.test("randomBits and split follow the host Threefry stream", () => {
  const key = T.randomKey(42);
  const bits = T.randomBits(key, [5]).toArray();
  assert.deepEqual([...bits], [...hostBits(key.toArray() as Uint32Array, 5)]);
  const [k1, k2] = T.split(key);
  const [h1, h2] = splitKey(key.toArray() as Uint32Array, 2);
  assert.deepEqual([...k1.toArray()], [...h1]);
  assert.deepEqual([...k2.toArray()], [...h2]);
});

Deno.test("uniform, normal and bernoulli have the right moments", () => {
  const key = T.randomKey(7);
  const uni = T.uniform(key, [20000]).toArray();
  const nrm = T.normal(key, [20000], { dtype: "f64" }).toArray();
  const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean(uni) - 0.5) < 0.01);
  assert.ok(Math.min(...uni) >= 0 && Math.max(...uni) < 1);
  assert.ok(Math.abs(mean(nrm)) < 0.03);
  assert.ok(Math.abs(mean(Array.from(nrm, (v) => v * v)) - 1) < 0.05);
  const b = T.cast(T.bernoulli(key, 0.3, [20000]), "f32").toArray();
  assert.ok(Math.abs(mean(b) - 0.3) < 0.01);
  const tn = T.truncatedNormal(key, [5000], { std: 0.02 }).toArray();
  assert.ok(Math.max(...tn.map(Math.abs)) <= 0.04 + 1e-7);
  const perm = T.permutation(key, 50).toArray();
  assert.deepEqual([...perm].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("dropPath drops whole samples and keeps the expectation", () => {
  const x = T.ones([4000, 3]);
  const y = T.dropPath(T.randomKey(1), x, 0.25, true).toArray();
  for (let i = 0; i < 4000; i++) assert.ok(y[3 * i] === y[3 * i + 1] && y[3 * i] === y[3 * i + 2]);
  const m = Array.from(y).reduce((s, v) => s + v, 0) / y.length;
  assert.ok(Math.abs(m - 1) < 0.05, `mean ${m}`);
  assert.equal(T.dropPath(T.randomKey(1), x, 0.25, false), x);
});
