import type { DType, TypedArray } from "./dtype.ts";
import type { Aval } from "./graph.ts";
import type { Tensor } from "./tensor.ts";

/** A concrete value as the CPU reference sees it. */
export interface CpuValue {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: TypedArray;
}

/** Padding of a 2-D convolution: [[top, bottom], [left, right]]. */
export type Padding2d = [[number, number], [number, number]];

/** Parameters of the three convolution primitives. */
export type ConvParams = {
  readonly stride: [number, number];
  readonly padding: Padding2d;
  readonly dilation: [number, number];
  readonly groups: number;
};

type NoParams = Record<string, never>;

/**
 * One axis of a DCLS grid: its cell count, the row of P/SIG that positions elements along it, the centring shift, and
 * optionally the window of cells `start … start + count − 1` the construction outputs (default: all `size`). Each
 * element is still normalised over all `size` cells: a window is a slice of the full kernel, computed without the rest.
 */
export type DclsAxis = {
  readonly size: number;
  readonly param: number;
  readonly shift: number;
  readonly start?: number;
  readonly count?: number;
};

/**
 * The row transform the spectral convolution applies to its kernel (lib/ops/spectral_conv.ts): the kernel's rows u
 * become the `length + 1` interleaved (re, im) rows of `Σ_u k[u] e^{+2πi f (u − top) / length}`, f < (length + 1) / 2.
 */
export type KernelSpectrum = { readonly length: number; readonly top: number };

/**
 * Parameters of the fused Gaussian DCLS construction: how the kernel's rows and columns are driven, and optionally the
 * row transform of the spectral convolution, applied to the (windowed) kernel before it is output.
 */
export type DclsGaussParams = { readonly rows: DclsAxis; readonly cols: DclsAxis; readonly spectrum?: KernelSpectrum };

/**
 * Parameters of `complexCorrelate`: zero padding `[left, right]` of the signal, and whether the kernel is taken
 * conjugated and reversed (`adjoint`: the correlation's transpose, which its VJP needs).
 */
export type ComplexCorrelateParams = { readonly padding: readonly [number, number]; readonly adjoint: boolean };

/**
 * Parameters of `realDft`, the real discrete Fourier transform of odd length `length` along the second-to-last axis as
 * a product with a constant matrix (lib/core/prims/dft.ts): `size` samples to `length + 1` interleaved (re, im) rows of
 * the non-negative frequencies, or back when `inverse`; `transpose` takes the matrix transposed (the VJP).
 */
export type RealDftParams = {
  readonly length: number;
  readonly size: number;
  readonly inverse: boolean;
  readonly transpose: boolean;
};

/**
 * Parameters of `toeplitz` and `toeplitzAdjoint` (lib/core/prims/toeplitz.ts): a stride-1 2-D correlation of an
 * `[H, W]` plane padded by `padding` = [top, left] onto `[Ho, Wo]` outputs, written as a matrix per channel.
 */
export type ToeplitzParams = {
  readonly plane: readonly [number, number];
  readonly out: readonly [number, number];
  readonly padding: readonly [number, number];
};

/** Parameters of every primitive, by name. The primitive set is the key set of this interface. */
export interface PrimParams {
  neg: NoParams;
  exp: NoParams;
  log: NoParams;
  sqrt: NoParams;
  rsqrt: NoParams;
  abs: NoParams;
  sign: NoParams;
  floor: NoParams;
  tanh: NoParams;
  erf: NoParams;
  sigmoid: NoParams;
  sin: NoParams;
  cos: NoParams;
  logicalNot: NoParams;
  add: NoParams;
  sub: NoParams;
  mul: NoParams;
  div: NoParams;
  pow: NoParams;
  maximum: NoParams;
  minimum: NoParams;
  lt: NoParams;
  le: NoParams;
  gt: NoParams;
  ge: NoParams;
  eq: NoParams;
  ne: NoParams;
  logicalAnd: NoParams;
  logicalOr: NoParams;
  where: NoParams;
  cast: { readonly dtype: DType };
  sum: { readonly axes: readonly number[] };
  max: { readonly axes: readonly number[] };
  reshape: { readonly shape: readonly number[] };
  transpose: { readonly perm: readonly number[] };
  broadcast: { readonly shape: readonly number[] };
  slice: { readonly starts: readonly number[]; readonly stops: readonly number[]; readonly steps: readonly number[] };
  pad: {
    readonly lo: readonly number[];
    readonly hi: readonly number[];
    readonly interior: readonly number[];
    readonly value: number;
  };
  concat: { readonly axis: number };
  flip: { readonly axes: readonly number[] };
  gather: { readonly axis: number };
  scatterAdd: { readonly axis: number; readonly size: number };
  matmul: NoParams;
  conv2d: ConvParams;
  conv2dInputGrad: ConvParams & { readonly inputShape: readonly number[] };
  conv2dWeightGrad: ConvParams & { readonly weightShape: readonly number[] };
  randomBits: { readonly shape: readonly number[] };
  dclsGauss: DclsGaussParams;
  dclsGaussGrad: DclsGaussParams;
  complexCorrelate: ComplexCorrelateParams;
  complexCorrelateKernelGrad: ComplexCorrelateParams & { readonly kernelSize: number };
  realDft: RealDftParams;
  toeplitz: ToeplitzParams;
  toeplitzAdjoint: ToeplitzParams & { readonly kernel: readonly [number, number] };
}

/** Name of a primitive. */
export type PrimName = keyof PrimParams;

/**
 * Everything the system knows of one primitive, declared in one place: the shape rule (which validates and throws
 * errors naming the op and shapes), the CPU reference (the ground truth, float64-capable) and the VJP rule, written with
 * other primitives. `vjp` returns one cotangent per input, `undefined` meaning zero; a primitive without `vjp` is not
 * differentiable (comparisons, integer ops, random bits). The WGSL generator lives in kernels/ under the same name.
 */
export interface PrimitiveDef<P> {
  shape(inputs: readonly Aval[], params: P): Aval;
  cpu(inputs: readonly CpuValue[], params: P, out: Aval): TypedArray;
  vjp?(g: Tensor, inputs: readonly Tensor[], out: Tensor, params: P): (Tensor | undefined)[];
}

/** A complete registry: a primitive without a declaration is a type error. */
export type Registry = { readonly [P in PrimName]: PrimitiveDef<PrimParams[P]> };
