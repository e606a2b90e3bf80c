import { describe, expect, it } from 'vitest';
import { isClearlyNotEnglish } from './language.js';

describe('isClearlyNotEnglish', () => {
  it.each([
    ['一只在雪地里奔跑的红狐狸'],
    ['un zorro rojo corriendo por la nieve'],
    ['ein roter Fuchs läuft durch den Schnee'],
  ])('flags %s', async (text) => {
    expect(await isClearlyNotEnglish(text)).toBe(true);
  });

  it.each([
    ['a red fox running through snow'],
    ['cinematic drone shot of Tokyo at night, neon'],
    ['cat'],
    [''],
    ['Mona Lisa smiling'],
    ['Pikachu dancing in Shibuya'],
    ['[sim:fail] a fox'],
  ])('lets %s through', async (text) => {
    expect(await isClearlyNotEnglish(text)).toBe(false);
  });
});
