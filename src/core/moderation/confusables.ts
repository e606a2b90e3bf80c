import homoglyphs from 'unhomoglyph/data.json' with { type: 'json' };
import { SMALL_CAPITALS } from './small-capitals.generated.js';

/**
 * Which plain Latin letters a character from another script imitates, for the blocklist (issue 11, finding 6).
 *
 * The source is Unicode's own confusables table (UTS #39 skeletons, as packaged by `unhomoglyph`), plus the small
 * capitals generated from the Unicode names (small-capitals.generated.ts), which that table mostly leaves out.
 * Only lookalikes of ASCII letters are used: the skeleton of plain ASCII is itself lossy ("m" → "rn", "0" → "O",
 * "1" → "l"), and reading a member's "pom" as "porn" would be a false positive of our own making.
 */

const SKELETONS: Readonly<Record<string, string>> = homoglyphs;

// The skeleton spells a lookalike of "m" as "rn" (how it looks); a member who typed one meant "m".
const SPELLED_AS = new Map([['rn', 'm']]);

/** Small capitals are Latin letters written smaller: always read them as the letters they are. */
export function replaceSmallCapitals(text: string): string {
  return text.replace(/[^\0-\u024F]/gu, (c) => SMALL_CAPITALS.get(c.codePointAt(0)!) ?? c);
}

/**
 * The lowercase ASCII letters `char` imitates ("ո" → "n", "Ꮷ" → "d", "ᴅ" → "d"), or undefined when it imitates none
 * (a letter of its own, a Han character, an ASCII character).
 */
export function latinLookalike(char: string): string | undefined {
  if (char.charCodeAt(0) < 0x80) return undefined;
  // Prompts arrive case-folded. The table lists the case that looks alike: Cyrillic "к" is listed (as "ĸ", not a
  // Latin letter) and stays Cyrillic; Cherokee small letters are not listed at all, so their capitals stand for them.
  const skeleton = SKELETONS[char] ?? SKELETONS[char.toUpperCase()];
  const letters = skeleton === undefined ? undefined : replaceSmallCapitals(skeleton).toLowerCase();
  if (letters !== undefined && /^[a-z]+$/.test(letters)) return SPELLED_AS.get(letters) ?? letters;
  return SMALL_CAPITALS.get(char.codePointAt(0)!);
}
