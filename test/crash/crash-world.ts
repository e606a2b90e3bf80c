/**
 * What both crash suites share (crash.test.ts: one process on SQLite; crash-postgres.test.ts: three on PostgreSQL):
 * the fal simulator and the fake Discord and Telegram in this process (so they outlive every kill), the bot as child
 * processes (bot-child.ts) killed with SIGKILL at seeded random moments and restarted, then left to finish, and the
 * checks on what happened: every job final, every hold settled once, balances exact, no double submission or
 * delivery outside the windows no idempotency key closes (design.md §2, steps 5 and 8).
 *
 * The database is read through `CrashDb`, the test's own SQL (portable between SQLite and PostgreSQL), never the store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { startFalSimulator } from '../../src/sim/fal.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { crashJobs } from './bot-child.js';
import { mulberry32 } from '../helpers/prng.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const CHILD = path.join(here, 'bot-child.ts');

const STARTING_CREDITS = 1_000_000;
/** JOB_LEASE_S of the children: a killed or stalled bot's jobs are taken over this long after its last renewal. */
const LEASE_MS = 1000;
const FINISH_TIMEOUT_MS = 120_000;

/** CRASH_SEED when set (to replay a run), else a new one; always printed. */
export const crashSeed = (): number =>
  process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The bot's database as the test reads it: plain SQL that SQLite and PostgreSQL both take, numbers as numbers. */
export interface CrashDb {
  rows<T>(sql: string): Promise<T[]>;
}

export interface CrashRunOptions {
  seed: number;
  /** Bots running at once on the same database; one of them is killed at a time. */
  processes: number;
  /** DATA_DIR of every child (their media; the SQLite file too when no DATABASE_URL is given) and their logs. */
  dir: string;
  db: CrashDb;
  /** Settings of the child with this index (0-based) on top of the common ones. */
  env?: (index: number) => NodeJS.ProcessEnv;
}

interface Child {
  proc: ChildProcess;
  started: Promise<void>;
  /** The engine's worker id, from the child's STARTED line: the jobs it runs carry it. */
  workerId?: string;
  submitted: boolean;
  /** `new duplicates ms` from the child's SUBMITTED line. */
  intake?: string;
  exited: Promise<number | null>;
}

interface JobRow {
  id: string;
  user: string;
  status: string;
  price: number;
  prompt: string;
  providerTaskId: string | null;
  deliveredAt: number | null;
  deliveryRef: string | null;
  errorKind: string | null;
  errorMessage: string | null;
}

interface LedgerRow {
  user: string;
  kind: string;
  amount: number;
  jobId: string | null;
}

/**
 * A kill (SIGKILL; `after`: once it was dead) or a stall (SIGSTOP until SIGCONT at `after`, longer than the lease, so
 * the others take its jobs over while it still lives), and which of that worker's jobs it caught `submitting` or
 * `delivering` (not recorded as delivered yet). Or a lapse: a bot slow enough on this busy machine (a one-second
 * lease) that another took a job over while it lived on, as its runner's stand-down says (`after`: when it did).
 */
interface Moment {
  kind: 'kill' | 'stall' | 'lapse';
  n: number;
  before: number;
  after: number;
  submitting: Set<string>;
  delivering: Set<string>;
}

/**
 * Whether `moment` explains a second request or post at `next` after one at `first`, for a job it caught. After a
 * kill: the first went out before the dead worker could record it, the second after. After a stall: the stalled
 * worker and the one that took the job over each sent one, in either order (a request already on its way when the
 * worker stopped arrives after it resumed; the lease fences only what it writes), the later one no later than a lease
 * after the stall.
 */
function explains(moment: Moment, first: number, next: number): boolean {
  if (moment.kind === 'kill') return first <= moment.after && next >= moment.after;
  if (moment.kind === 'stall') return next >= moment.before && first <= moment.after + LEASE_MS;
  // The bot that lost the lease noticed only afterwards; its request or post went out before.
  return first <= moment.after;
}

function describeMoment(moment: Moment, first: number): string {
  if (moment.kind === 'kill') return `${moment.before - first} ms before kill ${moment.n}`;
  if (moment.kind === 'stall') return `around stall ${moment.n} (${first - moment.before} ms after it began)`;
  return `${moment.after - first} ms before a live bot that had lost its lease stood down`;
}

