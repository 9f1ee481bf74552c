/**
 * A depthwise complex 1-D correlation, the product step of the spectral convolution (lib/ops/spectral_conv.ts):
 * signals z `[R, P, 2, W]` (real and imaginary rows per channel p) and one complex kernel per channel k `[P, 2, kw]`,
 *
 *   y[r, p, j] = Σ_v κ[p, v] · z[r, p, j + v − left]       (complex product; z is zero outside [0, W))
 *
 * with κ = k, or, when `adjoint`, κ[v] = conj(k[kw − 1 − v]): the transpose of the plain correlation, so the VJP to z
 * is the same primitive with the flag flipped and the padding mirrored. `complexCorrelateKernelGrad` is the VJP to the
 * kernel, `Σ_{r, j} ȳ[r, p, j] · conj(z[r, p, j + v − left])` mapped back through κ; differentiating it throws (the
 * training step needs first derivatives only).
 *
 * @module
 */
import { allocate } from "../dtype.ts";
import type { ComplexCorrelateParams, CpuValue, PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt } from "../shape.ts";
import { bind } from "../bind.ts";

/** Validates signal and kernel shapes; returns (R, P, W, kw, Wo). */
function geometry(op: string, z: readonly number[], kw: number, p: ComplexCorrelateParams, P = z[1]) {
  if (z.length !== 4 || z[2] !== 2) fail(op, `signal must be [R, P, 2, W], got ${fmt(z)}`);
  const [left, right] = p.padding;
  if (![left, right].every((v) => Number.isInteger(v) && v >= 0 && v <= kw - 1)) {
    fail(op, `padding ${fmt(p.padding)} must be integers in [0, ${kw - 1}] for a ${kw}-tap kernel`);
  }
  const [R, , , W] = z;
  if (z[1] !== P) fail(op, `signal ${fmt(z)} has ${z[1]} channels, the kernel ${P}`);
  const wo = W + left + right - kw + 1;
  if (wo < 1) fail(op, `kernel of ${kw} taps longer than the padded signal ${fmt(z)}`);
  return { R, P, W, kw, wo, left };
}

/** Visits every (r, p, j, v) whose signal sample is inside [0, W), with the flat indices of its real part and y's. */
function visit(
  z: readonly number[],
  kw: number,
  p: ComplexCorrelateParams,
  f: (zi: number, yi: number, ch: number, v: number, W: number, wo: number) => void,
) {
  const { R, P, W, wo, left } = geometry("complexCorrelate", z, kw, p);
  for (let r = 0; r < R; r++) {
    for (let ch = 0; ch < P; ch++) {
      const zb = (r * P + ch) * 2 * W, yb = (r * P + ch) * 2 * wo;
      for (let j = 0; j < wo; j++) {
        for (let v = 0; v < kw; v++) {
          const x = j + v - left;
          if (x >= 0 && x < W) f(zb + x, yb + j, ch, v, W, wo);
        }
      }
    }
  }
}

/** The effective kernel κ[ch, v] as (re, im). */
function kappa(k: CpuValue, kw: number, adjoint: boolean, ch: number, v: number): [number, number] {
  const u = adjoint ? kw - 1 - v : v, b = ch * 2 * kw;
  return [k.data[b + u], adjoint ? -k.data[b + kw + u] : k.data[b + kw + u]];
}

const mirrored = (p: ComplexCorrelateParams, kw: number): ComplexCorrelateParams => ({
  padding: [kw - 1 - p.padding[0], kw - 1 - p.padding[1]],
  adjoint: !p.adjoint,
});

/** The complex correlation and its kernel gradient. */
export const complexPrims = {
  complexCorrelate: {
    shape: ([z, k], p) => {
      if (k.shape.length !== 3 || k.shape[1] !== 2) {
        fail("complexCorrelate", `kernel must be [P, 2, kw], got ${fmt(k.shape)}`);
      }
      if (z.dtype !== k.dtype) fail("complexCorrelate", `dtypes ${z.dtype} and ${k.dtype} differ`);
      const g = geometry("complexCorrelate", z.shape, k.shape[2], p, k.shape[0]);
      return { shape: [g.R, g.P, 2, g.wo], dtype: z.dtype };
    },
    cpu: ([z, k], p, out) => {
      const kw = k.shape[2], acc = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      visit(z.shape, kw, p, (zi, yi, ch, v, W, wo) => {
        const [kr, ki] = kappa(k, kw, p.adjoint, ch, v);
        const zr = z.data[zi], zim = z.data[zi + W];
        acc[yi] += kr * zr - ki * zim;
        acc[yi + wo] += ki * zr + kr * zim;
      });
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: (g, [z, k], _o, p) => {
      const kw = k.shape[2];
      return [
        bind("complexCorrelate", [g, k], mirrored(p, kw)),
        bind("complexCorrelateKernelGrad", [z, g], { ...p, kernelSize: kw }),
      ];
    },
  },
  complexCorrelateKernelGrad: {
    shape: ([z, g], p) => {
      if (z.dtype !== g.dtype) fail("complexCorrelateKernelGrad", `dtypes ${z.dtype} and ${g.dtype} differ`);
      const geo = geometry("complexCorrelateKernelGrad", z.shape, p.kernelSize, p);
      const want = [geo.R, geo.P, 2, geo.wo];
      if (g.shape.join() !== want.join()) {
        fail("complexCorrelateKernelGrad", `cotangent ${fmt(g.shape)} is not the output shape ${fmt(want)}`);
      }
      return { shape: [geo.P, 2, p.kernelSize], dtype: z.dtype };
    },
    cpu: ([z, g], p, out) => {
      const kw = p.kernelSize, acc = new Float64Array(out.shape.reduce((a, b) => a * b, 1));
      visit(z.shape, kw, p, (zi, yi, ch, v, W, wo) => {
        const zr = z.data[zi], zim = z.data[zi + W], gr = g.data[yi], gi = g.data[yi + wo];
        // dκ = ȳ·conj(z); κ = conj(k) reversed when adjoint, so its gradient maps back conjugated and reversed too.
        const u = p.adjoint ? kw - 1 - v : v, b = ch * 2 * kw;
        acc[b + u] += gr * zr + gi * zim;
        acc[b + kw + u] += (p.adjoint ? -1 : 1) * (gi * zr - gr * zim);
      });
      const r = allocate(out.dtype, acc.length);
      r.set(acc);
      return r;
    },
    vjp: () => {
      throw new Error(
        "complexCorrelateKernelGrad: the spectral convolution is differentiable once; for higher derivatives use " +
          'conv2d(…, { algorithm: "direct" })',
      );
    },
  },
} satisfies { [K in keyof PrimParams]?: PrimitiveDef<PrimParams[K]> };
