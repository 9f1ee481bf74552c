/**
 * Binary ranking metrics with scikit-learn 1.2 semantics: average precision (average_precision_score) and ROC AUC
 * (roc_auc_score), both built on the curve over distinct score thresholds so tied scores move together.
 *
 * @module
 */

/** Scores or labels accepted by the ranking metrics. */
export type NumericArray = ArrayLike<number>;

/** Cumulative counts at each distinct threshold, from the highest score down (sklearn's `_binary_clf_curve`). */
export interface ThresholdCounts {
  /** True positives among samples with score ≥ threshold. */
  readonly tps: Float64Array;
  /** False positives among samples with score ≥ threshold. */
  readonly fps: Float64Array;
}

/**
 * Counts true and false positives at every distinct score, highest first, so tied samples enter the curve together.
 *
 * Positive and negative scores are sorted separately with the native numeric sort and merged, which is several times
 * faster than sorting an index array with a comparator.
 */
export function thresholdCounts(scores: NumericArray, labels: NumericArray, what = "thresholdCounts"): ThresholdCounts {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`${what}: ${n} scores but ${labels.length} labels`);
  if (n === 0) throw new Error(`${what}: no samples`);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) throw new Error(`${what}: score ${i} is NaN`);
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new Error(`${what}: label ${i} is ${y}, expected 0 or 1`);
    positives += y;
  }
  const pos = new Float64Array(positives);
  const neg = new Float64Array(n - positives);
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    if (labels[i] === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  pos.sort();
  neg.sort();
  const tps: number[] = [];
  const fps: number[] = [];
  let i = pos.length - 1;
  let j = neg.length - 1;
  while (i >= 0 || j >= 0) {
    const v = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.max(pos[i], neg[j]);
    while (i >= 0 && pos[i] === v) i--;
    while (j >= 0 && neg[j] === v) j--;
    tps.push(pos.length - 1 - i);
    fps.push(neg.length - 1 - j);
  }
  return { tps: Float64Array.from(tps), fps: Float64Array.from(fps) };
}

/** Average precision from {@linkcode thresholdCounts}; NaN without positives. */
export function averagePrecisionFromCounts({ tps, fps }: ThresholdCounts): number {
  const positives = tps[tps.length - 1];
  if (positives === 0) return NaN;
  let ap = 0;
  let prevTp = 0;
  for (let k = 0; k < tps.length; k++) {
    ap += ((tps[k] - prevTp) / positives) * (tps[k] / (tps[k] + fps[k]));
    prevTp = tps[k];
  }
  return ap;
}

/** ROC AUC from {@linkcode thresholdCounts}; NaN unless both classes are present. */
export function rocAucFromCounts({ tps, fps }: ThresholdCounts): number {
  const positives = tps[tps.length - 1];
  const negatives = fps[fps.length - 1];
  if (positives === 0 || negatives === 0) return NaN;
  // Twice the area in count units stays an exact integer, so one final division is the only rounding.
  let twiceArea = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < tps.length; k++) {
    twiceArea += (fps[k] - prevFp) * (tps[k] + prevTp);
    prevTp = tps[k];
    prevFp = fps[k];
  }
  return twiceArea / (2 * positives * negatives);
}

/**
 * Average precision AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ over the precision–recall curve at distinct thresholds (sklearn 1.2
 * `average_precision_score`, binary case; no interpolation).
 *
 * @param scores higher means more likely positive
 * @param labels 0 or 1 per sample
 * @returns AP in [0, 1], or NaN when there is no positive (AP is undefined then)
 */
export function averagePrecision(scores: NumericArray, labels: NumericArray): number {
  return averagePrecisionFromCounts(thresholdCounts(scores, labels, "averagePrecision"));
}

/**
 * Area under the ROC curve by the trapezoid rule over distinct thresholds (sklearn `roc_auc_score`, binary case), so
 * a tie between a positive and a negative counts one half.
 *
 * @param scores higher means more likely positive
 * @param labels 0 or 1 per sample
 * @returns AUC in [0, 1], or NaN when only one class is present (sklearn raises there)
 */
export function rocAuc(scores: NumericArray, labels: NumericArray): number {
  return rocAucFromCounts(thresholdCounts(scores, labels, "rocAuc"));
}
