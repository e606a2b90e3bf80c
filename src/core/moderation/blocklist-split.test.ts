import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileBlocklist, MIN_SQUASHED_TERM_LENGTH, SHORT_WORDS } from './blocklist.js';
import { normalizeForMatching } from './normalize.js';

function blocks(term: string, text: string): boolean {
  return compileBlocklist([term]).findIn(normalizeForMatching(text)) !== undefined;
}

describe('a short term split by one space', () => {
  describe('when both halves are whole words that are not common short words', () => {
    it.each([
      ['nude', 'a nu de person'],
      ['nude', 'NU  DE'],
      ['nude', 'n ude'],
      ['sex', 'se x'],
      ['sex', 's ex scene'],
      ['porn', 'p0 rn'],
      ['kill', 'ki ll him'],
    ])('blocks %j in %j', (term, text) => {
      expect(blocks(term, text)).toBe(true);
    });

    it('blocks any split of any term shorter than MIN_SQUASHED_TERM_LENGTH', () => {
      const letters = 'abcdefghjkmnopqrstuvwxyz';
      const term = fc.string({
        unit: fc.constantFrom(...letters),
        minLength: 2,
        maxLength: MIN_SQUASHED_TERM_LENGTH - 1,
      });
      fc.assert(
        fc.property(term, fc.nat(), (t, at) => {
          const cut = 1 + (at % (t.length - 1));
          const [head, tail] = [t.slice(0, cut), t.slice(cut)];
          fc.pre(!SHORT_WORDS.includes(head) && !SHORT_WORDS.includes(tail));
          expect(blocks(t, `make ${head} ${tail} now`)).toBe(true);
        }),
      );
    });
  });

  describe('when ordinary words happen to spell a term', () => {
    it.each([
      ['penis', 'the pen is red', 'a half is a common short word'],
      ['ass', 'a ss officer', 'a half is a common short word'],
      ['anal', 'an al fresco lunch', 'a half is a common short word'],
      ['whore', 'who re-enters the room', 'a half is a common short word, and "re" is part of "re-enters"'],
      ['shit', "let's hit the road", '"s" is part of "let\'s", not a word'],
      ['sex', "the robot's ex-wife", '"s" and "ex" are parts of words'],
      ['nude', 'a menu detail', 'the halves are inside longer words'],
      ['nude', 'nu dent', '"dent" is longer than the term\'s tail'],
    ])('does not block %j in %j (%s)', (term, text) => {
      expect(blocks(term, text)).toBe(false);
    });
  });
});
