/**
 * In-flight scale benchmark (issue 6, scenario 2): many jobs tracked at once against the fal simulator.
 * Run with `npx tsx bench/in-flight.ts [--jobs=2000] [--users=500] [--run-s=60] [--checks-per-s=N] [--hold-s=N]`;
 * `BENCH_TRACE=1` prints memory and job counts every 2 s. `--checks-per-s` paces status looks as
 * PROVIDER_STATUS_CHECKS_PER_S does (unpaced by default); `--hold-s` ends the run that long after every job is in
 * flight, without waiting for them to finish (the way to measure 100,000 in flight in minutes rather than an hour).
 *
 * This process runs the simulator (generation takes run-s to 1.5 × run-s seconds, so every job is in flight
 * together once submitted; the catalog is told the middle of that range, as its estimates aim to be) and counts
 * its status calls; the engine runs in a fresh child process so its RSS and event
 * loop are measured alone. The child submits every request through `submitVideo` with the running-job caps
 * raised, then waits until every job is final (fetched from the simulator and delivered to a counting
 * platform). Peak RSS and event-loop delay cover the whole run, intake included.
 *
 * Goal (issue 13 §4): 100,000 jobs in flight in one process under 1 GB RSS, event-loop p99 < 50 ms. A smaller run is
 * judged by its RSS per job, projected to 100,000. To run the goal itself (`--jobs=100000`), `--run-s` must exceed the
 * time submission takes, or the first jobs finish before the last is in flight (the notes say so): 10,000 took 45–106 s
 * on 2 shared CPUs, and each intake's scheduler pump counts the jobs at providers (9 ms with 100,000 in flight).
 *
 * Where the memory goes (heap snapshots: `BENCH_HEAP_AT=1000,4000 npx tsx bench/in-flight.ts --jobs=4500 --run-s=120`,
 * then `npx tsx bench/heap-compare.ts inflight-1000.heapsnapshot inflight-4000.heapsnapshot <jobs between>`): a
 * running job waiting for its next poll holds 4.2 KB of live heap: its job row (an object, ~15 strings, a property
 * array, timestamps as heap numbers), the last status text the coalescer keeps, two suspended async functions (the
 * runner's `run` and `trackStep`: generators and their register arrays), the sleep (a promise, its reactions, the
 * wake closures, a Timeout) and its entries in the engine's maps. Before the SQLite writer gate turned async-context
 * tracking off between transactions, every promise also carried async ids (7.8 KB/job then, with half of the jobs
 * waiting for a submit at that snapshot). RSS is 2.5× the live heap with every job asleep (+10.5 KiB/job at 10,000)
 * and peaks when jobs poll densely and finish: that churn, not the jobs held, sets the peak.
 */
import { fork } from 'node:child_process';
import { writeHeapSnapshot } from 'node:v8';
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
  /** PROVIDER_STATUS_CHECKS_PER_S; unpaced when absent. */
  checksPerSecond?: number | undefined;
  /** Stop this long after every job is in flight instead of waiting for them to finish. */
  holdSeconds?: number | undefined;
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
  /** Peak RSS while every job was in flight and none had finished yet: what holding them costs, before the churn of finishing. */
  allInFlightRss: number;
}

