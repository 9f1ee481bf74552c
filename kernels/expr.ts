/**
 * Fused elementwise expressions: a small DAG of IR elementwise primitives over loads through {@link View}s, and its
 * WGSL code generation (scalar or `vec4`). Elementwise, reduction-prologue/epilogue and matmul-epilogue kernels all
 * evaluate these, so a chain like `broadcast → add → gelu` becomes index math plus a few lines inside one kernel.
 *
 * @module
 */
import type { DType } from "../lib/core/dtype.ts";
import type { View } from "./view.ts";
import { assertGpuDType, literal, regType } from "./wgsl.ts";

/** Unary primitives: same shape and dtype out. */
export const UNARY_OPS = [
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
] as const;
/** Binary arithmetic primitives: equal dtypes in, same dtype out. */
export const BINARY_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] as const;
/** Comparisons: equal dtypes in, bool out. */
export const COMPARE_OPS = ["lt", "le", "gt", "ge", "eq", "ne"] as const;
/** Boolean connectives. */
export const LOGICAL_OPS = ["logicalAnd", "logicalOr"] as const;

/** A unary primitive name. */
export type UnaryOp = (typeof UNARY_OPS)[number];
/** A binary arithmetic primitive name. */
export type BinaryOp = (typeof BINARY_OPS)[number];
/** A comparison primitive name. */
export type CompareOp = (typeof COMPARE_OPS)[number];
/** A boolean connective name. */
export type LogicalOp = (typeof LOGICAL_OPS)[number];

/** One node of an expression DAG; `args` refer to earlier nodes by index. */
export type ExprNode =
  /** `inputs[input]` read through `view` at the kernel's current coordinates. */
  | { readonly op: "load"; readonly input: number; readonly view: View }
  | { readonly op: "const"; readonly value: number; readonly dtype: DType }
  /** The kernel-provided value (the reduced value in a reduction epilogue, the accumulator in a matmul epilogue). */
  | { readonly op: "acc" }
  | { readonly op: UnaryOp; readonly args: readonly [number] }
  | { readonly op: BinaryOp | CompareOp | LogicalOp; readonly args: readonly [number, number] }
  /** `where(cond, a, b)`. */
  | { readonly op: "where"; readonly args: readonly [number, number, number] }
  | { readonly op: "cast"; readonly dtype: DType; readonly args: readonly [number] }
  /** Picks `args[i]` where the coordinate on `axis` lies in the i-th block of `sizes` (concat of padded loads). */
  | {
    readonly op: "concat";
    readonly axis: number;
    readonly sizes: readonly number[];
    readonly args: readonly number[];
  };

/** An expression DAG: input buffer dtypes, topologically ordered nodes, and the nodes that are written out. */
export interface Expr {
  /** Element type of each input buffer (loads refer to them by index). */
  readonly inputs: readonly DType[];
  /** Nodes in topological order. */
  readonly nodes: readonly ExprNode[];
  /** Nodes whose values the kernel writes out, one output each. */
  readonly outputs: readonly number[];
}

const UNARY = new Set<string>(UNARY_OPS);
const BINARY = new Set<string>(BINARY_OPS);
const COMPARE = new Set<string>(COMPARE_OPS);
const LOGICAL = new Set<string>(LOGICAL_OPS);

