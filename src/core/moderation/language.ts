import { eld } from 'eld/medium';

/**
 * Is this prompt written in a language other than English? Only a confident detection counts: short or
 * mixed prompts ("cat", "Tokyo drone shot") are given the benefit of the doubt, and the provider itself
 * refuses (refunded) whatever slips through.
 */
export function isClearlyNotEnglish(text: string): boolean {
  const result = eld.detect(text);
  return result.isReliable() && result.language !== '' && result.language !== 'en';
}
