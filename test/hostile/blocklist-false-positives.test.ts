import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileBlocklist } from '../../src/core/moderation/blocklist.js';
import { normalizeForMatching } from '../../src/core/moderation/normalize.js';

/**
 * How often the blocklist refuses ordinary prompts (issue 11, finding 6). BLOCKLIST is empty by default, so this is
 * measured with the terms an operator of a video bot would typically set, on 1,200 ordinary prompts in English and
 * Chinese (test/fixtures/ordinary-prompts.txt, written by scripts/generate-ordinary-prompts.ts). A change to the
 * matching rules that moves these numbers must say why.
 */

export const TYPICAL_TERMS = [
  'nude',
  'naked',
  'nsfw',
  'porn',
  'pornography',
  'hentai',
  'sex',
  'penis',
  'boobs',
  'tits',
  'pussy',
  'cock',
  'dick',
  'cum',
  'anal',
  'rape',
  'gore',
  'nazi',
  'whore',
  'slut',
  'fuck',
  'shit',
  'bitch',
  'child porn',
  'beheading',
  '裸体',
  '色情',
  '性交',
  '血腥',
  '强奸',
  '裸露',
];

const prompts = fs
  .readFileSync(new URL('../fixtures/ordinary-prompts.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean);

function refused(terms: readonly string[]): { prompt: string; term: string }[] {
  const matcher = compileBlocklist(terms);
  return prompts.flatMap((prompt) => {
    const term = matcher.findIn(normalizeForMatching(prompt));
    return term === undefined ? [] : [{ prompt, term }];
  });
}

describe('the blocklist on ordinary prompts', () => {
  it('has 1,200 of them, in English and Chinese', () => {
    expect(prompts).toHaveLength(1200);
    expect(prompts.filter((p) => /\p{Script=Han}/u.test(p))).toHaveLength(400);
  });

  it('refuses only the ones that contain a blocked word as a word', () => {
    const hits = refused(TYPICAL_TERMS);
    const byTerm = Object.fromEntries(
      [...new Set(hits.map((h) => h.term))].map((t) => [t, hits.filter((h) => h.term === t).length]),
    );
    // 41 of 1,200 (3.4%), the same as before the confusables, small capitals and one-space splits were added. All are
    // words really in the prompt ("the naked eye", "岩石裸露": bare rock), which no spelling rule can tell from the
    // blocked sense. Without SHORT_WORDS, "the pen is red" adds 21 "penis".
    expect(byTerm).toEqual({ naked: 19, 裸露: 22 });
    expect(hits).toHaveLength(41);
    expect(hits.filter((h) => /\p{Script=Han}/u.test(h.prompt)).map((h) => h.term)).toEqual(Array(22).fill('裸露'));
  });
});
