import { bind } from "../core/bind.ts";
import { broadcastShapes, fail, fmt } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { add } from "./elementwise.ts";
import { broadcastTo, expandDims, reshape, squeeze, transpose } from "./movement.ts";

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted (and the added axis removed), batch axes broadcast.
 * Stacked batch axes are folded into one, so the primitive only ever sees `[B, M, K] @ [B, K, N]`.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) fail("matmul", `scalars ${fmt(a.shape)}, ${fmt(b.shape)} not allowed`);
  const x = a.ndim === 1 ? expandDims(a, 0) : a;
  const y = b.ndim === 1 ? expandDims(b, 1) : b;
  const [m, k] = x.shape.slice(-2), [k2, n] = y.shape.slice(-2);
  if (k !== k2) fail("matmul", `cannot multiply ${fmt(a.shape)} by ${fmt(b.shape)}`);
  const batch = broadcastShapes("matmul", x.shape.slice(0, -2), y.shape.slice(0, -2));
  const nb = batch.reduce((p, d) => p * d, 1);
  let r: Tensor;
  if (y.ndim === 2 && nb > 1) {
    // A batch of rows times one matrix is one big matrix product: far better for every backend.
    r = reshape(bind("matmul", [reshape(x, [1, nb * m, k]), reshape(y, [1, k, n])], {}), [...batch, m, n]);
  } else {
    const xb = reshape(broadcastTo(x, [...batch, m, k]), [nb, m, k]);
    const yb = reshape(broadcastTo(y, [...batch, k, n]), [nb, k, n]);
    r = reshape(bind("matmul", [xb, yb], {}), [...batch, m, n]);
  }
  if (a.ndim === 1) r = squeeze(r, -2);
  if (b.ndim === 1) r = squeeze(r, -1);
  return r;
}

/** PyTorch's `Linear`: `x @ wᵀ + b` over the last axis, with `w` of shape [out, in]. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (w.ndim !== 2 || x.shape[x.ndim - 1] !== w.shape[1]) {
    fail("linear", `input ${fmt(x.shape)} does not fit weight ${fmt(w.shape)}`);
  }
  const y = matmul(x, transpose(w));
  return b ? add(y, b) : y;
}
