/**
 * Cuts text to at most `max` UTF-16 code units, ending in `…` when it cut. Discord and Telegram limits are counted
 * in code points or UTF-16 units; UTF-16 units are never fewer, so a clipped text fits either. The cut steps back off
 * the middle of a surrogate pair: half an emoji is not valid Unicode, and Telegram refuses such text.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}…`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
