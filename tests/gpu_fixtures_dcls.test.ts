/**
 * DCLS on the WebGPU backend (float32) against the float64 reference fixtures: the constructed kernels of every
 * version and case with their gradients, and the Dcls2d convolutions (stride 1 and 2) with dx, dW, dP, dSIG and dbias,
 * each within 1e-4 relative (norm-wise, and max-abs against the reference's largest magnitude).
 *
 * Everything is one compiled graph, run once and shared by the tests: each new shader costs seconds to compile on a
 * software adapter, and one graph lets the cases share theirs.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { construct, type DclsVersion } from "../lib/dcls/construct.ts";
import { dcls2d, type DclsParams } from "../lib/dcls/layer.ts";
import { compileGpu } from "../lib/gpu/compile_gpu.ts";
import { fixtureTensor, loadFixture, loadManifest } from "./_fixtures.ts";
import { f32, gpu, GPU_TEST, readTree } from "./_gpu_fixture.ts";
import { assertNormAndMax } from "./_gradcheck.ts";

interface DclsManifest {
  cases: { name: string; dilated_kernel_size: [number, number] }[];
  versions: DclsVersion[];
  conv: { channels: number; dilated_kernel_size: number; padding: number; strides: number[] };
}

const manifest = loadManifest().dcls as DclsManifest;
const fx = loadFixture("dcls");
const TOL = 1e-4;

type Inputs = Record<string, T.Tensor>;
type Outputs = Record<string, T.Tensor>;

const load = (name: string) => f32(fixtureTensor(fx, name));

/** Every kernel case's W, P, SIG, G and every conv's x, W, P, SIG, bias, Gy, keyed by fixture name. */
function inputs(): Inputs {
  const names: string[] = [];
  for (const v of manifest.versions) {
    for (const c of manifest.cases) names.push(...["W", "P", "SIG", "G"].map((n) => `${v}.${c.name}.${n}`));
  }
  for (const s of manifest.conv.strides) {
    names.push(...["x", "W", "P", "SIG", "bias", "Gy"].map((n) => `conv.s${s}.${n}`));
  }
  return Object.fromEntries(names.map((n) => [n, load(n)]));
}

/** The whole fixture as one function: outputs keyed by the fixture name they are compared with. */
function all(x: Inputs): Outputs {
  const out: Outputs = {};
  for (const version of manifest.versions) {
    for (const c of manifest.cases) {
      const pre = `${version}.${c.name}`;
      const build = (w: T.Tensor, p: T.Tensor, s: T.Tensor) =>
        construct(w, p, s, { version, dilatedKernelSize: c.dilated_kernel_size });
      const [K, pull] = T.vjp(build as never, x[`${pre}.W`], x[`${pre}.P`], x[`${pre}.SIG`]);
      const [dW, dP, dSIG] = pull(x[`${pre}.G`] as never) as T.Tensor[];
      Object.assign(out, { [`${pre}.K`]: K, [`${pre}.dW`]: dW, [`${pre}.dP`]: dP, [`${pre}.dSIG`]: dSIG });
    }
  }
  const { channels, dilated_kernel_size: d, padding } = manifest.conv;
  for (const stride of manifest.conv.strides) {
    const pre = `conv.s${stride}`;
    const params: DclsParams = {
      weight: x[`${pre}.W`],
      P: x[`${pre}.P`],
      SIG: x[`${pre}.SIG`],
      bias: x[`${pre}.bias`],
    };
    const f = (input: T.Tensor, p: DclsParams) =>
      dcls2d(p, input, { version: "gauss", dilatedKernelSize: d, padding, stride, groups: channels });
    const [y, pull] = T.vjp(f as never, x[`${pre}.x`], params);
    const [dx, dp] = pull(x[`${pre}.Gy`] as never) as [T.Tensor, Required<DclsParams>];
    Object.assign(out, {
      [`${pre}.y`]: y,
      [`${pre}.dx`]: dx,
      [`${pre}.dW`]: dp.weight,
      [`${pre}.dP`]: dp.P,
      [`${pre}.dSIG`]: dp.SIG,
      [`${pre}.dbias`]: dp.bias,
    });
  }
  return out;
}

let results: Promise<Record<string, Float32Array>> | undefined;

/** The graph's outputs, computed on the first call. */
function gpuResults(): Promise<Record<string, Float32Array>> {
  results ??= (async () => {
    const g = compileGpu(all, { device: gpu!, readback: "all" });
    try {
      return await readTree(await g(inputs())) as Record<string, Float32Array>;
    } finally {
      g.dispose();
    }
  })();
  return results;
}

/** Relative norm error and max-abs error relative to the reference's largest magnitude, both within TOL. */
function assertClose(got: Record<string, Float32Array>, name: string) {
  const ref = fixtureTensor(fx, name);
  const a = got[name];
  assert.ok(a, `${name}: not computed`);
  assert.equal(a.length, ref.data.length, `${name}: size`);
  assertNormAndMax(a, ref.data, TOL, name);
}

for (const version of manifest.versions) {
  for (const c of manifest.cases) {
    Deno.test({
      name: `gpu f32 dcls fixture: ${version} case ${c.name} kernel and gradients within 1e-4`,
      ...GPU_TEST,
      fn: async () => {
        const got = await gpuResults();
        const pre = `${version}.${c.name}`;
        for (const n of ["K", "dW", "dP"]) assertClose(got, `${pre}.${n}`);
        if (fx.has(`${pre}.dSIG`)) assertClose(got, `${pre}.dSIG`);
        else {
          assert.ok(
            got[`${pre}.dSIG`].every((v) => v === 0),
            `${pre}: SIG is unused by ${version}, its gradient must be 0`,
          );
        }
      },
    });
  }
}

for (const stride of manifest.conv.strides) {
  Deno.test({
    name: `gpu f32 dcls fixture: Dcls2d conv stride ${stride} (y, dx, dW, dP, dSIG, dbias) within 1e-4`,
    ...GPU_TEST,
    fn: async () => {
      const got = await gpuResults();
      for (const n of ["y", "dx", "dW", "dP", "dSIG", "dbias"]) assertClose(got, `conv.s${stride}.${n}`);
    },
  });
}
