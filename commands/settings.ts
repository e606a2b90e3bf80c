import { z } from 'zod';
import { getChatSettings, updateChatSettings, type ChatSettings } from '../src/core/chat-settings.js';
import { findModel } from '../src/core/catalog.js';
import { UserError } from '../src/core/errors.js';
import { adminContext } from './admin-context.js';
import { defineCommand } from './types.js';

const channelList = z
  .string()
  .trim()
  .max(2000)
  .transform((v) =>
    v.toLowerCase() === 'all'
      ? null
      : v
          .split(/[\s,]+/)
          .map((c) => c.replace(/^<#(\d+)>$/, '$1'))
          .filter(Boolean),
  )
  .refine(
    (v) => v === null || (v.length > 0 && v.length <= 50 && v.every((c) => /^-?\w{1,40}$/.test(c))),
    'must be channel ids (or #channel mentions) separated by commas, or "all"',
  );

export default defineCommand({
  name: 'settings',
  description: 'Show or change this server’s video settings (moderators)',
  access: 'moderator',
  options: z.object({
    default_model: z.string().trim().max(60).optional(),
    channels: channelList.optional(),
    daily_quota: z
      .union([z.literal('default').transform(() => null), z.coerce.number().int().min(0).max(10_000)], {
        error: 'must be a whole number from 0 to 10000, or "default"',
      })
      .optional(),
  }),
  optionHelp: {
    default_model: 'Model used when /video names none (see /models)',
    channels: 'Channels where videos may be made, or "all"',
    daily_quota: 'Videos per member per day in this server, or "default"',
  },
  async execute(ctx, o, deps) {
    const scope = { platform: ctx.platform, chatId: ctx.guildId ?? ctx.dest.chatId };
    const change: Partial<ChatSettings> = {};
    if (o.default_model !== undefined) {
      const model = findModel(o.default_model, deps.engine.availableModels());
      if (!model)
        throw new UserError(
          'unknown_model',
          `There is no model called “${o.default_model.slice(0, 40)}”. See /models.`,
        );
      change.defaultModel = model.id;
    }
    if (o.channels !== undefined) change.allowedChannelIds = o.channels;
    if (o.daily_quota !== undefined) change.dailyJobQuota = o.daily_quota;
    const current =
      Object.keys(change).length === 0
        ? await getChatSettings(deps.db, scope)
        : await updateChatSettings(deps.db, deps.clock, scope, (await adminContext(ctx, deps)).actor.id, change);
    await ctx.reply(
      [
        Object.keys(change).length ? 'Settings saved:' : 'Settings here:',
        `default model: ${current.defaultModel ?? `${deps.config.DEFAULT_MODEL} (bot default)`}`,
        `channels: ${current.allowedChannelIds ? current.allowedChannelIds.join(', ') : 'all'}`,
        `daily videos per member: ${current.dailyJobQuota ?? 'no extra limit'}`,
      ].join('\n'),
    );
  },
});
