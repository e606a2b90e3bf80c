import { describe, expect, it } from 'vitest';
import { UserError } from '../src/core/errors.js';
import { commands } from './index.js';
import { localeOf, localizeError, t, ZH_DESCRIPTIONS } from './i18n.js';

describe('i18n', () => {
  it('reads Chinese from every platform’s locale tag and English otherwise', () => {
    expect(['zh-CN', 'zh-TW', 'zh', 'zh-hans'].map(localeOf)).toEqual(['zh', 'zh', 'zh', 'zh']);
    expect([undefined, null, 'en-US', 'de', ''].map(localeOf)).toEqual(['en', 'en', 'en', 'en', 'en']);
  });

  it('renders a known error in Chinese with its numbers, and falls back to English for the rest', () => {
    const error = new UserError('insufficient_credits', 'This video costs 50 credits and you have 10.', {
      price: 50,
      balance: 10,
    });
    expect(localizeError(error, 'zh')).toBe('这个视频需要 50 积分，你只有 10 积分。');
    expect(localizeError(error, 'en')).toBe(error.message);
    expect(localizeError(new UserError('something_new', 'Plain English.'), 'zh')).toBe('Plain English.');
  });

  it('fills placeholders', () => {
    expect(t('internal_error', 'en', { ref: 'ab12' })).toContain('ref ab12');
  });

  it('has a Chinese description for every command', () => {
    for (const command of commands) expect(ZH_DESCRIPTIONS[command.name], command.name).toBeTruthy();
  });
});
