/**
 * Property tests: gradients of the DCLS construction (to weight, positions and widths) against float64 central finite
 * differences, at random positions including the grid borders and beyond, and widths at their floor (SIG = 0).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../lib/core/mod.ts";
import { construct, construct1d, DCLS_VERSIONS, type DclsVersion, gridAxes } from "../lib/dcls/construct.ts";
import { gradError, randArray } from "./_gradcheck.ts";

const C_OUT = 2, C_IN = 1, K = 3, N = C_OUT * C_IN * K;
/** Finite differences step, and how far from a kink of the piecewise-linear profiles a sample must stay. */
const H = 1e-6, KINK_MARGIN = 1e-3;

/** A position in grid-cell units along an axis of `size` cells: inside, near/beyond the low border, or the high one. */
const gridPos = (size: number) =>
  fc.oneof(
    fc.double({ min: 0, max: size - 1, noNaN: true }),
    fc.double({ min: -1.5, max: 0.6, noNaN: true }),
    fc.double({ min: size - 1.6, max: size + 0.5, noNaN: true }),
  );
/** A raw width: exactly 0 (the floor, where d|SIG|/dSIG = 0), near it, or anywhere. */
const sigma = fc.oneof(
  fc.constant(0),
  fc.double({ min: -0.05, max: 0.05, noNaN: true }),
  fc.double({ min: -1, max: 1, noNaN: true }),
);

const distToInt = (v: number) => Math.abs(v - Math.round(v));

/** Whether finite differences at grid-unit position p (width s) stay on one linear piece of the version's profile. */
function smoothAt(version: DclsVersion, p: number, sig: number): boolean {
  if (sig !== 0 && Math.abs(sig) < KINK_MARGIN) return false;
  if (version === "gauss") return true;
  if (distToInt(p) < KINK_MARGIN) return false;
  if (version !== "max") return true;
  const s = Math.abs(sig) + 1;
  return distToInt(p + s) >= KINK_MARGIN && distToInt(p - s) >= KINK_MARGIN;
}

/** Moves a sample off the kinks (fast-check favours boundary values such as integers), keeping its region. */
function smooth(version: DclsVersion, p: number, sig: number): [number, number] {
  const s = sig !== 0 && Math.abs(sig) < KINK_MARGIN ? Math.sign(sig) * 2 * KINK_MARGIN : sig;
  let q = p;
  while (!smoothAt(version, q, s)) q += 0.0107;
  return [q, s];
}

const f64 = (data: number[] | Float64Array, shape: number[]) =>
  T.tensor(Float64Array.from(data), { shape, dtype: "f64" });

for (const version of DCLS_VERSIONS) {
  Deno.test(`dcls gradcheck (${version}): weight, P and SIG gradients match central differences`, () => {
    const grid: [number, number] = [7, 5];
    const axes = gridAxes(version, ...grid);
    // P row a drives the grid axis whose `param` is a.
    const byParam = [0, 1].map((a) => axes.find((x) => x.param === a)!);
    fc.assert(
      fc.property(
        fc.array(gridPos(byParam[0].size), { minLength: N, maxLength: N }),
        fc.array(gridPos(byParam[1].size), { minLength: N, maxLength: N }),
        fc.array(sigma, { minLength: 2 * N, maxLength: 2 * N }),
        fc.integer({ min: 1, max: 1000 }),
        (p0, p1, sig, seed) => {
          const samples = [...p0, ...p1].map((p, i) => smooth(version, p, sig[i]));
          const P = f64(samples.map(([p], i) => p - byParam[i < N ? 0 : 1].shift), [2, C_OUT, C_IN, K]);
          const W = f64(randArray(N, seed), [C_OUT, C_IN, K]);
          const S = f64(samples.map(([, s]) => s), [2, C_OUT, C_IN, K]);
          const f = (w: T.Tensor, p: T.Tensor, s: T.Tensor) => construct(w, p, s, { version, dilatedKernelSize: grid });
          const err = gradError(f, [W, P, S], { h: H, seed });
          assert.ok(err < 1e-6, `relative gradient error ${err}`);
        },
      ),
      { numRuns: 15, seed: 1234 + version.length },
    );
  });
}

Deno.test("dcls gradcheck (1-D, every version): gradients match central differences", () => {
  const d = 9;
  fc.assert(
    fc.property(
      fc.constantFrom(...DCLS_VERSIONS),
      fc.array(gridPos(d), { minLength: N, maxLength: N }),
      fc.array(sigma, { minLength: N, maxLength: N }),
      fc.integer({ min: 1, max: 1000 }),
      (version, pos, sig, seed) => {
        const samples = pos.map((p, i) => smooth(version, p, sig[i]));
        const P = f64(samples.map(([p]) => p - Math.floor(d / 2)), [1, C_OUT, C_IN, K]);
        const W = f64(randArray(N, seed), [C_OUT, C_IN, K]);
        const S = f64(samples.map(([, s]) => s), [1, C_OUT, C_IN, K]);
        const f = (w: T.Tensor, p: T.Tensor, s: T.Tensor) => construct1d(w, p, s, { version, dilatedKernelSize: d });
        const err = gradError(f, [W, P, S], { h: H, seed });
        assert.ok(err < 1e-6, `${version}: relative gradient error ${err}`);
      },
    ),
    { numRuns: 20, seed: 77 },
  );
});

Deno.test("dcls gradcheck: at SIG = 0 the width gradient is exactly 0 (d|SIG|/dSIG = 0, as PyTorch)", () => {
  for (const version of ["gauss", "max"] as const) {
    const W = f64(randArray(N, 3), [C_OUT, C_IN, K]);
    const P = f64(randArray(2 * N, 4, -2, 2), [2, C_OUT, C_IN, K]);
    const S = T.zeros([2, C_OUT, C_IN, K], "f64");
    const [, pull] = T.vjp(
      ((w: T.Tensor, p: T.Tensor, s: T.Tensor) => construct(w, p, s, { version, dilatedKernelSize: 7 })) as never,
      W,
      P,
      S,
    );
    const [, , dS] = pull(f64(randArray(C_OUT * 49, 5), [C_OUT, C_IN, 7, 7]) as never) as T.Tensor[];
    assert.ok(dS.toArray().every((v) => v === 0), `${version}: dSIG at 0 must be 0`);
  }
});
