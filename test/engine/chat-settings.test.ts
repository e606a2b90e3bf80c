import { afterEach, describe, expect, it } from 'vitest';
import { updateChatSettings } from '../../src/core/chat-settings.js';
import { ensureUser } from '../../src/core/users.js';
import { EngineHarness } from '../helpers/engine-harness.js';

let h: EngineHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('per-server settings', () => {
  async function withSettings(change: Parameters<typeof updateChatSettings>[4]) {
    h = await EngineHarness.start();
    const mod = await ensureUser(h.db, { now: () => Date.now() }, { platform: 'console', platformUserId: 'mod' }, 0);
    await updateChatSettings(
      h.db,
      { now: () => Date.now() },
      { platform: 'console', chatId: 'guild1' },
      mod.id,
      change,
    );
    return h;
  }

  describe('when generation is limited to some channels', () => {
    it('refuses a request from another channel without charging, and accepts one from an allowed channel', async () => {
      const t = await withSettings({ allowedChannelIds: ['art'] });
      const elsewhere = t.request('ann', 'a fox', {
        guildId: 'guild1',
        dest: { platform: 'console', chatId: 'general', userId: 'ann' },
      });
      await expect(t.engine.submitVideo(elsewhere)).rejects.toThrow(/cannot be made in this channel/);
      expect(await t.jobCount()).toBe(0);
      const allowed = t.request('ann', 'a fox', {
        guildId: 'guild1',
        dest: { platform: 'console', chatId: 'art', userId: 'ann' },
      });
      await expect(t.engine.submitVideo(allowed)).resolves.toMatchObject({ duplicate: false });
    });
  });

  describe('when the server sets a default model and a daily quota', () => {
    it('uses the model when the member names none, and stops at the quota', async () => {
      const t = await withSettings({ defaultModel: 'seedance-1.5-pro', dailyJobQuota: 1 });
      const here = { guildId: 'guild1', dest: { platform: 'console' as const, chatId: 'art', userId: 'ann' } };
      const { modelId: _ignored, ...noModel } = t.request('ann', 'a fox', here);
      const first = await t.engine.submitVideo(noModel);
      expect(first.job.model).toBe('seedance-1.5-pro');
      await expect(t.engine.submitVideo({ ...t.request('ann', 'again', here) })).rejects.toThrow(
        /allows 1 video per member per day/,
      );
    });
  });
});
