import { allocate, type TypedArray } from "../dtype.ts";
import type { Aval } from "../graph.ts";
import type { CpuValue, PrimitiveDef, PrimParams } from "../primitive.ts";
import { fail, fmt, sizeOf, stridesOf } from "../shape.ts";
import { bind } from "../bind.ts";
import type { Tensor } from "../tensor.ts";

type Def<P extends keyof PrimParams> = PrimitiveDef<PrimParams[P]>;

/** Copies `src` viewed through an affine index map (offset + Σ idx·stride) into a fresh array of `shape`. */
function strided(src: CpuValue, out: Aval, offset: number, strides: readonly number[]): TypedArray {
  const r = allocate(out.dtype, sizeOf(out.shape));
  const n = out.shape.length;
  if (r.length === 0) return r;
  const idx = new Array<number>(n).fill(0);
  let p = offset;
  for (let i = 0; i < r.length; i++) {
    r[i] = src.data[p];
    for (let d = n - 1; d >= 0; d--) {
      idx[d]++;
      p += strides[d];
      if (idx[d] < out.shape[d]) break;
      p -= strides[d] * idx[d];
      idx[d] = 0;
    }
  }
  return r;
}

function rankCheck(op: string, x: Aval, k: number) {
  if (k !== x.shape.length) fail(op, `expects ${x.shape.length} entries per axis for ${fmt(x.shape)}, got ${k}`);
}

/** Sums `g` over the axes that a broadcast from `shape` expanded. */
function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  const axes = shape.flatMap((d, i) => d === 1 && g.shape[i] !== 1 ? [i] : []);
  return axes.length ? bind("sum", [g], { axes }) : g;
}

