/** A depthwise DCLS layer's float64 parameters for the layer tests, with sigmas spread off their initial value. */
import * as T from "../lib/core/mod.ts";
import { type DclsParams, initDcls2d } from "../lib/dcls/layer.ts";
import { rand } from "./_gradcheck.ts";

/** `c` channels of `k` elements on a `grid`² grid (key `key`), SIG drawn in ±0.6 from seed `sigSeed`. */
export function depthwiseDclsParams(
  key: number,
  c: number,
  k: number,
  grid: number,
  sigSeed: number,
): DclsParams & { SIG: T.Tensor } {
  const params = initDcls2d(T.randomKey(key), {
    inChannels: c,
    outChannels: c,
    groups: c,
    kernelCount: k,
    dilatedKernelSize: grid,
    dtype: "f64",
  });
  return { ...params, SIG: rand([2, c, 1, k], sigSeed, -0.6, 0.6) };
}
