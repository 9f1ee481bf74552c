/**
 * Multi-label evaluation as in the paper's evaluation code: per-class AP and ROC AUC, their macro means, and d′.
 *
 * @module
 */

import { dPrime } from "./normal.ts";
import { averagePrecisionFromCounts, type NumericArray, rocAucFromCounts, thresholdCounts } from "./ranking.ts";

/** Classes left out of a mean, with their indices in ascending order. */
export interface ExcludedClasses {
  /** How many classes were left out. */
  readonly count: number;
  /** Their class indices. */
  readonly indices: readonly number[];
}

/** Result of {@linkcode evaluate}. */
export interface Evaluation {
  /** Macro mean of per-class AP over classes with at least one positive. */
  readonly mAP: number;
  /** Macro mean of per-class AUC over classes with both positives and negatives. */
  readonly mAUC: number;
  /** Mean over classes of √2·Φ⁻¹(AUC_c) (the paper's d′), over the same classes as mAUC. */
  readonly dPrimeMeanOfClasses: number;
  /** √2·Φ⁻¹(mAUC) (the PANNs convention for d′). */
  readonly dPrimeOfMeanAuc: number;
  /** AP per class; NaN for a class without positives. */
  readonly perClassAP: Float64Array;
  /** ROC AUC per class; NaN for a class without positives or without negatives. */
  readonly perClassAUC: Float64Array;
  /** Classes with no positive target: AP and AUC are undefined, so they are excluded from every mean. */
  readonly classesWithoutPositives: ExcludedClasses;
  /** Classes whose every target is positive: AUC is undefined, so they are excluded from mAUC and d′. */
  readonly classesWithoutNegatives: ExcludedClasses;
}

function meanOfDefined(values: Float64Array, transform: (v: number) => number = (v) => v): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    sum += transform(v);
    n++;
  }
  return n === 0 ? NaN : sum / n;
}

/**
 * Evaluates multi-label scores against binary targets, class by class.
 *
 * @param scores row-major `[N, classes]` (e.g. sigmoid outputs); any monotone score works since only ranks matter
 * @param targets row-major `[N, classes]`, each 0 or 1
 * @param classes number of classes (columns)
 */
export function evaluate(scores: NumericArray, targets: NumericArray, classes: number): Evaluation {
  if (!Number.isInteger(classes) || classes <= 0) throw new Error(`evaluate: classes must be a positive integer`);
  if (scores.length !== targets.length) {
    throw new Error(`evaluate: scores have ${scores.length} values but targets ${targets.length}`);
  }
  if (scores.length === 0 || scores.length % classes !== 0) {
    throw new Error(`evaluate: ${scores.length} values do not form rows of ${classes} classes`);
  }
  const n = scores.length / classes;
  const perClassAP = new Float64Array(classes);
  const perClassAUC = new Float64Array(classes);
  const withoutPositives: number[] = [];
  const withoutNegatives: number[] = [];
  const s = new Float64Array(n);
  const t = new Float64Array(n);
  for (let c = 0; c < classes; c++) {
    let positives = 0;
    for (let i = 0; i < n; i++) {
      s[i] = scores[i * classes + c];
      t[i] = targets[i * classes + c];
      positives += t[i];
    }
    const counts = thresholdCounts(s, t, `evaluate (class ${c})`);
    perClassAP[c] = averagePrecisionFromCounts(counts);
    perClassAUC[c] = rocAucFromCounts(counts);
    if (positives === 0) withoutPositives.push(c);
    else if (positives === n) withoutNegatives.push(c);
  }
  const mAUC = meanOfDefined(perClassAUC);
  return {
    mAP: meanOfDefined(perClassAP),
    mAUC,
    dPrimeMeanOfClasses: meanOfDefined(perClassAUC, dPrime),
    dPrimeOfMeanAuc: dPrime(mAUC),
    perClassAP,
    perClassAUC,
    classesWithoutPositives: { count: withoutPositives.length, indices: withoutPositives },
    classesWithoutNegatives: { count: withoutNegatives.length, indices: withoutNegatives },
  };
}
