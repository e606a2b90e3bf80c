import { z } from 'zod';
import { findModel, priceCredits, priceUsd, type GenerationParams, type ModelSpec } from '../src/core/catalog.js';
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
    // Owners pay the providers: they also see each price's cost, and the margin when they say what a credit is worth.
    const showCost = ctx.actor.role === 'owner';
    const price = (m: ModelSpec, params: GenerationParams) => {
      const credits = priceCredits(m, params);
      return showCost
        ? `${credits} (${costText(priceUsd(m, params), credits, config.CREDIT_VALUE_USD)})`
        : String(credits);
    };
    const defaultId = findModel(config.DEFAULT_MODEL, models)?.id;
    const lines = models.map((m) => {
      const isDefault = m.id === defaultId ? ' (default)' : '';
      if (m.flat)
        return `${m.id}: ${m.label}. ${price(m, { durationS: 0, resolution: m.defaultResolution, aspectRatio: 'auto' })} credits per video (use /musicvideo)`;
      const prices = m.resolutions
        .map(
          (r) => `${r} ${price(m, { durationS: m.defaultDuration, resolution: r, aspectRatio: m.defaultAspectRatio })}`,
        )
        .join(' / ');
      const lengths = m.durations.length > 1 ? `${m.durations[0]}–${m.durations.at(-1)} s` : `${m.defaultDuration} s`;
      const notes = [m.supportsAudio ? 'Optional audio' : '', m.englishOnly ? 'English prompts only' : ''].filter(
        Boolean,
      );
      return `${m.id}${isDefault}: ${m.label}. ${lengths}. Credits for ${m.defaultDuration} s: ${prices}${notes.length ? `. ${notes.join(', ')}` : ''}`;
    });
    if (showCost)
      lines.push(
        config.CREDIT_VALUE_USD
          ? `Cost is your provider's estimate in USD; margin at ${usd(config.CREDIT_VALUE_USD)} a credit (CREDIT_VALUE_USD).`
          : "Cost is your provider's estimate in USD. Set CREDIT_VALUE_USD (what a credit is worth to you) to see the margin.",
      );
    await ctx.reply(lines.join('\n'));
  },
});

/** `cost $0.30, margin $0.20 (40%)`: the margin is what the credits are worth less what the provider charges. */
function costText(costUsd: number, credits: number, creditValueUsd: number | undefined): string {
  if (creditValueUsd === undefined) return `cost ${usd(costUsd)}`;
  const worth = credits * creditValueUsd;
  const margin = worth - costUsd;
  const share = worth > 0 ? ` (${Math.round((margin / worth) * 100)}%)` : '';
  return `cost ${usd(costUsd)}, margin ${margin < 0 ? '-' : ''}${usd(Math.abs(margin))}${share}`;
}

function usd(amount: number): string {
  return `$${amount < 0.1 && amount > 0 ? amount.toFixed(3) : amount.toFixed(2)}`;
}
