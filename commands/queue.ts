import { z } from 'zod';
import { unfinishedJobsOf } from '../src/core/engine/job-queries.js';
import { queuePositions } from '../src/core/engine/scheduler.js';
import { ensureUser } from '../src/core/users.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'queue',
  description: 'Where your videos are in the queue',
  access: 'member',
  options: z.object({}),
  async execute(ctx, _o, { db, clock, config }) {
    const user = await ensureUser(db, clock, ctx.actor, config.STARTING_CREDITS);
    const positions = await queuePositions(db);
    const mine = await unfinishedJobsOf(db, user.id);
    const header = `${positions.size} video${positions.size === 1 ? '' : 's'} waiting in the queue.`;
    if (mine.length === 0) {
      await ctx.reply(`${header} You have none in progress.`);
      return;
    }
    const lines = mine.map((job) =>
      job.status === 'queued'
        ? `${job.id}: queued, position ${positions.get(job.id) ?? '?'}`
        : `${job.id}: ${job.status}`,
    );
    await ctx.reply([header, ...lines].join('\n'));
  },
});
