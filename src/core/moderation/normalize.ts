import { latinLookalike, replaceSmallCapitals } from './confusables.js';

/**
 * One canonical form for prompts and blocklist terms, so a term matches however a member disguises it.
 *
 * `normalizeForMatching` applies, in order:
 * 1. NFKC (fullwidth, ligatures, math letters, superscripts become plain), then case folding (lowercase, plus
 *    ß → ss, final ς → σ, dotless ı → i), then small capitals read as the letters they are ("ɴᴜᴅᴇ" → "nude",
 *    see confusables.ts; after folding, because some capitals fold to small capitals: Ʀ → ʀ).
 * 2. NFD and removal of every combining mark (accents, variation selectors, combining grapheme joiner) and
 *    every invisible character (format characters such as zero-width spaces and joiners, soft hyphen, BOM,
 *    bidi controls, tag characters; Hangul fillers; the blank Braille pattern). Removal joins what they split.
 * 3. Leetspeak symbols inside words: `@`→a, `$`→s, `€`→e, `£`→l, `¢`→c when next to a letter;
 *    `!`→i, `|`→i only between two letters or digits (so "nude!" keeps its "!" as punctuation).
 * 4. Everything that is not a letter or digit separates *pieces*. A gap containing whitespace is a hard gap
 *    (written ' '); a gap of punctuation only, or any gap between two single-character pieces (a word spelled out
 *    "n u d e", "n_u-d*e"), is a soft gap (written '.').
 * 5. Per piece: lookalikes of Latin letters from other scripts (Unicode's confusables, UTS #39: Cyrillic, Greek,
 *    Armenian, Cherokee, ...) become Latin when the piece contains Latin letters or could be nothing but Latin
 *    lookalikes (so "nudе" with a Cyrillic е, "ոude" and "nuᏧe" are caught, while "секс" stays Cyrillic); digits
 *    become letters (0 o, 1 i, 2 z, 3 e, 4 a, 5 s, 6 g, 7 t, 8 b, 9 g) in pieces that contain a letter and in
 *    spelled-out runs that contain a letter, while plain numbers ("1080", "16:9", "$5") stay numbers.
 * 6. Runs of three or more identical characters shrink to two, within a piece ("nuuuude" → "nuude") and across a
 *    spelled-out run ("n.u.u.u.d.e" → "n.u.u.d.e"). Two stay
 *    two because words legitimately double letters ("ass" must not become "as"); the matcher lets every letter of
 *    a term stretch instead, so "nude" still matches "nuude".
 *
 * The result is idempotent and only contains letters, digits, '.' and ' '.
 * How terms are matched against it is documented in blocklist.ts.
 */

const INVISIBLE = /[\p{Cf}\p{M}\u115F\u1160\u3164\uFFA0\u2800]/gu;
const PIECE = /[\p{L}\p{N}]+/gu;
const WHITESPACE = /[\s\p{Z}]/u;

const SYMBOL_LETTERS: Readonly<Record<string, string>> = {
  '@': 'a',
  $: 's',
  '€': 'e',
  '£': 'l',
  '¢': 'c',
  '!': 'i',
  '|': 'i',
};
// These are ordinary punctuation at the end of a word, so they only count when a word continues on both sides.
const BOTH_SIDES_SYMBOLS = /[!|]/;
const SYMBOL_RUN = /(?<=([\p{L}\p{N}])?)([@$€£¢!|]+)(?=([\p{L}\p{N}])?)/gu;

const DIGIT_LETTERS: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'i',
  '2': 'z',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '6': 'g',
  '7': 't',
  '8': 'b',
  '9': 'g',
};

interface Piece {
  text: string;
  /** The gap before this piece; meaningless for the first piece. */
  gap: 'hard' | 'soft';
}

export function normalizeForMatching(text: string): string {
  const cleaned = replaceSmallCapitals(foldCase(text.normalize('NFKC')))
    .normalize('NFD')
    .replace(INVISIBLE, '');
  const pieces = splitPieces(mapSymbols(cleaned));

  for (const piece of pieces) piece.text = mapConfusables(piece.text);
  markSpelledOutRuns(pieces);
  for (const piece of pieces) piece.text = piece.text.replace(/(.)\1{2,}/gu, '$1$1');

  return dropRepeatedSingles(pieces)
    .map((p, i) => (i === 0 ? '' : p.gap === 'hard' ? ' ' : '.') + p.text)
    .join('');
}

/**
 * The stored (and compared) form of a blocklist term, or null when nothing matchable is left.
 * Gaps inside a term make it a phrase ("kid-friendly" → "kid friendly"), a spelled-out term is joined
 * ("u.s.a" → "usa"), and a leading or trailing `*` is kept as a wildcard (see blocklist.ts).
 * A term must have at least two letters or digits, except in scripts written without spaces.
 */
