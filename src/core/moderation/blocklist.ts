import { normalizeBlocklistTerm, usesUnspacedScript } from './normalize.js';

/**
 * Matching blocklist terms against text in `normalizeForMatching` form (pieces joined by ' ' hard gaps and
 * '.' soft gaps, see normalize.ts).
 *
 * Word boundaries, chosen so that "class" does not block "classic" and "rapist" does not block "therapist":
 * - A term matches whole pieces only: it must start where a piece starts and end where a piece ends.
 * - Inside a term, the text may have soft gaps anywhere ("nu.de", "n.u.d.e", "se-x" all match "nude"/"sex").
 * - Hard gaps (whitespace between real words) may split a term anywhere when the term has at least
 *   MIN_SQUASHED_TERM_LENGTH letters ("por nography"). A shorter one-word term may be split by one hard gap into two
 *   whole words ("nu de", "se x"), unless either word is a common short word (SHORT_WORDS): "the pen is red" is not
 *   a "penis", and "let's hit" ("let.s hit") is not a "shit" because "s" is not a whole word.
 * - A phrase term ("child porn") matches its words in order across any gap, and, when long enough, also written
 *   as one word ("childporn").
 * - Every letter of a term may be stretched ("nuuude" matches "nude") but never shortened ("as" does not match
 *   "ass"); "i" and "l" are treated as the same letter because "1" stands for either in leetspeak (so a run of
 *   them, like the "ill" of "kill", needs only two: "ki11" normalises to "kii").
 * - Wildcards, for compounds: "porn*" matches pieces starting with the term, "*porn" ending with it, "*porn*"
 *   containing it. Terms in scripts written without spaces (Chinese, Japanese, Thai, ...) always match anywhere.
 */
export const MIN_SQUASHED_TERM_LENGTH = 6;

/**
 * How many extra repeats of a letter a match may absorb. Bounded because an unbounded stretch makes matching
 * quadratic on a prompt like "a.a.a.a…" (a member could stall the bot with one message); normalised text already
 * keeps at most two of a letter in a row, so only contrived spellings ("nu.uu.uu.uu.uu.uu.de") get past it.
 */
const MAX_STRETCH = 8;

/**
 * English words that often stand next to another word and together spell a short term ("pen is", "a ss", "who re",
 * "go re"): a split whose half is one of these is read as two words. Short function words only; the false-positive
 * count on test/fixtures/ordinary-prompts.txt (test/hostile/blocklist-false-positives.test.ts) is what this is for.
 */
export const SHORT_WORDS: readonly string[] = [
  'a',
  'i',
  'am',
  'an',
  'as',
  'at',
  'be',
  'by',
  'do',
  'go',
  'he',
  'if',
  'in',
  'is',
  'it',
  'me',
  'my',
  'no',
  'of',
  'oh',
  'ok',
  'on',
  'or',
  'so',
  'to',
  'up',
  'us',
  'we',
  'all',
  'and',
  'any',
  'are',
  'but',
  'can',
  'did',
  'for',
  'had',
  'has',
  'her',
  'him',
  'his',
  'how',
  'its',
  'let',
  'may',
  'not',
  'now',
  'off',
  'one',
  'our',
  'out',
  'she',
  'the',
  'too',
  'two',
  'was',
  'who',
  'why',
  'yes',
  'yet',
  'you',
];

export interface BlocklistMatcher {
  /** Number of distinct usable terms. */
  readonly size: number;
  /** The first term (normalised form) found in `normalizedText`, which must come from `normalizeForMatching`. */
  findIn(normalizedText: string): string | undefined;
}

export function compileBlocklist(terms: Iterable<string>): BlocklistMatcher {
  const compiled = new Map<string, RegExp>();
  for (const raw of terms) {
    // Re-normalised even when stored normalised, so rows written by an older version still match.
    const term = normalizeBlocklistTerm(raw);
    if (term !== null && !compiled.has(term)) compiled.set(term, compileTerm(term));
  }
  return {
    size: compiled.size,
    findIn(normalizedText) {
      for (const [term, pattern] of compiled) if (pattern.test(normalizedText)) return term;
      return undefined;
    },
  };
}

function compileTerm(term: string): RegExp {
  const prefix = term.startsWith('*');
  const suffix = term.length > 1 && term.endsWith('*');
  const body = term.slice(prefix ? 1 : 0, suffix ? -1 : undefined);
  const words = body.split(' ').map((word) => word.replace(/l/g, 'i'));
  const long = [...words.join('')].length >= MIN_SQUASHED_TERM_LENGTH;
  const inWord = long ? '[ .]?' : '\\.?';
  const betweenWords = long ? '[ .]?' : '[ .]';
  const anywhere = usesUnspacedScript(body);

  const pattern = words.map((word) => wordPattern(word, inWord)).join(betweenWords);
  const start = prefix || anywhere ? '' : '(?<![^ .])';
  const end = suffix || anywhere ? '' : '(?![^ .])';
  const whole = start + pattern + end;
  const split =
    words.length === 1 && !long && !anywhere && !prefix && !suffix ? splitPattern(words[0]!, inWord) : undefined;
  return new RegExp(split ? `${whole}|${split}` : whole, 'u');
}

/** The letters of one word of a term, each possibly stretched, with `gap` allowed between them. */
function wordPattern(word: string, gap: string): string {
  return runsOf(word)
    .map(({ char, count }) => {
      const c = char === 'i' ? '[il]' : escapeChar(char);
      // At least `count` of the letter, possibly more, with allowed gaps between them. Normalised text keeps at
      // most two of a letter in a row, so "ki11" arrives as "kii" and a run of i/l can only promise two.
      const least = Math.min(count, 2);
      return `${c}(?:${gap}${c}){${least - 1}}(?:${gap}${c}){0,${MAX_STRETCH}}`;
    })
    .join(gap);
}

/** A short one-word term split by one hard gap into two whole words, neither of them a common short word. */
function splitPattern(word: string, inWord: string): string | undefined {
  const chars = [...word];
  if (chars.length < 2) return undefined;
  const notShortWord = (then: string) => `(?!(?:${SHORT_WORDS.join('|')})${then})`;
  const halves: string[] = [];
  for (let at = 1; at < chars.length; at++) {
    halves.push(
      `${wordPattern(chars.slice(0, at).join(''), inWord)} ${notShortWord('(?![^ ])')}${wordPattern(chars.slice(at).join(''), inWord)}`,
    );
  }
  return `(?<![^ ])${notShortWord(' ')}(?:${halves.join('|')})(?![^ ])`;
}

function runsOf(word: string): { char: string; count: number }[] {
  const runs: { char: string; count: number }[] = [];
  for (const char of word) {
    const last = runs.at(-1);
    if (last?.char === char) last.count++;
    else runs.push({ char, count: 1 });
  }
  return runs;
}

function escapeChar(char: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(char) ? `\\${char}` : char;
}
