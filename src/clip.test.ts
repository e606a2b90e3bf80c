import { describe, expect, it } from 'vitest';
import { clip } from './clip.js';

describe('clip', () => {
  it('leaves text that fits as it is', () => {
    expect(clip('abcde', 5)).toBe('abcde');
  });

  it('cuts longer text to max units, the last one an ellipsis', () => {
    expect(clip('abcdef', 5)).toBe('abcd…');
  });

  describe('when the cut falls inside an emoji', () => {
    it('drops the whole emoji rather than leave half a surrogate pair', () => {
      const clipped = clip('abc😀def', 5);
      expect(clipped).toBe('abc…');
      expect(Buffer.from(clipped).toString()).toBe(clipped); // a lone surrogate would not survive UTF-8
    });

    it('keeps an emoji that ends right at the cut', () => {
      expect(clip('ab😀def', 5)).toBe('ab😀…');
    });
  });
});
