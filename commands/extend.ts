import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { authorizeJobAction, runJobAction } from './job-actions.js';
import { jobId } from './options.js';
import { defineCommand } from './types.js';

/** The Extend button as a command: continue a delivered clip with a new prompt (the text platforms' way to give it). */
export default defineCommand({
  name: 'extend',
  description: 'Continue one of your delivered videos with a new prompt (models that offer it); charged as a new clip',
  access: 'member',
  options: z.object({
    job: jobId,
    prompt: z.string({ error: 'say what happens next, e.g. /extend j1abc the fox jumps into the river' }),
  }),
  positional: ['job', 'prompt'],
  optionHelp: { job: 'The delivered video (see /history)', prompt: 'What happens next' },
  async execute(ctx, o, deps) {
    // The same authority as the button: the requester only, since it is charged to them.
    const decision = await authorizeJobAction('extend', o.job, ctx, deps);
    if (!decision.ok) throw new UserError('followup_refused', decision.text);
    const { jobId: made } = await runJobAction('extend', decision, ctx, deps, { prompt: o.prompt });
    return made ? { jobId: made } : undefined;
  },
});
