/**
 * The fused Gaussian construction (`dclsGauss` and its backward `dclsGaussGrad`) against the construction composed
 * from core primitives, in float64: kernels and all three gradients on random shapes, non-square grids and several
 * inputs per group; and the primitive's one-line errors.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { construct, gridAxes } from "../lib/dcls/construct.ts";
import { randArray, relError } from "./_gradcheck.ts";

const f64 = (data: Float64Array, shape: number[]) => T.tensor(data, { shape, dtype: "f64" });

Deno.test("dclsGauss equals the composed Gaussian construction, kernel and VJP to weight, P and SIG (f64)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.nat(1000),
      (co, ci, k, d0, d1, seed) => {
        const n = co * ci * k;
        const w = f64(randArray(n, seed), [co, ci, k]);
        const P = f64(randArray(2 * n, seed + 1, -4, 4), [2, co, ci, k]);
        const S = f64(randArray(2 * n, seed + 2, -0.6, 0.6), [2, co, ci, k]);
        const g = f64(randArray(co * ci * d0 * d1, seed + 3), [co, ci, d0, d1]);
        const results = [false, true].map((composed) => {
          const f = (w: T.Tensor, p: T.Tensor, s: T.Tensor) =>
            construct(w, p, s, { version: "gauss", dilatedKernelSize: [d0, d1], composed });
          const [y, pull] = T.vjp(f, w, P, S);
          return [y, ...pull(g)] as T.Tensor[];
        });
        ["kernel", "dweight", "dP", "dSIG"].forEach((what, i) => {
          const [fused, composed] = results.map((r) => r[i].toArray() as Float64Array);
          assert.deepEqual(results[0][i].shape, results[1][i].shape, what);
          assert.ok(relError(fused, composed) < 1e-12, `${what}: relative error ${relError(fused, composed)}`);
        });
      },
    ),
    { numRuns: 40, seed: 11 },
  );
});

Deno.test("construct takes the fused primitive for the models' 23×23 grid of 26 elements", () => {
  const [c, k, d] = [2, 26, 23];
  const t = (n: number, seed: number) => f64(randArray(n, seed), [n / (c * k), c, 1, k]);
  const { graph } = T.traceGraph(
    ((w: T.Tensor, p: T.Tensor, s: T.Tensor) =>
      construct(T.reshape(w, [c, 1, k]), p, s, { version: "gauss", dilatedKernelSize: d })) as never,
    [t(c * k, 1), t(2 * c * k, 2), t(2 * c * k, 3)],
  );
  assert.deepEqual(graph.eqns.filter((e) => e.prim !== "reshape").map((e) => e.prim), ["dclsGauss"]);
});

Deno.test("dclsGauss rejects mismatched P and SIG, a shared parameter row and a wrong cotangent in one line", () => {
  const w = T.zeros([2, 1, 3], "f64");
  const rows = gridAxes("gauss", 5, 5)[0];
  const ok = T.zeros([2, 2, 1, 3], "f64");
  const bind = (inputs: T.Tensor[], params: unknown, prim: "dclsGauss" | "dclsGaussGrad" = "dclsGauss") =>
    T.bind(prim, inputs, params as never);
  assert.throws(() => bind([w, T.zeros([2, 2, 1, 4], "f64"), ok], { rows, cols: { ...rows, param: 0 } }), /P must be/);
  assert.throws(() => bind([w, ok, ok], { rows, cols: rows }), /different rows of P/);
  assert.throws(
    () => bind([T.zeros([2, 1, 4, 5], "f64"), w, ok, ok], { rows, cols: { ...rows, param: 0 } }, "dclsGaussGrad"),
    /cotangent \[2,1,4,5\] is not the kernel shape \[2,1,5,5\]/,
  );
});

Deno.test("a second derivative through the fused construction is an error; the composed one gives it", () => {
  const w = f64(randArray(2, 5), [1, 1, 2]), P = f64(randArray(4, 6, -1, 1), [2, 1, 1, 2]);
  const S = f64(randArray(4, 7, 0.1, 0.4), [2, 1, 1, 2]);
  const hess = (composed: boolean) => {
    const f = (p: T.Tensor) =>
      T.sum(T.square(construct(w, p, S, { version: "gauss", dilatedKernelSize: 5, composed })));
    return T.grad((p: T.Tensor) => T.sum(T.square(T.grad(f)(p) as T.Tensor)))(P) as T.Tensor;
  };
  assert.throws(() => hess(false), /differentiable once.*composed: true/);
  assert.ok((hess(true).toArray() as Float64Array).some((v) => v !== 0));
});
