/**
 * Is this prompt clearly written in a language other than English? Refusing an English prompt is worse than
 * letting a foreign one through (the provider then refuses it and the member is refunded), so a prompt is
 * refused only when the detector is confident AND English scores far below the winner: short English prompts
 * with names in them ("Mona Lisa smiling") often win for another language by a small margin.
 */
const ENGLISH_MARGIN = 0.65;

type Detector = (typeof import('eld/extrasmall'))['eld'];
let detector: Promise<Detector> | undefined;

/**
 * The detector's n-gram tables cost ~80 MiB (the larger ones 140–185 MiB for the same verdicts on our
 * prompts), so they are loaded on first use: a bot without English-only models never pays for them.
 */
function loadDetector(): Promise<Detector> {
  detector ??= import('eld/extrasmall').then((m) => m.eld);
  return detector;
}

export async function isClearlyNotEnglish(text: string): Promise<boolean> {
  const result = (await loadDetector()).detect(text);
  if (!result.isReliable() || result.language === '' || result.language === 'en') return false;
  const scores = result.getScores();
  return (scores.en ?? 0) < ENGLISH_MARGIN * (scores[result.language] ?? 0);
}
