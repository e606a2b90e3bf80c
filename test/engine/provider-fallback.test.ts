import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../db/schema.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createOwnerNotifier, type OwnerNotifier } from '../../src/core/alerts/owner-notifier.js';
import { findModel } from '../../src/core/catalog.js';
import { ProviderHealthMonitor, type ProviderProbe } from '../../src/core/health/provider-health.js';
import type { Clock } from '../../src/core/ports.js';
import type { CheckResult } from '../../src/doctor/check.js';
import { checkArk, checkFal, checkKie } from '../../src/doctor/provider-checks.js';
import { createLogger } from '../../src/logger.js';
import type { FalSimOptions } from '../../src/sim/fal.js';
import { EngineHarness, FAST_MODELS, RecordingPlatform } from '../helpers/engine-harness.js';

/**
 * Provider fallback through the real engine: fal and Ark simulators over HTTP behind the real adapters, the shared
 * provider health on the test's store (SQLite, or PostgreSQL under CLIPBOT_TEST_STORE=postgres), the doctor's probes,
 * and owner alerts to a recording chat. fal starts failing in the middle of the run, as a real outage would.
 */

const N = 3;
const PROBE_MS = 60_000;

/** The system clock, moved forward when a test says so (the engine's timers still run in real time). */
function movableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

class World {
  readonly alertChat = new RecordingPlatform();
  readonly clock = movableClock();
  readonly notifier: OwnerNotifier;
  monitor: ProviderHealthMonitor | undefined;
  h!: EngineHarness;

  constructor() {
    const logger = createLogger('silent');
    this.notifier = createOwnerNotifier({
      logger,
      platforms: new Map([['console', this.alertChat]]),
      chat: 'console:owners',
      ownerIds: ['console:olga'],
    });
  }

  async start(opts: { fallback: boolean; sim?: FalSimOptions; kie?: boolean }): Promise<this> {
    const providers = new Set(['fal', 'ark', ...(opts.kie ? ['kie'] : [])]);
    this.h = await EngineHarness.start({
      clock: this.clock,
      ark: {},
      ...(opts.kie ? { kie: {} } : {}),
      ...(opts.sim ? { sim: opts.sim } : {}),
      ...(opts.fallback
        ? {
            health: (db) =>
              (this.monitor = new ProviderHealthMonitor({
                db,
                clock: this.clock,
                logger: createLogger('silent'),
                notifier: this.notifier,
                models: FAST_MODELS,
                providers,
                probes: this.probes(),
                settings: { failuresInARow: N, probeIntervalMs: PROBE_MS },
              })),
          }
        : {}),
    });
    return this;
  }

  /** The doctor's checks against the simulators, as main.ts builds them from the configuration. */
  private probes(): Map<string, ProviderProbe> {
    const config = (): Config =>
      loadConfig({
        FAL_KEY: this.h.sim.key,
        FAL_QUEUE_URL: this.h.sim.url,
        ARK_API_KEY: this.h.ark!.apiKey,
        ARK_BASE_URL: this.h.ark!.url,
        ...(this.h.kie ? { KIE_API_KEY: this.h.kie.apiKey, KIE_BASE_URL: this.h.kie.url } : {}),
      });
    const asProbe =
      (check: (c: Config) => Promise<CheckResult>): ProviderProbe =>
      async () => {
        const r = await check(config());
        return { ok: r.status === 'ok', detail: r.detail };
      };
    return new Map([
      ['fal', asProbe(checkFal)],
      ['ark', asProbe(checkArk)],
      ['kie', asProbe(checkKie)],
    ]);
  }

  async video(prompt: string, modelId = 'seedance-1-pro'): Promise<Job> {
    // Veo makes 8 s clips at its own resolutions: it keeps its defaults.
    const options = modelId.startsWith('veo') ? { options: {} } : {};
    const job = await this.h.submit(`m-${prompt.length}-${prompt.slice(-3)}`, prompt, { modelId, ...options });
    return this.h.engine.waitForJob(job.id);
  }

  /** Every submit fal received, answered or refused. */
  falSubmits(): number {
    return this.h.sim.calls.filter((c) => c.route === 'submit').length;
  }

  /** What reached the owners' chat. */
  async alerts(): Promise<string[]> {
    await this.notifier.settled();
    return this.alertChat.notices.map((n) => n.text);
  }

  failFal(
    fault: Parameters<EngineHarness['sim']['injectFault']>[0] = { kind: 'server_error', status: 500 },
    routes?: 'submit',
  ): void {
    this.h.sim.injectFault(fault, { times: 10_000, ...(routes ? { routes } : {}) });
  }
}

let world: World | undefined;
afterEach(async () => {
  await world?.monitor?.stop();
  await world?.h.close();
  world = undefined;
});

async function startWorld(opts: Parameters<World['start']>[0]): Promise<World> {
  world = await new World().start(opts);
  return world;
}

