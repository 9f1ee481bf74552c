/**
 * Shared pieces of the kernel generator tests: the GPU (tests are skipped without one), a runner, plain TS reference
 * implementations of movement ops on flat arrays, tolerance checks and fast-check arbitraries for small shapes.
 * The references are deliberately naive (index loops in float64); the CPU backend of lib/core can replace them.
 * Also the convolution reference (forward, input and weight gradient with an error bound) that the conv2d, implicit
 * GEMM and depthwise kernel tests share.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { requestGpu } from "../lib/gpu/device.ts";
import { conv2dInputGradKernel, conv2dKernel, conv2dWeightGradKernel, convGeometry } from "../kernels/conv2d.ts";
import type { Conv2dParams, ConvGeometry, ConvOptions } from "../kernels/conv2d.ts";
import type { KernelProgram } from "../kernels/program.ts";
import type { CpuValue } from "../lib/core/primitive.ts";
import { KernelRunner } from "../kernels/runner.ts";
import { pseudoRandom } from "../bench/gpu_timing.ts";

/** Deterministic pseudo-random f32 values in [-1, 1) (for larger tensors where fast-check arrays would be slow). */
export { pseudoRandom };

/** The test GPU (llvmpipe in CI), or undefined when there is none. */
export const gpu = await requestGpu().catch(() => undefined);
/** A runner on {@link gpu}. */
export const runner = gpu ? new KernelRunner(gpu) : (undefined as unknown as KernelRunner);

/** Registers a GPU test (ignored without a GPU; WebGPU keeps resources that the sanitizers would flag). */
export function gpuTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !gpu, sanitizeOps: false, sanitizeResources: false, fn });
}

/** Property runs per test: llvmpipe compiles a new shader per random shape, so keep this small. */
export const RUNS = 12;

/** Runs an async property. */
export function check<T>(arb: fc.Arbitrary<T>, body: (v: T) => Promise<void>, numRuns = RUNS): Promise<void> {
  return fc.assert(fc.asyncProperty(arb, body), { numRuns });
}

/** Number of elements of a shape. */
export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Calls `f(coords, flat)` for every element of `shape` in row-major order. */
export function forEachIndex(shape: readonly number[], f: (c: number[], flat: number) => void): void {
  const n = size(shape);
  const c = shape.map(() => 0);
  for (let i = 0; i < n; i++) {
    f(c, i);
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++c[a] < shape[a]) break;
      c[a] = 0;
    }
  }
}

