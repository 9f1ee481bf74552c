import type { Tensor } from "../core/tensor.ts";
import { fail, fmt } from "../core/shape.ts";
import { add, div, maximum } from "./elementwise.ts";
import { pad, slice } from "./movement.ts";
import { convOutSize } from "../core/prims/linalg.ts";
import { type Pair, pair } from "./conv.ts";
import { ones } from "./create.ts";
import { conv2d } from "./conv.ts";

/** Options of the 2-D pooling ops (PyTorch semantics, no ceil mode). */
export interface Pool2dOptions {
  /** Window size. */
  kernel: Pair;
  /** Defaults to the kernel size. */
  stride?: Pair;
  /** Padding on each side (default 0). */
  padding?: Pair;
}

/** The k×k strided windows of a padded input, as shifted slices; pooling combines them elementwise. */
function windows(x: Tensor, opts: Pool2dOptions, fill: number): Tensor[] {
  if (x.ndim !== 4) fail("pool2d", `expects [N,C,H,W], got ${fmt(x.shape)}`);
  const [kh, kw] = pair(opts.kernel), [sh, sw] = pair(opts.stride ?? opts.kernel), [ph, pw] = pair(opts.padding ?? 0);
  const [n, c, h, w] = x.shape;
  const ho = convOutSize(h, kh, sh, ph, ph, 1), wo = convOutSize(w, kw, sw, pw, pw, 1);
  if (ho < 1 || wo < 1) fail("pool2d", `window ${kh}×${kw} larger than padded input ${fmt(x.shape)}`);
  const xp = pad(x, [[0, 0], [0, 0], [ph, ph], [pw, pw]], fill);
  const out: Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      out.push(slice(xp, [0, 0, i, j], [n, c, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1], [1, 1, sh, sw]));
    }
  }
  return out;
}

/** Max pooling; padding counts as −∞. */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  return windows(x, opts, -Infinity).reduce((a, b) => maximum(a, b));
}

/** Average pooling; with `countIncludePad` (PyTorch's default) padded zeros count in the denominator. */
export function avgPool2d(x: Tensor, opts: Pool2dOptions & { countIncludePad?: boolean }): Tensor {
  const [kh, kw] = pair(opts.kernel);
  const total = windows(x, opts, 0).reduce((a, b) => add(a, b));
  if (opts.countIncludePad ?? true) return div(total, kh * kw);
  const [, , h, w] = x.shape;
  const counts = conv2d(ones([1, 1, h, w], x.dtype), ones([1, 1, kh, kw], x.dtype), {
    stride: opts.stride ?? opts.kernel,
    padding: opts.padding ?? 0,
  });
  return div(total, counts);
}
