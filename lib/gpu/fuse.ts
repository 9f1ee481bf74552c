/**
 * The fuser: turns a traced {@link Graph} into an ordered list of kernel specifications.
 *
 * Every graph value starts lazy (see fuse_expr.ts). Elementwise primitives grow the lazy DAG, movement primitives
 * rewrite the index maps of its loads, and a value is materialized (written to a buffer by a kernel of its own) only
 * when it must be: it is a graph output, a non-elementwise primitive reads it, it feeds several consumers and is not
 * cheap to recompute, a movement cannot be pushed through it, or a kernel would exceed the binding or size limits.
 * Reductions absorb their elementwise producer as a prologue; matmul, convolutions, gather, scatter and random bits
 * read their inputs through views, so transposes and slices feeding them cost no copy. Then sibling kernels merge
 * (elementwise kernels over one shape, reductions over one domain: fuse_passes.ts), elementwise consumers fold into
 * the reduction, matmul or real DFT they read as epilogues, a real DFT folds into the complex correlation it reads, and
 * the DCLS constructions are scheduled off the data path.
 *
 * @module
 */
import type { Aval, Graph, Var } from "../core/graph.ts";
import type { Expr } from "../../kernels/expr.ts";
import {
  applyMovement,
  contiguousOffset,
  contiguousView,
  padView,
  reshapeView,
  sliceView,
  type View,
} from "../../kernels/view.ts";
import { isLoad, type LLoad, type LNode, lowerExpr, lstats, mapLoads } from "./fuse_expr.ts";
import {
  fuseCorrelateTransforms,
  fuseEpilogues,
  mergeConstructions,
  mergeSiblings,
  scheduleConstructions,
} from "./fuse_passes.ts";

/** A fused elementwise kernel writing `outs` (all of `shape`) from the buffers of `srcs`. */
export interface ElementwiseKernelSpec {
  readonly kind: "elementwise";
  readonly shape: readonly number[];
  readonly expr: Expr;
  readonly srcs: readonly number[];
  readonly outs: readonly number[];
}

/** A reduction with a fused elementwise prologue over the domain `shape`. */
export interface ReduceKernelSpec {
  readonly kind: "reduce";
  readonly op: "sum" | "max";
  readonly shape: readonly number[];
  readonly axes: readonly number[];
  readonly expr: Expr;
  readonly srcs: readonly number[];
  /** One per output of `expr`: sibling reductions over the same domain share a kernel (see `mergeSiblings`). */
  readonly outs: readonly number[];
  /** A fused elementwise consumer (single-output reductions only), the reduced value as `acc`; reads `epSrcs`. */
  readonly epilogue?: Expr;
  readonly epSrcs?: readonly number[];
}

/** A non-elementwise primitive whose inputs are buffers read through views. */
export interface OpKernelSpec {
  readonly kind: "op";
  readonly prim: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** One per primitive input: the variable whose buffer is bound, the view it is read through, and its aval. */
  readonly inputs: readonly { readonly src: number; readonly view: View; readonly aval: Aval }[];
  /** The output's aval (each output's, for the merged constructions of several layers). */
  readonly out: Aval;
  readonly srcs: readonly number[];
  /** The output, or one per layer for the merged constructions (`mergeConstructions`). */
  readonly outs: readonly number[];
  /** A fused elementwise consumer (matmul, realDft), evaluated per output with the result as `acc`; reads `epSrcs`. */
  readonly epilogue?: Expr;
  readonly epSrcs?: readonly number[];
}

/** What one kernel computes, before code generation. */
export type KernelSpec = ElementwiseKernelSpec | ReduceKernelSpec | OpKernelSpec;

/** Limits the fuser respects. */
export interface FuseOptions {
  /** Storage buffers a kernel may bind (inputs + outputs); the device's maxStorageBuffersPerShaderStage. */
  readonly maxBindings: number;
  /** Compute nodes a fused expression may hold. */
  readonly maxNodes?: number;
  /** Whether the generator of a non-elementwise primitive reads its input `index` through `view` (else: a copy). */
  readonly acceptsView?: (prim: string, index: number, view: View) => boolean;
}

