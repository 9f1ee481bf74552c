/**
 * The fuser's construction schedule (lib/gpu/fuse_passes.ts `scheduleConstructions`): forward DCLS constructions run
 * before any data-dependent kernel, construction backwards after every other kernel they do not feed, and the plan's
 * results are those of the graph order.
 */
import assert from "node:assert/strict";
import { Tensor } from "../lib/core/tensor.ts";
import { traceGraph } from "../lib/core/compile.ts";
import { conv2d, grad, mul, sum } from "../lib/core/mod.ts";
import { construct } from "../lib/dcls/construct.ts";
import { fuseGraph } from "../lib/gpu/fuse.ts";
import { acceptsView } from "../lib/gpu/plan_kernels.ts";

type P = Record<string, Tensor>;
const abstract = (shape: number[]) => new Tensor(shape, "f32", {});

/** Two DCLS layers in a row, and the gradient of a loss of their output with respect to every parameter. */
function twoLayers(params: P, x: Tensor) {
  const loss = (p: P) => {
    let h = x;
    for (const l of ["a", "b"]) {
      const k = construct(p[`${l}.weight`], p[`${l}.P`], p[`${l}.SIG`], { version: "gauss", dilatedKernelSize: 9 });
      h = conv2d(h, k, { padding: 4, groups: 4 });
    }
    return sum(mul(h, h));
  };
  return grad(loss)(params);
}

Deno.test("scheduleConstructions: constructions first, their backwards last, each layer's data path unbroken", () => {
  const params: P = {};
  for (const l of ["a", "b"]) {
    params[`${l}.weight`] = abstract([4, 1, 5]);
    params[`${l}.P`] = abstract([2, 4, 1, 5]);
    params[`${l}.SIG`] = abstract([2, 4, 1, 5]);
  }
  const { graph } = traceGraph(twoLayers as never, [params, abstract([2, 4, 8, 8])]);
  const { kernels } = fuseGraph(graph, { maxBindings: 8, acceptsView });
  const prims = kernels.map((k) => (k.kind === "op" ? k.prim : k.kind));
  const at = (name: string) => prims.flatMap((p, i) => (p === name ? [i] : []));
  // In graph order the second construction follows the first convolution and the first backward precedes the
  // second layer's input gradient; scheduled, both constructions lead and both backwards close the plan.
  assert.deepEqual(at("dclsGauss"), [0, 1], prims.join());
  assert.deepEqual(at("dclsGaussGrad"), [prims.length - 2, prims.length - 1], prims.join());
  assert.ok(prims.slice(2, -2).every((p) => p !== "dclsGauss" && p !== "dclsGaussGrad"));
});
