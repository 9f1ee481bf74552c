/**
 * The learning-rate schedule of the recipe, per iteration: linear warm-up from 0, then a half-cycle cosine down to
 * `minLr` (utils.cosine_scheduler of the reference code).
 * @module
 */

/** Schedule settings, in optimizer steps. */
export interface ScheduleOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  readonly baseLr: number;
  /** Steps of linear warm-up. */
  readonly warmupSteps: number;
  /** Total steps of the run. */
  readonly totalSteps: number;
  /** Floor of the cosine (default 1e-6). */
  readonly minLr?: number;
}

/** The learning rate at `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  const minLr = o.minLr ?? 1e-6;
  if (!(o.totalSteps > 0) || o.warmupSteps < 0 || o.warmupSteps > o.totalSteps) {
    throw new Error(`learningRate: invalid schedule warmup ${o.warmupSteps} / total ${o.totalSteps}`);
  }
  if (step < o.warmupSteps) return (o.baseLr * step) / o.warmupSteps;
  const span = Math.max(1, o.totalSteps - o.warmupSteps);
  const t = Math.min(1, (step - o.warmupSteps) / span);
  return minLr + 0.5 * (o.baseLr - minLr) * (1 + Math.cos(Math.PI * t));
}
