import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { authorizeJobAction, runJobAction } from './job-actions.js';
import { jobId } from './options.js';
import { defineCommand } from './types.js';

/** The Upscale button as a command (and the console's only way): a delivered clip at a higher resolution. */
export default defineCommand({
  name: 'upscale',
  description:
    'Make one of your delivered videos sharper (1080p or 4K where the model offers it); costs the difference',
  access: 'member',
  options: z.object({
    job: jobId,
    resolution: z.enum(['1080p', '4k'], { error: 'must be 1080p or 4k' }).optional(),
  }),
  positional: ['job', 'resolution'],
  optionHelp: { job: 'The delivered video (see /history)', resolution: '1080p or 4k (default: the next one up)' },
  async execute(ctx, o, deps) {
    // The same authority as the button: the requester only, since it is charged to them.
    const decision = await authorizeJobAction('upscale', o.job, ctx, deps);
    if (!decision.ok) throw new UserError('followup_refused', decision.text);
    // Above CONFIRM_ABOVE_CREDITS the action shows the quote itself (buttons, or the console's /confirm line).
    const { jobId: made } = await runJobAction(
      'upscale',
      decision,
      ctx,
      deps,
      o.resolution ? { resolution: o.resolution } : {},
    );
    return made ? { jobId: made } : undefined;
  },
});
