/**
 * Depthwise → DCLS replacement (paper appendix B) on descriptions of the three paper models, checked against the
 * reference state_dicts (which layers carry P) and parameter counts; and the learned-position extraction.
 */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";
import { type DepthwiseLayerDesc, ownerNames, replaceDepthwise } from "../lib/dcls/replace.ts";
import { learnedPositions } from "../lib/dcls/positions.ts";
import { FIXTURES_DIR } from "./_fixtures.ts";

interface ModelEntry {
  params: number;
  state_dict: [string, number[]][];
}
const models = JSON.parse(Deno.readTextFileSync(new URL("models_full.json", FIXTURES_DIR))) as Record<
  string,
  ModelEntry
>;

const conv = (
  name: string,
  cin: number,
  cout: number,
  groups: number,
  k: number,
  stride = 1,
  bias = true,
): DepthwiseLayerDesc => ({
  name,
  inChannels: cin,
  outChannels: cout,
  groups,
  kernelSize: [k, k],
  stride,
  bias,
});
const dw7 = (name: string, c: number, bias = true) => conv(name, c, c, c, 7, 1, bias);

/** ConvNeXt-T's convolutions in definition order (stem and downsampling convs are not depthwise). */
function convnextConvs(): DepthwiseLayerDesc[] {
  const dims = [96, 192, 384, 768], depths = [3, 3, 9, 3];
  return dims.flatMap((c, i) => [
    i === 0
      ? conv("downsample_layers.0.0", 1, c, 1, 16, 16)
      : conv(`downsample_layers.${i}.1`, dims[i - 1], c, 1, 2, 2),
    ...Array.from({ length: depths[i] }, (_, j) => dw7(`stages.${i}.${j}.dwconv`, c)),
  ]);
}

/** ConvFormer-S18's convolutions: the SepConv depthwise conv acts on 2× expanded channels and has no bias. */
function convformerConvs(): DepthwiseLayerDesc[] {
  const dims = [64, 128, 320, 512], depths = [3, 3, 9, 3];
  return dims.flatMap((c, i) => [
    i === 0
      ? conv("downsample_layers.0.conv", 1, c, 1, 16, 16, false)
      : conv(`downsample_layers.${i}.conv`, dims[i - 1], c, 1, 3, 2),
    ...Array.from({ length: depths[i] }, (_, j) => dw7(`stages.${i}.${j}.token_mixer.dwconv`, 2 * c, false)),
  ]);
}

/**
 * FastViT-SA24's convolutions: RepMixer 3×3 depthwise convs, the ConvFFN 7×7 depthwise conv of every block, patch
 * embeddings whose 7×7 conv doubles the channels (groups = in, not depthwise), and RepCPE's 7×7 conv before stage 4.
 */
function fastvitConvs(): DepthwiseLayerDesc[] {
  const dims = [64, 128, 256, 512], layers = [4, 4, 12, 4];
  const out: DepthwiseLayerDesc[] = [conv("patch_embed", 1, 64, 1, 16, 16, false)];
  let net = 0;
  dims.forEach((c, i) => {
    if (i > 0) {
      out.push(conv(`network.${net}.proj.0.lkb_origin.conv`, dims[i - 1], c, dims[i - 1], 7, 2, false));
      out.push(conv(`network.${net}.proj.0.small_conv.conv`, dims[i - 1], c, dims[i - 1], 3, 2, false));
      out.push(conv(`network.${net}.proj.1.rbr_conv.0.conv`, c, c, 1, 1, 1, false));
      net++;
    }
    if (i === 3) out.push(dw7(`network.${net++}.pe`, c));
    for (let j = 0; j < layers[i]; j++) {
      out.push(conv(`network.${net}.${j}.token_mixer.mixer.rbr_conv.0.conv`, c, c, c, 3, 1, false));
      out.push(dw7(`network.${net}.${j}.convffn.conv.conv`, c, false));
    }
    net++;
  });
  return out;
}

const cases: [string, string, () => DepthwiseLayerDesc[]][] = [
  ["convnext_audio_tiny", "convnext_dcls_audio_tiny", convnextConvs],
  ["convformer_audio_s18", "convformer_dcls_audio_s18", convformerConvs],
  ["fastvit_audio_sa24", "fastvit_dcls_audio_sa24", fastvitConvs],
];

