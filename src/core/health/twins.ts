import { findModel, priceUsd, type ModelSpec } from '../catalog.js';
import type { Job } from '../store.js';

/**
 * Models that are one model sold by two providers (the same ByteDance Seedance weights on fal.ai and on Volcano
 * Engine Ark), so a job for one may run as the other when its provider is down (PROVIDER_FALLBACK). Kept here rather
 * than as a catalog field: a pair is a claim about two providers, not about one model.
 */
export const MODEL_TWINS: readonly (readonly [string, string])[] = [
  ['seedance-1-pro', 'seedance-1-pro-ark'],
  ['seedance-1.5-pro', 'seedance-1.5-pro-ark'],
  ['seedance-2', 'seedance-2-ark'],
  ['seedance-2-fast', 'seedance-2-fast-ark'],
];

/** What a job becomes on its twin: the columns to change. */
export interface TwinMove {
  model: ModelSpec;
  providerModel: string;
  costUsd: number;
}

/**
 * The twin of the job's model on another provider, if that twin takes the job's settings as they are (duration,
 * resolution, aspect ratio, audio, fixed camera): a member gets what they asked for, or the job stays where it was.
 */
export function twinMove(
  job: Pick<Job, 'model' | 'provider' | 'params' | 'inputMediaKey' | 'inputImageUrl'>,
  models: readonly ModelSpec[],
): TwinMove | undefined {
  const own = findModel(job.model, models);
  if (!own) return undefined;
  const pair = MODEL_TWINS.find((p) => p.includes(own.id));
  const twinId = pair?.find((id) => id !== own.id);
  const twin = twinId ? findModel(twinId, models) : undefined;
  if (!twin || twin.provider === job.provider || twin.kind !== own.kind) return undefined;
  const p = job.params;
  const hasImage = !!(job.inputMediaKey ?? job.inputImageUrl);
  if (!twin.durations.includes(p.durationS) || !twin.resolutions.includes(p.resolution)) return undefined;
  if (p.aspectRatio !== 'auto' && !twin.aspectRatios.includes(p.aspectRatio)) return undefined;
  if (p.audio && !twin.supportsAudio) return undefined;
  if (p.cameraFixed !== undefined && !twin.supportsCameraFixed) return undefined;
  return {
    model: twin,
    providerModel: hasImage ? twin.providerModels.imageToVideo : twin.providerModels.textToVideo,
    costUsd: priceUsd(twin, p),
  };
}

/** The provider's models whose twin is in `models` too, on a provider in `configured`. */
export function modelsWithTwins(
  provider: string,
  models: readonly ModelSpec[],
  configured: ReadonlySet<string>,
): ModelSpec[] {
  return models.filter((m) => {
    const twinId = MODEL_TWINS.find((p) => p.includes(m.id))?.find((id) => id !== m.id);
    const twin = twinId !== undefined ? findModel(twinId, models) : undefined;
    return m.provider === provider && twin !== undefined && configured.has(twin.provider);
  });
}
