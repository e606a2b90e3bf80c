import { afterEach, describe, expect, it } from 'vitest';
import { createOwnerNotifier } from '../../src/core/alerts/owner-notifier.js';
import { ProviderError } from '../../src/core/errors.js';
import { ProviderHealthMonitor } from '../../src/core/health/provider-health.js';
import { silentLogger } from '../../src/logger.js';
import { manualClock, tempDir } from '../helpers/db.js';
import { FAST_MODELS, RecordingPlatform } from '../helpers/engine-harness.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

/**
 * Several bot processes on one store (SQLite, or PostgreSQL under CLIPBOT_TEST_STORE=postgres), each with its own
 * health monitor and its own owner chat: they agree on which provider is down, and the owners hear each change once,
 * not once per process. The end-to-end cases are in test/engine/provider-fallback.test.ts.
 */

let opened: { store: TestStore; cleanup: () => void } | undefined;
afterEach(async () => {
  await opened?.store.cleanup();
  opened?.cleanup();
  opened = undefined;
});

async function processes(n: number, probe: () => Promise<{ ok: boolean; detail: string }>) {
  const dir = tempDir();
  const store = await openTestStore(dir.dir);
  opened = { store, cleanup: dir.cleanup };
  const clock = manualClock();
  return Array.from({ length: n }, () => {
    const chat = new RecordingPlatform();
    const notifier = createOwnerNotifier({
      logger: silentLogger,
      platforms: new Map([['console', chat]]),
      chat: 'console:owners',
      ownerIds: ['console:olga'],
    });
    const monitor = new ProviderHealthMonitor({
      db: store.store,
      clock,
      logger: silentLogger,
      notifier,
      models: FAST_MODELS,
      providers: new Set(['fal', 'ark']),
      probes: new Map([['fal', probe]]),
      settings: { failuresInARow: 3, probeIntervalMs: 60_000 },
    });
    const texts = async () => {
      await notifier.settled();
      return chat.notices.map((x) => x.text);
    };
    return { monitor, texts, clock };
  });
}

describe('provider health shared by several processes', () => {
  it('counts failures in a row across processes, and tells the owners once when the provider is skipped', async () => {
    const [a, b] = await processes(2, async () => ({ ok: true, detail: 'key accepted' }));
    const transient = new ProviderError('transient', 'HTTP 503');
    await a!.monitor.submitFailed('fal', transient);
    await b!.monitor.submitFailed('fal', transient);
    expect(await a!.monitor.isDown('fal')).toBe(false);
    await Promise.all([a!.monitor.submitFailed('fal', transient), b!.monitor.submitFailed('fal', transient)]);
    expect(await b!.monitor.isDown('fal')).toBe(true);
    expect([...(await a!.texts()), ...(await b!.texts())]).toHaveLength(1);
  });

  it('lets a refused member input (validation) clear the count: the provider answered', async () => {
    const [a] = await processes(1, async () => ({ ok: true, detail: 'ok' }));
    const transient = new ProviderError('transient', 'HTTP 503');
    await a!.monitor.submitFailed('fal', transient);
    await a!.monitor.submitFailed('fal', transient);
    await a!.monitor.submitFailed('fal', new ProviderError('validation', 'duration'));
    await a!.monitor.submitFailed('fal', transient);
    expect(await a!.monitor.isDown('fal')).toBe(false);
  });

  it('probes a down provider from one process per interval, and tells the owners once that it is back', async () => {
    let probes = 0;
    const [a, b, c] = await processes(3, async () => ({ ok: ++probes > 1, detail: 'key accepted' }));
    await a!.monitor.submitFailed('fal', new ProviderError('auth', 'HTTP 401'));
    await Promise.all([a!.monitor.probeDue(), b!.monitor.probeDue(), c!.monitor.probeDue()]);
    expect(probes).toBe(1);
    expect(await c!.monitor.isDown('fal')).toBe(true);
    a!.clock.advance(60_000);
    await Promise.all([a!.monitor.probeDue(), b!.monitor.probeDue(), c!.monitor.probeDue()]);
    expect(probes).toBe(2);
    expect(await b!.monitor.isDown('fal')).toBe(false);
    const told = [...(await a!.texts()), ...(await b!.texts()), ...(await c!.texts())];
    expect(told).toEqual([
      '🛑 Provider fal refuses our API key (auth): new jobs for seedance-1-pro, seedance-1.5-pro, seedance-2, seedance-2-fast go to the same model on another provider until a probe of fal succeeds.',
      '✅ Provider fal answers again (key accepted): new jobs go to it again.',
    ]);
  });
});