/** Generation time at the simulator: long enough that the last job is submitted before the first finishes. */
const runS = numberArg('run-s', 60);
const RUN_MS: [number, number] = [runS * 1000, runS * 1500];
/** Issue 13 §4: 100,000 jobs in flight in one process under 1 GB RSS, event-loop p99 < 50 ms. */
const GOAL_JOBS = 100_000;
const GOAL_RSS = 1e9;

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
  const checksPerSecond = numberArg('checks-per-s', 0) || undefined;
  const holdSeconds = numberArg('hold-s', 0) || undefined;
  const sim = await startFalSimulator({ queueMs: 0, runMs: RUN_MS });
  try {
    const expectedSeconds = (RUN_MS[0] + RUN_MS[1]) / 2 / 1000;
    const result = await inChild({
      jobs,
      users,
      simUrl: sim.url,
      jwksUrl: sim.jwksUrl,
      key: sim.key,
      expectedSeconds,
      checksPerSecond,
      holdSeconds,
    });
    const callsPerJob = sim.stats.statusCalls / jobs;
    // What fixed 3 s polling would have cost for the same run times: one call at submit, then every 3 s.
    const fixedPerJob = 1 + (RUN_MS[0] + RUN_MS[1]) / 2 / 3000;
    const rssMib = result.peakRss / MIB;
    const perJob = (result.peakRss - result.baselineRss) / jobs;
    // The issue's goal is 100,000 jobs under 1 GB; a smaller run is judged by where its growth per job leads.
    const at100k = jobs >= GOAL_JOBS ? result.peakRss : result.baselineRss + perJob * GOAL_JOBS;
    const perJobBudget = (GOAL_RSS - result.baselineRss) / GOAL_JOBS;
    const pacing = checksPerSecond ? `, status looks paced at ${fmt(checksPerSecond)}/s` : '';
    const rows: BenchRow[] = [
      {
        scenario: `2 in-flight: peak RSS, ${fmt(jobs)} jobs`,
        figure: `${rssMib.toFixed(0)} MiB`,
        comparison: `same process before the first job: ${(result.baselineRss / MIB).toFixed(0)} MiB`,
        ratio: jobs >= GOAL_JOBS ? '' : `at ${fmt(GOAL_JOBS)} jobs (projected): ${(at100k / MIB).toFixed(0)} MiB`,
        goal: `RSS < 1 GB at ${fmt(GOAL_JOBS)} jobs`,
        met: at100k < GOAL_RSS,
      },
      {
        scenario: '2 in-flight: RSS per job in flight',
        figure: `${(perJob / 1024).toFixed(1)} KiB`,
        comparison: `(peak − before) / ${fmt(jobs)} jobs`,
        ratio: `${(perJob / perJobBudget).toFixed(2)}× the budget`,
        goal: `< ${(perJobBudget / 1024).toFixed(1)} KiB (1 GB at ${fmt(GOAL_JOBS)})`,
        met: perJob < perJobBudget,
      },
      {
        scenario: '2 in-flight: event-loop delay p99',
        figure: `${result.loopP99Ms.toFixed(1)} ms (max ${result.loopMaxMs.toFixed(0)} ms)`,
        comparison: `p50 ${result.loopP50Ms.toFixed(1)} ms`,
        ratio: `${(result.loopP99Ms / result.loopP50Ms).toFixed(1)}× p50`,
        goal: 'p99 < 50 ms',
        met: result.loopP99Ms < 50,
      },
      // Jobs left unfinished (--hold-s) have not made their calls yet.
      ...(holdSeconds
        ? []
        : [
            {
              scenario: '2 in-flight: status calls per job',
              figure: callsPerJob.toFixed(1),
              comparison: `fixed 3 s polling, same run times: ${fixedPerJob.toFixed(1)}`,
              ratio: `${(fixedPerJob / callsPerJob).toFixed(1)}× fewer`,
              goal: '(see scenario 3)',
            },
          ]),
    ];
    report(
      `in-flight: ${fmt(jobs)} jobs from ${users} users against the fal simulator (generation ${RUN_MS[0] / 1000}–${RUN_MS[1] / 1000} s)`,
      rows,
      [
        `all ${fmt(jobs)} submitted in ${result.submitSeconds.toFixed(1)} s; peak jobs running at the provider together: ${fmt(result.peakRunning)}; ` +
          (holdSeconds
            ? `held ${holdSeconds} s with all in flight, then stopped (${result.totalSeconds.toFixed(0)} s in all${pacing}); none was waited for to finish`
            : `all final after ${result.totalSeconds.toFixed(0)} s, ${fmt(result.succeeded)} succeeded${pacing}`),
        result.allInFlightRss
          ? `RSS with all ${fmt(jobs)} in flight and none finished: ${(result.allInFlightRss / MIB).toFixed(0)} MiB ` +
            `(+${((result.allInFlightRss - result.baselineRss) / jobs / 1024).toFixed(1)} KiB/job)` +
            (holdSeconds ? '' : '; the peak comes with the dense polls and downloads of the end')
          : 'the first jobs finished before the last was submitted: raise --run-s',
      ],
    );
  } finally {
    await sim.close();
  }
}

