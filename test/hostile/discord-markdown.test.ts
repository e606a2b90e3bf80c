import { afterEach, describe, expect, it } from 'vitest';
import { escapeForDiscord } from '../../src/platforms/discord/discord-markdown.js';
import { DiscordWorld, EPHEMERAL } from '../helpers/discord-world.js';

/**
 * Markdown in a member's prompt (issue 11, finding 7): Discord renders message content as Markdown, so a prompt echoed
 * unescaped shows `[Claim free credits](https://example.com)` as a link in the bot's own voice. Through the real
 * discord.js against the fake Discord: every place the bot repeats the prompt shows it as the text it was.
 */

const LURE = '[Claim free credits](https://example.com) **now** and [more](https://example.org) ||here|| <@1>';
/** What Discord must receive for LURE: each Markdown character escaped, so it renders as the characters typed. */
const LURE_ESCAPED =
  '\\[Claim free credits](https://example.com) \\*\\*now\\*\\* and \\[more](https://example.org) \\|\\|here\\|\\| \\<@1>';

let world: DiscordWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

describe('prompts with Markdown on Discord', () => {
  describe('when a member asks for a video with a lure in the prompt', () => {
    it('shows it escaped in the status, the delivery and /history, and sends the provider the prompt as typed', async () => {
      const w = (world = await DiscordWorld.start());
      const alice = w.fake.member('Alice');
      const i = w.fake.slash(alice, 'video', { prompt: LURE, resolution: '480p' });

      const status = await w.status(i, '✅ Done');
      for (const shown of status.history.map((h) => h.content).filter(Boolean))
        expect(shown.split('\n')[0]).toBe(`“${LURE_ESCAPED}”`);
      const delivered = await w.delivery(alice);
      expect(delivered.content).toBe(`<@${alice.id}> Your video is ready: ${LURE_ESCAPED}`);
      expect(delivered.pinged).toEqual({ everyone: false, users: [alice.id], roles: [] });

      const history = w.fake.slash(alice, 'history', {});
      const listed = await w.privateReply(history);
      expect(listed).toContain(`“${LURE_ESCAPED.slice(0, LURE_ESCAPED.indexOf(' and'))}`);
      expect(listed).not.toMatch(/(?<!\\)\[Claim/);

      expect(w.sim.requests().map((r) => r.prompt)).toEqual([LURE]);
      expect((await w.job((await w.jobIn('succeeded')).id)).prompt).toBe(LURE);
    });
  });

  describe('when the request comes as a mention', () => {
    it('escapes the status it posts in reply', async () => {
      const w = (world = await DiscordWorld.start());
      const alice = w.fake.member('Alice');
      const asked = w.fake.mention(alice, `${LURE} --resolution 480p`);
      const status = await w.fake.waitFor('a status reply', () =>
        w.fake.channelMessages().find((m) => m.referencedMessageId === asked.id),
      );
      expect(status.content.split('\n')[0]).toBe(`“${LURE_ESCAPED}”`);
      expect(status.flags & EPHEMERAL).toBe(0);
    });
  });
});

describe('escapeForDiscord', () => {
  it.each([
    [
      'two masked links on one line',
      '[a](https://x.test) [b](https://y.test)',
      '\\[a](https://x.test) \\[b](https://y.test)',
    ],
    [
      'emphasis, spoilers, strike-through, code',
      '**b** *i* __u__ ~~s~~ ||p|| `c`',
      '\\*\\*b\\*\\* \\*i\\* \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\|\\|p\\|\\| \\`c\\`',
    ],
    [
      'a heading, a quote, subtext and lists at line starts',
      '# h\n> q\n-# s\n- l\n1. n',
      '\\# h\n\\> q\n\\-# s\n\\- l\n1\\. n',
    ],
    [
      'mention, timestamp and slash-command chips',
      '<@1> <#2> <t:3:R> </balance:4>',
      '\\<@1> \\<#2> \\<t:3:R> \\</balance:4>',
    ],
    ['a backslash that would escape our escape', '\\*x\\*', '\\\\\\*x\\\\\\*'],
  ])('escapes %s', (_what, text, expected) => {
    expect(escapeForDiscord(text)).toBe(expected);
  });

  it('leaves our own media links and ordinary text as they are', () => {
    const text = '“a red fox”\n✅ Done in 12s · 40 credits. http://127.0.0.1:8080/media/results/a_b.mp4';
    expect(escapeForDiscord(text)).toBe(text);
  });
});