/** The children's log lines that mention `text`. */
function childLogLines(dir: string, text: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^child-.*\.log$/.test(f))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n'))
    .filter((line) => line.includes(text));
}

/** Lapses, from the children's logs: each job whose runner found it taken over while its bot lived on. */
function lapses(dir: string): Moment[] {
  const found: Moment[] = [];
  for (const line of childLogLines(dir, 'this runner stands down')) {
    const { jobId, time } = JSON.parse(line) as { jobId: string; time: number };
    found.push({
      kind: 'lapse',
      n: found.length + 1,
      before: time,
      after: time,
      submitting: new Set([jobId]),
      delivering: new Set([jobId]),
    });
  }
  return found;
}

/**
 * One crash run, start to end, with its assertions: `processes` children on `db`, 8 to 12 SIGKILLs of a random one
 * (the only one when there is one) after a random 100–1500 ms, each restarted at once, then all left to finish.
 */
export async function crashRun({ seed, processes, dir, db, env: envOf = () => ({}) }: CrashRunOptions): Promise<void> {
  const began = Date.now();
  const random = mulberry32(seed);
  const kills = 8 + Math.floor(random() * 5);
  const tag = processes === 1 ? '[crash]' : `[crash ×${processes}]`;
  console.log(`${tag} seed ${seed}: ${kills} kills (reproduce with CRASH_SEED=${seed})`);
  const sim = await startFalSimulator({ queueMs: [20, 200], runMs: [100, 800], random: mulberry32(seed ^ 0x5eed) });
  const discord = await FakeDiscord.start();
  const telegram = await FakeTelegram.start();
  const fleet: Child[] = [];
  try {
    const telegramChat = telegram.group('Crash club');
    const common: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: os.tmpdir(),
      NODE_ENV: 'test',
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
      // Each child its own port.
      HTTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      FETCH_ALLOW_CIDRS: '127.0.0.0/8',
      STATUS_EDIT_INTERVAL_MS: '0',
      STARTING_CREDITS: String(STARTING_CREDITS),
      FREE_DAILY_CREDITS: '0',
      RATE_LIMIT_JOBS: '100000',
      USER_MAX_PENDING_JOBS: '100000',
      DAILY_JOB_QUOTA: '100000',
      MAX_RUNNING_JOBS: '16',
      PROVIDER_MAX_RUNNING_JOBS: '16',
      USER_MAX_RUNNING_JOBS: '16',
      SHUTDOWN_GRACE_S: '5',
      // A killed bot's jobs are resumed once its lease runs out: keep that wait short.
      JOB_LEASE_S: String(LEASE_MS / 1000),
      DISCORD_TOKEN: discord.token,
      DISCORD_API_BASE: discord.apiBase,
      DISCORD_GUILD_IDS: discord.guild.id,
      TELEGRAM_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      CRASH_DISCORD_CHANNEL: discord.channelId,
      CRASH_TELEGRAM_CHAT: String(telegramChat.id),
    };
    let generation = 0;
    const start = (index: number) =>
      startChild(
        { ...common, CRASH_FIRST_JOB: String(Math.floor((index * crashJobs().length) / processes)), ...envOf(index) },
        dir,
        `child-${index}-${generation++}`,
      );
    const alive = (child: Child) => child.proc.exitCode === null && child.proc.signalCode === null;

    const statusCounts = async (): Promise<Record<string, number>> => {
      try {
        const rows = await db.rows<{ status: string; n: number }>(
          'select status, count(*) as n from jobs group by status',
        );
        return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
      } catch {
        return {}; // not there yet: no child has created the database
      }
    };

    // ---- the kills
    for (let i = 0; i < processes; i++) fleet.push(start(i));
    await Promise.all(fleet.map((c) => c.started));
    const killLog: string[] = [];
    const moments: Moment[] = [];
    // Only the victim's jobs: the others' are mid-flight in live processes.
    const jobsOf = async (victim: Child, where: string) =>
      new Set(
        (await db.rows<{ id: string }>(`select id from jobs where worker_id = '${victim.workerId}' and ${where}`)).map(
          (r) => r.id,
        ),
      );
    let stalls = 0;
    for (let run = 0; run < kills; run++) {
      const delay = 100 + Math.floor(random() * 1400);
      await sleep(delay);
      const index = processes === 1 ? 0 : Math.floor(random() * processes);
      const victim = fleet[index]!;
      const before = Date.now();
      victim.proc.kill('SIGKILL');
      await victim.exited;
      const submitting = await jobsOf(victim, `status = 'submitting'`);
      const delivering = await jobsOf(victim, `status = 'delivering' and delivered_at is null`);
      moments.push({ kind: 'kill', n: run + 1, before, after: Date.now(), submitting, delivering });
      killLog.push(
        `kill ${run + 1}${processes === 1 ? '' : ` of child ${index}`} after ${delay} ms${victim.submitted ? ` (intake done: ${victim.intake})` : ' (during intake)'}: ${JSON.stringify(await statusCounts())}`,
      );
      fleet[index] = start(index);
      await fleet[index].started;
      // With others beside it, a bot may also stall past its lease (a long GC pause, a starved VM) and live on.
      if (processes > 1 && random() < 0.4) {
        const stalled = fleet[Math.floor(random() * processes)]!;
        const stallMs = LEASE_MS + 500 + Math.floor(random() * 1000);
        const stoppedAt = Date.now();
        stalled.proc.kill('SIGSTOP');
        const submitting = await jobsOf(stalled, `status = 'submitting'`);
        const delivering = await jobsOf(stalled, `status = 'delivering' and delivered_at is null`);
        await sleep(stallMs);
        stalled.proc.kill('SIGCONT');
        moments.push({ kind: 'stall', n: ++stalls, before: stoppedAt, after: Date.now(), submitting, delivering });
        killLog.push(
          `stall ${stalls} of child ${fleet.indexOf(stalled)} for ${stallMs} ms: ${JSON.stringify(await statusCounts())}`,
        );
      }
    }
    for (const line of killLog) console.log(`${tag} ${line}`);

    // ---- left to finish
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    for (;;) {
      const counts = await statusCounts();
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      const final = (counts.succeeded ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0);
      if (fleet.some((c) => c.submitted) && total === 200 && final === 200) break;
      if (Date.now() > deadline) break;
      if (!fleet.every(alive)) break;
      await sleep(200);
    }
    const exitCodes = await Promise.all(
      fleet.map(async (child) => {
        child.proc.kill('SIGTERM');
        const stopTimer = setTimeout(() => child.proc.kill('SIGKILL'), 15_000);
        const code = await child.exited;
        clearTimeout(stopTimer);
        return code;
      }),
    );

    // ---- what happened (users named u00..u19 again)
    const nameOf = new Map(crashJobs().map((j) => [`${j.platform}:${j.platformUserId}`, j.user]));
    const platformOf = new Map(crashJobs().map((j) => [j.user, j.platform]));
    const named = <T extends { user: string }>(row: T): T => ({ ...row, user: nameOf.get(row.user) ?? row.user });
    const jobRows = (
      await db.rows<JobRow>(
        `select j.id, u.platform || ':' || u.platform_user_id as "user", j.status, j.price, j.prompt, j.provider_task_id as "providerTaskId",
                j.delivered_at as "deliveredAt", j.delivery_ref as "deliveryRef", j.error_kind as "errorKind", j.error_message as "errorMessage"
         from jobs j join users u on u.id = j.user_id`,
      )
    ).map(named);
    const ledger = (
      await db.rows<LedgerRow>(
        `select u.platform || ':' || u.platform_user_id as "user", l.kind, l.amount, l.job_id as "jobId" from ledger_entries l join users u on u.id = l.user_id`,
      )
    ).map(named);
    const [{ n: intakeKeyCount } = { n: 0 }] = await db.rows<{ n: number }>(
      `select count(*) as n from intake_keys where key like 'crash:%'`,
    );
    // What members saw: each video posted, by job, where (as the job's delivery_ref names it) and when.
    const posts = new Map<string, { platform: string; ref: string; at: number }[]>();
    const addPost = (filename: string, platform: string, ref: string, at: number) => {
      const jobId = filename.replace(/\.\w+$/, '');
      posts.set(jobId, [...(posts.get(jobId) ?? []), { platform, ref, at }]);
    };
    for (const m of discord.botMessages())
      for (const f of m.files) addPost(f.filename, 'discord', `${m.channelId}/${m.id}`, m.createdAt);
    for (const m of telegram.videosIn(telegramChat))
      addPost(m.video!.filename, 'telegram', `${m.chatId}:${m.messageId}`, m.sentAt);
    // Discord folds a re-post with the same nonce into the message already made: count those re-posts.
    const discordUploads = discord
      .calls('POST', /^\/channels\/\d+\/messages$/)
      .filter((r) => r.files.length > 0 && r.status === 200);
    const foldedReposts = discordUploads.length - discord.botMessages().filter((m) => m.files.length > 0).length;
    moments.push(...lapses(dir));
    const doubleSubmits = [...sim.stats.submissionsByJobId].filter(([, n]) => n > 1);
    // A double submission is in the known window when the provider created the first request before a kill that
    // found the job still `submitting` in the killed worker (the answer with the task id had not been saved), and the
    // second after it.
    const simRequests = sim.requests();
    const knownWindow: string[] = [];
    const unexplained: string[] = [];
    /** Jobs doubled by a bot that lost them alive: the one kept may be the earlier (the later one is fenced off). */
    const takenFromLive = new Set<string>();
    for (const [jobId] of doubleSubmits) {
      const reqs = simRequests.filter((r) => r.jobId === jobId).sort((a, b) => a.submittedAt - b.submittedAt);
      for (let i = 0; i + 1 < reqs.length; i++) {
        const first = reqs[i]!;
        const next = reqs[i + 1]!;
        const moment = moments.find((m) => m.submitting.has(jobId) && explains(m, first.submittedAt, next.submittedAt));
        if (moment) knownWindow.push(`${jobId}: request created ${describeMoment(moment, first.submittedAt)}`);
        else unexplained.push(`${jobId}: requests at ${reqs.map((r) => r.submittedAt).join(', ')}`);
        if (moment && moment.kind !== 'kill') takenFromLive.add(jobId);
      }
    }
    // A double post is in the known window when the first went out before a kill that found the job `delivering`
    // in the killed worker and not recorded as delivered, and the second after it. Telegram has no idempotency key
    // to close it; Discord does (a stable nonce per job), so any double there is unexplained.
    const doublePosts = [...posts].filter(([, list]) => list.length > 1);
    const postWindow: string[] = [];
    const unexplainedPosts: string[] = [];
    for (const [jobId, list] of doublePosts) {
      const sorted = [...list].sort((a, b) => a.at - b.at);
      for (let i = 0; i + 1 < sorted.length; i++) {
        const moment = moments.find((m) => m.delivering.has(jobId) && explains(m, sorted[i]!.at, sorted[i + 1]!.at));
        if (moment && sorted[i]!.platform === 'telegram')
          postWindow.push(`${jobId}: posted ${describeMoment(moment, sorted[i]!.at)}`);
        else
          unexplainedPosts.push(`${jobId} (${sorted[i]!.platform}): posted at ${sorted.map((p) => p.at).join(', ')}`);
        if (moment && moment.kind !== 'kill') takenFromLive.add(jobId);
      }
    }
    const byState = Object.fromEntries(
      ['succeeded', 'failed', 'cancelled'].map((s) => [s, jobRows.filter((j) => j.status === s).length]),
    );
    // Our bug (a step crashed): what the children logged about the job, so a failed run explains itself.
    const internal = jobRows
      .filter((j) => j.errorKind === 'internal')
      .map(
        (j) =>
          `${j.id}: ${j.errorMessage} ${childLogLines(dir, j.id)
            .filter((l) => /"level":(50|60)/.test(l))
            .join(' ')}`,
      );
    if (internal.length) console.log(`${tag} internal failures: ${internal.join('; ')}`);
    // A job that succeeded without its video in the chat: what the children logged about it (warnings and up).
    const unposted = jobRows
      .filter((j) => j.status === 'succeeded' && !posts.has(j.id))
      .map(
        (j) =>
          `${j.id} (delivery_ref ${j.deliveryRef}): ${childLogLines(dir, j.id)
            .filter((l) => /"level":(40|50|60)/.test(l))
            .join(' ')}`,
      );
    if (unposted.length) console.log(`${tag} succeeded without a video posted: ${unposted.join('; ')}`);
    const byError = jobRows
      .filter((j) => j.status === 'failed')
      .reduce<Record<string, number>>(
        (acc, j) => ({ ...acc, [j.errorKind ?? '?']: (acc[j.errorKind ?? '?'] ?? 0) + 1 }),
        {},
      );
    console.log(
      `${tag} seed ${seed}: ${kills} kills${stalls ? `, ${stalls} stalls` : ''}${moments.some((m) => m.kind === 'lapse') ? `, ${moments.filter((m) => m.kind === 'lapse').length} jobs taken from a live bot` : ''}; last intake ${fleet.map((c) => c.intake ?? '-').join(' | ')} (new, duplicates, ms), exit ${exitCodes.join(' ')}; ` +
        `jobs ${JSON.stringify(byState)} failures ${JSON.stringify(byError)}; ` +
        `simulator submissions ${sim.stats.submissions} (submit calls ${sim.stats.submitCalls}, status calls ${sim.stats.statusCalls}); ` +
        `double submissions ${doubleSubmits.length} (in the submit→save window: ${knownWindow.length}${knownWindow.length ? ` [${knownWindow.join('; ')}]` : ''}; ` +
        `unexplained: ${unexplained.length}${unexplained.length ? ` [${unexplained.join('; ')}]` : ''}); ` +
        `videos posted ${[...posts.values()].reduce((n, list) => n + list.length, 0)} (Discord re-posts folded by the nonce: ${foldedReposts}); ` +
        `double posts ${doublePosts.length} (in the send→record window: ${postWindow.length}${postWindow.length ? ` [${postWindow.join('; ')}]` : ''}; ` +
        `unexplained: ${unexplainedPosts.length}${unexplainedPosts.length ? ` [${unexplainedPosts.join('; ')}]` : ''}); ` +
        `${((Date.now() - began) / 1000).toFixed(1)} s`,
    );

    // ---- every job exists once and is final
    const expected = crashJobs();
    expect(Number(intakeKeyCount)).toBe(expected.length);
    expect(jobRows).toHaveLength(expected.length);
    expect(
      jobRows.filter((j) => !['succeeded', 'failed', 'cancelled'].includes(j.status)).map((j) => `${j.id}:${j.status}`),
    ).toEqual([]);

    // ---- each job ended as its prompt says: crashes change when, never what
    const byPrompt = new Map(jobRows.map((j) => [j.prompt, j]));
    const wrongOutcome = expected
      .map((e) => ({ e, job: byPrompt.get(e.prompt) }))
      .filter(
        ({ e, job }) =>
          !job || job.status !== (/\[sim:(content_policy|fail)\]/.test(e.prompt) ? 'failed' : 'succeeded'),
      )
      .map(({ e, job }) => `${e.key}:${job?.id}:${job?.status}:${job?.errorKind}`);
    expect(wrongOutcome).toEqual([]);

    // ---- the ledger: one hold and one settlement per job, the right kind and amounts
    const entriesOf = new Map<string, LedgerRow[]>();
    for (const entry of ledger)
      if (entry.jobId) entriesOf.set(entry.jobId, [...(entriesOf.get(entry.jobId) ?? []), entry]);
    const ledgerProblems: string[] = [];
    for (const job of jobRows) {
      const entries = entriesOf.get(job.id) ?? [];
      const holds = entries.filter((e) => e.kind === 'hold');
      const settlements = entries.filter((e) => e.kind === 'capture' || e.kind === 'release');
      const wantKind = job.status === 'succeeded' ? 'capture' : 'release';
      if (holds.length !== 1 || holds[0]!.amount !== -job.price)
        ledgerProblems.push(`${job.id}: holds ${JSON.stringify(holds)}`);
      if (settlements.length !== 1 || settlements[0]!.kind !== wantKind)
        ledgerProblems.push(`${job.id} (${job.status}): settlements ${JSON.stringify(settlements)}`);
      else if (wantKind === 'release' && settlements[0]!.amount !== job.price)
        ledgerProblems.push(`${job.id}: release of ${settlements[0]!.amount}, price ${job.price}`);
      if (entries.length !== holds.length + settlements.length)
        ledgerProblems.push(`${job.id}: other entries ${JSON.stringify(entries)}`);
    }
    expect(ledgerProblems).toEqual([]);

    // ---- balances: starting credits minus what the succeeded jobs cost
    const users = [...new Set(expected.map((e) => e.user))];
    const balances = Object.fromEntries(
      users.map((u) => [u, ledger.filter((e) => e.user === u).reduce((sum, e) => sum + e.amount, 0)]),
    );
    const wantBalances = Object.fromEntries(
      users.map((u) => [
        u,
        STARTING_CREDITS -
          jobRows.filter((j) => j.user === u && j.status === 'succeeded').reduce((sum, j) => sum + j.price, 0),
      ]),
    );
    expect(balances).toEqual(wantBalances);
    expect(
      ledger
        .filter((e) => e.kind === 'starting')
        .map((e) => e.user)
        .sort(),
    ).toEqual(users.sort());

    // ---- the provider saw each job once, except for the known window: a kill after the provider created the
    // request and before its task id was saved. fal's queue API takes no idempotency key, so that window cannot be
    // closed from our side; it is reported above (with the seed) and must be the only source of doubles.
    // CRASH_STRICT=1 makes those fail too.
    expect(unexplained).toEqual([]);
    if (process.env.CRASH_STRICT) expect(doubleSubmits).toEqual([]);
    for (const job of jobRows) {
      expect(job.providerTaskId, `${job.id} has no provider task id`).toBeTruthy();
      expect(sim.stats.submissionsByJobId.get(job.id) ?? 0, `${job.id} submissions`).toBeGreaterThanOrEqual(1);
      // The task id kept is the request the provider made last for the job (the earlier one is orphaned), or after a
      // stall or a lapse one of them (whichever the worker holding the job made).
      const reqs = simRequests.filter((r) => r.jobId === job.id).sort((a, b) => a.submittedAt - b.submittedAt);
      if (takenFromLive.has(job.id)) expect(reqs.map((r) => r.id)).toContain(job.providerTaskId);
      else expect(job.providerTaskId).toBe(reqs.at(-1)?.id);
    }
    if (!process.env.CRASH_STRICT) expect(sim.stats.submissions).toBe(expected.length + knownWindow.length);

    // ---- each video posted once and recorded as delivered, except for the known window: a kill after Telegram
    // took the video and before the delivery was saved (Telegram has no idempotency key). CRASH_STRICT=1 fails those.
    expect(unexplainedPosts).toEqual([]);
    if (process.env.CRASH_STRICT) expect(doublePosts).toEqual([]);
    for (const job of jobRows) {
      const jobPosts = posts.get(job.id) ?? [];
      if (job.status === 'succeeded') {
        expect(jobPosts.length, `${job.id} videos posted`).toBeGreaterThanOrEqual(1);
        expect(
          jobPosts.every((p) => p.platform === platformOf.get(job.user)),
          `${job.id} posted on its own platform`,
        ).toBe(true);
        expect(job.deliveredAt, `${job.id} delivered_at`).toBeTruthy();
        // The recorded message is the one posted last (an earlier one is the known window's double), or after a stall or
        // a lapse one of them.
        if (takenFromLive.has(job.id)) expect(jobPosts.map((p) => p.ref)).toContain(job.deliveryRef);
        else expect(job.deliveryRef).toBe([...jobPosts].sort((a, b) => a.at - b.at).at(-1)!.ref);
      } else {
        expect(jobPosts, `${job.id} (${job.status}) was posted`).toEqual([]);
        expect(job.deliveredAt).toBeNull();
      }
    }
    expect([...posts.values()].reduce((n, list) => n + list.length, 0)).toBe(byState.succeeded! + postWindow.length);
  } finally {
    await Promise.all(
      fleet.map(async (child) => {
        if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
        child.proc.kill('SIGKILL');
        await child.exited;
      }),
    );
    await sim.close();
    await discord.close();
    await telegram.close();
  }
}

function startChild(env: NodeJS.ProcessEnv, dir: string, name: string): Child {
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: root, env, stdio: ['ignore', 'pipe', log] });
  fs.closeSync(log);
  const child: Child = {
    proc,
    submitted: false,
    started: undefined as unknown as Promise<void>,
    exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))),
  };
  child.started = new Promise((resolve, reject) => {
    let buffer = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const started = /STARTED (\S+)\n/.exec(buffer);
      if (started) {
        child.workerId = started[1]!;
        resolve();
      }
      const m = /SUBMITTED (\d+ \d+ \d+)\n/.exec(buffer);
      if (m) {
        child.submitted = true;
        child.intake = m[1]!;
      }
    });
    proc.once('exit', (code, signal) =>
      reject(new Error(`${name} exited before starting (code ${code}, signal ${signal}); see ${name}.log`)),
    );
  });
  child.started.catch(() => {});
  return child;
}
