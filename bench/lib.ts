/**
 * Shared pieces of the benchmark scripts: building the real engine on a SQLite file, percentiles, the row
 * format `run-all.ts` collects, and table printing. Nothing here talks to anything but 127.0.0.1.
 */
import os from 'node:os';
import path from 'node:path';
import { listBlockedTerms } from '../src/core/admin.js';
import { MODELS, type ModelSpec } from '../src/core/catalog.js';
import { Engine, type EngineSettings } from '../src/core/engine/engine.js';
import type { VideoRequest } from '../src/core/engine/intake.js';
import { createPrefilter } from '../src/core/moderation/prefilter.js';
import type { ChatPlatform, JobDestination, MessageRef, VideoProvider } from '../src/core/ports.js';
import { silentLogger } from '../src/logger.js';
import { readLastFramePng } from '../src/media/last-frame.js';
import { createLocalMediaStore } from '../src/media/local-store.js';
import { createSafeFetcher } from '../src/media/safe-fetch.js';
import type { Store } from '../src/core/store.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite/index.js';

/** One line of the combined table. `met` is left out where the figure has no goal of its own. */
export interface BenchRow {
  scenario: string;
  figure: string;
  comparison: string;
  ratio: string;
  goal: string;
  met?: boolean | undefined;
}

const RESULT_PREFIX = 'BENCH_RESULT ';

/** Prints the rows for a person, and once more as one JSON line when `run-all.ts` is listening. */
export function report(title: string, rows: BenchRow[], notes: string[] = []): void {
  console.log(`\n${title}\n${machine()}\n`);
  printTable([
    ['scenario', 'figure', 'comparison (same run)', 'ratio', 'goal', 'met'],
    ...rows.map((r) => [
      r.scenario,
      r.figure,
      r.comparison,
      r.ratio,
      r.goal,
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    ]),
  ]);
  for (const note of notes) console.log(`  · ${note}`);
  if (process.argv.includes('--json')) console.log(RESULT_PREFIX + JSON.stringify(rows));
}

export function parseResult(stdout: string): BenchRow[] | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  return line ? (JSON.parse(line.slice(RESULT_PREFIX.length)) as BenchRow[]) : undefined;
}

export function machine(): string {
  const cpus = os.cpus();
  return `node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'CPU'}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`;
}

export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function numberArg(name: string, fallback: number): number {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number`);
  return value;
}

export const MIB = 1024 * 1024;

/** Limits raised out of the way: the benchmarks measure the engine's cost, not its refusals. */
export const OPEN_SETTINGS: EngineSettings = {
  defaultModel: 'seedance-1-pro',
  startingCredits: 1_000_000,
  freeDailyCredits: 0,
  rateLimitJobs: 1_000_000,
  rateLimitWindowS: 600,
  userMaxPendingJobs: 1_000_000,
  dailyJobQuota: 1_000_000,
  maxRunningJobs: 1_000_000,
  providerMaxRunningJobs: 1_000_000,
  userMaxRunningJobs: 1_000_000,
  statusChecksPerSecond: 1_000_000,
  statusEditIntervalMs: 5000,
  maxResultBytes: 5 * MIB,
  maxInputImageBytes: MIB,
  mediaIsPublic: false,
};

export interface BenchEngine<S extends Store = SqliteStore> {
  engine: Engine;
  /** The store (SQLite unless one was given): SQLite benches read their figures straight from its rows (`db.drizzle.$client`). */
  db: S;
  platform: CountingPlatform;
}

/**
 * A chat platform that only counts what the engine asked of it. A real adapter sends and forgets; keeping every
 * text (as the tests' RecordingPlatform does) would add its own memory to the engine's figures.
 */
export class CountingPlatform implements ChatPlatform {
  readonly id = 'console' as const;
  readonly counts = { posts: 0, edits: 0, deliveries: 0, notices: 0 };

  async postStatus(dest: JobDestination): Promise<MessageRef> {
    return { platform: this.id, chatId: dest.chatId, messageId: `m${++this.counts.posts}` };
  }
  async editStatus(): Promise<boolean> {
    this.counts.edits++;
    return true;
  }
  async deliver(): Promise<{ ref: string }> {
    return { ref: `d${++this.counts.deliveries}` };
  }
  async notify(): Promise<void> {
    this.counts.notices++;
  }
}

/** The real engine (as `main.ts` wires it) on the given store or a SQLite file in `dir`, with a counting chat platform. */
export function buildEngine<S extends Store = SqliteStore>(opts: {
  dir: string;
  db?: S;
  providers?: ReadonlyMap<string, VideoProvider>;
  settings?: Partial<EngineSettings>;
  models?: readonly ModelSpec[];
  publicBaseUrl?: string;
}): BenchEngine<S> {
  const db = opts.db ?? (openSqliteStore(path.join(opts.dir, 'clipbot.db')) as Store as S);
  const platform = new CountingPlatform();
  const engine = new Engine({
    db,
    clock: { now: () => Date.now() },
    logger: silentLogger,
    models: opts.models ?? MODELS,
    providers: opts.providers ?? new Map(),
    platforms: new Map([['console', platform]]),
    store: createLocalMediaStore({
      dir: path.join(opts.dir, 'media'),
      publicBaseUrl: opts.publicBaseUrl ?? 'http://127.0.0.1:9',
    }),
    fetcher: createSafeFetcher({ allowCidrs: ['127.0.0.0/8'], deadlineMs: 60_000 }),
    lastFramePng: readLastFramePng,
    prefilter: createPrefilter({
      configTerms: ['forbiddenword'],
      loadDbTerms: () => listBlockedTerms(db),
      failOpen: false,
      logger: silentLogger,
    }),
    settings: { ...OPEN_SETTINGS, ...opts.settings },
  });
  return { engine, db, platform };
}

/** A `/video` request from one of `users` members, each with a unique intake key. */
export function videoRequest(i: number, users: number, extra: Partial<VideoRequest> = {}): VideoRequest {
  const user = `u${i % users}`;
  return {
    identity: { platform: 'console', platformUserId: user, displayName: user },
    dest: { platform: 'console', chatId: `chat${i % 50}`, userId: user },
    intakeKey: `console:chat:${i}`,
    prompt: `a red fox running through fresh snow at dawn, cinematic, take ${i}`,
    modelId: 'seedance-1-pro',
    options: { resolution: '480p', duration: 5 },
    ...extra,
  };
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
