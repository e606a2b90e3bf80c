import { z } from 'zod';
import { UserError } from './errors.js';

/**
 * The models clipbot offers: which provider runs them, the parameters they accept, what they cost
 * (credits for members, an estimate in USD for the owner's budget cap) and how long they usually take.
 */

export const RESOLUTIONS = ['480p', '720p', '1080p', '4k'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export interface ModelSpec {
  /** Our id, typed by members (`/video --model seedance-1-pro`). */
  readonly id: string;
  /**
   * Former ids of this model. Jobs, chat defaults and `DEFAULT_MODEL` stored under one still resolve to it (a job
   * resumed after a restart looks its model up by the id it was stored with), and members may still type them.
   */
  readonly aliases?: readonly string[];
  readonly label: string;
  readonly provider: string;
  /** `video`: prompt (and image) to clip, priced by resolution and length. `music-video`: a song to video, one flat price. */
  readonly kind: 'video' | 'music-video';
  /** Provider endpoint / model ids for text-to-video and image-to-video. */
  readonly providerModels: { readonly textToVideo: string; readonly imageToVideo: string };
  readonly durations: readonly number[];
  readonly defaultDuration: number;
  readonly resolutions: readonly Resolution[];
  readonly defaultResolution: Resolution;
  readonly aspectRatios: readonly string[];
  readonly defaultAspectRatio: string;
  readonly supportsAudio: boolean;
  readonly supportsCameraFixed: boolean;
  /** False when the provider's schema names no seed: a member's seed (and Retry's new one) is then not kept. */
  readonly supportsSeed?: boolean;
  /** The provider offers this model at a cheaper, slower tier (Ark `service_tier: "flex"`); the owner opts in. */
  readonly offersFlexTier?: boolean;
  /** Credits for a 5 s clip, by resolution; scaled linearly by duration. Music videos: `flat` instead. */
  readonly creditsPer5s: Readonly<Partial<Record<Resolution, number>>>;
  /** Owner's provider cost estimate in USD for a 5 s clip (budget cap); check your provider's price page. */
  readonly usdPer5s: Readonly<Partial<Record<Resolution, number>>>;
  /** Typical generation time in seconds for a 5 s clip, by resolution, used for the ETA until history exists. */
  readonly expectedSecondsPer5s: Readonly<Partial<Record<Resolution, number>>>;
  /** Music videos have one price and one expected time, whatever the song. */
  readonly flat?: { readonly credits: number; readonly usd: number; readonly expectedSeconds: number };
  /** Give up (and refund) after this long at the provider. */
  readonly timeoutSeconds: number;
  readonly englishOnly: boolean;
  /** Follow-ups offered on a delivered clip (buttons and /upscale, /extend); absent: none. */
  readonly followups?: ModelFollowups;
}

/** What the provider can do with one of this model's finished clips. */
export interface ModelFollowups {
  /** Resolutions a delivered clip can be upscaled to (the parent's task is upgraded at the provider). */
  readonly upscaleTo?: readonly Resolution[];
  /**
   * Continue the clip with a new prompt, from a clip at one of `from`; `notOnceUpscaled`: the provider refuses to
   * extend a clip once it was upscaled (kie: "videos upgraded to 1080p cannot be extended", §7.3).
   * `fromOurLastFrame`: the provider has no extend call; the continuation is an image-to-video job from the last
   * frame of the parent's clip as we stored it (fal).
   */
  readonly extend?: {
    readonly from: readonly Resolution[];
    readonly notOnceUpscaled?: boolean;
    readonly fromOurLastFrame?: boolean;
  };
}

/** Ark (provider-apis.md §7.2): Extend is image-to-video from the task's `last_frame_url`; Ark does not upscale. */
const ARK_FOLLOWUPS: ModelFollowups = { extend: { from: ['480p', '720p', '1080p'] } };
/** fal (provider-apis.md §1): no extend call and no upscale; Extend is image-to-video from our clip's last frame. */
const FAL_FOLLOWUPS: ModelFollowups = { extend: { from: ['480p', '720p', '1080p'], fromOurLastFrame: true } };
/** kie Veo 3.1 (provider-apis.md §3.5, §7.3): get-1080p-video, get-4k-video and extend act on a finished 720p task. */
const VEO_FOLLOWUPS: ModelFollowups = { upscaleTo: ['1080p', '4k'], extend: { from: ['720p'], notOnceUpscaled: true } };

const SEEDANCE_RATIOS = ['21:9', '16:9', '4:3', '1:1', '3:4', '9:16'];
const SEEDANCE_CREDITS = { '480p': 40, '720p': 50, '1080p': 70 } as const;
const SEEDANCE_2_DURATIONS = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const ARK_SEEDANCE_1_USD = { '480p': 0.12, '720p': 0.25, '1080p': 0.55 } as const;

/** Seedance is made at up to 1080p; only Veo offers 4K. */
type SeedanceResolution = Exclude<Resolution, '4k'>;

/**
 * Prices of the newer Ark models: credits at the same credits-per-USD as Seedance 1.0 Pro on Ark, per resolution,
 * rounded up. Their USD figures are estimates (docs/providers.md says where each comes from).
 */
function arkPrices(
  usdPer5s: Partial<Record<SeedanceResolution, number>>,
): Pick<ModelSpec, 'creditsPer5s' | 'usdPer5s'> {
  const creditsPer5s: Partial<Record<Resolution, number>> = {};
  for (const [resolution, usd] of Object.entries(usdPer5s) as [SeedanceResolution, number][]) {
    creditsPer5s[resolution] = Math.ceil((usd * SEEDANCE_CREDITS[resolution]) / ARK_SEEDANCE_1_USD[resolution] - 1e-9);
  }
  return { creditsPer5s, usdPer5s };
}

/** Seedance 2.0 billing: tokens = width × height × 24 fps × seconds / 1024, at `usdPer1kTokens`; a 5 s clip here. */
function seedance2Usd(
  usdPer1kTokens: number,
  resolutions: readonly SeedanceResolution[] = ['480p', '720p', '1080p'],
): Partial<Record<SeedanceResolution, number>> {
  const frame: Record<SeedanceResolution, number> = { '480p': 864 * 480, '720p': 1280 * 720, '1080p': 1920 * 1080 };
  const usd: Partial<Record<Resolution, number>> = {};
  for (const r of resolutions) usd[r] = Math.round(((frame[r] * 24 * 5) / 1024 / 1000) * usdPer1kTokens * 1000) / 1000;
  return usd;
}

export const MODELS: readonly ModelSpec[] = [
  {
    id: 'seedance-1-pro',
    label: 'Seedance 1.0 Pro (fal.ai)',
    provider: 'fal',
    kind: 'video',
    providerModels: {
      textToVideo: 'fal-ai/bytedance/seedance/v1/pro/text-to-video',
      imageToVideo: 'fal-ai/bytedance/seedance/v1/pro/image-to-video',
    },
    durations: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    defaultDuration: 5,
    resolutions: ['480p', '720p', '1080p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: false,
    supportsCameraFixed: true,
    creditsPer5s: SEEDANCE_CREDITS,
    usdPer5s: { '480p': 0.15, '720p': 0.3, '1080p': 0.62 },
    expectedSecondsPer5s: { '480p': 40, '720p': 60, '1080p': 90 },
    timeoutSeconds: 900,
    englishOnly: false,
    followups: FAL_FOLLOWUPS,
  },
  {
    id: 'seedance-1.5-pro',
    label: 'Seedance 1.5 Pro with audio (fal.ai)',
    provider: 'fal',
    kind: 'video',
    providerModels: {
      textToVideo: 'fal-ai/bytedance/seedance/v1.5/pro/text-to-video',
      imageToVideo: 'fal-ai/bytedance/seedance/v1.5/pro/image-to-video',
    },
    durations: [4, 5, 6, 7, 8, 9, 10, 11, 12],
    defaultDuration: 5,
    resolutions: ['480p', '720p', '1080p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: true,
    supportsCameraFixed: true,
    creditsPer5s: SEEDANCE_CREDITS,
    usdPer5s: { '480p': 0.2, '720p': 0.4, '1080p': 0.8 },
    expectedSecondsPer5s: { '480p': 50, '720p': 75, '1080p': 110 },
    timeoutSeconds: 900,
    englishOnly: false,
    followups: FAL_FOLLOWUPS,
  },
  // Seedance 2.0 on fal (provider-apis.md §7.1): $0.014 (fast $0.0112) per 1k tokens, tokens = h·w·24·s / 1024,
  // so 720p (1280×720) is $0.3024/s ($0.24192/s fast); 480p (864×480) and 1080p (1920×1080) scale by pixel count.
  // Credits: 125 per USD of cost (Seedance 1.5 Pro's ratio at its default 720p), rounded up to 5.
  {
    id: 'seedance-2',
    label: 'Seedance 2.0 with audio (fal.ai)',
    provider: 'fal',
    kind: 'video',
    providerModels: {
      textToVideo: 'bytedance/seedance-2.0/text-to-video',
      imageToVideo: 'bytedance/seedance-2.0/image-to-video',
    },
    durations: SEEDANCE_2_DURATIONS,
    defaultDuration: 5,
    resolutions: ['480p', '720p', '1080p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: true,
    supportsCameraFixed: false,
    supportsSeed: false,
    creditsPer5s: { '480p': 90, '720p': 190, '1080p': 430 },
    usdPer5s: { '480p': 0.6804, '720p': 1.512, '1080p': 3.402 },
    // [U] estimates until the ETA has history: fal says generations take "30 seconds to several minutes".
    expectedSecondsPer5s: { '480p': 90, '720p': 150, '1080p': 240 },
    timeoutSeconds: 1800,
    englishOnly: false,
    followups: FAL_FOLLOWUPS,
  },
  {
    id: 'seedance-2-fast',
    label: 'Seedance 2.0 Fast with audio (fal.ai)',
    provider: 'fal',
    kind: 'video',
    providerModels: {
      textToVideo: 'bytedance/seedance-2.0/fast/text-to-video',
      imageToVideo: 'bytedance/seedance-2.0/fast/image-to-video',
    },
    durations: SEEDANCE_2_DURATIONS,
    defaultDuration: 5,
    resolutions: ['480p', '720p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: true,
    supportsCameraFixed: false,
    supportsSeed: false,
    creditsPer5s: { '480p': 70, '720p': 155 },
    usdPer5s: { '480p': 0.54432, '720p': 1.2096 },
    expectedSecondsPer5s: { '480p': 60, '720p': 100 },
    timeoutSeconds: 1200,
    englishOnly: false,
    followups: FAL_FOLLOWUPS,
  },
  {
    id: 'seedance-1-pro-ark',
    label: 'Seedance 1.0 Pro (Volcano Engine Ark)',
    provider: 'ark',
    followups: ARK_FOLLOWUPS,
    kind: 'video',
    // The operator's Ark model or endpoint id replaces these (ARK_MODEL_ID, for this model only).
    providerModels: { textToVideo: 'doubao-seedance-1-0-pro-250528', imageToVideo: 'doubao-seedance-1-0-pro-250528' },
    durations: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    defaultDuration: 5,
    resolutions: ['480p', '720p', '1080p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: false,
    supportsCameraFixed: true,
    offersFlexTier: true,
    creditsPer5s: SEEDANCE_CREDITS,
    usdPer5s: ARK_SEEDANCE_1_USD,
    expectedSecondsPer5s: { '480p': 40, '720p': 60, '1080p': 90 },
    timeoutSeconds: 900,
    englishOnly: false,
  },
  {
    id: 'seedance-1.5-pro-ark',
    label: 'Seedance 1.5 Pro with audio (Volcano Engine Ark)',
    provider: 'ark',
    followups: ARK_FOLLOWUPS,
    kind: 'video',
    // ARK_SEEDANCE_1_5_PRO_MODEL_ID replaces these.
    providerModels: { textToVideo: 'doubao-seedance-1-5-pro-251215', imageToVideo: 'doubao-seedance-1-5-pro-251215' },
    durations: [4, 5, 6, 7, 8, 9, 10, 11, 12],
    defaultDuration: 5,
    resolutions: ['480p', '720p', '1080p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: true,
    supportsCameraFixed: true,
    offersFlexTier: true,
    ...arkPrices({ '480p': 0.2, '720p': 0.4, '1080p': 0.8 }),
    expectedSecondsPer5s: { '480p': 50, '720p': 75, '1080p': 110 },
    timeoutSeconds: 900,
    englishOnly: false,
  },
  {
    id: 'seedance-2-ark',
    label: 'Seedance 2.0 with audio (Volcano Engine Ark)',
    provider: 'ark',
    followups: ARK_FOLLOWUPS,
    kind: 'video',
    // ARK_SEEDANCE_2_MODEL_ID replaces these.
    providerModels: { textToVideo: 'doubao-seedance-2-0-260128', imageToVideo: 'doubao-seedance-2-0-260128' },
    durations: SEEDANCE_2_DURATIONS,
    defaultDuration: 5,
    resolutions: ['480p', '720p', '1080p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: true,
    // Nothing we read says 2.0 takes camera_fixed, so it is not offered.
    supportsCameraFixed: false,
    ...arkPrices(seedance2Usd(0.014)),
    expectedSecondsPer5s: { '480p': 60, '720p': 90, '1080p': 150 },
    timeoutSeconds: 1200,
    englishOnly: false,
  },
  {
    id: 'seedance-2-fast-ark',
    label: 'Seedance 2.0 Fast with audio (Volcano Engine Ark)',
    provider: 'ark',
    followups: ARK_FOLLOWUPS,
    kind: 'video',
    // ARK_SEEDANCE_2_FAST_MODEL_ID replaces these.
    providerModels: { textToVideo: 'doubao-seedance-2-0-fast-260128', imageToVideo: 'doubao-seedance-2-0-fast-260128' },
    durations: SEEDANCE_2_DURATIONS,
    defaultDuration: 5,
    resolutions: ['480p', '720p'],
    defaultResolution: '720p',
    aspectRatios: SEEDANCE_RATIOS,
    defaultAspectRatio: '16:9',
    supportsAudio: true,
    supportsCameraFixed: false,
    ...arkPrices(seedance2Usd(0.0112, ['480p', '720p'])),
    expectedSecondsPer5s: { '480p': 45, '720p': 70 },
    timeoutSeconds: 1200,
    englishOnly: false,
  },
  {
    // kie's `veo3_fast` / `veo3` ids serve Veo 3.1 now (provider-apis.md §7.3); the old catalog ids stay as aliases.
    id: 'veo3.1-fast',
    aliases: ['veo3-fast'],
    label: 'Veo 3.1 Fast with sound (kie.ai)',
    provider: 'kie',
    kind: 'video',
    providerModels: { textToVideo: 'veo3_fast', imageToVideo: 'veo3_fast' },
    durations: [8],
    defaultDuration: 8,
    // 1080p and 4K are Veo's 720p clip upgraded after generation (get-1080p-video, get-4k-video), so they cost and
    // take more. 4K costs kie about two more Fast generations and 5–10 minutes (§7.3).
    resolutions: ['720p', '1080p', '4k'],
    defaultResolution: '720p',
    aspectRatios: ['16:9', '9:16'],
    defaultAspectRatio: '16:9',
    supportsAudio: false,
    supportsCameraFixed: false,
    creditsPer5s: { '720p': 100, '1080p': 120, '4k': 300 },
    usdPer5s: { '720p': 0.25, '1080p': 0.25, '4k': 0.75 },
    expectedSecondsPer5s: { '720p': 60, '1080p': 120, '4k': 340 },
    timeoutSeconds: 1200,
    englishOnly: true,
    followups: VEO_FOLLOWUPS,
  },
  {
    id: 'veo3.1',
    aliases: ['veo3'],
    label: 'Veo 3.1 Quality with sound (kie.ai)',
    provider: 'kie',
    kind: 'video',
    providerModels: { textToVideo: 'veo3', imageToVideo: 'veo3' },
    durations: [8],
    defaultDuration: 8,
    resolutions: ['720p', '1080p', '4k'],
    defaultResolution: '720p',
    aspectRatios: ['16:9', '9:16'],
    defaultAspectRatio: '16:9',
    supportsAudio: false,
    supportsCameraFixed: false,
    creditsPer5s: { '720p': 250, '1080p': 270, '4k': 450 },
    usdPer5s: { '720p': 1.25, '1080p': 1.25, '4k': 1.75 },
    expectedSecondsPer5s: { '720p': 100, '1080p': 160, '4k': 380 },
    timeoutSeconds: 1500,
    englishOnly: true,
    followups: VEO_FOLLOWUPS,
  },
  {
    id: 'suno-music-video',
    label: 'Suno song to music video (kie.ai)',
    provider: 'kie',
    kind: 'music-video',
    providerModels: { textToVideo: 'suno-mp4', imageToVideo: 'suno-mp4' },
    durations: [],
    defaultDuration: 0,
    resolutions: ['720p'],
    defaultResolution: '720p',
    aspectRatios: [],
    defaultAspectRatio: 'auto',
    supportsAudio: false,
    supportsCameraFixed: false,
    creditsPer5s: {},
    usdPer5s: {},
    expectedSecondsPer5s: {},
    flat: { credits: 30, usd: 0.05, expectedSeconds: 60 },
    timeoutSeconds: 900,
    englishOnly: false,
  },
];

/**
 * The default model when the owner names none: the best value of each provider (what a member gets for their
 * credits: Seedance 1.0 Pro for the price of a short clip, Veo 3.1 Fast where kie.ai is the only provider), in
 * this order, among the providers that have a key.
 */
export const SHIPPED_DEFAULT_MODELS = ['seedance-1-pro', 'seedance-1-pro-ark', 'veo3.1-fast'] as const;

/** The model with this id or former id (`aliases`), whatever the case. */
export function findModel(id: string, models: readonly ModelSpec[] = MODELS): ModelSpec | undefined {
  const wanted = id.toLowerCase();
  return models.find((m) => m.id === wanted) ?? models.find((m) => m.aliases?.includes(wanted));
}

/** The generation options a member may set, before they are checked against a model. */
export const videoOptionsSchema = z.object({
  duration: z.coerce.number().int().positive().optional(),
  resolution: z.enum(RESOLUTIONS).optional(),
  aspect: z
    .string()
    .regex(/^\d{1,2}:\d{1,2}$|^auto$/, 'use a ratio such as 16:9')
    .optional(),
  seed: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  cameraFixed: z.boolean().optional(),
  audio: z.boolean().optional(),
});
export type VideoOptions = z.infer<typeof videoOptionsSchema>;

/** Fully resolved generation parameters as stored on the job and sent to the provider adapter. */
export interface GenerationParams {
  durationS: number;
  resolution: Resolution;
  aspectRatio: string;
  seed?: number;
  cameraFixed?: boolean;
  audio?: boolean;
}

/** Fills defaults and rejects what this model does not support, with a message that says what is allowed. */
export function resolveParams(model: ModelSpec, options: VideoOptions, hasImage: boolean): GenerationParams {
  if (model.kind === 'music-video') {
    if (hasImage || Object.values(options).some((v) => v !== undefined)) {
      throw new UserError('music_video_options', `${model.label} takes a song, not video options: use /musicvideo.`);
    }
    return { durationS: 0, resolution: model.defaultResolution, aspectRatio: 'auto' };
  }
  const durationS = options.duration ?? model.defaultDuration;
  if (!model.durations.includes(durationS)) {
    throw new UserError('bad_duration', `${model.label} makes clips of ${rangeText(model.durations)} seconds.`, {
      durationS,
    });
  }
  const resolution = options.resolution ?? model.defaultResolution;
  if (!model.resolutions.includes(resolution)) {
    throw new UserError('bad_resolution', `${model.label} supports ${model.resolutions.join(', ')}.`);
  }
  const aspect = options.aspect ?? (hasImage ? 'auto' : model.defaultAspectRatio);
  if (aspect !== 'auto' ? !model.aspectRatios.includes(aspect) : !hasImage) {
    throw new UserError('bad_aspect', `Aspect ratio must be one of ${model.aspectRatios.join(', ')}.`);
  }
  if (options.audio !== undefined && options.audio && !model.supportsAudio) {
    throw new UserError('no_audio', `${model.label} cannot generate audio; try seedance-1.5-pro.`);
  }
  const params: GenerationParams = { durationS, resolution, aspectRatio: aspect };
  if (options.seed !== undefined && model.supportsSeed !== false) params.seed = options.seed;
  if (options.cameraFixed !== undefined && model.supportsCameraFixed) params.cameraFixed = options.cameraFixed;
  if (model.supportsAudio) params.audio = options.audio ?? true;
  return params;
}

export function priceCredits(model: ModelSpec, params: GenerationParams): number {
  if (model.flat) return model.flat.credits;
  return Math.ceil(((model.creditsPer5s[params.resolution] ?? 0) * params.durationS) / 5);
}

export function priceUsd(model: ModelSpec, params: GenerationParams): number {
  if (model.flat) return model.flat.usd;
  return ((model.usdPer5s[params.resolution] ?? 0) * params.durationS) / 5;
}

export function expectedSeconds(model: ModelSpec, params: Pick<GenerationParams, 'durationS' | 'resolution'>): number {
  if (model.flat) return model.flat.expectedSeconds;
  return Math.round(((model.expectedSecondsPer5s[params.resolution] ?? 60) * Math.max(params.durationS, 5)) / 5);
}

function rangeText(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const contiguous = sorted.every((v, i) => i === 0 || v === sorted[i - 1]! + 1);
  return contiguous && sorted.length > 2 ? `${sorted[0]} to ${sorted.at(-1)}` : sorted.join(', ');
}
