/**
 * Straight-line linear programs (kernels/linear_program.ts) and the `realDft` programs built from them
 * (kernels/dft_program.ts): each program's matrix, read off column by column in float64, equals the dense matrix;
 * transposition and scaling give the transposed and scaled matrices of random programs.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  evaluateProgram,
  LinearBuilder,
  type LinearProgram,
  programFlops,
  scaleProgram,
  type Term,
  transposeProgram,
} from "../kernels/linear_program.ts";
import { dftProgram } from "../kernels/dft_program.ts";
import { dftMatrix } from "../lib/core/prims/dft_matrix.ts";

/** The dense `[outputs, inputs]` matrix of a program. */
function matrixOf(p: LinearProgram): number[][] {
  const cols = Array.from({ length: p.inputs }, (_, j) => {
    const e = new Float64Array(p.inputs);
    e[j] = 1;
    return evaluateProgram(p, e);
  });
  return p.outputs.map((_, i) => cols.map((c) => c[i]));
}

const closeMatrices = (a: number[][], b: number[][], tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - b[i][j]) <= tol, `${what} [${i},${j}]`)));
};

/** A random program: each operation combines two earlier values (or zero) with small integer coefficients. */
const programArb = fc.record({
  inputs: fc.integer({ min: 1, max: 5 }),
  ops: fc.array(fc.tuple(fc.nat(100), fc.integer({ min: -2, max: 2 }), fc.nat(100), fc.integer({ min: -2, max: 2 })), {
    maxLength: 12,
  }),
  outs: fc.array(fc.nat(100), { minLength: 1, maxLength: 5 }),
}).map(({ inputs, ops, outs }) => {
  const b = new LinearBuilder(inputs), values: Term[] = Array.from({ length: inputs }, (_, j) => j);
  for (const [a, ca, c, cb] of ops) {
    values.push(b.combine(ca, values[a % values.length], cb, values[c % values.length]));
  }
  return b.build(outs.map((o) => values[o % values.length]));
});

Deno.test("linear programs: the transpose computes the transposed matrix, scaling the scaled one", () => {
  fc.assert(
    fc.property(programArb, fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 5, maxLength: 5 }), (p, s) => {
      const a = matrixOf(p);
      closeMatrices(matrixOf(transposeProgram(p)), a[0].map((_, j) => a.map((row) => row[j])), 1e-12, "transpose");
      closeMatrices(matrixOf(scaleProgram(p, "inputs", s)), a.map((row) => row.map((v, j) => v * s[j])), 1e-12, "in");
      closeMatrices(matrixOf(scaleProgram(p, "outputs", s)), a.map((row, i) => row.map((v) => v * s[i])), 1e-12, "out");
    }),
    { numRuns: 100 },
  );
});

Deno.test("realDft programs (dense and centred) compute the transform's matrices; the centred one needs fewer flops", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.nat(14),
      fc.boolean(),
      fc.boolean(),
      (size, extra, inverse, transpose) => {
        const length = size + extra + ((size + extra) % 2 === 0 ? 1 : 0);
        const p = { length, size, inverse, transpose }, m = dftMatrix(p);
        const want = Array.from(
          { length: m.rows },
          (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)),
        );
        const paired = dftProgram(p, "paired"), dense = dftProgram(p, "dense");
        closeMatrices(matrixOf(paired), want, 1e-12, `paired ${JSON.stringify(p)}`);
        // The dense program's coefficients are rounded to f32 (as the shader holds them).
        closeMatrices(matrixOf(dense), want, 1e-7, `dense ${JSON.stringify(p)}`);
        // At most 0.717 of the dense program's flops over this whole domain (16 rows, length 21, inverse at worst).
        if (size >= 16) assert.ok(programFlops(paired) < 0.72 * programFlops(dense), `flops ${JSON.stringify(p)}`);
      },
    ),
    { numRuns: 60 },
  );
});
