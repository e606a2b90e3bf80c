import { eld } from 'eld/medium';

/**
 * Is this prompt clearly written in a language other than English? Refusing an English prompt is worse than
 * letting a foreign one through (the provider then refuses it and the member is refunded), so a prompt is
 * refused only when the detector is confident AND English scores far below the winner: short English prompts
 * with names in them ("Mona Lisa smiling") often win for another language by a small margin.
 */
const ENGLISH_MARGIN = 0.65;

export function isClearlyNotEnglish(text: string): boolean {
  const result = eld.detect(text);
  if (!result.isReliable() || result.language === '' || result.language === 'en') return false;
  const scores = result.getScores();
  return (scores.en ?? 0) < ENGLISH_MARGIN * (scores[result.language] ?? 0);
}
