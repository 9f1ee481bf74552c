/**
 * The fused Gaussian construction (`dclsGauss` and its backward `dclsGaussGrad`) against the construction composed
 * from core primitives, in float64: kernels and all three gradients on random shapes, non-square grids and several
 * inputs per group; an output window against the slice of the whole kernel, and a spectrum against `kernelSpectrum`
 * of the kernel, on every construction path; and the primitive's one-line errors.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { construct, DCLS_VERSIONS, gridAxes, type KernelWindow } from "../lib/dcls/construct.ts";
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

/** A random window of a `d0 × d1` grid from four naturals. */
const windowOf = (d0: number, d1: number, [a, b, c, d]: number[]): KernelWindow => {
  const r0 = a % d0, c0 = c % d1;
  return { rows: [r0, 1 + b % (d0 - r0)], cols: [c0, 1 + d % (d1 - c0)] };
};

/** The `window` slice of a kernel `[Co, Ci, D0, D1]`. */
const sliceWindow = (t: T.Tensor, { rows: [r0, n0], cols: [c0, n1] }: KernelWindow) =>
  T.slice(t, [0, 0, r0, c0], [t.shape[0], t.shape[1], r0 + n0, c0 + n1]);

Deno.test("a windowed construction is the slice of the whole one, its spectrum kernelSpectrum of it, kernel and VJP, on every path (f64)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.nat(100), { minLength: 4, maxLength: 4 }),
      fc.option(fc.record({ half: fc.integer({ min: 0, max: 9 }), top: fc.nat(100) })),
      fc.constantFrom(...DCLS_VERSIONS, "composed" as const),
      fc.nat(1000),
      (co, k, d0, d1, at, s, path, seed) => {
        const window = windowOf(d0, d1, at);
        const spectrum = s ? { length: 2 * s.half + 1, top: s.top % (2 * s.half + 1) } : undefined;
        const rows = spectrum ? spectrum.length + 1 : window.rows[1];
        const n = co * k;
        const w = f64(randArray(n, seed), [co, 1, k]);
        const P = f64(randArray(2 * n, seed + 1, -3, 3), [2, co, 1, k]);
        const S = f64(randArray(2 * n, seed + 2, -0.6, 0.6), [2, co, 1, k]);
        const g = f64(randArray(co * rows * window.cols[1], seed + 3), [co, 1, rows, window.cols[1]]);
        const version = path === "composed" ? "gauss" : path, composed = path === "composed";
        const opts = { version, dilatedKernelSize: [d0, d1] as [number, number], composed };
        const after = (t: T.Tensor) => spectrum ? T.kernelSpectrum(t, spectrum) : t;
        const windowed = T.vjp((w, p, s) => construct(w, p, s, { ...opts, window, spectrum }), w, P, S);
        const sliced = T.vjp((w, p, s) => after(sliceWindow(construct(w, p, s, opts), window)), w, P, S);
        const [got, want] = [windowed, sliced].map(([y, pull]) => [y, ...pull(g)] as T.Tensor[]);
        const what = `${path} ${d0}×${d1} window ${JSON.stringify(window)} spectrum ${JSON.stringify(spectrum)}`;
        assert.deepEqual(got[0].shape, [co, 1, rows, window.cols[1]], what);
        ["kernel", "dweight", "dP", "dSIG"].forEach((name, i) => {
          assert.deepEqual(got[i].shape, want[i].shape, `${name}, ${what}`);
          const e = relError(got[i].toArray(), want[i].toArray());
          assert.ok(e < 1e-12, `${name}, ${what}: relative error ${e}`);
        });
      },
    ),
    { numRuns: 80, seed: 5 },
  );
});

Deno.test("construct with a window binds only dclsGauss, whose output and cotangent are the window's", () => {
  const [c, k, d] = [2, 26, 23];
  const t = (n: number, seed: number) => f64(randArray(n, seed), [n / (c * k), c, 1, k]);
  const window: KernelWindow = { rows: [4, 15], cols: [5, 13] };
  const { graph } = T.traceGraph(
    ((w: T.Tensor, p: T.Tensor, s: T.Tensor) =>
      T.grad((p: T.Tensor) =>
        T.sum(T.square(construct(T.reshape(w, [c, 1, k]), p, s, { version: "gauss", dilatedKernelSize: d, window })))
      )(p)) as never,
    [t(c * k, 1), t(2 * c * k, 2), t(2 * c * k, 3)],
  );
  const fused = graph.eqns.filter((e) => e.prim === "dclsGauss" || e.prim === "dclsGaussGrad");
  assert.deepEqual(fused.map((e) => e.prim), ["dclsGauss", "dclsGaussGrad"]);
  assert.deepEqual(fused[0].out.aval.shape, [c, 1, 15, 13]);
  assert.deepEqual(fused[1].inputs[0].aval.shape, [c, 1, 15, 13]);
  // Neither a slice of the kernel nor its VJP's zero padding remains (the packed gradients are sliced apart).
  const prims = graph.eqns.map((e) => `${e.prim}${JSON.stringify(e.inputs[0]?.aval.shape)}`).join(" ");
  assert.ok(graph.eqns.every((e) => e.prim !== "pad"), prims);
  assert.ok(graph.eqns.every((e) => e.prim !== "slice" || e.inputs[0].aval.shape[0] === 5), prims);
});

Deno.test("windows outside the grid are one-line errors naming dclsGauss, dclsGaussGrad or construct", () => {
  const w = T.zeros([2, 1, 3], "f64"), ok = T.zeros([2, 2, 1, 3], "f64");
  const [rows, cols] = gridAxes("gauss", 5, 4);
  const oneLine = (re: RegExp) => (e: Error) => re.test(e.message) && !e.message.includes("\n");
  const bad: [start: number, count: number][] = [[-1, 2], [0, 0], [3, 3], [1.5, 2], [0, 6]];
  for (const [start, count] of bad) {
    assert.throws(
      () => T.bind("dclsGauss", [w, ok, ok], { rows: { ...rows, start, count }, cols }),
      oneLine(new RegExp(`^dclsGauss: rows window \\(start ${start}, count ${count}\\) must be integers`)),
    );
    const g = T.zeros([2, 1, 5, 4], "f64");
    assert.throws(
      () => T.bind("dclsGaussGrad", [g, w, ok, ok], { rows, cols: { ...cols, start, count } }),
      oneLine(/^dclsGaussGrad: cols window/),
    );
    for (const version of DCLS_VERSIONS) {
      const window: KernelWindow = { rows: [0, 5], cols: [start, count] };
      assert.throws(
        () => construct(w, ok, ok, { version, dilatedKernelSize: [5, 4], window }),
        oneLine(/^construct: cols window/),
      );
    }
  }
  // A window may end at the grid's last cell; the cotangent must have the window's shape.
  const last = T.bind("dclsGauss", [w, ok, ok], { rows: { ...rows, start: 4, count: 1 }, cols });
  assert.deepEqual(last.shape, [2, 1, 1, 4]);
  assert.throws(
    () =>
      T.bind("dclsGaussGrad", [T.zeros([2, 1, 5, 4], "f64"), w, ok, ok], {
        rows: { ...rows, start: 1, count: 3 },
        cols,
      }),
    /cotangent \[2,1,5,4\] is not the kernel shape \[2,1,3,4\]/,
  );
});