/** The fuser's result: kernels in dispatch order, and every variable that ends up with a buffer. */
export interface FusedGraph {
  readonly kernels: readonly KernelSpec[];
  /** Avals of all materialized variables (graph variables and synthetic ones the fuser made). */
  readonly avals: ReadonlyMap<number, Aval>;
  /**
   * Graph outputs that are a contiguous run of another materialized variable (a reshape, or a slice along the leading
   * axes) and share its buffer: output → variable.
   */
  readonly aliases: ReadonlyMap<number, number>;
  /** Where each aliased output starts in its variable, in elements (absent: 0). */
  readonly aliasOffsets: ReadonlyMap<number, number>;
}

const ELEMENTWISE = new Set([
  "neg",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "abs",
  "sign",
  "floor",
  "tanh",
  "erf",
  "sigmoid",
  "sin",
  "cos",
  "logicalNot",
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "maximum",
  "minimum",
  "lt",
  "le",
  "gt",
  "ge",
  "eq",
  "ne",
  "logicalAnd",
  "logicalOr",
  "where",
  "cast",
]);
const MOVEMENT = new Set(["reshape", "transpose", "broadcast", "slice", "flip", "pad"]);
const OPS = new Set([
  "matmul",
  "conv2d",
  "conv2dInputGrad",
  "conv2dWeightGrad",
  "gather",
  "scatterAdd",
  "randomBits",
  "dclsGauss",
  "dclsGaussGrad",
  "complexCorrelate",
  "complexCorrelateKernelGrad",
  "realDft",
  "toeplitz",
  "toeplitzAdjoint",
]);

/** Compute nodes a value may hold and still be recomputed by each consumer instead of being written once. */
const CHEAP = 2;

/** Whether the fuser knows a primitive. */
export function isFusable(prim: string): boolean {
  return ELEMENTWISE.has(prim) || MOVEMENT.has(prim) || OPS.has(prim) || prim === "sum" || prim === "max" ||
    prim === "concat";
}

/** Pad with XLA interior padding, as index maps: interior gaps come from a reshape through a padded extra axis. */
export function padInteriorView(
  view: View,
  lo: readonly number[],
  hi: readonly number[],
  interior: readonly number[],
  value: number,
): View {
  let v = view;
  const shape = [...v[v.length - 1].shape];
  interior.forEach((g, axis) => {
    const d = shape[axis];
    if (g === 0 || d === 0) return;
    const split = [...shape.slice(0, axis), d, 1, ...shape.slice(axis + 1)];
    v = reshapeView(v, split);
    v = padView(v, split.map(() => 0), split.map((_, i) => i === axis + 1 ? g : 0), value);
    const merged = [...shape.slice(0, axis), d * (g + 1), ...shape.slice(axis + 1)];
    v = reshapeView(v, merged);
    const stops = merged.map((n, i) => i === axis ? (d - 1) * (g + 1) + 1 : n);
    v = sliceView(v, merged.map(() => 0), stops);
    shape[axis] = (d - 1) * (g + 1) + 1;
  });
  return padView(v, lo, hi, value);
}

function moveView(view: View, prim: string, params: Readonly<Record<string, unknown>>): View {
  if (prim === "pad") {
    const p = params as { lo: number[]; hi: number[]; interior: number[]; value: number };
    return padInteriorView(view, p.lo, p.hi, p.interior, p.value);
  }
  return applyMovement(view, prim, params);
}

/** Fuses a graph into kernel specifications (see the module comment). */
export function fuseGraph(graph: Graph, opts: FuseOptions): FusedGraph {
  return new Fuser(graph, opts).run();
}

class Fuser {
  readonly #graph: Graph;
  readonly #maxSrcs: number;
  readonly #maxNodes: number;
  readonly #acceptsView: (prim: string, index: number, view: View) => boolean;
  readonly #lazy = new Map<number, LNode>();
  readonly #order = new Map<number, number>();
  readonly #avals = new Map<number, Aval>();
  readonly #materialized = new Set<number>();
  readonly #kernels: { order: number; spec: KernelSpec }[] = [];
  readonly #literals = new Map<number, number>();
  readonly #aliases = new Map<number, number>();
  readonly #aliasOffsets = new Map<number, number>();
  #nextSynthetic: number;

