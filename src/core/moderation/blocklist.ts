import { normalizeBlocklistTerm, usesUnspacedScript } from './normalize.js';

/**
 * Matching blocklist terms against text in `normalizeForMatching` form (pieces joined by ' ' hard gaps and
 * '.' soft gaps, see normalize.ts).
 *
 * Word boundaries, chosen so that "class" does not block "classic" and "rapist" does not block "therapist":
 * - A term matches whole pieces only: it must start where a piece starts and end where a piece ends.
 * - Inside a term, the text may have soft gaps anywhere ("nu.de", "n.u.d.e", "se-x" all match "nude"/"sex").
 * - Hard gaps (whitespace between real words) may split a term only when the term has at least
 *   MIN_SQUASHED_TERM_LENGTH letters: "por nography" is caught, while "pen is" is not read as a 5-letter term.
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
  const words = body.split(' ');
  const long = [...words.join('')].length >= MIN_SQUASHED_TERM_LENGTH;
  const inWord = long ? '[ .]?' : '\\.?';
  const betweenWords = long ? '[ .]?' : '[ .]';
  const anywhere = usesUnspacedScript(body);

  const pattern = words
    .map((word) =>
      runsOf(word.replace(/l/g, 'i'))
        .map(({ char, count }) => {
          const c = char === 'i' ? '[il]' : escapeChar(char);
          // At least `count` of the letter, possibly more, with allowed gaps between them. Normalised text keeps at
          // most two of a letter in a row, so "ki11" arrives as "kii" and a run of i/l can only promise two.
          const least = Math.min(count, 2);
          return `${c}(?:${inWord}${c}){${least - 1}}(?:${inWord}${c}){0,${MAX_STRETCH}}`;
        })
        .join(inWord),
    )
    .join(betweenWords);

  const start = prefix || anywhere ? '' : '(?<![^ .])';
  const end = suffix || anywhere ? '' : '(?![^ .])';
  return new RegExp(start + pattern + end, 'u');
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