/** A flat array with its shape. */
export interface Arr {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

/** Reference of one movement primitive with the IR's params. */
export function moveRef(x: Arr, prim: string, p: Record<string, unknown>): Arr {
  const st = strides(x.shape);
  const at = (c: readonly number[]) => x.data[c.reduce((o, v, i) => o + v * st[i], 0)];
  const build = (shape: number[], f: (c: number[]) => number): Arr => {
    const data = new Float64Array(size(shape));
    forEachIndex(shape, (c, i) => (data[i] = f(c)));
    return { data, shape };
  };
  switch (prim) {
    case "reshape":
      return { data: x.data, shape: p.shape as number[] };
    case "transpose": {
      const perm = p.perm as number[];
      return build(perm.map((a) => x.shape[a]), (c) => {
        const src: number[] = [];
        perm.forEach((a, i) => (src[a] = c[i]));
        return at(src);
      });
    }
    case "broadcast":
      return build([...(p.shape as number[])], (c) => at(c.map((v, i) => (x.shape[i] === 1 ? 0 : v))));
    case "slice": {
      const [starts, stops, steps] = [p.starts as number[], p.stops as number[], p.steps as number[]];
      const shape = starts.map((s, i) => Math.max(0, Math.ceil((stops[i] - s) / steps[i])));
      return build(shape, (c) => at(c.map((v, i) => starts[i] + v * steps[i])));
    }
    case "pad": {
      const [lo, hi, interior, value] = [p.lo as number[], p.hi as number[], p.interior as number[], p.value as number];
      const g = interior ?? lo.map(() => 0);
      const shape = x.shape.map((d, i) => lo[i] + hi[i] + (d === 0 ? 0 : d + (d - 1) * g[i]));
      return build(shape, (c) => {
        const src: number[] = [];
        for (let i = 0; i < c.length; i++) {
          const o = c[i] - lo[i];
          if (o < 0 || o % (g[i] + 1) !== 0 || o / (g[i] + 1) >= x.shape[i]) return value;
          src.push(o / (g[i] + 1));
        }
        return at(src);
      });
    }
    case "flip": {
      const axes = p.axes as number[];
      return build([...x.shape], (c) => at(c.map((v, i) => (axes.includes(i) ? x.shape[i] - 1 - v : v))));
    }
    default:
      throw new Error(`moveRef: ${prim}`);
  }
}

/** A value for a primitive's float64 CPU reference, from test data. */
export function f64Value(data: ArrayLike<number>, shape: readonly number[]): CpuValue {
  return { shape, dtype: "f64", data: Float64Array.from(data) };
}

/** Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise (NaNs must match). */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rtol: number; atol: number },
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    if (a === e) continue;
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (|err| ${err.toExponential(2)})`);
    }
  }
}

/** Exact equality of two arrays (integers, bools, movement results). */
export function assertEqualArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assertClose(actual, expected, { rtol: 0, atol: 0 }, what);
}

/** A shape of rank [minRank, maxRank] with dims in [1, maxDim]. */
export function shapeArb(minRank = 1, maxRank = 4, maxDim = 6): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** f32 values in [lo, hi] for a shape (exactly representable: drawn as f32). */
export function f32Arb(n: number, lo = -2, hi = 2): fc.Arbitrary<Float32Array> {
  return fc.array(fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true }), { minLength: n, maxLength: n })
    .map((v) => Float32Array.from(v));
}

/** A float64 reference output with Σ|products| per element (the scale of its f32 rounding error). */
export interface ConvRef {
  /** The exact-ish values. */
  readonly v: Float64Array;
  /** Σ|a·b| over the products summed into each element. */
  readonly abs: Float64Array;
}

/**
 * Forward (y), input gradient (dx) and weight gradient (dw, for output gradient `dy`) of a grouped NCHW convolution,
 * by direct loops over every tap, with Σ|products| for each output element.
 */
export function convReference(
  g: ConvGeometry,
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
): { y: ConvRef; dx: ConvRef; dw: ConvRef } {
  const mk = (n: number) => ({ v: new Float64Array(n), abs: new Float64Array(n) });
  const y = mk(g.N * g.O * g.Ho * g.Wo), dx = mk(x.length), dw = mk(w.length);
  const acc = (r: ConvRef, i: number, a: number, b: number) => {
    r.v[i] += a * b;
    r.abs[i] += Math.abs(a * b);
  };
  for (let n = 0; n < g.N; n++) {
    for (let o = 0; o < g.O; o++) {
      const grp = Math.floor(o / g.Og);
      for (let oy = 0; oy < g.Ho; oy++) {
        for (let ox = 0; ox < g.Wo; ox++) {
          const yi = ((n * g.O + o) * g.Ho + oy) * g.Wo + ox;
          for (let c = 0; c < g.Cg; c++) {
            for (let ky = 0; ky < g.kh; ky++) {
              for (let kx = 0; kx < g.kw; kx++) {
                const iy = oy * g.sh + ky * g.dh - g.pt, ix = ox * g.sw + kx * g.dw - g.pl;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                const xi = ((n * g.C + grp * g.Cg + c) * g.H + iy) * g.W + ix;
                const wi = ((o * g.Cg + c) * g.kh + ky) * g.kw + kx;
                acc(y, yi, x[xi], w[wi]);
                acc(dx, xi, dy[yi], w[wi]);
                acc(dw, wi, dy[yi], x[xi]);
              }
            }
          }
        }
      }
    }
  }
  return { y, dx, dw };
}

/**
 * Asserts |got − ref| ≤ 2e-6 · Σ|products| + 1e-6 per element (a bound on f32 dot-product rounding). With
 * `exactZeros`, elements no product reaches (weight-gradient taps that only read padding) must be exact zeros.
 */
export function assertConvRef(got: ArrayLike<number>, ref: ConvRef, what: string, exactZeros = false): void {
  assert.equal(got.length, ref.v.length, `${what}: length`);
  for (let i = 0; i < ref.v.length; i++) {
    const tol = exactZeros && ref.abs[i] === 0 ? 0 : 2e-6 * ref.abs[i] + 1e-6;
    assert.ok(Math.abs(got[i] - ref.v[i]) <= tol, `${what}[${i}]: got ${got[i]}, expected ${ref.v[i]}`);
  }
}

/** Runs a program with its output pre-filled with NaN, so an element the program never writes fails the check. */
export async function runPoisoned(program: KernelProgram, inputs: Float32Array[]): Promise<Float32Array> {
  const prepared = await runner.prepare(program);
  const device = runner.gpu.device;
  const out = runner.createBuffer(program.outputs[0]);
  device.queue.writeBuffer(out, 0, new Float32Array(program.outputs[0].size).fill(NaN));
  const buffers = {
    inputs: inputs.map((x) => runner.upload(x, "f32")),
    outputs: [out],
    scratch: program.scratch.map((b) => runner.createBuffer(b)),
  };
  try {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    runner.encode(pass, prepared, buffers);
    pass.end();
    device.queue.submit([enc.finish()]);
    return (await runner.read(out, program.outputs[0])) as Float32Array;
  } finally {
    for (const b of [...buffers.inputs, out, ...buffers.scratch]) runner.gpu.memory.destroy(b);
  }
}

/**
 * Runs the conv2d generators' forward, input gradient and weight gradient of one convolution on pseudo-random inputs
 * and checks each against {@link convReference}; returns the input-gradient program. With `poisonDx`, the input
 * gradient runs through {@link runPoisoned}, so every element must be written.
 */
export async function checkConv(
  xs: number[],
  ws: number[],
  p: Conv2dParams,
  opts: ConvOptions = {},
  what = "",
  poisonDx = false,
): Promise<KernelProgram> {
  const x = pseudoRandom(size(xs), 3), w = pseudoRandom(size(ws), 4);
  const g = convGeometry(xs, ws, p);
  const dyShape = [g.N, g.O, g.Ho, g.Wo];
  const dy = pseudoRandom(size(dyShape), 5);
  const ref = convReference(g, x, w, dy);
  const tag = `${what} x[${xs}] w[${ws}] ${JSON.stringify(p)}`;
  const [y] = await runner.run(conv2dKernel(xs, ws, p, opts), [x, w]);
  assertConvRef(y, ref.y, `y ${tag}`);
  const dxProgram = conv2dInputGradKernel(dyShape, ws, { ...p, inputShape: xs }, opts);
  const [dx] = poisonDx ? [await runPoisoned(dxProgram, [dy, w])] : await runner.run(dxProgram, [dy, w]);
  assertConvRef(dx, ref.dx, `dx ${tag}`);
  const [dw] = await runner.run(conv2dWeightGradKernel(xs, dyShape, { ...p, weightShape: ws }, opts), [x, dy]);
  assertConvRef(dw, ref.dw, `dw ${tag}`);
  return dxProgram;
}
