import { z } from 'zod';
import { RESOLUTIONS } from '../src/core/catalog.js';
import { UserError } from '../src/core/errors.js';
import { flag } from './options.js';
import { answerRequest } from './quote-actions.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'video',
  description: 'Generate a short video from a prompt (and optionally an image)',
  access: 'member',
  options: z.object({
    prompt: z.string({ error: 'describe the video you want, e.g. /video a red fox running through snow' }),
    image: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) link to an image' })
      .max(2000)
      .optional(),
    model: z.string().trim().max(60).optional(),
    duration: z.coerce.number({ error: 'must be a number of seconds' }).int('must be whole seconds').optional(),
    resolution: z.enum(RESOLUTIONS, { error: 'must be 480p, 720p, 1080p or 4k' }).optional(),
    aspect: z.string().trim().max(10).optional(),
    seed: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(0, 'must be 0 or more')
      .max(2 ** 31 - 1, 'must be at most 2147483647')
      .optional(),
    camera_fixed: flag.optional(),
    audio: flag.optional(),
  }),
  positional: ['prompt'],
  optionHelp: {
    prompt: 'What the video shows',
    image: 'An image to animate (image-to-video)',
    model: 'Model id (see /models)',
    duration: 'Length in seconds',
    resolution: '480p, 720p, 1080p or 4k (Veo)',
    aspect: 'Aspect ratio, e.g. 16:9 or 9:16',
    seed: 'Seed for reproducible results',
    camera_fixed: 'Keep the camera still',
    audio: 'Generate sound (models that support it)',
  },
  async execute(ctx, o, { engine }) {
    if (o.image && ctx.fetchImage) throw new UserError('two_images', 'Send either a photo or --image, not both.');
    const outcome = await engine.requestVideo({
      identity: ctx.actor,
      dest: ctx.dest,
      ...(ctx.guildId ? { guildId: ctx.guildId } : {}),
      ...(ctx.locale ? { locale: ctx.locale } : {}),
      intakeKey: ctx.intakeKey,
      prompt: o.prompt,
      ...(o.model ? { modelId: o.model } : {}),
      ...(o.image ? { imageUrl: o.image } : {}),
      ...(ctx.fetchImage ? { fetchImage: ctx.fetchImage } : {}),
      ...(ctx.fetchImage && ctx.imageRef ? { imageRef: ctx.imageRef } : {}),
      options: {
        ...(o.duration !== undefined ? { duration: o.duration } : {}),
        ...(o.resolution ? { resolution: o.resolution } : {}),
        ...(o.aspect ? { aspect: o.aspect } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.camera_fixed !== undefined ? { cameraFixed: o.camera_fixed } : {}),
        ...(o.audio !== undefined ? { audio: o.audio } : {}),
      },
    });
    return answerRequest(outcome, ctx);
  },
});
