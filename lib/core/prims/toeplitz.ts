/**
 * A depthwise convolution's kernel as a matrix: for each channel, `T[o, i]` is the weight that output position o
 * gives input position i of a stride-1 correlation (zero where the kernel does not reach). On planes much smaller
 * than the kernel (DCLS's 23×23 on 8×7 maps) every output meets every input, and the convolution becomes a batched
 * matrix product of H·W-square matrices (lib/ops/toeplitz_conv.ts) with fewer flops than the kernel has taps.
 *
 * - `toeplitz`: w `[C, kh, kw]` → T `[C, Ho·Wo, H·W]`, T[c, (oh, ow), (ih, iw)] = w[c, ih − oh + top, iw − ow + left];
 * - `toeplitzAdjoint`: its transpose, T̄ `[C, Ho·Wo, H·W]` → w̄ `[C, kh, kw]`, each tap summing its diagonal.
 *
 * Each is the other's VJP.
 *
 * @module
 */
import { allocate } from "../dtype.ts";
import type { PrimitiveDef, PrimParams, ToeplitzParams } from "../primitive.ts";
import { fail, fmt } from "../shape.ts";
import { bind } from "../bind.ts";

/** Visits every (flat w index, flat T index) pair of a channel's nonzero entries. */
function eachEntry(p: ToeplitzParams, [kh, kw]: readonly [number, number], f: (wi: number, ti: number) => void): void {
  const [H, W] = p.plane, [Ho, Wo] = p.out, [top, left] = p.padding;
  for (let oh = 0; oh < Ho; oh++) {
    for (let ow = 0; ow < Wo; ow++) {
      for (let ih = 0; ih < H; ih++) {
        const u = ih - oh + top;
        if (u < 0 || u >= kh) continue;
        for (let iw = 0; iw < W; iw++) {
          const v = iw - ow + left;
          if (v >= 0 && v < kw) f(u * kw + v, (oh * Wo + ow) * H * W + ih * W + iw);
        }
      }
    }
  }
}

function check(op: string, p: ToeplitzParams): void {
  const ok = [...p.plane, ...p.out].every((d) => Number.isInteger(d) && d >= 1) &&
    p.padding.every((d) => Number.isInteger(d) && d >= 0);
  if (!ok) fail(op, `plane ${fmt(p.plane)}, outputs ${fmt(p.out)} and padding ${fmt(p.padding)} must be valid sizes`);
}

/** The Toeplitz matrix of a depthwise kernel and its transpose. */
export const toeplitzPrims = {
  toeplitz: {
    shape: ([w], p) => {
      check("toeplitz", p);
      if (w.shape.length !== 3) fail("toeplitz", `kernel must be [C, kh, kw], got ${fmt(w.shape)}`);
      return { shape: [w.shape[0], p.out[0] * p.out[1], p.plane[0] * p.plane[1]], dtype: w.dtype };
    },
    cpu: ([w], p, out) => {
      const [C, kh, kw] = w.shape, size = out.shape[1] * out.shape[2];
      const r = allocate(out.dtype, C * size);
      for (let c = 0; c < C; c++) eachEntry(p, [kh, kw], (wi, ti) => (r[c * size + ti] = w.data[c * kh * kw + wi]));
      return r;
    },
    vjp: (g, [w], _out, p) => [
      bind("toeplitzAdjoint", [g], { ...p, kernel: [w.shape[1], w.shape[2]] as [number, number] }),
    ],
  },
  toeplitzAdjoint: {
    shape: ([t], p) => {
      check("toeplitzAdjoint", p);
      const want = [t.shape[0], p.out[0] * p.out[1], p.plane[0] * p.plane[1]];
      if (t.shape.length !== 3 || t.shape.join() !== want.join()) {
        fail("toeplitzAdjoint", `matrix ${fmt(t.shape)} is not ${fmt(want)}`);
      }
      return { shape: [t.shape[0], p.kernel[0], p.kernel[1]], dtype: t.dtype };
    },
    cpu: ([t], p, out) => {
      const [C] = t.shape, size = t.shape[1] * t.shape[2], taps = p.kernel[0] * p.kernel[1];
      const acc = new Float64Array(C * taps);
      for (let c = 0; c < C; c++) {
        eachEntry(p, p.kernel, (wi, ti) => (acc[c * taps + wi] += Number(t.data[c * size + ti])));
      }
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: (g, _inputs, _out, p) => [bind("toeplitz", [g], { plane: p.plane, out: p.out, padding: p.padding })],
  },
} satisfies { [K in keyof PrimParams]?: PrimitiveDef<PrimParams[K]> };
