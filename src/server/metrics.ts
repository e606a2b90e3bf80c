import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { creditTotals } from '../core/credits/ledger.js';
import { jobCounts, queueDepth } from '../core/engine/job-queries.js';
import type { EngineObserver } from '../core/ports.js';
import type { Store } from '../core/store.js';

/**
 * Prometheus metrics for /metrics. Counts of what exists (jobs by state, queue depth, credits) are read from
 * the store at scrape time, so they are right after a restart; events (durations, errors, rejected webhooks,
 * platform 429s) are counted as they happen.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly observer: EngineObserver;
  webhookRejected(provider: string): void;
  platformRateLimited(platform: string): void;
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(db: Store): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'clipbot_process_' });

  new Gauge({
    name: 'clipbot_jobs',
    help: 'Jobs by status, provider and model',
    labelNames: ['status', 'provider', 'model'],
    registers: [registry],
    async collect() {
      const rows = await jobCounts(db);
      // Reset once the rows are in, so a scrape running meanwhile never reads an emptied gauge.
      this.reset();
      for (const r of rows) this.set({ status: r.status, provider: r.provider, model: r.model }, r.n);
    },
  });
  new Gauge({
    name: 'clipbot_queue_depth',
    help: 'Jobs waiting to start',
    registers: [registry],
    async collect() {
      this.set(await queueDepth(db));
    },
  });
  new Gauge({
    name: 'clipbot_credits',
    help: 'Credits held by unfinished jobs, captured by succeeded jobs, and released (refunded)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const { held, captured, released } = await creditTotals(db);
      this.set({ state: 'held' }, held);
      this.set({ state: 'captured' }, captured);
      this.set({ state: 'released' }, released);
    },
  });
  const duration = new Histogram({
    name: 'clipbot_job_duration_seconds',
    help: 'From intake to the final state',
    labelNames: ['provider', 'model', 'status'],
    buckets: [15, 30, 60, 90, 120, 180, 300, 600, 900, 1800],
    registers: [registry],
  });
  const providerErrors = new Counter({
    name: 'clipbot_provider_errors_total',
    help: 'Provider call failures by kind',
    labelNames: ['provider', 'kind'],
    registers: [registry],
  });
  const webhookRejections = new Counter({
    name: 'clipbot_webhook_verification_failures_total',
    help: 'Webhooks refused (bad signature, stale, malformed)',
    labelNames: ['provider'],
    registers: [registry],
  });
  const platform429 = new Counter({
    name: 'clipbot_platform_rate_limited_total',
    help: 'HTTP 429 answers from chat platforms',
    labelNames: ['platform'],
    registers: [registry],
  });

  return {
    registry,
    observer: {
      jobFinished: (job) =>
        duration.observe({ provider: job.provider, model: job.model, status: job.status }, job.seconds),
      providerError: (provider, kind) => providerErrors.inc({ provider, kind }),
    },
    webhookRejected: (provider) => webhookRejections.inc({ provider }),
    platformRateLimited: (platform) => platform429.inc({ platform }),
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
