import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** CREDIT_PACKS_TELEGRAM: what /buy sells, checked once at start with a message naming the variable and the fix. */

function problemsOf(value: string): string[] {
  try {
    loadConfig({ CREDIT_PACKS_TELEGRAM: value });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('CREDIT_PACKS_TELEGRAM', () => {
  describe('when it is unset or empty', () => {
    it('sells nothing', () => {
      expect(loadConfig({}).CREDIT_PACKS_TELEGRAM).toEqual([]);
      expect(loadConfig({ CREDIT_PACKS_TELEGRAM: ' ' }).CREDIT_PACKS_TELEGRAM).toEqual([]);
    });
  });

  describe('when it lists credits:stars pairs', () => {
    it('reads each pack, spaces around entries allowed', () => {
      expect(loadConfig({ CREDIT_PACKS_TELEGRAM: '100:50, 500:225' }).CREDIT_PACKS_TELEGRAM).toEqual([
        { credits: 100, stars: 50 },
        { credits: 500, stars: 225 },
      ]);
    });
  });

  describe('when an entry is wrong', () => {
    it.each([
      ['100', /credits:stars in whole numbers/],
      ['100:50:1', /credits:stars in whole numbers/],
      ['100:4.5', /credits:stars in whole numbers/],
      ['-100:50', /credits:stars in whole numbers/],
      ['fifty:50', /credits:stars in whole numbers/],
      ['0:50', /at least 1 credit/],
      ['100:0', /from 1 to 10000 Stars/],
      ['100:20000', /from 1 to 10000 Stars/],
      ['100:50,100:60', /same number of credits/],
    ])('refuses %s, naming the variable and what to write', (value, message) => {
      const problems = problemsOf(value);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^CREDIT_PACKS_TELEGRAM=/);
      expect(problems[0]).toMatch(message);
    });
  });
});
