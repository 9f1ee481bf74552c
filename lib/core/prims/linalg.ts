import { allocate } from "../dtype.ts";
import type { Aval } from "../graph.ts";
import type { ConvParams, CpuValue, PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt, sameShape, sizeOf } from "../shape.ts";
import { bind } from "../bind.ts";
import type { Tensor } from "../tensor.ts";

type Def<P extends keyof PrimParams> = PrimitiveDef<PrimParams[P]>;

function swapLast(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.ndim - 2], perm[t.ndim - 1]] = [perm[t.ndim - 1], perm[t.ndim - 2]];
  return bind("transpose", [t], { perm });
}

/** Output extent of a convolution along one axis. */
export function convOutSize(n: number, k: number, stride: number, lo: number, hi: number, dilation: number): number {
  return Math.floor((n + lo + hi - dilation * (k - 1) - 1) / stride) + 1;
}

/** Checks a conv2d configuration and returns its output shape; errors name the op and shapes. */
export function convShape(op: string, x: readonly number[], w: readonly number[], p: ConvParams): number[] {
  if (x.length !== 4 || w.length !== 4) {
    fail(op, `expects x [N,C,H,W] and w [O,C/g,kh,kw], got ${fmt(x)} and ${fmt(w)}`);
  }
  const [n, c, h, wd] = x;
  const [o, cg, kh, kw] = w;
  const g = p.groups;
  if (!Number.isInteger(g) || g < 1 || c % g !== 0 || o % g !== 0 || cg !== c / g) {
    fail(op, `groups ${g} do not fit x ${fmt(x)} and w ${fmt(w)}`);
  }
  if ([...p.stride, ...p.dilation].some((v) => !Number.isInteger(v) || v < 1)) {
    fail(op, `stride ${fmt(p.stride)} and dilation ${fmt(p.dilation)} must be positive integers`);
  }
  const ho = convOutSize(h, kh, p.stride[0], p.padding[0][0], p.padding[0][1], p.dilation[0]);
  const wo = convOutSize(wd, kw, p.stride[1], p.padding[1][0], p.padding[1][1], p.dilation[1]);
  if (ho < 1 || wo < 1) fail(op, `kernel ${fmt(w)} larger than padded input ${fmt(x)}`);
  return [n, o, ho, wo];
}

/**
 * Visits every (input, weight, output) triple of a grouped 2-D convolution as flat indices; the three convolution
 * primitives differ only in which of the three they accumulate into.
 */
function convLoop(
  xs: readonly number[],
  ws: readonly number[],
  ys: readonly number[],
  p: ConvParams,
  f: (xi: number, wi: number, yi: number) => void,
) {
  const [n, c, h, wd] = xs;
  const [o, cg, kh, kw] = ws;
  const [, , ho, wo] = ys;
  const og = o / p.groups;
  const [sh, sw] = p.stride, [dh, dw] = p.dilation, [pt, pl] = [p.padding[0][0], p.padding[1][0]];
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const grp = Math.floor(oc / og);
      for (let ci = 0; ci < cg; ci++) {
        const ic = grp * cg + ci;
        const xBase = (b * c + ic) * h * wd;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const wi = ((oc * cg + ci) * kh + i) * kw + j;
            for (let y = 0; y < ho; y++) {
              const ih = y * sh - pt + i * dh;
              if (ih < 0 || ih >= h) continue;
              const yRow = ((b * o + oc) * ho + y) * wo;
              for (let x = 0; x < wo; x++) {
                const iw = x * sw - pl + j * dw;
                if (iw < 0 || iw >= wd) continue;
                f(xBase + ih * wd + iw, wi, yRow + x);
              }
            }
          }
        }
      }
    }
  }
}

function convParamsOf(p: ConvParams): ConvParams {
  return { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups };
}

function dtypeCheck(op: string, a: Aval, b: Aval) {
  if (a.dtype !== b.dtype) fail(op, `dtypes ${a.dtype} and ${b.dtype} differ`);
}

