import { z } from 'zod';
import { defineCommand, type Command } from './types.js';

/** `/help` lists the commands the asker may use; the registry is passed in to avoid an import cycle. */
export function createHelpCommand(all: () => readonly Command[]) {
  return defineCommand({
    name: 'help',
    description: 'What this bot can do',
    access: 'member',
    options: z.object({ command: z.string().trim().max(40).optional() }),
    positional: ['command'],
    async execute(ctx, o) {
      const visible = all().filter(
        (c) =>
          c.access === 'member' ||
          (c.access === 'moderator' && ctx.actor.role !== 'member') ||
          ctx.actor.role === 'owner',
      );
      const one = o.command ? visible.find((c) => c.name === o.command!.replace(/^\//, '').toLowerCase()) : undefined;
      if (o.command && !one) {
        await ctx.reply(`There is no command /${o.command.replace(/^\//, '').slice(0, 40)}. Try /help.`);
        return;
      }
      if (one) {
        const positional = (one.positional ?? []).map((p) => `<${p}>`).join(' ');
        const flags = Object.keys(one.options.shape)
          .filter((k) => !(one.positional ?? []).includes(k))
          .map((k) => `[--${k}]`)
          .join(' ');
        const details = Object.entries(one.optionHelp ?? {}).map(([k, v]) => `  ${k}: ${v}`);
        await ctx.reply([`/${one.name} ${positional} ${flags}`.trim(), one.description, ...details].join('\n'));
        return;
      }
      // Moderator commands' descriptions usually say so already; mark only those that do not.
      const mark = (c: Command) => {
        if (c.access === 'member') return '';
        const who = c.access === 'moderator' ? '(moderators)' : '(owners)';
        return c.description.includes(who) ? '' : ` ${who}`;
      };
      const lines = visible.map((c) => `/${c.name}: ${c.description}${mark(c)}`);
      await ctx.reply(
        ['Commands:', ...lines, 'Example: /video a red fox running through snow --resolution 480p'].join('\n'),
      );
    },
  });
}
