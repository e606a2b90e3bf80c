import type { ModelSpec } from '../catalog.js';
import type { OwnerNotifier } from '../alerts/owner-notifier.js';
import { ProviderError } from '../errors.js';
import { patchJob } from '../engine/job-state.js';
import type { Clock, Logger } from '../ports.js';
import type { Job, Store } from '../store.js';
import { modelsWithTwins, twinMove } from './twins.js';

/**
 * Provider fallback (PROVIDER_FALLBACK=on). A provider that keeps refusing new jobs (PROVIDER_FALLBACK_ERRORS
 * transient submit failures in a row, or at once when it refuses our account: bad key, no funds) is marked down,
 * and a job that no provider has accepted yet (no provider task id) moves at submit time to its model's twin on a
 * healthy provider (health/twins.ts). A job a provider accepted is never sent elsewhere. The member pays the price
 * they were quoted: the hold stays as it is, whatever the twin costs; the job's estimated USD cost becomes the twin's,
 * so the spend caps count what the owner really pays.
 *
 * The state is a table every process shares (provider_health): the processes skip a provider together, and only the
 * process whose guarded write marks it down (or up again) tells the owners, so an alert is told once, not per
 * process. A down provider is probed (a free authenticated call, the doctor's) every PROVIDER_PROBE_S by one process;
 * when a probe succeeds it is healthy again, and the owners are told.
 */

export interface ProviderHealthSettings {
  /** PROVIDER_FALLBACK_ERRORS: transient submit failures in a row that mark a provider down. */
  failuresInARow: number;
  /** PROVIDER_PROBE_S, in ms: how often a down provider is probed. */
  probeIntervalMs: number;
}

/** A free call that tells whether the provider takes our key again; `detail` is for the owners. */
export type ProviderProbe = () => Promise<{ ok: boolean; detail: string }>;

export interface ProviderHealthDeps {
  db: Store;
  clock: Clock;
  logger: Logger;
  notifier: OwnerNotifier;
  models: readonly ModelSpec[];
  /** The configured providers: a twin elsewhere is used only when its provider is configured. */
  providers: ReadonlySet<string>;
  probes: ReadonlyMap<string, ProviderProbe>;
  settings: ProviderHealthSettings;
}

/** What the engine's runner asks and tells at each submit attempt. */
export interface ProviderHealth {
  /**
   * The job (not accepted by any provider yet) as it should be submitted now: moved to its model's twin when its
   * provider is down and the twin's is not (a guarded write, fenced by the runner's lease epoch), else unchanged.
   */
  route(job: Job): Promise<Job>;
  submitAccepted(provider: string): Promise<void>;
  submitFailed(provider: string, error: unknown): Promise<void>;
}

/** The member's input was refused: the provider answered, so it is up. */
const NOT_THE_PROVIDER = new Set(['validation', 'content_policy']);
const ACCOUNT_PROBLEMS = new Set(['auth', 'insufficient_funds']);

export class ProviderHealthMonitor implements ProviderHealth {
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly deps: ProviderHealthDeps) {
    this.log = deps.logger.child({ component: 'provider-health' });
  }

  /** Probes down providers every probe interval (unref'd: it never keeps the process alive). */
  start(): void {
    this.timer = setInterval(() => void this.probeDue(), this.deps.settings.probeIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.probing;
  }

  async isDown(provider: string): Promise<boolean> {
    return (await this.deps.db.providerHealth.get(provider))?.downSince != null;
  }

  async route(job: Job): Promise<Job> {
    if (job.providerTaskId || !(await this.isDown(job.provider))) return job;
    const move = twinMove(job, this.deps.models);
    if (!move || !this.deps.providers.has(move.model.provider) || (await this.isDown(move.model.provider))) return job;
    const change = {
      model: move.model.id,
      provider: move.model.provider,
      providerModel: move.providerModel,
      costUsd: move.costUsd,
    };
    if (!(await patchJob(this.deps.db, this.deps.clock, job.id, 'submitting', change, job.leaseEpoch))) return job;
    this.log.info({ jobId: job.id, from: job.model, to: move.model.id }, 'provider down: job moved to the twin model');
    return { ...job, ...change };
  }

  async submitAccepted(provider: string): Promise<void> {
    await this.deps.db.providerHealth.clearFailures(provider);
  }

  async submitFailed(provider: string, error: unknown): Promise<void> {
    if (!(error instanceof ProviderError)) return;
    const health = this.deps.db.providerHealth;
    if (NOT_THE_PROVIDER.has(error.kind)) return health.clearFailures(provider);
    if (ACCOUNT_PROBLEMS.has(error.kind)) {
      const what = error.kind === 'auth' ? 'refuses our API key' : 'says our account is out of funds';
      return this.markDown(provider, error.kind, `🛑 Provider ${provider} ${what} (${error.kind})`);
    }
    const n = await health.countFailure(provider);
    if (n >= this.deps.settings.failuresInARow) {
      await this.markDown(
        provider,
        error.kind,
        `⚠️ Provider ${provider} failed ${n} submits in a row (last: ${error.kind})`,
      );
    }
  }

  /** Probes each down provider whose probe is due, one process per provider and interval. */
  probeDue(): Promise<void> {
    return (this.probing ??= this.probeAll().finally(() => (this.probing = undefined)));
  }

  private async probeAll(): Promise<void> {
    try {
      const now = this.deps.clock.now();
      for (const row of await this.deps.db.providerHealth.down()) {
        if (
          !(await this.deps.db.providerHealth.claimProbe(
            row.provider,
            now,
            now - this.deps.settings.probeIntervalMs + 1,
          ))
        )
          continue;
        const probe = this.deps.probes.get(row.provider);
        const answer = probe
          ? await probe().catch((error: unknown) => ({ ok: false, detail: String(error) }))
          : { ok: true, detail: 'no probe for it' };
        if (!answer.ok) {
          this.log.info({ provider: row.provider, detail: answer.detail }, 'provider still down');
          continue;
        }
        if (await this.deps.db.providerHealth.markUp(row.provider)) {
          this.deps.notifier.alert({
            kind: 'provider_back',
            level: 'info',
            text: `✅ Provider ${row.provider} answers again (${answer.detail}): new jobs go to it again.`,
            fields: { provider: row.provider, downSince: row.downSince },
          });
        }
      }
    } catch (error) {
      this.log.warn({ err: error }, 'provider probe round failed');
    }
  }

  private async markDown(provider: string, reason: string, what: string): Promise<void> {
    if (!(await this.deps.db.providerHealth.markDown(provider, reason, this.deps.clock.now()))) return;
    const twins = modelsWithTwins(provider, this.deps.models, this.deps.providers);
    const then = twins.length
      ? `new jobs for ${twins.map((m) => m.id).join(', ')} go to the same model on another provider until a probe of ${provider} succeeds.`
      : `no other provider offers its models, so their jobs still go to it; owners are told when a probe succeeds.`;
    this.deps.notifier.alert({ kind: 'provider_skipped', text: `${what}: ${then}`, fields: { provider, reason } });
  }
}
