/**
 * In-flight scale benchmark (issue 6, scenario 2): many jobs tracked at once against the fal simulator.
 * Run with `npx tsx bench/in-flight.ts [--jobs=2000] [--users=500] [--run-s=60]`; `BENCH_TRACE=1` prints memory and job
 * counts every 2 s.
 *
 * This process runs the simulator (generation takes run-s to 1.5 × run-s seconds, so every job is in flight
 * together once submitted; the catalog is told the middle of that range, as its estimates aim to be) and counts
 * its status calls; the engine runs in a fresh child process so its RSS and event
 * loop are measured alone. The child submits every request through `submitVideo` with the running-job caps
 * raised, then waits until every job is final (fetched from the simulator and delivered to a counting
 * platform). Peak RSS and event-loop delay cover the whole run, intake included.
 */
import { fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MODELS } from '../src/core/catalog.js';
import { silentLogger } from '../src/logger.js';
import { createFalProvider } from '../src/providers/fal.js';
import { startFalSimulator } from '../src/sim/fal.js';
import { tempDir } from '../test/helpers/db.js';
import { buildEngine, fmt, MIB, numberArg, report, videoRequest, type BenchRow } from './lib.js';

interface ChildJob {
  jobs: number;
  users: number;
  simUrl: string;
  jwksUrl: string;
  key: string;
  /** What the catalog says a clip takes: the middle of the simulator's generation times, as the catalog aims to be. */
  expectedSeconds: number;
}

interface ChildResult {
  submitSeconds: number;
  totalSeconds: number;
  peakRss: number;
  baselineRss: number;
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  peakRunning: number;
  succeeded: number;
}

/** Generation time at the simulator: long enough that the last job is submitted before the first finishes. */
const runS = numberArg('run-s', 60);
const RUN_MS: [number, number] = [runS * 1000, runS * 1500];

if (process.argv.includes('--measure')) {
  process.once('message', (job: ChildJob) => {
    measure(job).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
} else {
  const jobs = numberArg('jobs', 2000);
  const users = numberArg('users', 500);
  const sim = await startFalSimulator({ queueMs: 0, runMs: RUN_MS });
  try {
    const expectedSeconds = (RUN_MS[0] + RUN_MS[1]) / 2 / 1000;
    const result = await inChild({ jobs, users, simUrl: sim.url, jwksUrl: sim.jwksUrl, key: sim.key, expectedSeconds });
    const callsPerJob = sim.stats.statusCalls / jobs;
    // What fixed 3 s polling would have cost for the same run times: one call at submit, then every 3 s.
    const fixedPerJob = 1 + (RUN_MS[0] + RUN_MS[1]) / 2 / 3000;
    const rssMib = result.peakRss / MIB;
    const rows: BenchRow[] = [
      {
        scenario: `2 in-flight: peak RSS, ${fmt(jobs)} jobs`,
        figure: `${rssMib.toFixed(0)} MiB`,
        comparison: `same process before the first job: ${(result.baselineRss / MIB).toFixed(0)} MiB`,
        ratio: `+${((result.peakRss - result.baselineRss) / MIB / jobs * 1024).toFixed(0)} KiB/job`,
        goal: 'RSS < 300 MB',
        met: result.peakRss < 300e6,
      },
      {
        scenario: '2 in-flight: event-loop delay p99',
        figure: `${result.loopP99Ms.toFixed(1)} ms (max ${result.loopMaxMs.toFixed(0)} ms)`,
        comparison: `p50 ${result.loopP50Ms.toFixed(1)} ms`,
        ratio: `${(result.loopP99Ms / result.loopP50Ms).toFixed(1)}× p50`,
        goal: 'p99 < 50 ms',
        met: result.loopP99Ms < 50,
      },
      {
        scenario: '2 in-flight: status calls per job',
        figure: callsPerJob.toFixed(1),
        comparison: `fixed 3 s polling, same run times: ${fixedPerJob.toFixed(1)}`,
        ratio: `${(fixedPerJob / callsPerJob).toFixed(1)}× fewer`,
        goal: '(see scenario 3)',
      },
    ];
    report(`in-flight: ${fmt(jobs)} jobs from ${users} users against the fal simulator (generation ${RUN_MS[0] / 1000}–${RUN_MS[1] / 1000} s)`, rows, [
      `all ${fmt(jobs)} submitted in ${result.submitSeconds.toFixed(1)} s; peak jobs running at the provider together: ${fmt(result.peakRunning)}; ` +
        `all final after ${result.totalSeconds.toFixed(0)} s, ${fmt(result.succeeded)} succeeded`,
    ]);
  } finally {
    await sim.close();
  }
}

async function measure(job: ChildJob): Promise<ChildResult> {
  const { dir, cleanup } = tempDir('clipbot-bench-inflight-');
  const fal = createFalProvider({ key: job.key, queueUrl: job.simUrl, jwksUrls: [job.jwksUrl], logger: silentLogger });
  const models = MODELS.map((m) => ({ ...m, expectedSecondsPer5s: { '480p': job.expectedSeconds, '720p': job.expectedSeconds, '1080p': job.expectedSeconds } }));
  const { engine, db } = buildEngine({ dir, models, providers: new Map([['fal', fal]]) });
  try {
    const baselineRss = process.memoryUsage.rss();
    let peakRss = baselineRss;
    let peakRunning = 0;
    let ticks = 0;
    const running = db.drizzle.$client.prepare(`select count(*) from jobs where status = 'running'`).pluck();
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      peakRunning = Math.max(peakRunning, running.get() as number);
      if (process.env.BENCH_TRACE && ++ticks % 8 === 0) {
        const counts = db.drizzle.$client.prepare(`select status, count(*) n from jobs group by status`).all();
        const mem = process.memoryUsage();
        console.error(`${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(0)} s rss ${(mem.rss / MIB).toFixed(0)} MiB heap ${(mem.heapUsed / MIB).toFixed(0)}/${(mem.heapTotal / MIB).toFixed(0)} external ${(mem.external / MIB).toFixed(0)}`, JSON.stringify(counts));
      }
    }, 250);
    const started = process.hrtime.bigint();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let finals = 0;
    let allFinal: () => void = () => {};
    const done = new Promise<void>((resolve) => (allFinal = resolve));
    engine.onJobFinal(() => {
      if (++finals === job.jobs) allFinal();
    });
    await engine.start();
    for (let i = 0; i < job.jobs; i++) {
      await engine.submitVideo(videoRequest(i, job.users, { options: { resolution: '720p', duration: 5 } }));
      // Commands arrive as separate network events: let timers and I/O run between them, as they would.
      await new Promise(setImmediate);
    }
    const submitSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await done;
    const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    loop.disable();
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const succeeded = db.drizzle.$client.prepare(`select count(*) from jobs where status = 'succeeded'`).pluck().get() as number;
    return {
      submitSeconds,
      totalSeconds,
      peakRss,
      baselineRss,
      loopP50Ms: loop.percentile(50) / 1e6,
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
      peakRunning,
      succeeded,
    };
  } finally {
    await engine.stop(1000);
    await fal.close();
    await db.close();
    cleanup();
  }
}

function inChild(job: ChildJob): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--measure'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: ChildResult | undefined;
    child.once('message', (message: ChildResult) => (result = message));
    child.once('error', reject);
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`measuring process exited with ${code}`))));
    child.send(job);
  });
}

