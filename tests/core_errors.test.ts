/** Wrong shapes, dtype mixes and axes out of range: errors name the op and the shapes. */
import assert from "node:assert/strict";
import * as T from "../lib/core/mod.ts";

const f64 = (shape: number[]) => T.zeros(shape, "f64");

Deno.test("shape errors name the op and both shapes", () => {
  assert.throws(() => T.add(f64([2, 3]), f64([4])), /add: shapes \[2,3\] and \[4\] do not broadcast/);
  assert.throws(() => T.matmul(f64([2, 3]), f64([4, 5])), /matmul: cannot multiply \[2,3\] by \[4,5\]/);
  assert.throws(() => T.reshape(f64([2, 3]), [4, 2]), /reshape: cannot reshape \[2,3\] to \[4,2\]/);
  assert.throws(() => T.conv2d(f64([1, 4, 5, 5]), f64([2, 3, 3, 3]), { groups: 2 }), /conv2d: groups 2 do not fit/);
  assert.throws(
    () => T.conv2d(f64([1, 1, 2, 2]), f64([1, 1, 5, 5])),
    /conv2d: kernel \[1,1,5,5\] larger than padded input \[1,1,2,2\]/,
  );
  assert.throws(() => T.concat([f64([2, 3]), f64([3, 3])], 1), /concat: cannot join f64\[2,3\], f64\[3,3\] on axis 1/);
  assert.throws(() => T.layerNorm(f64([2, 3]), f64([4])), /layerNorm: parameter \[4\] does not fit axis 1 of \[2,3\]/);
  assert.throws(
    () => T.bceWithLogits(f64([2, 3]), f64([3, 2])),
    /bceWithLogits: logits \[2,3\] and targets \[3,2\] differ/,
  );
  assert.throws(() => T.tensor([1, 2, 3], { shape: [2, 2] }), /tensor: 3 values do not fill shape \[2,2\]/);
});

Deno.test("dtype mixes are rejected with both dtypes named", () => {
  assert.throws(() => T.add(T.zeros([2], "f32"), T.zeros([2], "f64")), /add: dtype mismatch f32\[2\] vs f64\[2\]/);
  assert.throws(() => T.matmul(T.zeros([2, 2], "f32"), T.zeros([2, 2], "f64")), /matmul: dtypes f32 and f64 differ/);
  assert.throws(() => T.where(T.zeros([2]), 1, 0), /where: condition must be bool, got f32/);
  assert.throws(() => T.take(f64([3]), T.zeros([2], "f32")), /gather: indices must be i32, got f32/);
  assert.throws(() => T.exp(T.zeros([2], "i32")), /needs a float tensor, got i32\[2\]/);
});

Deno.test("axes out of range are rejected with the axis and rank", () => {
  assert.throws(() => T.sum(f64([2, 3]), 2), /sum: axis 2 is out of range for rank 2/);
  assert.throws(() => T.mean(f64([2, 3]), -3), /mean: axis -3 is out of range for rank 2/);
  assert.throws(() => T.transpose(f64([2, 3]), [0, 2]), /transpose: axis 2 is out of range for rank 2/);
  assert.throws(() => T.softmax(f64([2, 3]), 5), /axis 5 is out of range for rank 2/);
  assert.throws(() => T.concat([f64([2]), f64([2])], 1), /concat: axis 1 is out of range for rank 1/);
});

Deno.test("gradient of a non-scalar function is refused clearly", () => {
  assert.throws(
    () => T.grad((x: T.Tensor) => T.mul(x, 2))(f64([3])),
    /grad: function must return a scalar, got shape \[3\]/,
  );
});

Deno.test("symbolic values cannot leak out of compile", () => {
  let leaked: T.Tensor | undefined;
  const c = T.compile((x: T.Tensor) => {
    leaked = T.mul(x, 2);
    return leaked;
  });
  c(f64([2]));
  assert.throws(() => T.add(leaked!, f64([2])), /escaped the trace/);
  assert.throws(() => leaked!.toArray(), /symbolic/);
});
