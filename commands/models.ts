import { z } from 'zod';
import { findModel, priceCredits } from '../src/core/catalog.js';
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
    const defaultId = findModel(config.DEFAULT_MODEL, models)?.id;
    const lines = models.map((m) => {
      const isDefault = m.id === defaultId ? ' (default)' : '';
      if (m.flat) return `${m.id}: ${m.label}. ${m.flat.credits} credits per video (use /musicvideo)`;
      const prices = m.resolutions
        .map((r) => `${r} ${priceCredits(m, { durationS: m.defaultDuration, resolution: r, aspectRatio: m.defaultAspectRatio })}`)
        .join(' / ');
      const lengths = m.durations.length > 1 ? `${m.durations[0]}–${m.durations.at(-1)} s` : `${m.defaultDuration} s`;
      const notes = [m.supportsAudio ? 'Optional audio' : '', m.englishOnly ? 'English prompts only' : ''].filter(Boolean);
      return `${m.id}${isDefault}: ${m.label}. ${lengths}. Credits for ${m.defaultDuration} s: ${prices}${notes.length ? `. ${notes.join(', ')}` : ''}`;
    });
    await ctx.reply(lines.join('\n'));
  },
});
