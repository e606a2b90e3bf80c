import { describe, expect, it } from 'vitest';
import { createOwnerNotifier } from '../../src/core/alerts/owner-notifier.js';
import { createProviderAlerts } from '../../src/core/alerts/provider-alerts.js';
import { silentLogger } from '../../src/logger.js';
import { manualClock } from '../helpers/db.js';
import { RecordingPlatform } from '../helpers/engine-harness.js';

/**
 * The provider-health rules on their own, fed the events the engine reports (the engine-level cases, with the fal
 * simulator failing for real, are in test/engine/owner-alerts.test.ts).
 */

function setup(errorsInARow = 3) {
  const chat = new RecordingPlatform();
  const clock = manualClock();
  const notifier = createOwnerNotifier({
    logger: silentLogger,
    platforms: new Map([['console', chat]]),
    chat: 'console:owners',
    ownerIds: ['console:olga'],
  });
  const alerts = createProviderAlerts({ clock, notifier, settings: { errorsInARow } });
  const finished = (provider: string, status: string, errorKind: string | null = null) =>
    alerts.jobFinished!({ provider, model: 'm', status, seconds: 1, errorKind });
  // Alerts are sent in the background; wait for them before reading the chat.
  const texts = async () => {
    await notifier.settled();
    return chat.notices.map((n) => n.text);
  };
  return { chat, clock, alerts, finished, texts };
}

describe('provider alerts', () => {
  describe('when a provider takes jobs and never finishes them', () => {
    it('counts each timed-out job as a failure', async () => {
      const t = setup(2);
      t.finished('ark', 'failed', 'timeout');
      expect(await t.texts()).toEqual([]);
      t.finished('ark', 'failed', 'timeout');
      expect(await t.texts()).toEqual([
        '⚠️ Provider ark keeps failing: 2 errors in a row (last: timeout) with no successful video in between.',
      ]);
    });

    it('counts a provider’s own timeout once, when its job fails', async () => {
      const t = setup(2);
      t.alerts.providerError!('ark', 'timeout');
      t.finished('ark', 'failed', 'timeout');
      expect(await t.texts()).toEqual([]);
    });
  });

  describe('when several providers fail', () => {
    it('keeps a separate count for each, and a success resets only its own', async () => {
      const t = setup(3);
      t.alerts.providerError!('fal', 'transient');
      t.alerts.providerError!('kie', 'transient');
      t.alerts.providerError!('fal', 'rate_limit');
      t.finished('kie', 'succeeded');
      t.alerts.providerError!('kie', 'transient');
      t.alerts.providerError!('fal', 'malformed');
      expect(await t.texts()).toEqual([
        '⚠️ Provider fal keeps failing: 3 errors in a row (last: malformed) with no successful video in between.',
      ]);
    });
  });

  describe('when the member’s input was refused', () => {
    it('does not count it against the provider', async () => {
      const t = setup(1);
      t.alerts.providerError!('fal', 'validation');
      t.alerts.providerError!('fal', 'content_policy');
      t.finished('fal', 'failed', 'content_policy_input');
      expect(await t.texts()).toEqual([]);
    });
  });

  describe('when a provider keeps failing past the cool-down', () => {
    it('tells the owners again once an hour, and once that it recovered', async () => {
      const t = setup(1);
      t.alerts.providerError!('fal', 'transient');
      t.clock.advance(59 * 60_000);
      t.alerts.providerError!('fal', 'transient');
      expect(await t.texts()).toHaveLength(1);
      t.clock.advance(60_000);
      t.alerts.providerError!('fal', 'transient');
      expect(await t.texts()).toHaveLength(2);
      t.finished('fal', 'succeeded');
      t.finished('fal', 'succeeded');
      expect((await t.texts()).slice(2)).toEqual(['✅ Provider fal has recovered: a video succeeded again.']);
    });
  });

  describe('when a provider says our account is out of funds', () => {
    it('tells the owners at once, apart from any run of errors', async () => {
      const t = setup(2);
      t.alerts.providerError!('kie', 'transient');
      t.alerts.providerError!('kie', 'insufficient_funds');
      t.alerts.providerError!('kie', 'transient');
      expect(await t.texts()).toEqual([
        '🛑 Provider kie says our account is out of funds (insufficient_funds): its jobs fail until an owner fixes the account or key.',
        '⚠️ Provider kie keeps failing: 2 errors in a row (last: transient) with no successful video in between.',
      ]);
      expect(t.chat.notices.every((n) => n.dest.mentionUserIds?.join() === 'olga')).toBe(true);
    });
  });
});
