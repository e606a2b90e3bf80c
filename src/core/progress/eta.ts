import { expectedSeconds, type GenerationParams, type ModelSpec } from '../catalog.js';
import type { StoreTx } from '../store.js';

/** How many recent similar jobs the estimate looks at: recent enough to follow provider load, enough to be stable. */
export const ETA_HISTORY_SIZE = 20;

/**
 * Expected generation time in whole seconds: the median of `history` (recent durations in seconds) when it has
 * at least `minSamples` usable values, else `fallbackS` (the catalog's figure). The median, because one job stuck
 * in a provider queue for ten minutes must not move everyone's estimate.
 */
export function estimateSeconds(history: readonly number[], fallbackS: number, minSamples = 5): number {
  const samples = history.filter((s) => Number.isFinite(s) && s > 0).sort((a, b) => a - b);
  if (samples.length === 0 || samples.length < minSamples) return Math.round(fallbackS);
  const mid = Math.floor(samples.length / 2);
  const median = samples.length % 2 === 1 ? samples[mid]! : (samples[mid - 1]! + samples[mid]!) / 2;
  return Math.round(median);
}

/**
 * Provider durations (submitted → provider done, in seconds) of the newest successful jobs with the same model,
 * resolution and clip length, newest first.
 */
export async function loadRecentDurations(
  db: StoreTx,
  similar: { model: string; resolution: string; durationS: number },
  limit = ETA_HISTORY_SIZE,
): Promise<number[]> {
  return db.jobs.recentDurations(similar, limit);
}

/** The ETA shown for a job: history of similar jobs when there is enough, else the catalog's expectation. */
export async function estimateJobSeconds(
  db: StoreTx,
  model: ModelSpec,
  params: Pick<GenerationParams, 'durationS' | 'resolution'>,
): Promise<number> {
  const history = await loadRecentDurations(db, {
    model: model.id,
    resolution: params.resolution,
    durationS: params.durationS,
  });
  return estimateSeconds(history, expectedSeconds(model, params));
}
