import type { AdminContext } from '../src/core/admin.js';
import { communityId } from '../src/core/roles.js';
import { ensureUser } from '../src/core/users.js';
import type { CommandContext, CommandDeps } from './types.js';

export async function adminContext(ctx: CommandContext, deps: CommandDeps): Promise<AdminContext> {
  return {
    db: deps.db,
    clock: deps.clock,
    actor: await ensureUser(deps.db, deps.clock, ctx.actor, deps.config.STARTING_CREDITS),
    startingCredits: deps.config.STARTING_CREDITS,
    role: ctx.actor.role,
    community: communityOf(ctx),
  };
}

/** The community the command was given in (a Discord server, a Telegram group); undefined in private chats. */
export function communityOf(ctx: Pick<CommandContext, 'platform' | 'guildId'>): string | undefined {
  return communityId(ctx.platform, ctx.guildId);
}
