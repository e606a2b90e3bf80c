import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  PermissionFlagsBits,
  Routes,
  type REST,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import { z } from 'zod';
import { ZH_DESCRIPTIONS } from '../../../commands/i18n.js';
import { userRef } from '../../../commands/options.js';
import type { Command } from '../../../commands/types.js';
import { clip } from '../../clip.js';
import type { Logger } from '../../core/ports.js';

/**
 * The registry rendered as Discord slash commands: option types, choices and limits read from each command's
 * zod schema, so the two can never disagree. Moderator commands are hidden from members by
 * `default_member_permissions` (Manage Server), which a server's admins can override: the adapter checks again
 * at every call.
 */

type CommandJson = RESTPostAPIChatInputApplicationCommandsJSONBody;
type OptionJson = NonNullable<CommandJson['options']>[number];

/** Options whose values come from the catalog as the member types (`engine.availableModels()`). */
export const AUTOCOMPLETE_OPTIONS: ReadonlySet<string> = new Set(['model', 'default_model']);

const MAX_DESCRIPTION = 100;
const MAX_STRING = 6000;

export function discordCommandDefinitions(commands: readonly Command[]): CommandJson[] {
  return commands.map((command) => {
    const zh = ZH_DESCRIPTIONS[command.name];
    // Owner commands are hidden like moderator ones (and checked at every call like them).
    const moderator = command.access !== 'member';
    const options = Object.entries(command.options.shape).map(([name, schema]) =>
      optionOf(name, schema as z.ZodType, command.optionHelp?.[name as keyof typeof command.optionHelp]),
    );
    return {
      name: command.name,
      type: ApplicationCommandType.ChatInput,
      description: clip(command.description, MAX_DESCRIPTION),
      ...(zh ? { description_localizations: { 'zh-CN': clip(zh, MAX_DESCRIPTION) } } : {}),
      // Discord wants required options first; the order within each group is the registry's.
      options: [
        ...options.filter((o) => 'required' in o && o.required),
        ...options.filter((o) => !('required' in o && o.required)),
      ],
      default_member_permissions: moderator ? PermissionFlagsBits.ManageGuild.toString() : null,
      contexts: moderator
        ? [InteractionContextType.Guild]
        : [InteractionContextType.Guild, InteractionContextType.BotDM],
      integration_types: [ApplicationIntegrationType.GuildInstall],
    };
  });
}

function optionOf(name: string, outer: z.ZodType, help: string | undefined): OptionJson {
  let schema = outer;
  let required = true;
  for (;;) {
    if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault) {
      required = false;
      schema = schema.unwrap() as z.ZodType;
    } else if (schema instanceof z.ZodPipe) {
      // A preprocess (flag) ends in its output type; a transform (channel list) starts from its input type.
      schema = (schema.out instanceof z.ZodTransform ? schema.in : schema.out) as z.ZodType;
    } else break;
  }
  const base = { name, description: clip(help ?? name.replace(/_/g, ' '), MAX_DESCRIPTION), required };
  if (name === 'image') return { ...base, type: ApplicationCommandOptionType.Attachment };
  if (schema === userRef) return { ...base, type: ApplicationCommandOptionType.User };
  if (schema instanceof z.ZodBoolean) return { ...base, type: ApplicationCommandOptionType.Boolean };
  if (schema instanceof z.ZodEnum) {
    const values = schema.options.map(String);
    return { ...base, type: ApplicationCommandOptionType.String, choices: values.map((v) => ({ name: v, value: v })) };
  }
  if (schema instanceof z.ZodNumber) {
    const bounds = {
      ...(isUsefulBound(schema.minValue) ? { min_value: schema.minValue } : {}),
      ...(isUsefulBound(schema.maxValue) ? { max_value: schema.maxValue } : {}),
    };
    return schema.isInt
      ? { ...base, type: ApplicationCommandOptionType.Integer, ...bounds }
      : { ...base, type: ApplicationCommandOptionType.Number, ...bounds };
  }
  const text = schema instanceof z.ZodString ? schema : undefined;
  if (AUTOCOMPLETE_OPTIONS.has(name)) return { ...base, type: ApplicationCommandOptionType.String, autocomplete: true };
  return {
    ...base,
    type: ApplicationCommandOptionType.String,
    ...(text?.maxLength ? { max_length: Math.min(text.maxLength, MAX_STRING) } : {}),
  };
}

function isUsefulBound(value: number | null): value is number {
  return value !== null && Number.isFinite(value) && Math.abs(value) < Number.MAX_SAFE_INTEGER;
}

/** Hash of what would be registered, and where: a change of either registers again. */
export function definitionsHash(
  definitions: readonly CommandJson[],
  applicationId: string,
  guildIds: readonly string[],
): string {
  const target = guildIds.length ? [...guildIds].sort() : 'global';
  return createHash('sha256').update(JSON.stringify({ applicationId, target, definitions })).digest('hex');
}

export const COMMANDS_HASH_FILE = 'discord-commands.sha256';

/**
 * Bulk-overwrites the commands (to each of `guildIds`, instant; else globally) only when their definitions
 * changed since the last successful registration: Discord allows 200 command creates a day per guild.
 * The file keeps the hash and the guilds registered last time; a guild no longer listed is cleared, so moving
 * from DISCORD_GUILD_IDS to global registration does not leave every command listed twice there.
 */
export async function registerCommands(opts: {
  rest: REST;
  applicationId: string;
  guildIds: readonly string[];
  dataDir: string;
  definitions: readonly CommandJson[];
  logger: Logger;
}): Promise<'registered' | 'unchanged'> {
  const file = path.join(opts.dataDir, COMMANDS_HASH_FILE);
  const hash = definitionsHash(opts.definitions, opts.applicationId, opts.guildIds);
  const [previousHash = '', previousGuilds = ''] = (await fs.readFile(file, 'utf8').catch(() => '')).split('\n');
  if (previousHash.trim() === hash) return 'unchanged';
  if (opts.guildIds.length) {
    for (const guildId of opts.guildIds) {
      await opts.rest.put(Routes.applicationGuildCommands(opts.applicationId, guildId), { body: opts.definitions });
    }
  } else {
    await opts.rest.put(Routes.applicationCommands(opts.applicationId), { body: opts.definitions });
  }
  for (const stale of previousGuilds.split(',').filter((g) => /^\d+$/.test(g) && !opts.guildIds.includes(g))) {
    await opts.rest
      .put(Routes.applicationGuildCommands(opts.applicationId, stale), { body: [] })
      .catch((error: unknown) =>
        opts.logger.warn(
          { err: error, guild: stale },
          'could not remove the commands from a guild no longer in DISCORD_GUILD_IDS',
        ),
      );
  }
  await fs.writeFile(file, `${hash}\n${opts.guildIds.join(',')}\n`);
  opts.logger.info(
    { commands: opts.definitions.length, guilds: opts.guildIds.length || 'global' },
    'registered Discord slash commands',
  );
  return 'registered';
}
