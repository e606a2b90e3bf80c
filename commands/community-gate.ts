import { claimRefusal, markLeft, noteCommunity } from '../src/core/communities.js';
import { communityOf } from './admin-context.js';
import { localeOf, t } from './i18n.js';
import type { CommandContext, CommandDeps } from './types.js';

/**
 * The allow-list (ALLOWED_COMMUNITIES): outside it the bot answers nobody, not even owners, so an owner who lists
 * communities gets a bot that spends nothing elsewhere. Each unlisted community hears one short refusal, then
 * silence; with LEAVE_UNLISTED the bot also leaves it. Private chats are always served. Every community the bot hears
 * from is recorded for the owners' /communities.
 * Returns true when the command may go ahead.
 */
export async function passCommunityGate(ctx: CommandContext, deps: CommandDeps): Promise<boolean> {
  const community = communityOf(ctx);
  if (!community || ctx.platform === 'console') return true;
  await noteCommunity(deps.db, deps.clock, community, ctx.communityName);
  const allowed = deps.config.ALLOWED_COMMUNITIES;
  if (allowed.length === 0 || allowed.includes(community)) return true;
  const log = deps.logger.child({ community });
  if (await claimRefusal(deps.db, deps.clock, community)) {
    log.info('request from a community not on ALLOWED_COMMUNITIES refused');
    await ctx
      .reply(t('community_not_allowed', localeOf(ctx.locale)))
      .catch((error: unknown) => log.warn({ err: error }, 'could not send the refusal'));
  }
  if (deps.config.LEAVE_UNLISTED && ctx.leaveCommunity) {
    try {
      await ctx.leaveCommunity();
      await markLeft(deps.db, deps.clock, community);
      log.info('left a community not on ALLOWED_COMMUNITIES (LEAVE_UNLISTED)');
    } catch (error) {
      log.warn({ err: error }, 'could not leave the community');
    }
  }
  return false;
}
