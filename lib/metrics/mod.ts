/**
 * Evaluation metrics for multi-label audio tagging (sklearn-compatible AP and ROC AUC, d′).
 *
 * @module
 */

export {
  averagePrecision,
  averagePrecisionFromCounts,
  type NumericArray,
  rocAuc,
  rocAucFromCounts,
  type ThresholdCounts,
  thresholdCounts,
} from "./ranking.ts";
export { dPrime, normalQuantile } from "./normal.ts";
export { evaluate, type Evaluation, type ExcludedClasses } from "./evaluate.ts";
