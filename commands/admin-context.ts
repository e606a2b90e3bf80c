import type { AdminContext } from '../src/core/admin.js';
import { ensureUser } from '../src/core/users.js';
import type { CommandContext, CommandDeps } from './types.js';

export function adminContext(ctx: CommandContext, deps: CommandDeps): AdminContext {
  return {
    db: deps.db,
    clock: deps.clock,
    actor: ensureUser(deps.db, deps.clock, ctx.actor, deps.config.STARTING_CREDITS),
    startingCredits: deps.config.STARTING_CREDITS,
  };
}
