/**
 * FastViT configuration: the audio SA24 variants of the DCLS-Audio paper and the tiny test configuration.
 *
 * @module
 */
import { type DclsConfig, type ModelConfig, PAPER_DCLS } from "./common.ts";

/** Token mixer of a stage: RepMixer (reparameterisable depthwise mixing) or multi-head self-attention. */
export type FastVitMixer = "repmixer" | "attention";

/** FastViT configuration (Apple's ml-fastvit, audio stem as in DCLS-Audio). */
export interface FastVitConfig extends ModelConfig {
  /** MLP expansion ratio of every ConvFFN. */
  mlpRatio: number;
  /** Token mixer per stage. */
  tokenMixers: readonly FastVitMixer[];
  /** Whether a RepCPE (conditional positional encoding, 7×7 depthwise) precedes each stage. */
  posEmbs: readonly boolean[];
  /** Kernel size of RepMixer's depthwise convolutions. */
  repmixerKernel: number;
  /** Kernel of the large grouped conv of the patch embedding between stages. */
  downPatchSize: number;
  /** Stride of the patch embedding between stages. */
  downStride: number;
  /** Channels per attention head. */
  headDim: number;
  /** Head expansion: conv_exp maps `dims[-1]` to `dims[-1] · clsRatio` channels. */
  clsRatio: number;
  /** Initial value of every layer scale. */
  layerScaleInit: number;
  /** Kernel (= stride) of the audio stem convolution that replaces the MobileOne stem. */
  stemKernel: readonly [number, number];
}

/** `fastvit_audio_sa24` (or `fastvit_dcls_audio_sa24` with `dcls`): layers [4,4,12,4], dims [64,128,256,512]. */
export function fastvitSa24Config(opts: Partial<FastVitConfig> & { dcls?: DclsConfig | null } = {}): FastVitConfig {
  const dcls = opts.dcls ?? null;
  return {
    name: dcls ? "fastvit_dcls_audio_sa24" : "fastvit_audio_sa24",
    numClasses: 527,
    inChans: 1,
    depths: [4, 4, 12, 4],
    dims: [64, 128, 256, 512],
    dropPathRate: 0,
    dtype: "f32",
    mlpRatio: 4,
    tokenMixers: ["repmixer", "repmixer", "repmixer", "attention"],
    posEmbs: [false, false, false, true],
    repmixerKernel: 3,
    downPatchSize: 7,
    downStride: 2,
    headDim: 32,
    clsRatio: 2,
    layerScaleInit: 1e-5,
    stemKernel: [2, 16],
    ...opts,
    dcls,
  };
}

/** Options of the tiny configuration: any field overridden, `dcls` as a switch for the paper's DCLS settings. */
export type TinyOptions = Omit<Partial<FastVitConfig>, "dcls"> & { dcls?: boolean };

/**
 * The tiny configuration of the fixtures: depths [1,1,1,1], dims [8,16,32,64], 10 classes, float64 (the attention
 * stage keeps head_dim 32, so it has 2 heads).
 */
export function fastvitTinyConfig(opts: TinyOptions = {}): FastVitConfig {
  const { dcls = false, ...rest } = opts;
  const base = fastvitSa24Config({ dcls: dcls ? PAPER_DCLS : null });
  return {
    ...base,
    name: dcls ? "fastvit_dcls_tiny" : "fastvit_tiny",
    depths: [1, 1, 1, 1],
    dims: [8, 16, 32, 64],
    numClasses: 10,
    dtype: "f64",
    ...rest,
  };
}

/** One entry of FastViT's `network` module list: a stage of blocks, a patch embedding, or a RepCPE. */
export type FastVitNetworkEntry =
  | { kind: "stage"; index: number; stage: number }
  | { kind: "patchEmbed"; index: number; from: number; to: number }
  | { kind: "repcpe"; index: number; dim: number };

/** FastViT's `network` list in module order (as the reference builds it: [RepCPE], stage, [PatchEmbed], …). */
export function networkEntries(config: FastVitConfig): FastVitNetworkEntry[] {
  const { depths, dims, posEmbs } = config;
  if (
    dims.length !== depths.length || config.tokenMixers.length !== depths.length || posEmbs.length !== depths.length
  ) {
    throw new Error(`fastvit: depths, dims, tokenMixers and posEmbs must have one entry per stage`);
  }
  const out: FastVitNetworkEntry[] = [];
  for (let i = 0; i < depths.length; i++) {
    if (posEmbs[i]) out.push({ kind: "repcpe", index: out.length, dim: dims[i] });
    out.push({ kind: "stage", index: out.length, stage: i });
    // The reference adds a patch embedding between every pair of stages (all SA24 stages downsample).
    if (i < depths.length - 1) out.push({ kind: "patchEmbed", index: out.length, from: dims[i], to: dims[i + 1] });
  }
  return out;
}
