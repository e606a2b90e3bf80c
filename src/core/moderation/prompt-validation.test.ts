import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { MAX_PROMPT_LENGTH, validatePrompt } from './prompt-validation.js';

function refusal(text: string): UserError {
  try {
    validatePrompt(text);
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error('expected the prompt to be refused');
}

describe('validatePrompt', () => {
  describe('when the prompt is ordinary text', () => {
    it('returns it trimmed', () => {
      expect(validatePrompt('  a fox running through snow \n')).toBe('a fox running through snow');
    });

    it('keeps tabs, line breaks, emoji sequences and right-to-left marks', () => {
      const text = 'line one\n\tline two 👨‍👩‍👧 \u200Fשלום';
      expect(validatePrompt(text)).toBe(text);
    });

    it('turns Windows and old Mac line endings into "\\n"', () => {
      expect(validatePrompt('one\r\ntwo\rthree')).toBe('one\ntwo\nthree');
    });
  });

  describe('when the prompt is empty', () => {
    it.each(['', '   ', '\n\t\n', '\u3000'])('refuses %j and shows an example', (text) => {
      const error = refusal(text);
      expect(error.identifier).toBe('prompt_empty');
      expect(error.message).toContain('/video');
    });
  });

  describe('when the prompt is too long', () => {
    it('accepts exactly the limit, counting an emoji as one character', () => {
      const text = '🦊'.repeat(MAX_PROMPT_LENGTH);
      expect(validatePrompt(text)).toBe(text);
    });

    it('refuses one more and says both lengths', () => {
      const error = refusal('a'.repeat(MAX_PROMPT_LENGTH + 1));
      expect(error.identifier).toBe('prompt_too_long');
      expect(error.message).toContain('2,001');
      expect(error.message).toContain('2,000');
      expect(error.context).toEqual({ length: 2001, max: 2000 });
    });

    it('measures after trimming', () => {
      expect(validatePrompt(` ${'a'.repeat(MAX_PROMPT_LENGTH)} `)).toHaveLength(MAX_PROMPT_LENGTH);
    });
  });

  describe('when the prompt contains control characters', () => {
    it.each([
      ['NUL', '\u0000'],
      ['bell', '\u0007'],
      ['escape', '\u001B[31m'],
      ['DEL', '\u007F'],
      ['C1 control', '\u0085'],
      ['lone surrogate', '\uD800'],
    ])('refuses a %s', (_name, char) => {
      const error = refusal(`a fox ${char} in snow`);
      expect(error.identifier).toBe('prompt_control_chars');
      expect(error.message).toMatch(/control characters/);
    });
  });

  describe('when the prompt contains bidi overrides or isolates', () => {
    const controls = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069].map((cp) => [
      `U+${cp.toString(16).toUpperCase()}`,
      String.fromCodePoint(cp),
    ]);
    it.each(controls)('refuses %s', (label, char) => {
      const error = refusal(`a fox ${char}wons ni`);
      expect(error.identifier).toBe('prompt_bidi_controls');
      expect(error.context.codePoint).toBe(label);
    });
  });
});
