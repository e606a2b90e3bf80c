import { describe, expect, it } from 'vitest';
import { latinLookalike, replaceSmallCapitals } from './confusables.js';

describe('latinLookalike', () => {
  it.each([
    ['ո', 'n', 'Armenian'],
    ['Ꮷ', 'd', 'Cherokee capital'],
    ['ꮷ', 'd', 'Cherokee small'],
    ['о', 'o', 'Cyrillic'],
    ['ν', 'v', 'Greek'],
    ['ɴ', 'n', 'small capital'],
    ['ꭰ', 'd', 'Cherokee small letter whose skeleton is a small capital'],
  ])('reads %j as %j (%s)', (char, letters) => {
    expect(latinLookalike(char)).toBe(letters);
  });

  it.each([
    ['к', 'Cyrillic ka, a letter of its own (its skeleton is ĸ)'],
    ['δ', 'Greek delta'],
    ['狐', 'a Han character'],
    ['m', 'ASCII, whose skeleton would be "rn"'],
    ['1', 'ASCII digits, left to the leetspeak rules'],
  ])('leaves %j alone (%s)', (char) => {
    expect(latinLookalike(char)).toBeUndefined();
  });
});

describe('replaceSmallCapitals', () => {
  it('spells small capitals with plain letters and leaves everything else', () => {
    expect(replaceSmallCapitals('ɴᴜᴅᴇ ꜱᴇx, Ɪ ᴀᴍ ʜᴇʀᴇ: café 狐狸')).toBe('nude sex, i am here: café 狐狸');
  });
});
