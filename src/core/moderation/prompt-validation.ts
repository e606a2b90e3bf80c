import { UserError } from '../errors.js';

export const MAX_PROMPT_LENGTH = 2000;

// C0 controls except tab and line feed (CR is turned into LF first), DEL, and C1 controls.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/u;
// Overrides and isolates reorder what a moderator reads in logs and lists; marks (U+200E/F) stay, RTL text needs them.
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Basic hygiene before any other check: returns the trimmed prompt with line endings unified to "\n",
 * or throws `UserError` (nothing is charged).
 * Tabs and line breaks are allowed because multi-line prompts are normal on Telegram.
 * Length counts Unicode code points, not UTF-16 units, so an emoji costs one.
 */
export function validatePrompt(text: string): string {
  const prompt = text.replace(/\r\n?/g, '\n').trim();
  if (prompt === '') {
    throw new UserError(
      'prompt_empty',
      'Please describe the video you want, for example: /video a fox running through snow',
    );
  }
  const length = [...prompt].length;
  if (length > MAX_PROMPT_LENGTH) {
    throw new UserError(
      'prompt_too_long',
      `Your prompt is ${length.toLocaleString('en')} characters long; the limit is ${MAX_PROMPT_LENGTH.toLocaleString('en')}. Please shorten it.`,
      { length, max: MAX_PROMPT_LENGTH },
    );
  }
  const control = CONTROL.exec(prompt) ?? LONE_SURROGATE.exec(prompt);
  if (control) {
    throw new UserError(
      'prompt_control_chars',
      'Your prompt contains invisible control characters. Please type it again as plain text.',
      { codePoint: codePointLabel(control[0]) },
    );
  }
  const bidi = BIDI_CONTROL.exec(prompt);
  if (bidi) {
    throw new UserError(
      'prompt_bidi_controls',
      'Your prompt contains hidden characters that change the text direction. Please type it again as plain text.',
      { codePoint: codePointLabel(bidi[0]) },
    );
  }
  return prompt;
}

function codePointLabel(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}