export function normalizeBlocklistTerm(raw: string): string | null {
  const trimmed = raw.trim();
  const prefix = trimmed.startsWith('*');
  const suffix = trimmed.length > 1 && trimmed.endsWith('*');
  const body = trimmed.slice(prefix ? 1 : 0, suffix ? -1 : undefined);

  // Parts alternate piece, gap, piece, ...: a soft gap between two single characters is a spelled-out word.
  const parts = normalizeForMatching(body).split(/([ .])/);
  let joined = parts[0] ?? '';
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const next = parts[i + 1]!;
    joined += parts[i] === '.' && isSingle(parts[i - 1]!) && isSingle(next) ? next : ` ${next}`;
  }
  const letters = [...joined.replace(/ /g, '')].length;
  if (letters === 0 || (letters < 2 && !usesUnspacedScript(joined))) return null;
  return `${prefix ? '*' : ''}${joined}${suffix ? '*' : ''}`;
}

/** Scripts written without spaces between words: terms in them match anywhere, not only at word boundaries. */
export function usesUnspacedScript(text: string): boolean {
  return /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u.test(
    text,
  );
}

function foldCase(text: string): string {
  return text.toLowerCase().replace(/ß/g, 'ss').replace(/ς/g, 'σ').replace(/ı/g, 'i');
}

function mapSymbols(text: string): string {
  return text.replace(
    SYMBOL_RUN,
    (run: string, before: string | undefined, _run: string, after: string | undefined) => {
      const mapped = [...run].map((c) => SYMBOL_LETTERS[c] ?? c).join('');
      if (BOTH_SIDES_SYMBOLS.test(run)) return before && after ? mapped : run;
      // "$5" is a price, not "s5": a currency sign only reads as a letter next to a letter.
      return isLetter(before) || isLetter(after) ? mapped : run;
    },
  );
}

function isLetter(char: string | undefined): boolean {
  return char !== undefined && /\p{L}/u.test(char);
}

function splitPieces(text: string): Piece[] {
  const pieces: Piece[] = [];
  let end = 0;
  for (const match of text.matchAll(PIECE)) {
    const gapText = text.slice(end, match.index);
    pieces.push({ text: match[0], gap: WHITESPACE.test(gapText) ? 'hard' : 'soft' });
    end = match.index + match[0].length;
  }
  return pieces;
}

function mapConfusables(piece: string): string {
  const chars = [...piece];
  const lookalikes = chars.map(latinLookalike);
  const latinLike = /[a-z]/.test(piece) || chars.every((c, i) => lookalikes[i] !== undefined || !/\p{L}/u.test(c));
  if (!latinLike) return piece;
  const mapped = chars.map((c, i) => lookalikes[i] ?? c);
  // Digits stay digits in a plain number; in a word they are almost always leetspeak. "A word" is judged after the
  // look-alikes became letters (a digit of another script can look like "o"), so normalizing twice changes nothing.
  return mapped.some((c) => /\p{L}/u.test(c)) ? mapped.map((c) => DIGIT_LETTERS[c] ?? c).join('') : mapped.join('');
}

/** Consecutive single-character pieces are a word spelled out: join them softly and read their digits as letters. */
function markSpelledOutRuns(pieces: Piece[]): void {
  let start = 0;
  while (start < pieces.length) {
    let end = start;
    while (end < pieces.length && isSingle(pieces[end]!.text)) end++;
    if (end - start >= 2) {
      const run = pieces.slice(start, end);
      const hasLetter = run.some((p) => /\p{L}/u.test(p.text));
      run.forEach((p, i) => {
        if (i > 0) p.gap = 'soft';
        if (hasLetter) p.text = DIGIT_LETTERS[p.text] ?? p.text;
      });
    }
    start = Math.max(end, start + 1);
  }
}

/** "u.u.u.u" is the spelled-out form of "uuuu": keep two, like a run inside a piece. */
function dropRepeatedSingles(pieces: Piece[]): Piece[] {
  const softRepeat = (a: Piece | undefined, b: Piece | undefined) =>
    !!a && !!b && b.gap === 'soft' && a.text === b.text;
  return pieces.filter(
    (p, i) => !(isSingle(p.text) && softRepeat(pieces[i - 1], p) && softRepeat(pieces[i - 2], pieces[i - 1])),
  );
}

function isSingle(text: string): boolean {
  const first = text.codePointAt(0);
  return first !== undefined && String.fromCodePoint(first).length === text.length;
}
