/**
 * One line of `npm run doctor`: what was checked, what was found, and (when it failed) what the owner should do.
 * `skip` is for something not configured, which is fine: clipbot simply does not use it.
 */
export interface CheckResult {
  status: 'ok' | 'fail' | 'skip';
  title: string;
  detail: string;
  fix?: string;
}

export const ok = (title: string, detail: string): CheckResult => ({ status: 'ok', title, detail });
export const fail = (title: string, detail: string, fix: string): CheckResult => ({
  status: 'fail',
  title,
  detail,
  fix,
});
export const skip = (title: string, detail: string): CheckResult => ({ status: 'skip', title, detail });

const MARK = { ok: '✅', fail: '❌', skip: '➖' } as const;

export function formatCheck(result: CheckResult): string {
  return `${MARK[result.status]} ${result.title}: ${result.detail}${result.fix ? ` → ${result.fix}` : ''}`;
}