for (const [plain, dcls, convs] of cases) {
  Deno.test(`replaceDepthwise on ${plain}: the layers carrying P in the reference, and its parameter count`, () => {
    const replaced = replaceDepthwise(convs());
    const withP = models[dcls].state_dict.filter(([k]) => k.endsWith(".P")).map(([k]) => k.slice(0, -2));
    assert.deepEqual(replaced.map((r) => r.name), withP);
    for (const r of replaced) {
      const shape = models[dcls].state_dict.find(([k]) => k === `${r.name}.P`)![1];
      assert.deepEqual(shape, [2, r.channels, 1, r.kernelCount], r.name);
      assert.deepEqual(r.padding, [11, 11]);
      assert.deepEqual(r.dilatedKernelSize, [23, 23]);
      assert.equal(r.version, "gauss");
    }
    // Each replaced layer trades 49 weights per channel for K; each owner adds P and SIG ([2, C, 1, K] each).
    const k = replaced[0].kernelCount;
    const delta = replaced.reduce(
      (s, r) => s + (k - 49) * r.channels + (r.owner === r.name ? 4 * k * r.channels : 0),
      0,
    );
    assert.equal(models[plain].params + delta, models[dcls].params);
    // One owner per stage width: the first DCLS layer of that width.
    const widths = [...new Set(replaced.map((r) => r.channels))];
    assert.deepEqual(ownerNames(replaced), widths.map((w) => replaced.find((r) => r.channels === w)!.name));
    for (const r of replaced) assert.equal(replaced.find((o) => o.name === r.owner)!.channels, r.channels);
  });
}

Deno.test("replaceDepthwise: stride and bias carried over, non-7×7 or non-depthwise convs kept, narrower-after-wider rejected", () => {
  const r = replaceDepthwise([
    conv("a", 8, 8, 8, 7, 2, false),
    conv("b", 8, 8, 8, 5),
    conv("c", 8, 16, 8, 7),
    dw7("d", 16),
    dw7("e", 16),
  ], { kernelCount: 5, dilatedKernelSize: 9, version: "max" });
  assert.deepEqual(r.map((x) => [x.name, x.owner, x.channels]), [["a", "a", 8], ["d", "d", 16], ["e", "d", 16]]);
  assert.deepEqual(r[0].stride, [2, 2]);
  assert.equal(r[0].bias, false);
  assert.equal(r[1].bias, true);
  assert.deepEqual(r[0].padding, [4, 4]);
  assert.equal(r[2].version, "max");
  assert.throws(() => replaceDepthwise([dw7("wide", 32), dw7("narrow", 16)]), /"narrow".*"wide"/);
});

Deno.test("learnedPositions: owners' positions in grid cells along rows/columns, and effective widths", () => {
  const P = T.tensor([[[[-1, 0, 2.5]]], [[[3, -11, 0.25]]]], { dtype: "f64" });
  const SIG = T.tensor([[[[0, -0.5, 1]]], [[[0.1, 0, -2]]]], { dtype: "f64" });
  const params = { "s.0.P": P, "s.0.SIG": SIG, "s.0.weight": T.zeros([1, 1, 3]), "t.P": P };
  const [gauss] = learnedPositions(params, { owners: ["s.0"] });
  // The reference moves elements along columns with P[0] and along rows with P[1] (see gridAxes).
  assert.deepEqual(gauss.rows, [[14, 0, 11.25]]);
  assert.deepEqual(gauss.cols, [[10, 11, 13.5]]);
  assert.deepEqual(gauss.widthCols!.map((r) => r.map((v) => +v.toFixed(12))), [[0.27, 0.77, 1.27]]);
  assert.deepEqual(gauss.widthRows!.map((r) => r.map((v) => +v.toFixed(12))), [[0.37, 0.27, 2.27]]);
  assert.equal(gauss.channels, 1);
  assert.equal(gauss.kernelCount, 3);
  const v0 = learnedPositions(params, { owners: ["s.0"], version: "v0", dilatedKernelSize: 7 })[0];
  assert.deepEqual(v0.rows, [[2, 3, 5.5]]);
  assert.equal(v0.widthRows, undefined);
  // Default owners: every "<name>.P".
  assert.deepEqual(learnedPositions(params).map((s) => s.layer), ["s.0", "t"]);
  assert.throws(() => learnedPositions(params, { owners: ["nope"] }), /"nope.P"/);
});
