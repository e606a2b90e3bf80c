import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { latestCancellableJob } from '../src/core/engine/job-queries.js';
import { ensureUser } from '../src/core/users.js';
import { authorizeJobAction, runJobAction } from './job-actions.js';
import { jobId } from './options.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'cancel',
  description: 'Cancel a video that has not finished (your latest if no id is given); you get the credits back',
  access: 'member',
  options: z.object({ job: jobId.optional() }),
  positional: ['job'],
  async execute(ctx, o, deps) {
    const { db, clock, config } = deps;
    const user = await ensureUser(db, clock, ctx.actor, config.STARTING_CREDITS);
    const id = o.job ?? (await latestCancellableJob(db, user.id))?.id;
    if (!id) throw new UserError('nothing_to_cancel', 'You have no video in progress.');
    // The same authority as the Cancel button: the requester, or an owner / a moderator of the job's community.
    const decision = await authorizeJobAction('cancel', id, ctx, deps);
    if (!decision.ok) throw new UserError('no_such_job', `You have no job ${id.slice(0, 20)}.`);
    const { jobId: cancelled } = await runJobAction('cancel', decision, ctx, deps);
    const whose = decision.as === 'requester' ? 'your' : 'its owner’s';
    await ctx.reply(`Cancelled job ${cancelled}; ${decision.job.price} credits are back in ${whose} balance.`);
  },
});
