import type { PrimitiveDef, PrimParams } from "../primitive.ts";
import { checkShape, fail, fmt, sizeOf } from "../shape.ts";
import { randomBits } from "../../random/threefry.ts";

/** Counter-based random bits: a pure function of the key, identical on every backend (kernels/ ports the rounds). */
export const randomPrims = {
  randomBits: {
    shape: ([key], { shape }) => {
      if (key.dtype !== "u32" || key.shape.length !== 1 || key.shape[0] !== 2) {
        fail("randomBits", `key must be u32 [2], got ${key.dtype}${fmt(key.shape)}`);
      }
      checkShape("randomBits", shape);
      return { shape, dtype: "u32" };
    },
    cpu: ([key], { shape }) => randomBits(key.data as Uint32Array, sizeOf(shape)),
  },
} satisfies { [K in keyof PrimParams]?: PrimitiveDef<PrimParams[K]> };
