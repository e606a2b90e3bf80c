/**
 * Intake benchmark (issue 6, scenario 1): `/video` requests accepted per second through the real engine path
 * (prompt validation, prefilter, per-user limits, budget, ledger hold, job insert, status post, scheduler
 * pump) on a SQLite file in WAL mode, beside the same number of plain single-row inserts, each in its own
 * transaction, on a file opened the same way.
 * Run with `npx tsx bench/intake.ts [--n=2000] [--queue=50] [--growing=400] [--users=200]`.
 *
 * Requests are sent one after another, as a single bot process handles them (each is mostly synchronous
 * SQLite work). Nothing starts at a provider: `maxRunningJobs` is 0, so no provider is ever called. Since
 * every intake pumps the scheduler, which re-reads every queued job, the cost depends on the queue depth:
 * the main figure keeps the queue at most `--queue` deep (between requests, untimed, queued jobs beyond it
 * are marked cancelled in SQL, standing in for jobs that started), and a second run lets it grow.
 */
import path from 'node:path';
import { openDb } from '../db/client.js';
import { silentLogger } from '../src/logger.js';
import { createFalProvider } from '../src/providers/fal.js';
import { startFalSimulator } from '../src/sim/fal.js';
import { tempDir } from '../test/helpers/db.js';
import { buildEngine, fmt, numberArg, percentile, report, videoRequest, type BenchRow } from './lib.js';

const n = numberArg('n', 2000);
const queueCap = numberArg('queue', 50);
const growingN = numberArg('growing', 400);
const users = numberArg('users', 200);
const WARMUP = 100;

const { dir, cleanup } = tempDir('clipbot-bench-intake-');
try {
  const intake = await measureIntake(n, queueCap);
  const growing = await measureIntake(growingN, Infinity);
  const raw = measureRawInserts();
  const rate = n / intake.seconds;
  const rawRate = n / raw.seconds;
  const sorted = [...intake.latencies].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const decile = (k: number) => {
    const slice = growing.latencies.slice(Math.floor((k * growingN) / 10), Math.floor(((k + 1) * growingN) / 10)).sort((a, b) => a - b);
    return percentile(slice, 50);
  };
  const rows: BenchRow[] = [
    {
      scenario: '1 intake: accepted /video per second',
      figure: `${fmt(rate)}/s (${fmt(n)} requests, ${users} users, queue ≤ ${queueCap})`,
      comparison: `raw single-row insert txns: ${fmt(rawRate)}/s`,
      ratio: `raw is ${(rawRate / rate).toFixed(1)}× faster`,
      goal: '≥ 1,000/s and within 5× of raw',
      met: rate >= 1000 && rawRate / rate <= 5,
    },
    {
      scenario: '1 intake: latency p50 / p99',
      figure: `${p50.toFixed(2)} ms / ${p99.toFixed(2)} ms`,
      comparison: `raw insert p50 / p99: ${percentile(raw.sorted, 50).toFixed(3)} / ${percentile(raw.sorted, 99).toFixed(3)} ms`,
      ratio: `${(p99 / percentile(raw.sorted, 99)).toFixed(0)}× (p99)`,
      goal: 'p99 < 20 ms',
      met: p99 < 20,
    },
    {
      scenario: `1 intake: queue growing to ${fmt(growingN)}`,
      figure: `${fmt(growingN / growing.seconds)}/s, p99 ${percentile([...growing.latencies].sort((a, b) => a - b), 99).toFixed(1)} ms`,
      comparison: `queue ≤ ${queueCap}: ${fmt(rate)}/s`,
      ratio: `${(rate / (growingN / growing.seconds)).toFixed(1)}× slower`,
      goal: '(same goals)',
      met: growingN / growing.seconds >= 1000 && percentile([...growing.latencies].sort((a, b) => a - b), 99) < 20,
    },
  ];
  report(`intake: /video requests one after another, SQLite WAL file, nothing started at a provider`, rows, [
    `growing queue, median latency by tenth of the run: ${Array.from({ length: 10 }, (_, k) => decile(k).toFixed(1)).join(' · ')} ms`,
    `${WARMUP} untimed warm-up requests first; jobs accepted: ${fmt(intake.accepted)} + ${fmt(growing.accepted)}`,
  ]);
} finally {
  cleanup();
}

async function measureIntake(count: number, depth: number): Promise<{ seconds: number; latencies: number[]; accepted: number }> {
  // The provider must be configured for its models to be offered; the simulator proves it is never called.
  const sim = await startFalSimulator();
  const fal = createFalProvider({ key: sim.key, queueUrl: sim.url, jwksUrl: sim.jwksUrl, logger: silentLogger });
  const { engine, db } = buildEngine({ dir: path.join(dir, `engine-${depth}`), providers: new Map([['fal', fal]]), settings: { maxRunningJobs: 0 } });
  try {
    const sqlite = db.drizzle.$client;
    const drain = sqlite.prepare(`update jobs set status = 'cancelled', finished_at = ?, updated_at = ? where status = 'queued'`);
    for (let i = 0; i < WARMUP; i++) await engine.submitVideo(videoRequest(count + i, users));
    if (Number.isFinite(depth)) drain.run(Date.now(), Date.now());
    const latencies: number[] = [];
    let untimedNs = 0n;
    const started = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      const result = await engine.submitVideo(videoRequest(i, users));
      const t1 = process.hrtime.bigint();
      latencies.push(Number(t1 - t0) / 1e6);
      if (result.duplicate) throw new Error('a fresh intake key was treated as a duplicate');
      if ((i + 1) % depth === 0) {
        drain.run(Date.now(), Date.now());
        untimedNs += process.hrtime.bigint() - t1;
      }
    }
    const seconds = Number(process.hrtime.bigint() - started - untimedNs) / 1e9;
    const accepted = (sqlite.prepare(`select count(*) from jobs where status in ('queued', 'cancelled')`).pluck().get() as number) - WARMUP;
    if (accepted !== count) throw new Error(`expected ${count} accepted jobs, found ${accepted}`);
    await engine.stop(0);
    if (sim.calls.length) throw new Error(`the provider was called ${sim.calls.length} times`);
    return { seconds, latencies, accepted };
  } finally {
    await db.close();
    await fal.close();
    await sim.close();
  }
}

/** The floor: one INSERT of a job-sized row per transaction, same file settings (WAL, synchronous=NORMAL). */
function measureRawInserts(): { seconds: number; sorted: number[] } {
  const db = openDb(path.join(dir, 'raw', 'raw.db'));
  try {
    const sqlite = db.$client;
    sqlite.exec('create table plain (id text primary key, user_id integer not null, prompt text not null, created_at integer not null)');
    const insert = sqlite.prepare('insert into plain (id, user_id, prompt, created_at) values (?, ?, ?, ?)');
    const insertOne = sqlite.transaction((i: number) => insert.run(`w${i}`, i % users, videoRequest(i, users).prompt, Date.now()));
    for (let i = 0; i < WARMUP; i++) insertOne(n + i);
    const latencies: number[] = [];
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      insertOne(i);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { seconds, sorted: latencies.sort((a, b) => a - b) };
  } finally {
    db.$client.close();
  }
}
