/** DCLS parity with the reference fixtures: kernels and gradients of every version and case, and the Dcls2d convs. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { construct, type DclsVersion } from "../lib/dcls/construct.ts";
import { dcls2d, type DclsParams } from "../lib/dcls/layer.ts";
import { fixtureTensor, loadFixture, loadManifest } from "./_fixtures.ts";
import { assertNormAndMax } from "./_gradcheck.ts";

interface DclsManifest {
  cases: { name: string; dilated_kernel_size: [number, number] }[];
  versions: DclsVersion[];
  conv: { channels: number; dilated_kernel_size: number; padding: number; strides: number[] };
}

const manifest = loadManifest().dcls as DclsManifest;
const fx = loadFixture("dcls");
const TOL = 1e-9;

function load(name: string): T.Tensor {
  const f = fixtureTensor(fx, name);
  return T.tensor(f.data, { shape: f.shape, dtype: "f64" });
}

/** Relative norm error and max-abs error relative to the reference's largest magnitude, both within TOL. */
function assertClose(got: T.Tensor, name: string) {
  const ref = fixtureTensor(fx, name);
  assert.deepEqual(got.shape, ref.shape, `${name}: shape`);
  const a = got.toArray();
  assertNormAndMax(a, ref.data, TOL, name);
}

for (const version of manifest.versions) {
  for (const c of manifest.cases) {
    Deno.test(`dcls fixture: ${version} case ${c.name} kernel and gradients`, () => {
      const pre = `${version}.${c.name}`;
      const build = (w: T.Tensor, p: T.Tensor, s: T.Tensor) =>
        construct(w, p, s, { version, dilatedKernelSize: c.dilated_kernel_size });
      const [K, pull] = T.vjp(build as never, load(`${pre}.W`), load(`${pre}.P`), load(`${pre}.SIG`));
      assertClose(K as T.Tensor, `${pre}.K`);
      const [dW, dP, dSIG] = pull(load(`${pre}.G`) as never) as T.Tensor[];
      assertClose(dW, `${pre}.dW`);
      assertClose(dP, `${pre}.dP`);
      if (fx.has(`${pre}.dSIG`)) assertClose(dSIG, `${pre}.dSIG`);
      else {assert.ok(
          dSIG.toArray().every((v) => v === 0),
          `${pre}: SIG is unused by ${version}, its gradient must be 0`,
        );}
    });
  }
}

for (const stride of manifest.conv.strides) {
  Deno.test(`dcls fixture: Dcls2d conv stride ${stride} (y, dx, dW, dP, dSIG, dbias)`, () => {
    const pre = `conv.s${stride}`;
    const { channels, dilated_kernel_size: d, padding } = manifest.conv;
    const params: DclsParams = {
      weight: load(`${pre}.W`),
      P: load(`${pre}.P`),
      SIG: load(`${pre}.SIG`),
      bias: load(`${pre}.bias`),
    };
    const f = (x: T.Tensor, p: DclsParams) =>
      dcls2d(p, x, { version: "gauss", dilatedKernelSize: d, padding, stride, groups: channels });
    const [y, pull] = T.vjp(f as never, load(`${pre}.x`), params);
    assertClose(y as T.Tensor, `${pre}.y`);
    const [dx, dp] = pull(load(`${pre}.Gy`) as never) as [T.Tensor, Required<DclsParams>];
    assertClose(dx, `${pre}.dx`);
    assertClose(dp.weight, `${pre}.dW`);
    assertClose(dp.P, `${pre}.dP`);
    assertClose(dp.SIG, `${pre}.dSIG`);
    assertClose(dp.bias, `${pre}.dbias`);
  });
}