  constructor(graph: Graph, opts: FuseOptions) {
    this.#graph = graph;
    // One binding is the output (or a reduction's partial sums).
    this.#maxSrcs = Math.max(3, opts.maxBindings - 1);
    this.#maxNodes = opts.maxNodes ?? 96;
    this.#acceptsView = opts.acceptsView ?? (() => true);
    let maxId = 0;
    for (const v of [...graph.inputs, ...graph.consts.map((c) => c.v), ...graph.eqns.map((e) => e.out)]) {
      maxId = Math.max(maxId, v.id);
    }
    this.#nextSynthetic = maxId + 1;
    for (const c of graph.consts) if (c.value.length === 1) this.#literals.set(c.v.id, Number(c.value[0]));
  }

  run(): FusedGraph {
    const g = this.#graph;
    for (const v of [...g.inputs, ...g.consts.map((c) => c.v)]) this.#leaf(v, -1);
    const live = liveEqns(g);
    const consumers = new Map<number, number>();
    g.eqns.forEach((e, i) => {
      if (!live[i]) return;
      for (const id of new Set(e.inputs.map((v) => v.id))) consumers.set(id, (consumers.get(id) ?? 0) + 1);
    });
    const outputs = new Set(g.outputs.map((v) => v.id));
    g.eqns.forEach((e, i) => {
      if (!live[i]) return;
      const out = e.out;
      this.#order.set(out.id, i);
      this.#avals.set(out.id, out.aval);
      const ins = e.inputs.map((v) => v.id);
      if (ELEMENTWISE.has(e.prim)) this.#elementwise(out, e.prim, e.params, ins);
      else if (MOVEMENT.has(e.prim)) {
        const how = { broadcast: e.prim === "broadcast", pad: e.prim === "pad" };
        this.#lazy.set(out.id, this.#move(ins[0], (v) => moveView(v, e.prim, e.params), how));
      } else if (e.prim === "concat") this.#concat(out, (e.params as { axis: number }).axis, ins, i);
      else if (e.prim === "sum" || e.prim === "max") {
        this.#reduce(out, e.prim, (e.params as { axes: number[] }).axes, ins[0]);
      } else if (OPS.has(e.prim)) this.#op(out, e.prim, e.params, ins);
      else throw new Error(`compileGpu: primitive ${e.prim} has no GPU lowering`);
      const many = (consumers.get(out.id) ?? 0) >= 2;
      const lz = this.#lazy.get(out.id)!;
      if (
        outputs.has(out.id) && isLoad(lz) && lz.src !== out.id && this.#materialized.has(lz.src) &&
        contiguousOffset(lz.view) !== null
      ) {
        // A reshape of a materialized value, or a contiguous run of it (the slices of a packed gradient): the output
        // shares its buffer, at an offset, instead of copying it (the plan sizes that buffer for the whole value).
        this.#aliases.set(out.id, lz.src);
        const at = contiguousOffset(lz.view)!;
        if (at) this.#aliasOffsets.set(out.id, at);
      } else if (outputs.has(out.id) || (many && !this.#cheap(lz))) this.#materialize(out.id);
    });
    const sorted = this.#kernels.sort((a, b) => a.order - b.order).map((k) => k.spec);
    const keep = new Set([...outputs].map((id) => this.#aliases.get(id) ?? id));
    // Siblings merge before epilogues fold: a reduction that took its consumer as an epilogue can no longer share a
    // kernel with its sibling, and merged siblings read their shared inputs once (H100, FastViT's training step:
    // 3,273 → 2,744 dispatches, 93.1 → 91.1 ms). A second merge catches kernels that epilogue folding left adjacent.
    const merged = mergeSiblings(sorted, keep, this.#maxSrcs + 1);
    // Then the DCLS constructions move off the data path (see scheduleConstructions).
    const kernels = mergeConstructions(
      scheduleConstructions(mergeSiblings(
        fuseCorrelateTransforms(fuseEpilogues(merged, keep, this.#avals, this.#maxSrcs + 1), keep, this.#maxSrcs + 1),
        keep,
        this.#maxSrcs + 1,
      )),
      this.#maxSrcs + 1,
    );
    const avals = new Map<number, Aval>();
    for (const id of this.#materialized) avals.set(id, this.#avals.get(id)!);
    return { kernels, avals, aliases: this.#aliases, aliasOffsets: this.#aliasOffsets };
  }

  #leaf(v: Var, order: number) {
    this.#avals.set(v.id, v.aval);
    this.#order.set(v.id, order);
    this.#materialized.add(v.id);
    this.#lazy.set(v.id, { op: "load", src: v.id, view: contiguousView(v.aval.shape), dtype: v.aval.dtype });
  }

  #isLiteral = (n: LLoad): boolean => this.#literal(n) !== undefined;

  #literal = (n: LLoad): number | undefined => {
    const value = this.#literals.get(n.src);
    if (value === undefined || n.view.some((layer) => layer.mask)) return undefined;
    return value;
  };

  #stats(n: LNode) {
    return lstats(n, this.#isLiteral);
  }

  #cheap(n: LNode): boolean {
    const s = this.#stats(n);
    return s.computeNodes <= CHEAP && !s.hasConcat;
  }

  #fits(n: LNode): boolean {
    const s = this.#stats(n);
    return s.srcs.size <= this.#maxSrcs && s.computeNodes <= this.#maxNodes;
  }

  /** Gives a variable a buffer: a kernel evaluating its lazy value, ordered where the variable was defined. */
  #materialize(id: number) {
    if (this.#materialized.has(id)) return;
    const aval = this.#avals.get(id)!;
    const { expr, srcs } = lowerExpr([this.#lazy.get(id)!], this.#literal);
    this.#push(this.#order.get(id)!, { kind: "elementwise", shape: aval.shape, expr, srcs, outs: [id] });
    this.#materialized.add(id);
    this.#lazy.set(id, { op: "load", src: id, view: contiguousView(aval.shape), dtype: aval.dtype });
  }

  #push(order: number, spec: KernelSpec) {
    this.#kernels.push({ order, spec });
  }

  /**
   * Materializes lazy inputs until `build()` fits the limits: when too many buffers are bound, the input reading the
   * most of them (materializing one that reads a single buffer would not help); when too big, the biggest input.
   */
  #shrink(ins: readonly number[], build: () => LNode): LNode {
    let node = build();
    while (!this.#fits(node)) {
      const tooManySrcs = this.#stats(node).srcs.size > this.#maxSrcs;
      const score = (id: number) => {
        const s = this.#stats(this.#lazy.get(id)!);
        return tooManySrcs ? (s.srcs.size > 1 ? s.srcs.size * 1000 + s.computeNodes : 0) : s.computeNodes;
      };
      const candidates = [...new Set(ins)].filter((id) => !isLoad(this.#lazy.get(id)!) && score(id) > 0);
      if (candidates.length === 0) break;
      candidates.sort((a, b) => score(b) - score(a));
      this.#materialize(candidates[0]);
      node = build();
    }
    return node;
  }

  #elementwise(out: Var, prim: string, params: Readonly<Record<string, unknown>>, ins: readonly number[]) {
    const dtype = prim === "cast" ? (params as { dtype: Aval["dtype"] }).dtype : out.aval.dtype;
    const node = this.#shrink(ins, () => ({ op: prim, dtype, args: ins.map((id) => this.#lazy.get(id)!) } as LNode));
    this.#lazy.set(out.id, node);
  }

  /**
   * The lazy value of `id` seen through a movement; materializes `id` when the movement cannot go inside. With
   * `keepLiterals`, one-element constants keep their view (a concat never selects them outside their block).
   */
  #move(
    id: number,
    f: (v: View) => View,
    opts: { broadcast?: boolean; pad?: boolean; keepLiterals?: boolean } = {},
  ): LNode {
    const g = (l: LLoad): LNode => (opts.keepLiterals && this.#isLiteral(l) ? l : { ...l, view: f(l.view) });
    const lz = this.#lazy.get(id)!;
    if (isLoad(lz)) return g(lz);
    const s = this.#stats(lz);
    if (s.hasConcat || opts.pad || (opts.broadcast && s.computeNodes > CHEAP)) {
      this.#materialize(id);
      return g(this.#lazy.get(id) as LLoad);
    }
    return mapLoads(lz, g);
  }

  /** Input `id` of a concat along `axis`, placed at `offset` of `extent` (padded; the padding is never selected). */
  #shifted(id: number, axis: number, offset: number, extent: number): LNode {
    const shape = this.#avals.get(id)!.shape;
    const lo = shape.map((_, i) => i === axis ? offset : 0);
    const hi = shape.map((d, i) => i === axis ? extent - offset - d : 0);
    return this.#move(id, (v) => padView(v, lo, hi, 0), { keepLiterals: true });
  }

  #concat(out: Var, axis: number, ins: readonly number[], order: number) {
    const node = this.#shrink(ins, () => this.#concatNode(out.aval, axis, ins));
    this.#lazy.set(out.id, this.#fits(node) ? node : this.#chunkedConcat(out, axis, ins, order));
  }

  #concatNode(aval: Aval, axis: number, ins: readonly number[]): LNode {
    const sizes = ins.map((id) => this.#avals.get(id)!.shape[axis]);
    const total = sizes.reduce((a, b) => a + b, 0);
    let offset = 0;
    const args = ins.map((id, k) => {
      const arg = this.#shifted(id, axis, offset, total);
      offset += sizes[k];
      return arg;
    });
    return { op: "concat", axis, sizes, dtype: aval.dtype, args } as LNode;
  }

  /**
   * A concat that reads more buffers than a kernel may bind: consecutive groups that fit are concatenated into
   * synthetic variables first (recursively), then those are concatenated.
   */
  #chunkedConcat(out: Var, axis: number, ins: readonly number[], order: number): LNode {
    const groups: number[][] = [];
    let current: number[] = [];
    let srcs = new Set<number>();
    for (const id of ins) {
      let own = this.#stats(this.#lazy.get(id)!).srcs;
      if (own.size > this.#maxSrcs) {
        this.#materialize(id);
        own = this.#stats(this.#lazy.get(id)!).srcs;
      }
      const union = new Set([...srcs, ...own]);
      if (current.length && union.size > this.#maxSrcs) {
        groups.push(current);
        current = [];
        srcs = new Set(own);
      } else srcs = union;
      current.push(id);
    }
    groups.push(current);
    const parts = groups.map((ids, g) => {
      const extent = ids.reduce((s, id) => s + this.#avals.get(id)!.shape[axis], 0);
      const aval: Aval = { shape: out.aval.shape.map((d, i) => i === axis ? extent : d), dtype: out.aval.dtype };
      const id = this.#nextSynthetic++;
      this.#avals.set(id, aval);
      this.#order.set(id, order - 1 + (g + 1) / (groups.length + 1));
      this.#lazy.set(id, this.#concatNode(aval, axis, ids));
      this.#materialize(id);
      return id;
    });
    if (parts.length > this.#maxSrcs) return this.#chunkedConcat(out, axis, parts, order);
    return this.#concatNode(out.aval, axis, parts);
  }

  #reduce(out: Var, op: "sum" | "max", axes: readonly number[], input: number) {
    if (axes.length === 0) {
      this.#lazy.set(out.id, this.#lazy.get(input)!);
      return;
    }
    const shape = this.#avals.get(input)!.shape;
    const { expr, srcs } = lowerExpr([this.#lazy.get(input)!], this.#literal);
    this.#push(this.#order.get(out.id)!, { kind: "reduce", op, shape, axes, expr, srcs, outs: [out.id] });
    this.#done(out);
  }

  #op(out: Var, prim: string, params: Readonly<Record<string, unknown>>, ins: readonly number[]) {
    const inputs = ins.map((id, k) => {
      const aval = this.#avals.get(id)!;
      if (!isLoad(this.#lazy.get(id)!)) this.#materialize(id);
      if (!this.#acceptsView(prim, k, (this.#lazy.get(id) as LLoad).view)) this.#materialize(id);
      const l = this.#lazy.get(id) as LLoad;
      return { src: l.src, view: l.view, aval };
    });
    const srcs = [...new Set(inputs.map((x) => x.src))];
    this.#push(this.#order.get(out.id)!, { kind: "op", prim, params, inputs, out: out.aval, srcs, outs: [out.id] });
    this.#done(out);
  }

  #done(out: Var) {
    this.#materialized.add(out.id);
    this.#lazy.set(out.id, { op: "load", src: out.id, view: contiguousView(out.aval.shape), dtype: out.aval.dtype });
  }
}

/** Which equations contribute to the outputs. */
export function liveEqns(graph: Graph): boolean[] {
  const needed = new Set(graph.outputs.map((v) => v.id));
  const live = new Array<boolean>(graph.eqns.length).fill(false);
  for (let i = graph.eqns.length - 1; i >= 0; i--) {
    const e = graph.eqns[i];
    if (!needed.has(e.out.id)) continue;
    live[i] = true;
    for (const v of e.inputs) needed.add(v.id);
  }
  return live;
}