/** Result dtype of every node (validating argument dtypes); `accDType` types the `acc` leaf. */
export function exprDTypes(expr: Expr, accDType?: DType): DType[] {
  const dt: DType[] = [];
  expr.nodes.forEach((n, i) => {
    const args = "args" in n ? n.args : [];
    for (const a of args) if (!(a >= 0 && a < i)) throw new Error(`expr: node ${i} (${n.op}) refers to node ${a}`);
    const at = args.map((a) => dt[a]);
    const same = (what: string) => {
      if (at.some((t) => t !== at[0])) throw new Error(`expr: ${what} needs equal dtypes, got ${at.join(", ")}`);
    };
    let t: DType;
    if (n.op === "load") {
      if (!(n.input >= 0 && n.input < expr.inputs.length)) throw new Error(`expr: load of missing input ${n.input}`);
      t = expr.inputs[n.input];
    } else if (n.op === "const" || n.op === "cast") t = n.dtype;
    else if (n.op === "acc") {
      if (!accDType) throw new Error("expr: acc used where the kernel provides no value");
      t = accDType;
    } else if (UNARY.has(n.op)) {
      t = at[0];
      if ((n.op === "logicalNot") !== (t === "bool")) throw new Error(`expr: ${n.op} does not take ${t}`);
    } else if (BINARY.has(n.op)) {
      same(n.op);
      t = at[0];
      if (t === "bool") throw new Error(`expr: ${n.op} does not take bool`);
    } else if (COMPARE.has(n.op)) {
      same(n.op);
      t = "bool";
    } else if (LOGICAL.has(n.op)) {
      if (at.some((x) => x !== "bool")) throw new Error(`expr: ${n.op} needs bool operands`);
      t = "bool";
    } else if (n.op === "where") {
      if (at[0] !== "bool" || at[1] !== at[2]) throw new Error(`expr: where needs (bool, T, T), got ${at.join(", ")}`);
      t = at[1];
    } else if (n.op === "concat") {
      same("concat");
      t = at[0];
    } else throw new Error(`expr: unknown op ${(n as { op: string }).op}`);
    assertGpuDType(t, `expr node ${i} (${n.op})`);
    dt.push(t);
  });
  for (const o of expr.outputs) {
    if (!(o >= 0 && o < expr.nodes.length)) throw new Error(`expr: output node ${o} missing`);
  }
  return dt;
}

/** How a kernel provides the leaves of an expression while it is emitted. */
export interface EmitEnv {
  /** 1 for scalar code, 4 when each invocation handles four consecutive elements of the last axis. */
  readonly width: 1 | 4;
  /** Emits a load node; returns statements and the value's name. */
  readonly load: (node: Extract<ExprNode, { op: "load" }>, id: number) => { lines: string[]; value: string };
  /** Name of the `acc` value, when the kernel provides one. */
  readonly acc?: string;
  /** Dtype of the `acc` value. */
  readonly accDType?: DType;
  /** Coordinate (u32 expression) on an axis of the current element; needed by concat (scalar code only). */
  readonly coord?: (axis: number) => string;
  /** Name prefix for the lets this expression emits. */
  readonly prefix: string;
}

/** Emitted statements, the value name of every output, and the helper functions the statements call. */
export interface EmittedExpr {
  /** `let` statements, in order. */
  readonly lines: string[];
  /** Value name of each output node. */
  readonly values: string[];
  /** Helper functions the statements call (see helperSource). */
  readonly helpers: Set<string>;
}

/** Which nodes the outputs depend on. */
export function liveNodes(expr: Expr): boolean[] {
  const live = new Array<boolean>(expr.nodes.length).fill(false);
  for (const o of expr.outputs) live[o] = true;
  for (let i = expr.nodes.length - 1; i >= 0; i--) {
    const n = expr.nodes[i];
    if (live[i] && "args" in n) { for (const a of n.args) live[a] = true; }
  }
  return live;
}

/** The live load nodes of an expression. */
export function liveLoads(expr: Expr): Extract<ExprNode, { op: "load" }>[] {
  const live = liveNodes(expr);
  return expr.nodes.filter((n, i): n is Extract<ExprNode, { op: "load" }> => live[i] && n.op === "load");
}

/** Emits the nodes reachable from the outputs, in order, as `let` statements. */
export function emitExpr(expr: Expr, env: EmitEnv): EmittedExpr {
  const dts = exprDTypes(expr, env.accDType);
  const live = liveNodes(expr);
  const lines: string[] = [];
  const names: string[] = [];
  const helpers = new Set<string>();
  const w = env.width;
  expr.nodes.forEach((n, i) => {
    if (!live[i]) return;
    const name = `${env.prefix}${i}`;
    names[i] = name;
    if (n.op === "load") {
      const r = env.load(n, i);
      lines.push(...r.lines);
      names[i] = r.value;
      return;
    }
    if (n.op === "acc") {
      names[i] = env.acc!;
      return;
    }
    const a = ("args" in n ? n.args : []).map((x) => names[x]);
    const ad = ("args" in n ? n.args : []).map((x) => dts[x]);
    lines.push(`let ${name} = ${opCode(n, a, ad, dts[i], w, helpers, env)};`);
  });
  return { lines, values: expr.outputs.map((o) => names[o]), helpers };
}

function splat(value: number, dtype: DType, w: 1 | 4): string {
  const l = literal(value, dtype);
  return w === 1 ? l : `${regType(dtype, 4)}(${l})`;
}