/** Matrix product and the three convolution primitives (forward, input gradient, weight gradient). */
export const linalgPrims = {
  matmul: {
    shape: ([a, b]) => {
      const ra = a.shape.length, rb = b.shape.length;
      if (
        ra < 2 || ra !== rb || !sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2)) ||
        a.shape[ra - 1] !== b.shape[rb - 2]
      ) {
        fail("matmul", `cannot multiply ${fmt(a.shape)} by ${fmt(b.shape)}`);
      }
      dtypeCheck("matmul", a, b);
      return { shape: [...a.shape.slice(0, -1), b.shape[rb - 1]], dtype: a.dtype };
    },
    cpu: ([a, b], _p, out) => {
      const r = allocate(out.dtype, sizeOf(out.shape));
      const m = a.shape[a.shape.length - 2], k = a.shape[a.shape.length - 1], n = b.shape[b.shape.length - 1];
      const batch = sizeOf(a.shape.slice(0, -2));
      const acc = new Float64Array(n);
      for (let t = 0; t < batch; t++) {
        for (let i = 0; i < m; i++) {
          acc.fill(0);
          for (let q = 0; q < k; q++) {
            const av = a.data[(t * m + i) * k + q];
            if (av === 0) continue;
            const bo = (t * k + q) * n;
            for (let j = 0; j < n; j++) acc[j] += av * b.data[bo + j];
          }
          r.set(acc, (t * m + i) * n);
        }
      }
      return r;
    },
    vjp: (g, [a, b]) => [bind("matmul", [g, swapLast(b)], {}), bind("matmul", [swapLast(a), g], {})],
  },
  conv2d: {
    shape: ([x, w], p) => {
      dtypeCheck("conv2d", x, w);
      return { shape: convShape("conv2d", x.shape, w.shape, p), dtype: x.dtype };
    },
    cpu: ([x, w], p, out) => {
      const acc = new Float64Array(sizeOf(out.shape));
      const xd = x.data, wd = w.data;
      convLoop(x.shape, w.shape, out.shape, p, (xi, wi, yi) => acc[yi] += xd[xi] * wd[wi]);
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: (g, [x, w], _o, p) => [
      bind("conv2dInputGrad", [g, w], { ...convParamsOf(p), inputShape: x.shape }),
      bind("conv2dWeightGrad", [x, g], { ...convParamsOf(p), weightShape: w.shape }),
    ],
  },
  conv2dInputGrad: {
    shape: ([dy, w], p) => {
      dtypeCheck("conv2dInputGrad", dy, w);
      const ys = convShape("conv2dInputGrad", p.inputShape, w.shape, p);
      if (!sameShape(ys, dy.shape)) fail("conv2dInputGrad", `dy ${fmt(dy.shape)} is not the output shape ${fmt(ys)}`);
      return { shape: p.inputShape, dtype: dy.dtype };
    },
    cpu: ([dy, w], p, out) => {
      const acc = new Float64Array(sizeOf(out.shape));
      const gd = dy.data, wd = w.data;
      convLoop(p.inputShape, w.shape, dy.shape, p, (xi, wi, yi) => acc[xi] += gd[yi] * wd[wi]);
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: (g, [dy, w], _o, p) => [
      bind("conv2d", [g, w], convParamsOf(p)),
      bind("conv2dWeightGrad", [g, dy], { ...convParamsOf(p), weightShape: w.shape }),
    ],
  },
  conv2dWeightGrad: {
    shape: ([x, dy], p) => {
      dtypeCheck("conv2dWeightGrad", x, dy);
      const ys = convShape("conv2dWeightGrad", x.shape, p.weightShape, p);
      if (!sameShape(ys, dy.shape)) fail("conv2dWeightGrad", `dy ${fmt(dy.shape)} is not the output shape ${fmt(ys)}`);
      return { shape: p.weightShape, dtype: x.dtype };
    },
    cpu: ([x, dy], p, out) => {
      const acc = new Float64Array(sizeOf(out.shape));
      const xd = x.data, gd = dy.data;
      convLoop(x.shape, p.weightShape, dy.shape, p, (xi, wi, yi) => acc[wi] += xd[xi] * gd[yi]);
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: (g, [x, dy], _o, p) => [
      bind("conv2dInputGrad", [dy, g], { ...convParamsOf(p), inputShape: x.shape }),
      bind("conv2d", [x, g], convParamsOf(p)),
    ],
  },
} satisfies { [K in keyof PrimParams]?: Def<K> };

export type { CpuValue };
