import { z } from 'zod';
import { priceCredits } from '../src/core/catalog.js';
import { defineCommand } from './types.js';

export default defineCommand({
  name: 'models',
  description: 'The video models you can use and what they cost',
  access: 'member',
  options: z.object({}),
  async execute(ctx, _o, { engine, config }) {
    const models = engine.availableModels();
    if (models.length === 0) {
      await ctx.reply('No video provider is configured yet. The bot owner needs to set a provider key.');
      return;
    }
    const lines = models.map((m) => {
      const prices = m.resolutions
        .map((r) => `${r} ${priceCredits(m, { durationS: m.defaultDuration, resolution: r, aspectRatio: m.defaultAspectRatio })}`)
        .join(' / ');
      const isDefault = m.id === config.DEFAULT_MODEL ? ' (default)' : '';
      return `${m.id}${isDefault}: ${m.label}. ${m.durations[0]}–${m.durations.at(-1)} s. Credits for ${m.defaultDuration} s: ${prices}${m.supportsAudio ? '. With audio' : ''}`;
    });
    await ctx.reply(lines.join('\n'));
  },
});
