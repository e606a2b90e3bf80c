import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeBlocklistTerm, normalizeForMatching } from './normalize.js';

describe('normalizeForMatching', () => {
  describe('when text uses other forms of the same letters', () => {
    it.each([
      ['ＮＵＤＥ', 'nude'],
      ['𝓷𝓾𝓭𝓮', 'nude'],
      ['ẞTRAẞE', 'sstrasse'],
      ['nüde', 'nude'],
      ['n\u0301u\u0308de', 'nude'],
      ['ΟΔΟΣ', 'οδοσ'],
      ['İstanbul', 'istanbul'],
    ])('reads %j as %j', (input, expected) => {
      expect(normalizeForMatching(input)).toBe(expected);
    });
  });

  describe('when invisible characters are sprinkled in', () => {
    it.each([
      ['zero-width space', 'nu\u200Bde'],
      ['zero-width joiner', 'n\u200Dude'],
      ['soft hyphen', 'nu\u00ADde'],
      ['word joiner', 'nud\u2060e'],
      ['byte order mark', '\uFEFFnude'],
      ['variation selector', 'nu\uFE0Fde'],
      ['bidi override', 'nu\u202Ede'],
      ['Hangul filler', 'nu\u3164de'],
    ])('removes the %s and joins the word', (_name, input) => {
      expect(normalizeForMatching(input)).toBe('nude');
    });
  });

  describe('when a word is split by separators', () => {
    it.each(['n.u.d.e', 'n u d e', 'n_u-d*e', 'N / U / D / E'])(
      'marks %j as one spelled-out word with soft gaps',
      (input) => {
        expect(normalizeForMatching(input)).toBe('n.u.d.e');
      },
    );

    it('keeps punctuation inside a word as a soft gap', () => {
      expect(normalizeForMatching('kid-friendly')).toBe('kid.friendly');
    });

    it('turns whitespace between words into a single hard gap, dropping punctuation around it', () => {
      expect(normalizeForMatching('  Hello,   World!\n(again)  ')).toBe('hello world again');
    });
  });

  describe('when leetspeak is used', () => {
    it.each([
      ['k1ll', 'kill'],
      ['n00d', 'nood'],
      ['s3x', 'sex'],
      ['4ss', 'ass'],
      ['5h17', 'shit'],
      ['a$$', 'ass'],
      ['@ss', 'ass'],
      ['sh!t', 'shit'],
      ['b|tch', 'bitch'],
      ['5 3 x', 's.e.x'],
    ])('reads %j as %j', (input, expected) => {
      expect(normalizeForMatching(input)).toBe(expected);
    });

    it('keeps plain numbers as numbers', () => {
      expect(normalizeForMatching('1080 frames at 16:9 for $5')).toBe('1080 frames at 16.9 for 5');
    });

    it('keeps "!" and "|" as punctuation at the end of a word', () => {
      expect(normalizeForMatching('wow! a | b')).toBe('wow a.b');
    });
  });

  describe('when Cyrillic or Greek lookalikes are mixed into Latin words', () => {
    it('reads them as Latin letters', () => {
      expect(normalizeForMatching('nud\u0435 \u0455\u0435\u0445')).toBe('nude sex');
    });

    it('leaves ordinary Cyrillic words alone', () => {
      expect(normalizeForMatching('Секс')).toBe('секс');
    });
  });

  describe('when letters repeat', () => {
    it('shrinks runs of three or more to two', () => {
      expect(normalizeForMatching('NUUUUUDE sooooo')).toBe('nuude soo');
    });

    it('shrinks a letter repeated across a spelled-out run to two', () => {
      expect(normalizeForMatching('n u u u u d e')).toBe('n.u.u.d.e');
    });

    it('keeps doubled letters', () => {
      expect(normalizeForMatching('class ass')).toBe('class ass');
    });
  });

  describe('for any text', () => {
    it('is idempotent', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
          const once = normalizeForMatching(text);
          expect(normalizeForMatching(once)).toBe(once);
        }),
        { numRuns: 1000 },
      );
    });

    it('produces only letters, digits and single gaps, with no gap at either end', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
          expect(normalizeForMatching(text)).toMatch(/^(?:[\p{L}\p{N}]+(?:[ .][\p{L}\p{N}]+)*)?$/u);
        }),
      );
    });
  });
});

describe('normalizeBlocklistTerm', () => {
  describe('when the term is an ordinary word', () => {
    it('stores its normalised form', () => {
      expect(normalizeBlocklistTerm('  K1LL ')).toBe('kill');
    });
  });

  describe('when the term has gaps', () => {
    it('makes separated words a phrase', () => {
      expect(normalizeBlocklistTerm('Kid-Friendly   stuff')).toBe('kid friendly stuff');
    });

    it('joins a spelled-out word', () => {
      expect(normalizeBlocklistTerm('u.s.a')).toBe('usa');
    });
  });

  describe('when the term has wildcards', () => {
    it.each([
      ['porn*', 'porn*'],
      ['*PORN', '*porn'],
      ['*p0rn*', '*porn*'],
    ])('keeps %j as %j', (input, expected) => {
      expect(normalizeBlocklistTerm(input)).toBe(expected);
    });
  });

  describe('when nothing matchable is left', () => {
    it.each(['', '   ', '*', '**', '!!!', 'x', '*a*'])('returns null for %j', (input) => {
      expect(normalizeBlocklistTerm(input)).toBeNull();
    });

    it('accepts a single character in a script written without spaces', () => {
      expect(normalizeBlocklistTerm('屌')).toBe('屌');
    });
  });

  describe('for any term', () => {
    it('is idempotent, so the stored form finds its own row again', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (raw) => {
          const once = normalizeBlocklistTerm(raw);
          if (once !== null) expect(normalizeBlocklistTerm(once)).toBe(once);
        }),
        { numRuns: 2000 },
      );
    });

    it('reads a digit as a letter once a look-alike of another script made the piece a word (found by the property)', () => {
      // NKo digit zero looks like "o": "0߀" is "oo" at once, not "0o" first and "oo" when normalized again.
      expect(normalizeBlocklistTerm('0߀')).toBe('oo');
    });
  });
});
