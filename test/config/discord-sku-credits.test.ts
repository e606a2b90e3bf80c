import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** DISCORD_SKU_CREDITS: the Discord SKUs /buy sells and the credits each gives, checked once at start. */

function problemsOf(value: string): string[] {
  try {
    loadConfig({ DISCORD_SKU_CREDITS: value });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const SKU = '1234567890123456789';

describe('DISCORD_SKU_CREDITS', () => {
  it('sells nothing when unset or empty', () => {
    expect(loadConfig({}).DISCORD_SKU_CREDITS).toEqual([]);
    expect(loadConfig({ DISCORD_SKU_CREDITS: ' ' }).DISCORD_SKU_CREDITS).toEqual([]);
  });

  it('reads <sku id>:<credits> pairs, spaces around entries allowed; two SKUs may give the same credits', () => {
    expect(
      loadConfig({ DISCORD_SKU_CREDITS: `${SKU}:100, 1234567890123456790:500 ,12345678901234567891:100` })
        .DISCORD_SKU_CREDITS,
    ).toEqual([
      { skuId: SKU, credits: 100 },
      { skuId: '1234567890123456790', credits: 500 },
      { skuId: '12345678901234567891', credits: 100 },
    ]);
  });

  it.each([
    ['100', /<sku id>:<credits>/],
    [`${SKU}`, /<sku id>:<credits>/],
    [`${SKU}:1.5`, /<sku id>:<credits>/],
    ['12345:100', /<sku id>:<credits>/],
    [`${SKU}:0`, /at least 1 credit/],
    [`${SKU}:100,${SKU}:500`, /listed twice/],
    [Array.from({ length: 26 }, (_, i) => `${BigInt(SKU) + BigInt(i)}:10`).join(','), /at most 25 packs/],
  ])('refuses %s, naming the variable and what to write', (value, message) => {
    const problems = problemsOf(value);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DISCORD_SKU_CREDITS=/);
    expect(problems[0]).toMatch(message);
  });
});
