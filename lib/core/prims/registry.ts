import type { Registry } from "../primitive.ts";
import { complexPrims } from "./complex.ts";
import { dclsPrims } from "./dcls.ts";
import { dftPrims } from "./dft.ts";
import { toeplitzPrims } from "./toeplitz.ts";
import { binaryPrims, selectPrims, unaryPrims } from "./elementwise.ts";
import { linalgPrims } from "./linalg.ts";
import { movementPrims } from "./movement.ts";
import { randomPrims } from "./random.ts";
import { reducePrims } from "./reduce.ts";

/** Every primitive of the system; the `Registry` type makes a missing declaration a compile error. */
export const registry: Registry = {
  ...unaryPrims,
  ...binaryPrims,
  ...selectPrims,
  ...reducePrims,
  ...movementPrims,
  ...linalgPrims,
  ...randomPrims,
  ...dclsPrims,
  ...complexPrims,
  ...dftPrims,
  ...toeplitzPrims,
};
