import type { JobStatus } from '../../../db/schema.js';

/**
 * Platform-neutral status text (no Markdown: Discord, Telegram and the console each escape differently).
 * A few short lines, well under every platform's message limit.
 */

export const PROMPT_PREVIEW_LENGTH = 100;
/** The bar never looks finished before the video really is. */
const MAX_RUNNING_FRACTION = 0.95;
const MAX_REASON_LENGTH = 300;

/**
 * Full and light shade blocks: in every terminal font and in Discord's and Telegram's fonts, and the two have the
 * same width, so the bar does not wobble as it fills.
 */
export function progressBar(fraction: number, width = 10): string {
  const f = Number.isFinite(fraction) ? Math.min(Math.max(fraction, 0), 1) : 0;
  // Floor, so a bar only shows full at 100%.
  const filled = Math.floor(f * width + 1e-9);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** "45s", "1m 05s", "1h 02m". */
export function formatDuration(seconds: number): string {
  const total = Number.isFinite(seconds) ? Math.max(0, Math.round(seconds)) : 0;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export interface StatusInput {
  phase: JobStatus;
  /** Shown quoted on the first line, shortened to PROMPT_PREVIEW_LENGTH UTF-16 units including the ellipsis. */
  prompt?: string;
  /** Credits held for the job (queued), or charged (succeeded). */
  price?: number;
  /** 1 = next to start. */
  queuePosition?: number;
  /** Seconds since the provider accepted the job (running), or the whole generation time (succeeded). */
  elapsedS?: number;
  /** Expected total generation time in seconds. */
  etaS?: number;
  /** Failed or cancelled: why, in plain words. */
  reason?: string;
  /** Failed or cancelled: credits returned to the member. */
  refunded?: number;
  /** Failed because of our bug: the id the member can quote to the owner. */
  errorRef?: string;
}

export function renderStatus(input: StatusInput): string {
  const lines: string[] = [];
  if (input.prompt !== undefined && input.prompt.trim() !== '') lines.push(`“${previewPrompt(input.prompt)}”`);
  lines.push(...phaseLines(input));
  return lines.join('\n');
}

function phaseLines(input: StatusInput): string[] {
  switch (input.phase) {
    case 'queued': {
      const position =
        input.queuePosition === undefined
          ? 'Queued.'
          : input.queuePosition <= 1
            ? 'Queued: next in line.'
            : `Queued: position ${input.queuePosition} in line.`;
      return input.price === undefined
        ? [`⏳ ${position}`]
        : [`⏳ ${position}`, `Cost: ${credits(input.price)}, held until the video is ready (returned if it fails).`];
    }
    case 'submitting':
      return ['🎬 Sending to the video service…'];
    case 'running':
      return runningLines(input);
    case 'fetching':
      return ['📥 Video ready, downloading it…'];
    case 'delivering':
      return ['📤 Uploading the video…'];
    case 'succeeded': {
      const took = input.elapsedS === undefined ? '' : ` in ${formatDuration(input.elapsedS)}`;
      const cost = input.price === undefined ? '' : ` · ${credits(input.price)}`;
      return [`✅ Done${took}${cost}.`];
    }
    case 'failed': {
      const lines = [`❌ Failed: ${sentence(input.reason ?? 'something went wrong.')}`];
      if (input.errorRef) lines.push(`Reference: ${input.errorRef}`);
      if (input.refunded) lines.push(`Your ${credits(input.refunded)} were returned.`);
      return lines;
    }
    case 'cancelled': {
      const lines = [input.reason ? `🚫 Cancelled: ${sentence(input.reason)}` : '🚫 Cancelled.'];
      if (input.refunded) lines.push(`Your ${credits(input.refunded)} were returned.`);
      return lines;
    }
  }
}

function runningLines({ elapsedS, etaS }: StatusInput): string[] {
  if (elapsedS === undefined) return ['🎬 Generating…'];
  const elapsed = `${formatDuration(elapsedS)} elapsed`;
  if (etaS === undefined || !(etaS > 0)) return [`🎬 Generating… ${elapsed}`];
  const bar = progressBar(Math.min(elapsedS / etaS, MAX_RUNNING_FRACTION));
  if (elapsedS > etaS) {
    return [`🎬 ${bar} ${elapsed}`, `Taking longer than usual (about ${formatDuration(etaS)}); still working on it.`];
  }
  return [`🎬 ${bar} ${elapsed} · about ${formatDuration(etaS - elapsedS)} left`];
}

function previewPrompt(prompt: string): string {
  // A multi-line prompt would make the status message tall.
  const flat = prompt.replace(/\s+/g, ' ').trim();
  if (flat.length <= PROMPT_PREVIEW_LENGTH) return flat;
  // Counted in UTF-16 units as the platforms count them, cut between graphemes so an emoji is never split.
  let kept = '';
  for (const { segment } of new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(flat)) {
    if (kept.length + segment.length > PROMPT_PREVIEW_LENGTH - 1) break;
    kept += segment;
  }
  return `${kept.trimEnd()}…`;
}

function credits(n: number): string {
  return n === 1 ? '1 credit' : `${n} credits`;
}

/** A reason shown to a member: trimmed, shortened if long, ending as a sentence. */
export function sentence(text: string): string {
  const t = text.trim();
  const short = [...t].length > MAX_REASON_LENGTH ? `${[...t].slice(0, MAX_REASON_LENGTH - 1).join('')}…` : t;
  return /[.!?…)]$/.test(short) ? short : `${short}.`;
}
