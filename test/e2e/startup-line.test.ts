import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startClipbot } from '../../src/main.js';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { tempDir } from '../helpers/db.js';

/** The one info line an owner reads at start: what runs, as whom, and the Discord invite link. */

let discord: FakeDiscord;
let telegram: FakeTelegram;
let kie: KieSimulator;
const dir = tempDir('clipbot-startup-');

beforeAll(async () => {
  [discord, telegram, kie] = await Promise.all([
    FakeDiscord.start(),
    FakeTelegram.start({ botUsername: 'startup_line_bot' }),
    startKieSimulator(),
  ]);
});
afterAll(async () => {
  await Promise.all([discord.close(), telegram.close(), kie.close()]);
  dir.cleanup();
});

describe('the start-up line', () => {
  describe('when Discord, Telegram and one provider are configured, without PUBLIC_URL', () => {
    it('is one info line naming both bots, the provider, the storage, no public URL, webhooks off, and the invite link', async () => {
      const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
      const logger = createLogger('info', {
        write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]),
      });
      const config = loadConfig({
        DATA_DIR: dir.dir,
        HTTP_PORT: '0',
        DISCORD_TOKEN: discord.token,
        DISCORD_API_BASE: discord.apiBase,
        TELEGRAM_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        KIE_API_KEY: kie.apiKey,
        KIE_BASE_URL: kie.url,
      });
      const bot = await startClipbot(config, { logger });
      try {
        const ready = lines.filter((l) => l.msg.startsWith('clipbot ready'));
        expect(ready).toHaveLength(1);
        const invite = `https://discord.com/oauth2/authorize?client_id=${discord.applicationId}&scope=bot+applications.commands&permissions=274878024704`;
        expect(ready[0]!.level).toBe(30);
        expect(ready[0]!.msg).toMatch(
          new RegExp(
            `^clipbot ready · chats: discord clipbot(#\\d+)?, telegram @startup_line_bot · providers: kie · storage: local \\(${dir.dir}/media\\) · ` +
              `public URL: none \\(http://127\\.0\\.0\\.1:${bot.port}, local only\\) · webhooks: off \\(polling\\) · invite: ${invite.replace(/[.?+]/g, '\\$&')}$`,
          ),
        );
        expect(ready[0]).toMatchObject({
          providers: ['kie'],
          webhooks: false,
          publicUrl: null,
          discordInvite: invite,
          platforms: { telegram: '@startup_line_bot' },
        });
      } finally {
        await bot.stop();
      }
    });
  });
});
