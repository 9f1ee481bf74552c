import type { Tensor } from "../core/tensor.ts";
import { add, div, erf, exp, log, lt, mul, neg, sqrt, square, sub, where } from "./elementwise.ts";

/**
 * Inverse error function from primitives: Giles' single-precision approximation, refined by two Newton steps on erf so
 * that float64 callers get float64 accuracy. Differentiable through its primitives.
 */
export function erfinv(x: Tensor): Tensor {
  const w = neg(log(mul(sub(1, x), add(x, 1))));
  const small = lt(w, 5);
  const ws = sub(w, 2.5);
  const wl = sub(sqrt(where(small, 5, w)), 3);
  const ps = [
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
  ];
  const pl = [
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
  ];
  const horner = (t: Tensor, cs: readonly number[]) =>
    cs.slice(1).reduce((p, c) => add(mul(p, t), c), add(mul(t, 0), cs[0]));
  let y = mul(where(small, horner(ws, ps), horner(wl, pl)), x);
  for (let i = 0; i < 2; i++) {
    // Newton on erf(y) = x: y ← y − (erf(y) − x) / (2/√π · e^{−y²}).
    y = sub(y, div(sub(erf(y), x), mul(exp(neg(square(y))), 2 / Math.sqrt(Math.PI))));
  }
  return y;
}