function opCode(
  n: ExprNode,
  a: string[],
  ad: DType[],
  out: DType,
  w: 1 | 4,
  helpers: Set<string>,
  env: EmitEnv,
): string {
  const t = ad[0];
  const T = regType(out, w);
  const helper = (base: string) => {
    const name = `${base}_${t}${w === 4 ? "x4" : ""}`;
    helpers.add(name);
    return name;
  };
  switch (n.op) {
    case "const":
      return splat(n.value, n.dtype, w);
    case "neg":
      return t === "u32" ? `(${splat(0, t, w)} - ${a[0]})` : `(-${a[0]})`;
    case "exp":
    case "log":
    case "sqrt":
    case "sin":
    case "cos":
      return `${n.op}(${a[0]})`;
    case "rsqrt":
      return `inverseSqrt(${a[0]})`;
    case "abs":
      return `abs(${a[0]})`;
    case "sign":
      return t === "u32" ? `min(${a[0]}, ${splat(1, t, w)})` : `sign(${a[0]})`;
    case "floor":
      return t === "f32" ? `floor(${a[0]})` : a[0];
    // Some drivers overflow exp inside tanh for large |x|; tanh(±15) is ±1 in f32.
    case "tanh":
      return `tanh(clamp(${a[0]}, ${splat(-15, t, w)}, ${splat(15, t, w)}))`;
    case "erf":
      return `${helper("erf")}(${a[0]})`;
    case "sigmoid":
      return `(${splat(1, t, w)} / (${splat(1, t, w)} + exp(-${a[0]})))`;
    case "logicalNot":
      return `(!${a[0]})`;
    case "add":
      return `(${a[0]} + ${a[1]})`;
    case "sub":
      return `(${a[0]} - ${a[1]})`;
    case "mul":
      return `(${a[0]} * ${a[1]})`;
    // Integer division by zero gives 0 (the CPU reference's choice; WGSL alone would give the dividend).
    case "div":
      return t === "f32"
        ? `(${a[0]} / ${a[1]})`
        : `select(${a[0]} / ${a[1]}, ${splat(0, t, w)}, ${a[1]} == ${splat(0, t, w)})`;
    case "pow":
      return `${helper("pow")}(${a[0]}, ${a[1]})`;
    case "maximum":
      return `max(${a[0]}, ${a[1]})`;
    case "minimum":
      return `min(${a[0]}, ${a[1]})`;
    case "lt":
      return `(${a[0]} < ${a[1]})`;
    case "le":
      return `(${a[0]} <= ${a[1]})`;
    case "gt":
      return `(${a[0]} > ${a[1]})`;
    case "ge":
      return `(${a[0]} >= ${a[1]})`;
    case "eq":
      return `(${a[0]} == ${a[1]})`;
    case "ne":
      return `(${a[0]} != ${a[1]})`;
    // `&` / `|` rather than `&&` / `||`: they also apply to vec4<bool>.
    case "logicalAnd":
      return `(${a[0]} & ${a[1]})`;
    case "logicalOr":
      return `(${a[0]} | ${a[1]})`;
    case "where":
      return `select(${a[2]}, ${a[1]}, ${a[0]})`;
    case "cast":
      if (t === out) return a[0];
      if (out === "bool") return `(${a[0]} != ${splat(0, t, w)})`;
      return `${T}(${a[0]})`;
    case "concat": {
      if (w !== 1 || !env.coord) throw new Error("expr: concat needs scalar code with coordinates");
      const c = env.coord(n.axis);
      let v = a[a.length - 1];
      let edge = n.sizes.reduce((s, x) => s + x, 0);
      for (let k = a.length - 2; k >= 0; k--) {
        edge -= n.sizes[k + 1];
        v = `select(${v}, ${a[k]}, ${c} < ${edge}u)`;
      }
      return v;
    }
    default:
      throw new Error(`expr: cannot emit ${n.op}`);
  }
}

/** WGSL source of helper functions collected by {@link emitExpr}. */
export function helperSource(helpers: Iterable<string>): string {
  const all = new Set(helpers);
  // The vec4 integer power applies the scalar one per component.
  for (const h of all) if (/^pow_(i32|u32)x4$/.test(h)) all.add(h.slice(0, -2));
  const out: string[] = [];
  for (const h of [...all].sort()) {
    const m = /^(erf|pow)_(f32|i32|u32)(x4)?$/.exec(h);
    if (!m) throw new Error(`helperSource: unknown helper ${h}`);
    const [, fn, t, x4] = m;
    const T = x4 ? `vec4<${t}>` : t;
    if (fn === "erf") out.push(erfSource(h, T));
    else if (t === "f32") out.push(powF32Source(h, T));
    else if (x4) {
      const c = ["x", "y", "z", "w"].map((k) => `pow_${t}(x.${k}, y.${k})`).join(", ");
      out.push(`fn ${h}(x: ${T}, y: ${T}) -> ${T} {\n  return ${T}(${c});\n}`);
    } else out.push(powIntSource(h, t));
  }
  return out.join("\n\n");
}

