import { afterEach, describe, expect, it } from 'vitest';
import { createOwnerNotifier, type OwnerNotifier } from '../../src/core/alerts/owner-notifier.js';
import { createProviderAlerts } from '../../src/core/alerts/provider-alerts.js';
import { createSpendAlerts, type SpendAlertSettings } from '../../src/core/alerts/spend-alerts.js';
import { combineObservers } from '../../src/core/observers.js';
import type { ChatPlatform, Clock, JobDestination } from '../../src/core/ports.js';
import type { Store } from '../../src/core/store.js';
import { createLogger } from '../../src/logger.js';
import { EngineHarness, RecordingPlatform } from '../helpers/engine-harness.js';

/**
 * Owner alerts through the real engine (temp SQLite, fal adapter against the fal simulator): spend nearing and
 * reaching the caps, a provider that keeps failing or refuses our account. Alerts go to a recording chat platform
 * (the outside world) and to a pino log the test reads.
 */

const DAY = 86_400_000;
const OWNERS = ['console:olga', 'discord:310000000000000001', 'console:oleg', 'telegram:5678'];

interface LogLine {
  level: number;
  msg: string;
  alert?: string;
  [field: string]: unknown;
}

/** The system clock moved by whole days when a test says so (the engine's timers still run in real time). */
function movableClock(start: number): Clock & { advance(ms: number): void } {
  const origin = Date.now();
  let offset = start - origin;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

class World {
  readonly logs: LogLine[] = [];
  /** The chat OWNER_ALERT_CHAT points at; the engine's own platform records requesters' messages. */
  readonly alertChat: ChatPlatform & { notices: { dest: JobDestination; text: string }[] };
  notifier!: OwnerNotifier;
  h!: EngineHarness;
  readonly clock: ReturnType<typeof movableClock>;

  constructor(
    private readonly opts: {
      chat?: string;
      spend?: Partial<SpendAlertSettings>;
      errorsInARow?: number;
      alertChat?: RecordingPlatform;
      start?: number;
    },
  ) {
    this.alertChat = opts.alertChat ?? new RecordingPlatform();
    this.clock = movableClock(opts.start ?? Date.UTC(2026, 10, 20, 12));
  }

  async start(): Promise<this> {
    const logger = createLogger('info', { write: (line: string) => void this.logs.push(JSON.parse(line) as LogLine) });
    const caps = {
      budgetDailyUsd: this.opts.spend?.budgetDailyUsd,
      budgetMonthlyUsd: this.opts.spend?.budgetMonthlyUsd,
    };
    this.h = await EngineHarness.start({
      clock: this.clock,
      settings: caps,
      observer: (db: Store) => {
        this.notifier = createOwnerNotifier({
          logger,
          platforms: new Map([['console', this.alertChat]]),
          chat: this.opts.chat,
          ownerIds: OWNERS,
        });
        return combineObservers(
          logger,
          createSpendAlerts({
            db,
            clock: this.clock,
            notifier: this.notifier,
            settings: { warnPercent: 80, ...this.opts.spend, ...caps },
          }),
          createProviderAlerts({
            clock: this.clock,
            notifier: this.notifier,
            settings: { errorsInARow: this.opts.errorsInARow ?? 5 },
          }),
        );
      },
    });
    return this;
  }

  /** Queues `n` videos ($0.15 each: seedance-1-pro, 5 s at 480p) from different members. */
  async queue(n: number, tag = 'v'): Promise<void> {
    for (let i = 0; i < n; i++) await this.h.submit(`${tag}${i % 20}`, `a fox number ${i}`);
  }

  /** The alerts logged (they are raised in the background: waits for them first). */
  async alerts(kind?: string): Promise<LogLine[]> {
    await this.notifier.settled();
    return this.logs.filter((l) => l.alert !== undefined && (kind === undefined || l.alert === kind));
  }

  /** What reached the alert chat (sends run in the background: waits for them first). */
  async texts(): Promise<string[]> {
    await this.notifier.settled();
    return this.alertChat.notices.map((n) => n.text);
  }
}

let world: World | undefined;
afterEach(async () => {
  await world?.h.close();
  world = undefined;
});

async function startWorld(opts: ConstructorParameters<typeof World>[0]): Promise<World> {
  world = await new World(opts).start();
  return world;
}

describe('owner alerts', () => {
  describe('when spend crosses BUDGET_WARN_PERCENT of the daily cap, then reaches it', () => {
    it('tells the owners once for each, in OWNER_ALERT_CHAT, pinging the owners on that platform and nobody else', async () => {
      const w = await startWorld({ chat: 'console:owners', spend: { budgetDailyUsd: 1, warnPercent: 50 } });
      await w.queue(3);
      expect(await w.alerts()).toEqual([]);
      await w.queue(1); // $0.60 of $1.00
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['budget_near']);
      await w.queue(2); // $0.90: still near, told already
      await expect(w.h.submit('late', 'one more fox')).rejects.toMatchObject({ identifier: 'budget_exceeded' });
      await expect(w.h.submit('later', 'and another')).rejects.toMatchObject({ identifier: 'budget_exceeded' });

      expect((await w.alerts()).map((a) => [a.alert, a.level])).toEqual([
        ['budget_near', 40],
        ['budget_reached', 40],
      ]);
      expect((await w.alerts('budget_near'))[0]).toMatchObject({
        period: 'daily',
        spentUsd: 0.6,
        capUsd: 1,
        percent: 60,
      });
      expect((await w.alerts('budget_reached'))[0]).toMatchObject({ period: 'daily', spentUsd: 0.9, capUsd: 1 });
      expect(await w.texts()).toEqual([
        '⚠️ Provider spend is nearing its cap: $0.60 of the $1.00 daily cap spent today (60%, estimated). New videos will be refused at the cap (BUDGET_DAILY_USD).',
        '🛑 Provider spend cap reached: $0.90 of the $1.00 daily cap spent today (90%, estimated). New videos are refused until 00:00 UTC; raise BUDGET_DAILY_USD to allow more.',
      ]);
      for (const { dest } of w.alertChat.notices) {
        expect(dest).toMatchObject({ platform: 'console', chatId: 'owners', mentionUserIds: ['olga', 'oleg'] });
      }
      // The requesters' chat heard nothing of it.
      expect(w.h.platform.notices).toEqual([]);
    });

    it('tells them again when the next day starts', async () => {
      const w = await startWorld({ chat: 'console:owners', spend: { budgetDailyUsd: 1, warnPercent: 50 } });
      await w.queue(4);
      w.clock.advance(DAY);
      await w.queue(3, 'd2-');
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['budget_near']);
      await w.queue(1, 'd2x-');
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['budget_near', 'budget_near']);
      expect(await w.texts()).toHaveLength(2);
    });

    it('does not repeat an alert after a restart within the same day', async () => {
      const w = await startWorld({ chat: 'console:owners', spend: { budgetDailyUsd: 1, warnPercent: 50 } });
      await w.queue(4);
      await w.h.crash();
      await w.h.boot();
      await w.queue(1, 'after-');
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['budget_near']);
      expect(await w.texts()).toHaveLength(1);
    });

    it('says so straight away when a job is refused before spend ever reached the warning line', async () => {
      const w = await startWorld({ chat: 'console:owners', spend: { budgetDailyUsd: 0.2, warnPercent: 90 } });
      await w.queue(1); // $0.15 = 75%
      await expect(w.h.submit('late', 'one more fox')).rejects.toMatchObject({ identifier: 'budget_exceeded' });
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['budget_reached']);
    });
  });

  describe('when spend nears the monthly cap', () => {
    it('tells the owners once that month, whatever the day, and again the next month', async () => {
      const w = await startWorld({
        chat: 'console:owners',
        spend: { budgetMonthlyUsd: 1, warnPercent: 50 },
        start: Date.UTC(2026, 10, 29, 12),
      });
      await w.queue(4);
      w.clock.advance(DAY); // 30 November
      await w.queue(1, 'nov30-');
      expect((await w.alerts()).map((a) => [a.alert, a.period])).toEqual([['budget_near', 'monthly']]);
      w.clock.advance(DAY); // 1 December
      await w.queue(4, 'dec-');
      expect((await w.alerts()).map((a) => [a.alert, a.period])).toEqual([
        ['budget_near', 'monthly'],
        ['budget_near', 'monthly'],
      ]);
      expect((await w.texts())[0]).toMatch(/spent this month .*BUDGET_MONTHLY_USD/);
    });
  });

  describe('when OWNER_ALERT_CHAT is unset', () => {
    it('only logs the alert, as a warning with its figures', async () => {
      const w = await startWorld({ spend: { budgetDailyUsd: 1, warnPercent: 50 } });
      await w.queue(4);
      expect(await w.alerts()).toEqual([
        expect.objectContaining({ alert: 'budget_near', level: 40, component: 'owner-alerts', spentUsd: 0.6 }),
      ]);
      expect(w.alertChat.notices).toEqual([]);
      expect(w.h.platform.notices).toEqual([]);
    });
  });

  describe('when the alert chat cannot be reached', () => {
    it('logs why, and the member’s job is queued all the same', async () => {
      class DeadChat extends RecordingPlatform {
        override async notify(): Promise<void> {
          throw new Error('Missing Access');
        }
      }
      const w = await startWorld({
        chat: 'console:owners',
        alertChat: new DeadChat(),
        spend: { budgetDailyUsd: 0.2, warnPercent: 50 },
      });
      const job = await w.h.submit('ann', 'a fox');
      await w.notifier.settled();
      expect(await w.h.job(job.id)).toBeDefined();
      expect(await w.alerts('budget_near')).toHaveLength(2);
      expect((await w.alerts('budget_near'))[1]).toMatchObject({
        level: 40,
        msg: 'owner alert could not be sent to OWNER_ALERT_CHAT',
        err: expect.objectContaining({ message: 'Missing Access' }),
      });
      expect((await w.h.engine.waitForJob(job.id)).status).toBe('succeeded');
    });
  });

  describe('when a provider keeps failing', () => {
    it('tells the owners once after PROVIDER_ALERT_ERRORS errors in a row, then that it recovered, and again after a new run of errors', async () => {
      const w = await startWorld({ chat: 'console:owners', errorsInARow: 5 });
      w.h.sim.injectFault({ kind: 'server_error', status: 500 }, { routes: 'submit', times: 1000 });
      // Four attempts per job (three retried, the last one fails it): the fifth error in a row is the second job's first.
      const first = await w.h.submit('ann', 'a fox');
      expect((await w.h.engine.waitForJob(first.id)).errorKind).toBe('transient');
      expect(await w.alerts()).toEqual([]);
      for (const user of ['bob', 'cy']) {
        const job = await w.h.submit(user, 'a fox');
        await w.h.engine.waitForJob(job.id);
      }
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['provider_failing']);
      expect((await w.alerts())[0]).toMatchObject({
        level: 40,
        provider: 'fal',
        errorsInARow: 5,
        errorKind: 'transient',
      });

      w.h.sim.clearFaults();
      const ok = await w.h.submit('dee', 'a fox');
      expect((await w.h.engine.waitForJob(ok.id)).status).toBe('succeeded');
      expect((await w.alerts()).map((a) => [a.alert, a.level])).toEqual([
        ['provider_failing', 40],
        ['provider_recovered', 30],
      ]);

      w.h.sim.injectFault({ kind: 'server_error', status: 500 }, { routes: 'submit', times: 1000 });
      for (const user of ['eve', 'fay']) await w.h.engine.waitForJob((await w.h.submit(user, 'a fox')).id);
      expect((await w.alerts()).map((a) => a.alert)).toEqual([
        'provider_failing',
        'provider_recovered',
        'provider_failing',
      ]);
      expect(await w.texts()).toEqual([
        '⚠️ Provider fal keeps failing: 5 errors in a row (last: transient) with no successful video in between.',
        '✅ Provider fal has recovered: a video succeeded again.',
        '⚠️ Provider fal keeps failing: 5 errors in a row (last: transient) with no successful video in between.',
      ]);
      for (const { dest } of w.alertChat.notices) expect(dest.mentionUserIds).toEqual(['olga', 'oleg']);
    });

    it('counts nothing for jobs the provider refused for their content', async () => {
      const w = await startWorld({ chat: 'console:owners', errorsInARow: 2 });
      for (const user of ['ann', 'bob', 'cy'])
        await w.h.engine.waitForJob((await w.h.submit(user, 'a fox [sim:content_policy_input]')).id);
      expect(w.h.platform.notices).toHaveLength(3);
      expect(await w.alerts()).toEqual([]);
    });
  });

  describe('when the provider refuses our account', () => {
    it('tells the owners at the first error, once until the cool-down has passed', async () => {
      const w = await startWorld({ chat: 'console:owners', errorsInARow: 5 });
      w.h.sim.injectFault(
        { kind: 'respond', status: 401, body: { detail: 'Invalid API key' } },
        { routes: 'submit', times: 1000 },
      );
      const first = await w.h.submit('ann', 'a fox');
      expect((await w.h.engine.waitForJob(first.id)).errorKind).toBe('auth');
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['provider_account']);
      expect(await w.texts()).toEqual([
        '🛑 Provider fal refuses our API key (auth): its jobs fail until an owner fixes the account or key.',
      ]);

      for (const user of ['bob', 'cy']) await w.h.engine.waitForJob((await w.h.submit(user, 'a fox')).id);
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['provider_account']);

      w.clock.advance(61 * 60_000);
      await w.h.engine.waitForJob((await w.h.submit('dee', 'a fox')).id);
      expect((await w.alerts()).map((a) => a.alert)).toEqual(['provider_account', 'provider_account']);
    });
  });
});