/** Movement primitives: they move or replicate elements without arithmetic. */
export const movementPrims = {
  reshape: {
    shape: ([x], { shape }) => {
      if (sizeOf(shape) !== sizeOf(x.shape)) fail("reshape", `cannot reshape ${fmt(x.shape)} to ${fmt(shape)}`);
      return { shape, dtype: x.dtype };
    },
    cpu: ([x]) => x.data.slice(),
    vjp: (g, [x]) => [bind("reshape", [g], { shape: x.shape })],
  },
  transpose: {
    shape: ([x], { perm }) => {
      rankCheck("transpose", x, perm.length);
      if ([...perm].sort((a, b) => a - b).some((a, i) => a !== i)) {
        fail("transpose", `invalid permutation ${fmt(perm)}`);
      }
      return { shape: perm.map((a) => x.shape[a]), dtype: x.dtype };
    },
    cpu: ([x], { perm }, out) => {
      const s = stridesOf(x.shape);
      return strided(x, out, 0, perm.map((a) => s[a]));
    },
    vjp: (g, _x, _o, { perm }) => {
      const inv = new Array<number>(perm.length);
      perm.forEach((a, i) => inv[a] = i);
      return [bind("transpose", [g], { perm: inv })];
    },
  },
  broadcast: {
    shape: ([x], { shape }) => {
      rankCheck("broadcast", x, shape.length);
      x.shape.forEach((d, i) => {
        if (d !== 1 && d !== shape[i]) fail("broadcast", `cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
      });
      return { shape, dtype: x.dtype };
    },
    cpu: ([x], _p, out) => strided(x, out, 0, stridesOf(x.shape).map((s, i) => x.shape[i] === 1 ? 0 : s)),
    vjp: (g, [x]) => [unbroadcast(g, x.shape)],
  },
  slice: {
    shape: ([x], { starts, stops, steps }) => {
      rankCheck("slice", x, starts.length);
      const shape = x.shape.map((d, i) => {
        if (!(0 <= starts[i] && starts[i] <= stops[i] && stops[i] <= d && steps[i] >= 1)) {
          fail("slice", `range ${starts[i]}:${stops[i]}:${steps[i]} invalid for axis ${i} of ${fmt(x.shape)}`);
        }
        return Math.ceil((stops[i] - starts[i]) / steps[i]);
      });
      return { shape, dtype: x.dtype };
    },
    cpu: ([x], { starts, steps }, out) => {
      const s = stridesOf(x.shape);
      return strided(x, out, starts.reduce((o, st, i) => o + st * s[i], 0), s.map((v, i) => v * steps[i]));
    },
    vjp: (g, [x], out, { starts, steps }) => [
      bind("pad", [g], {
        lo: starts,
        hi: x.shape.map((d, i) => d - starts[i] - (out.shape[i] === 0 ? 0 : (out.shape[i] - 1) * steps[i] + 1)),
        interior: steps.map((s) => s - 1),
        value: 0,
      }),
    ],
  },
  pad: {
    shape: ([x], { lo, hi, interior }) => {
      rankCheck("pad", x, lo.length);
      const shape = x.shape.map((d, i) => {
        if (lo[i] < 0 || hi[i] < 0 || interior[i] < 0) fail("pad", `negative padding for ${fmt(x.shape)}`);
        return lo[i] + hi[i] + d + Math.max(0, d - 1) * interior[i];
      });
      return { shape, dtype: x.dtype };
    },
    cpu: ([x], { lo, interior, value }, out) => {
      const r = allocate(out.dtype, sizeOf(out.shape)).fill(value);
      const os = stridesOf(out.shape);
      const n = x.shape.length;
      const idx = new Array<number>(n).fill(0);
      for (let i = 0; i < x.data.length; i++) {
        let o = 0;
        for (let d = 0; d < n; d++) o += (lo[d] + idx[d] * (interior[d] + 1)) * os[d];
        r[o] = x.data[i];
        for (let d = n - 1; d >= 0; d--) {
          if (++idx[d] < x.shape[d]) break;
          idx[d] = 0;
        }
      }
      return r;
    },
    vjp: (g, [x], _o, { lo, interior }) => [
      bind("slice", [g], {
        starts: lo,
        stops: x.shape.map((d, i) => lo[i] + Math.max(0, d - 1) * (interior[i] + 1) + (d > 0 ? 1 : 0)),
        steps: interior.map((v) => v + 1),
      }),
    ],
  },
  concat: {
    shape: (xs, { axis }) => {
      const [a] = xs;
      if (axis < 0 || axis >= a.shape.length) fail("concat", `axis ${axis} out of range for ${fmt(a.shape)}`);
      for (const b of xs) {
        if (
          b.dtype !== a.dtype || b.shape.length !== a.shape.length ||
          b.shape.some((d, i) => i !== axis && d !== a.shape[i])
        ) {
          fail("concat", `cannot join ${xs.map((t) => `${t.dtype}${fmt(t.shape)}`).join(", ")} on axis ${axis}`);
        }
      }
      const shape = [...a.shape];
      shape[axis] = xs.reduce((s, t) => s + t.shape[axis], 0);
      return { shape, dtype: a.dtype };
    },
    cpu: (xs, { axis }, out) => {
      const r = allocate(out.dtype, sizeOf(out.shape));
      const outer = sizeOf(out.shape.slice(0, axis));
      const inner = sizeOf(out.shape.slice(axis + 1));
      const rowOut = out.shape[axis] * inner;
      let off = 0;
      for (const x of xs) {
        const row = x.shape[axis] * inner;
        for (let o = 0; o < outer; o++) r.set(x.data.subarray(o * row, (o + 1) * row), o * rowOut + off);
        off += row;
      }
      return r;
    },
    vjp: (g, xs, _o, { axis }) => {
      let start = 0;
      return xs.map((x) => {
        const starts = g.shape.map((_, i) => i === axis ? start : 0);
        const stops = g.shape.map((d, i) => i === axis ? start + x.shape[axis] : d);
        start += x.shape[axis];
        return bind("slice", [g], { starts, stops, steps: g.shape.map(() => 1) });
      });
    },
  },
  flip: {
    shape: ([x], { axes }) => {
      for (const a of axes) {
        if (a < 0 || a >= x.shape.length) fail("flip", `axis ${a} out of range for ${fmt(x.shape)}`);
      }
      return x;
    },
    cpu: ([x], { axes }, out) => {
      const s = stridesOf(x.shape);
      const offset = axes.reduce((o, a) => o + (x.shape[a] - 1) * s[a], 0);
      return strided(x, out, offset, s.map((v, i) => axes.includes(i) ? -v : v));
    },
    vjp: (g, _x, _o, { axes }) => [bind("flip", [g], { axes })],
  },
  gather: {
    shape: ([x, idx], { axis }) => {
      if (idx.dtype !== "i32") fail("gather", `indices must be i32, got ${idx.dtype}`);
      if (axis < 0 || axis >= x.shape.length) fail("gather", `axis ${axis} out of range for ${fmt(x.shape)}`);
      return { shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype };
    },
    cpu: ([x, idx], { axis }, out) => {
      const r = allocate(out.dtype, sizeOf(out.shape));
      const outer = sizeOf(x.shape.slice(0, axis));
      const inner = sizeOf(x.shape.slice(axis + 1));
      const n = x.shape[axis];
      const k = idx.data.length;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < k; j++) {
          const at = idx.data[j];
          if (at < 0 || at >= n) {
            throw new Error(`gather: index ${at} out of range for axis ${axis} of ${fmt(x.shape)}`);
          }
          r.set(x.data.subarray((o * n + at) * inner, (o * n + at + 1) * inner), (o * k + j) * inner);
        }
      }
      return r;
    },
    vjp: (g, [x, idx], _o, { axis }) => [bind("scatterAdd", [g, idx], { axis, size: x.shape[axis] }), undefined],
  },
  scatterAdd: {
    shape: ([u, idx], { axis, size }) => {
      if (idx.dtype !== "i32") fail("scatterAdd", `indices must be i32, got ${idx.dtype}`);
      const k = idx.shape.length;
      const shape = [...u.shape.slice(0, axis), size, ...u.shape.slice(axis + k)];
      if (u.shape.length < axis + k || idx.shape.some((d, i) => u.shape[axis + i] !== d)) {
        fail("scatterAdd", `updates ${fmt(u.shape)} do not match indices ${fmt(idx.shape)} at axis ${axis}`);
      }
      return { shape, dtype: u.dtype };
    },
    cpu: ([u, idx], { axis, size }, out) => {
      const r = allocate(out.dtype, sizeOf(out.shape));
      const outer = sizeOf(out.shape.slice(0, axis));
      const inner = sizeOf(out.shape.slice(axis + 1));
      const k = idx.data.length;
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < k; j++) {
          const at = idx.data[j];
          if (at < 0 || at >= size) throw new Error(`scatterAdd: index ${at} out of range for size ${size}`);
          const src = (o * k + j) * inner, dst = (o * size + at) * inner;
          for (let i = 0; i < inner; i++) r[dst + i] += u.data[src + i];
        }
      }
      return r;
    },
    vjp: (g, [_u, idx], _o, { axis }) => [bind("gather", [g, idx], { axis }), undefined],
  },
} satisfies { [K in keyof PrimParams]?: Def<K> };