async function measure(job: ChildJob): Promise<ChildResult> {
  const { dir, cleanup } = tempDir('clipbot-bench-inflight-');
  const fal = createFalProvider({ key: job.key, queueUrl: job.simUrl, jwksUrls: [job.jwksUrl], logger: silentLogger });
  const models = MODELS.map((m) => ({
    ...m,
    expectedSecondsPer5s: { '480p': job.expectedSeconds, '720p': job.expectedSeconds, '1080p': job.expectedSeconds },
  }));
  const settings = job.checksPerSecond ? { statusChecksPerSecond: job.checksPerSecond } : {};
  const { engine, db } = buildEngine({ dir, models, providers: new Map([['fal', fal]]), settings });
  try {
    const baselineRss = process.memoryUsage.rss();
    let peakRss = baselineRss;
    let peakRunning = 0;
    let allInFlightRss = 0;
    let finals = 0;
    let ticks = 0;
    const running = db.drizzle.$client.prepare(`select count(*) from jobs where status = 'running'`).pluck();
    // BENCH_HEAP_AT=2000,10000: a heap snapshot (in the working directory) once that many jobs are running.
    const snapshotsAt = (process.env.BENCH_HEAP_AT ?? '').split(',').filter(Boolean).map(Number);
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      const runningNow = running.get() as number;
      peakRunning = Math.max(peakRunning, runningNow);
      if (runningNow === job.jobs && finals === 0) allInFlightRss = Math.max(allInFlightRss, process.memoryUsage.rss());
      if (snapshotsAt.length && runningNow >= snapshotsAt[0]!)
        console.error(
          `heap snapshot at ${runningNow} running: ${writeHeapSnapshot(`inflight-${snapshotsAt.shift()}.heapsnapshot`)}`,
        );
      if (process.env.BENCH_TRACE && ++ticks % 8 === 0) {
        const counts = db.drizzle.$client.prepare(`select status, count(*) n from jobs group by status`).all();
        const mem = process.memoryUsage();
        console.error(
          `${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(0)} s rss ${(mem.rss / MIB).toFixed(0)} MiB heap ${(mem.heapUsed / MIB).toFixed(0)}/${(mem.heapTotal / MIB).toFixed(0)} external ${(mem.external / MIB).toFixed(0)}`,
          JSON.stringify(counts),
        );
      }
    }, 250);
    const started = process.hrtime.bigint();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
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
    if (job.holdSeconds) await holdInFlight(() => running.get() as number, job.jobs, job.holdSeconds);
    else await done;
    const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    loop.disable();
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    const succeeded = db.drizzle.$client
      .prepare(`select count(*) from jobs where status = 'succeeded'`)
      .pluck()
      .get() as number;
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
      allInFlightRss,
    };
  } finally {
    await engine.stop(1000);
    await fal.close();
    await db.close();
    cleanup();
  }
}

/** Waits until every job is running at the provider, then `seconds` more (status looks go on meanwhile). */
async function holdInFlight(runningNow: () => number, jobs: number, seconds: number): Promise<void> {
  while (runningNow() < jobs) await new Promise((resolve) => setTimeout(resolve, 250));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

function inChild(job: ChildJob): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--measure'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ChildResult | undefined;
    child.once('message', (message: ChildResult) => (result = message));
    child.once('error', reject);
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`measuring process exited with ${code}`)),
    );
    child.send(job);
  });
}