// Rational approximation used by Eigen/XLA for f32 erf (max relative error ~7e-8 in exact arithmetic).
function erfSource(name: string, T: string): string {
  return `fn ${name}(a: ${T}) -> ${T} {
  let x = clamp(a, ${T}(-4.0), ${T}(4.0));
  let x2 = x * x;
  var p = fma(x2, ${T}(-2.72614225801306e-10), ${T}(2.77068142495902e-08));
  p = fma(x2, p, ${T}(-2.10102402082508e-06));
  p = fma(x2, p, ${T}(-5.69250639462346e-05));
  p = fma(x2, p, ${T}(-7.34990630326855e-04));
  p = fma(x2, p, ${T}(-2.95459980854025e-03));
  p = fma(x2, p, ${T}(-1.60960333262415e-02));
  p = x * p;
  var q = fma(x2, ${T}(-1.45660718464996e-05), ${T}(-2.13374055278905e-04));
  q = fma(x2, q, ${T}(-1.68282697438203e-03));
  q = fma(x2, q, ${T}(-7.37332916720468e-03));
  q = fma(x2, q, ${T}(-1.42647390514189e-02));
  return p / q;
}`;
}

// Real power with the sign rules of C's pow: negative bases give real results for integral exponents, NaN otherwise.
function powF32Source(name: string, T: string): string {
  return `fn ${name}(x: ${T}, y: ${T}) -> ${T} {
  let r = exp2(y * log2(abs(x)));
  let integral = floor(y) == y;
  let odd = integral & (floor(y * ${T}(0.5)) != y * ${T}(0.5));
  let neg = x < ${T}(0.0);
  var v = select(r, -r, neg & odd);
  v = select(v, ${T}(bitcast<f32>(0x7fc00000u)), neg & !integral);
  return select(v, ${T}(1.0), y == ${T}(0.0));
}`;
}

// Integer power by squaring; negative exponents give 0 except for bases ±1 (as integer division would).
function powIntSource(name: string, t: string): string {
  const neg = t === "i32"
    ? `  if (y < 0i) { return select(select(0i, select(-1i, 1i, (y & 1i) == 0i), x == -1i), 1i, x == 1i); }\n`
    : "";
  return `fn ${name}(x: ${t}, y: ${t}) -> ${t} {
${neg}  var r = ${t}(1);
  var b = x;
  var e = u32(y);
  for (var i = 0u; i < 32u; i++) {
    if ((e & 1u) != 0u) { r = r * b; }
    b = b * b;
    e = e >> 1u;
    if (e == 0u) { break; }
  }
  return r;
}`;
}

/** Incrementally builds an {@link Expr}; each method returns the new node's index. */
export class ExprBuilder {
  readonly #inputs: DType[] = [];
  readonly #nodes: ExprNode[] = [];
  readonly #outputs: number[] = [];

  /** Declares an input buffer of `dtype`; returns its input index. */
  input(dtype: DType): number {
    this.#inputs.push(dtype);
    return this.#inputs.length - 1;
  }
  /** Adds any node. */
  node(n: ExprNode): number {
    this.#nodes.push(n);
    return this.#nodes.length - 1;
  }
  /** Reads input `input` through `view`. */
  load(input: number, view: View): number {
    return this.node({ op: "load", input, view });
  }
  /** A constant. */
  constant(value: number, dtype: DType): number {
    return this.node({ op: "const", value, dtype });
  }
  /** Applies a unary, binary, comparison, logical or where primitive. */
  apply(op: UnaryOp | BinaryOp | CompareOp | LogicalOp | "where", ...args: number[]): number {
    return this.node({ op, args } as unknown as ExprNode);
  }
  /** Marks a node as an output (written in order of marking). */
  output(node: number): void {
    this.#outputs.push(node);
  }
  /** The finished expression. */
  build(): Expr {
    return { inputs: [...this.#inputs], nodes: [...this.#nodes], outputs: [...this.#outputs] };
  }
}
