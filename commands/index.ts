import balance from './balance.js';
import ban from './ban.js';
import blocklist from './blocklist.js';
import budget from './budget.js';
import buy from './buy.js';
import cancel from './cancel.js';
import communities from './communities.js';
import credits from './credits.js';
import extend from './extend.js';
import { createHelpCommand } from './help.js';
import history from './history.js';
import models from './models.js';
import musicvideo from './musicvideo.js';
import paysupport from './paysupport.js';
import queue from './queue.js';
import quota from './quota.js';
import refund from './refund.js';
import refundpayment from './refundpayment.js';
import settings from './settings.js';
import stats from './stats.js';
import type { Command } from './types.js';
import unban from './unban.js';
import upscale from './upscale.js';
import video from './video.js';

/** The explicit registry: every chat command, in the order `/help` lists them. */
export const commands: readonly Command[] = [
  video,
  musicvideo,
  balance,
  buy,
  paysupport,
  history,
  cancel,
  queue,
  models,
  createHelpCommand(() => commands),
  credits,
  quota,
  ban,
  unban,
  blocklist,
  stats,
  refund,
  refundpayment,
  settings,
  budget,
  communities,
  // Follow-ups of a delivered video (the buttons under it, as commands).
  upscale,
  extend,
] as unknown as readonly Command[];

export function findCommand(name: string): Command | undefined {
  return commands.find((c) => c.name === name.toLowerCase());
}
