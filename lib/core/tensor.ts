import type { DType, TypedArray } from "./dtype.ts";
import type { Var } from "./graph.ts";
import { fmt, sizeOf } from "./shape.ts";

/** Where a tensor came from, for reverse-mode differentiation (a tape entry). */
export interface Node {
  /** Bit mask of the differentiation levels this value depends on. */
  readonly levels: number;
  /** The primitive that produced it; absent for a leaf (a differentiated input). */
  readonly prim?: string;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly inputs?: readonly Tensor[];
}

/** The trace a symbolic tensor belongs to (see compile.ts). */
export interface TraceRef {
  readonly id: number;
}

/**
 * An immutable n-dimensional array. Concrete tensors hold CPU storage; symbolic tensors stand for a value of a graph
 * being traced by `compile` and hold only their shape and dtype.
 */
export class Tensor {
  /** Extent of each axis. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** @internal CPU storage, row-major; absent while tracing. */
  readonly data: TypedArray | undefined;
  /** @internal The graph value this tensor stands for while tracing. */
  readonly v: Var | undefined;
  /** @internal The trace that owns `v`. */
  readonly trace: TraceRef | undefined;
  /** @internal Tape entry for reverse-mode differentiation. */
  readonly node: Node | undefined;

  /** @internal Use the creation functions (`tensor`, `zeros`, …) instead. */
  constructor(
    shape: readonly number[],
    dtype: DType,
    source: { data?: TypedArray; v?: Var; trace?: TraceRef },
    node?: Node,
  ) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.data = source.data;
    this.v = source.v;
    this.trace = source.trace;
    this.node = node;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of axes. */
  get ndim(): number {
    return this.shape.length;
  }

  /** The storage (row-major); throws for a symbolic tensor inside `compile`. */
  toArray(): TypedArray {
    if (!this.data) {
      throw new Error(
        `toArray: tensor ${fmt(this.shape)} ${this.dtype} is symbolic (inside compile); return it instead`,
      );
    }
    return this.data;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor has shape ${fmt(this.shape)}, not one element`);
    return this.toArray()[0];
  }

  /** The values as nested arrays. */
  toNested(): unknown {
    const data = this.toArray();
    const build = (axis: number, offset: number): unknown => {
      if (axis === this.shape.length) return data[offset];
      const stride = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis] }, (_, i) => build(axis + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /** Short description for debugging. */
  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}${this.data ? "" : ", symbolic"})`;
  }
}
