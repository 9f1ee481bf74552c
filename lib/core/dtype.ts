/** Element types a tensor can hold. `f64` is for CPU reference work (gradient checks); GPUs compute in `f32`. */
export type DType = "f32" | "f64" | "i32" | "u32" | "bool";

/** Typed array storage for each dtype. */
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;

/** Allocates zeroed storage of `n` elements for `dtype`. */
export function allocate(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case "f32":
      return new Float32Array(n);
    case "f64":
      return new Float64Array(n);
    case "i32":
      return new Int32Array(n);
    case "u32":
      return new Uint32Array(n);
    case "bool":
      return new Uint8Array(n);
  }
}

/** The dtype that a typed array stores natively. */
export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return "f32";
  if (data instanceof Float64Array) return "f64";
  if (data instanceof Int32Array) return "i32";
  if (data instanceof Uint32Array) return "u32";
  return "bool";
}

/** Whether values of this dtype are real numbers that gradients can flow through. */
export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f64";
}

/** Bytes per element as stored on a GPU (bool is widened to 32 bits there, f64 is not supported there). */
export function gpuBytes(dtype: DType): number {
  return dtype === "f64" ? 8 : 4;
}
