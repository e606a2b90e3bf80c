import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROMPT_PREVIEW_LENGTH, formatDuration, progressBar, renderStatus } from './progress-text.js';

describe('progressBar', () => {
  describe('when the fraction is within 0..1', () => {
    it.each([
      [0, '░░░░░░░░░░'],
      [0.3, '███░░░░░░░'],
      [0.95, '█████████░'],
      [1, '██████████'],
    ])('draws %d as %s', (fraction, bar) => {
      expect(progressBar(fraction)).toBe(bar);
    });

    it('honours the width', () => {
      expect(progressBar(0.5, 4)).toBe('██░░');
    });
  });

  describe('when the fraction is out of range or not a number', () => {
    it.each([
      [-1, '░░░░░░░░░░'],
      [7, '██████████'],
      [Number.NaN, '░░░░░░░░░░'],
    ])('draws %d as %s', (fraction, bar) => {
      expect(progressBar(fraction)).toBe(bar);
    });
  });

  describe('for any fraction', () => {
    it('is always exactly `width` cells and only full when done', () => {
      fc.assert(
        fc.property(fc.double(), fc.integer({ min: 1, max: 40 }), (fraction, width) => {
          const bar = progressBar(fraction, width);
          expect([...bar]).toHaveLength(width);
          if (bar === '█'.repeat(width)) expect(fraction).toBeGreaterThanOrEqual(1);
        }),
      );
    });
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [59.6, '1m 00s'],
    [65, '1m 05s'],
    [600, '10m 00s'],
    [3725, '1h 02m'],
    [-3, '0s'],
    [Number.NaN, '0s'],
  ])('writes %d seconds as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('renderStatus', () => {
  describe('when the job is queued', () => {
    it('shows the position and the held price', () => {
      expect(renderStatus({ phase: 'queued', queuePosition: 3, price: 50 })).toBe(
        '⏳ Queued: position 3 in line.\nCost: 50 credits, held until the video is ready (returned if it fails).',
      );
    });

    it('says "next in line" at the front', () => {
      expect(renderStatus({ phase: 'queued', queuePosition: 1, price: 1 })).toContain('next in line');
      expect(renderStatus({ phase: 'queued', queuePosition: 1, price: 1 })).toContain('1 credit,');
    });
  });

  describe('when the job is running', () => {
    it('shows a bar, the time elapsed and the time left', () => {
      expect(renderStatus({ phase: 'running', elapsedS: 30, etaS: 100 })).toBe(
        '🎬 ███░░░░░░░ 30s elapsed · about 1m 10s left',
      );
    });

    it('stops the bar short of full while near the estimate', () => {
      expect(renderStatus({ phase: 'running', elapsedS: 99, etaS: 100 })).toContain('█████████░ ');
    });

    it('says it is taking longer than usual past the estimate', () => {
      const text = renderStatus({ phase: 'running', elapsedS: 150, etaS: 100 });
      expect(text).toContain('█████████░ 2m 30s elapsed');
      expect(text).toContain('Taking longer than usual (about 1m 40s)');
    });

    it('shows only the elapsed time without an estimate', () => {
      expect(renderStatus({ phase: 'running', elapsedS: 12 })).toBe('🎬 Generating… 12s elapsed');
    });
  });

  describe('when the job is between steps', () => {
    it.each([
      ['submitting', 'Sending to the video service'],
      ['fetching', 'downloading'],
      ['delivering', 'Uploading'],
    ] as const)('describes %s', (phase, words) => {
      expect(renderStatus({ phase })).toContain(words);
    });
  });

  describe('when the job is final', () => {
    it('shows the time taken and the cost on success', () => {
      expect(renderStatus({ phase: 'succeeded', elapsedS: 72, price: 50 })).toBe('✅ Done in 1m 12s · 50 credits.');
    });

    it('shows the reason, reference and refund on failure', () => {
      expect(
        renderStatus({ phase: 'failed', reason: 'The provider took too long', errorRef: 'E-42', refunded: 50 }),
      ).toBe('❌ Failed: The provider took too long.\nReference: E-42\nYour 50 credits were returned.');
    });

    it('shows the cancellation and refund', () => {
      expect(renderStatus({ phase: 'cancelled', refunded: 40 })).toBe('🚫 Cancelled.\nYour 40 credits were returned.');
    });

    it('shortens a very long reason', () => {
      expect(renderStatus({ phase: 'failed', reason: 'x'.repeat(1000) }).length).toBeLessThan(400);
    });
  });

  describe('when a prompt is given', () => {
    it('quotes a short prompt on the first line, on one line', () => {
      expect(renderStatus({ phase: 'submitting', prompt: 'a fox\nin   snow' }).split('\n')[0]).toBe('“a fox in snow”');
    });

    it('cuts a long prompt to the preview length with an ellipsis', () => {
      const first = renderStatus({ phase: 'submitting', prompt: 'word '.repeat(100) }).split('\n')[0]!;
      const preview = first.slice(1, -1);
      expect(preview.length).toBeLessThanOrEqual(PROMPT_PREVIEW_LENGTH);
      expect(preview.endsWith('…')).toBe(true);
    });

    it('never splits an emoji or exceeds the preview length', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', minLength: 90, maxLength: 200 }), (prompt) => {
          const first = renderStatus({ phase: 'submitting', prompt }).split('\n')[0]!;
          const preview = first.slice(1, -1);
          expect(preview.length).toBeLessThanOrEqual(PROMPT_PREVIEW_LENGTH);
          expect(preview).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
        }),
      );
    });

    it('leaves it out when it is blank', () => {
      expect(renderStatus({ phase: 'submitting', prompt: '  ' })).toBe('🎬 Sending to the video service…');
    });
  });
});