describe('provider fallback (PROVIDER_FALLBACK=on)', () => {
  describe('when fal starts answering 500s in the middle of the run', () => {
    it(`after ${N} failures in a row, moves the job that hit the last one and every new job to Seedance on Ark, at the quoted price, and tells the owners once`, async () => {
      const w = await startWorld({ fallback: true });
      const before = await w.video('a fox before the outage');
      expect(before).toMatchObject({ status: 'succeeded', provider: 'fal' });

      w.failFal();
      const quoted = (await w.h.submit('ann', 'a fox in the outage')).price;
      const hit = await w.h.engine.waitForJob(
        (await w.h.db.jobs.recentOf((await w.h.engine.userIdOf('console', 'ann'))!, 1))[0]!.id,
      );
      const ark = findModel('seedance-1-pro-ark', FAST_MODELS)!;
      expect(hit).toMatchObject({
        status: 'succeeded',
        provider: 'ark',
        model: 'seedance-1-pro-ark',
        providerModel: ark.providerModels.textToVideo,
        price: quoted,
      });
      // The member paid what they were quoted; the owner's spend estimate is what Ark charges.
      expect((await w.h.ledgerFor(hit.id)).map((e) => e.kind).sort()).toEqual(['capture', 'hold']);
      expect(await w.h.balance('ann')).toBe(200 - quoted);
      expect(hit.costUsd).toBeCloseTo(ark.usdPer5s['480p']!, 6);
      expect(hit.attempts).toBe(N);
      expect(w.h.ark!.createsFor('a fox in the outage')).toBe(1);

      const after = await w.video('a fox after the outage began');
      expect(after).toMatchObject({ status: 'succeeded', provider: 'ark', attempts: 1 });
      expect(w.h.sim.submissionsFor('a fox after the outage began')).toBe(0);
      expect(w.falSubmits()).toBe(1 + N);

      const alerts = await w.alerts();
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toContain(`Provider fal failed ${N} submits in a row (last: transient)`);
      expect(alerts[0]).toContain('seedance-1-pro');
    });

    it('never sends a job fal had accepted to Ark: it finishes at fal', async () => {
      const w = await startWorld({ fallback: true, sim: { runMs: 600_000 } });
      const accepted = await w.h.submit('ann', 'a fox fal accepted');
      await vi.waitFor(async () => expect((await w.h.job(accepted.id)).providerTaskId).toBeTruthy(), { timeout: 5000 });
      w.failFal();
      const moved = await w.video('a fox that came later');
      expect(moved.provider).toBe('ark');
      expect(await w.monitor!.isDown('fal')).toBe(true);

      w.h.sim.clearFaults();
      w.h.sim.complete((await w.h.job(accepted.id)).providerTaskId!);
      const done = await w.h.engine.waitForJob(accepted.id);
      expect(done).toMatchObject({ status: 'succeeded', provider: 'fal', model: 'seedance-1-pro' });
      expect(w.h.ark!.createsFor('a fox fal accepted')).toBe(0);
      expect(w.h.sim.submissionsFor('a fox fal accepted')).toBe(1);
    });
  });

  describe('when fal refuses our key (401)', () => {
    it('skips fal at once: the same attempt goes to Ark, and the owners hear that the key is refused', async () => {
      const w = await startWorld({ fallback: true });
      w.failFal({ kind: 'respond', status: 401, body: { detail: 'Invalid API key' } }, 'submit');
      const job = await w.video('a fox with a revoked key');
      expect(job).toMatchObject({ status: 'succeeded', provider: 'ark', attempts: 1 });
      expect(w.falSubmits()).toBe(1);
      const alerts = await w.alerts();
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toContain('Provider fal refuses our API key (auth)');
    });
  });

  describe('when a probe of the down provider succeeds', () => {
    it('takes fal back (new jobs go to it again) and tells the owners once; a probe that fails or is not due changes nothing', async () => {
      const w = await startWorld({ fallback: true });
      w.failFal();
      expect((await w.video('a fox in the outage')).provider).toBe('ark');

      // Still failing: the probe (a status read) answers 500.
      await w.monitor!.probeDue();
      expect(await w.monitor!.isDown('fal')).toBe(true);
      w.h.sim.clearFaults();
      // Not due again until PROVIDER_PROBE_S has passed.
      await w.monitor!.probeDue();
      expect(await w.monitor!.isDown('fal')).toBe(true);
      w.clock.advance(PROBE_MS);
      await w.monitor!.probeDue();
      expect(await w.monitor!.isDown('fal')).toBe(false);
      await w.monitor!.probeDue();

      const back = await w.video('a fox after the recovery');
      expect(back).toMatchObject({ status: 'succeeded', provider: 'fal', model: 'seedance-1-pro' });
      const alerts = await w.alerts();
      expect(alerts).toHaveLength(2);
      expect(alerts[1]).toMatch(/^✅ Provider fal answers again \(key accepted.*\): new jobs go to it again\.$/);
    });
  });

  describe('for a model no other provider offers (Veo on kie.ai)', () => {
    it('changes nothing for its jobs: a refused key fails them as before, and the next one still goes to kie', async () => {
      const w = await startWorld({ fallback: true, kie: true });
      w.h.kie!.injectFault({ kind: 'code', code: 401, msg: 'Unauthorized' }, { routes: 'veo_generate' });
      const failed = await w.video('a veo fox refused', 'veo3.1-fast');
      expect(failed).toMatchObject({ status: 'failed', provider: 'kie', errorKind: 'auth' });
      expect(await w.monitor!.isDown('kie')).toBe(true);
      const next = await w.video('a veo fox after', 'veo3.1-fast');
      expect(next).toMatchObject({ status: 'succeeded', provider: 'kie' });
      expect(w.h.kie!.submissionsFor('a veo fox after')).toBe(1);
      const alerts = await w.alerts();
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toContain('no other provider offers its models');
    });
  });
});

describe('without provider fallback', () => {
  it('keeps every job on fal while it fails: retried, then failed and refunded, as before', async () => {
    const w = await startWorld({ fallback: false });
    w.failFal();
    const first = await w.video('a fox in the outage');
    expect(first).toMatchObject({ status: 'failed', provider: 'fal', model: 'seedance-1-pro' });
    const second = await w.video('another fox in the outage');
    expect(second).toMatchObject({ status: 'failed', provider: 'fal' });
    expect(w.h.ark!.stats).toMatchObject({ creates: 0 });
    expect((await w.h.ledgerFor(first.id)).map((e) => e.kind).sort()).toEqual(['hold', 'release']);
  });
});
