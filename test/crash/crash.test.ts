/**
 * Crash suite (issue 6): the real bot as a child process (test/crash/bot-child.ts) against the fal simulator and
 * the fake Discord and Telegram (this process runs them, so they outlive every kill), killed with SIGKILL at seeded
 * random moments while 200 jobs from 20 users run, restarted each time, then left to finish. At the end every job
 * is final, every hold is settled exactly once, every balance is what the succeeded jobs cost, no job reached the
 * provider twice and no video was posted twice (the fakes count uploads).
 *
 * Reproduce a run with its printed seed: `CRASH_SEED=<seed> npx vitest run test/crash`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startFalSimulator, type FalSimulator } from '../../src/sim/fal.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeTelegram } from '../fakes/telegram-api.js';
import { crashJobs } from './bot-child.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const CHILD = path.join(here, 'bot-child.ts');

const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 31);
const STARTING_CREDITS = 1_000_000;
const FINISH_TIMEOUT_MS = 120_000;

/** mulberry32: a small seeded PRNG, enough to replay the same kill schedule. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Child {
  proc: ChildProcess;
  started: Promise<void>;
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
}

interface LedgerRow {
  user: string;
  kind: string;
  amount: number;
  jobId: string | null;
}

describe('crash suite: SIGKILL at random moments while 200 jobs run', () => {
  let sim: FalSimulator | undefined;
  let discord: FakeDiscord | undefined;
  let telegram: FakeTelegram | undefined;
  let current: Child | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clipbot-crash-'));
  const dbFile = path.join(dir, 'clipbot.db');

  afterAll(async () => {
    if (current && current.proc.exitCode === null && current.proc.signalCode === null) {
      current.proc.kill('SIGKILL');
      await current.exited;
    }
    await sim?.close();
    await discord?.close();
    await telegram?.close();
    if (!process.env.CRASH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`[crash] data kept in ${dir}`);
  });

  function startChild(env: NodeJS.ProcessEnv, run: number): Child {
    const log = fs.openSync(path.join(dir, `child-${run}.log`), 'a');
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
        if (buffer.includes('STARTED\n')) resolve();
        const m = /SUBMITTED (\d+ \d+ \d+)\n/.exec(buffer);
        if (m) {
          child.submitted = true;
          child.intake = m[1];
        }
      });
      proc.once('exit', (code, signal) => reject(new Error(`child ${run} exited before starting (code ${code}, signal ${signal}); see child-${run}.log`)));
    });
    child.started.catch(() => {});
    return child;
  }

  function readDb<T>(read: (db: Database.Database) => T): T {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  }

  const statusCounts = (): Record<string, number> =>
    fs.existsSync(dbFile)
      ? Object.fromEntries(readDb((db) => db.prepare('select status, count(*) n from jobs group by status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]))
      : {};

  it('ends with every job final, every hold settled once, balances right, no double submit or delivery', { timeout: 300_000 }, async () => {
    const began = Date.now();
    const random = prng(SEED);
    const kills = 8 + Math.floor(random() * 5);
    console.log(`[crash] seed ${SEED}: ${kills} kills (reproduce with CRASH_SEED=${SEED})`);
    const simRandom = prng(SEED ^ 0x5eed);
    sim = await startFalSimulator({ queueMs: [20, 200], runMs: [100, 800], random: simRandom });
    discord = await FakeDiscord.start();
    telegram = await FakeTelegram.start();
    const telegramChat = telegram.group('Crash club');

    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: os.tmpdir(),
      NODE_ENV: 'test',
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      FAL_KEY: sim.key,
      FAL_QUEUE_URL: sim.url,
      FAL_JWKS_URL: sim.jwksUrl,
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
      JOB_LEASE_S: '1',
      DISCORD_TOKEN: discord.token,
      DISCORD_API_BASE: discord.apiBase,
      DISCORD_GUILD_IDS: discord.guild.id,
      TELEGRAM_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      CRASH_DISCORD_CHANNEL: discord.channelId,
      CRASH_TELEGRAM_CHAT: String(telegramChat.id),
    };

    // ---- the kills
    const killLog: string[] = [];
    /**
     * When each kill landed, and which jobs it caught between "submit sent" and "task id saved", or between
     * "video sent" and "delivery recorded".
     */
    const killMoments: { run: number; before: number; after: number; submitting: Set<string>; delivering: Set<string> }[] = [];
    for (let run = 0; run < kills; run++) {
      const delay = 100 + Math.floor(random() * 1400);
      current = startChild(env, run);
      await current.started;
      await sleep(delay);
      const before = Date.now();
      current.proc.kill('SIGKILL');
      await current.exited;
      const ids = (where: string) => new Set(readDb((db) => db.prepare(`select id from jobs where ${where}`).all() as { id: string }[]).map((r) => r.id));
      const submitting = ids(`status = 'submitting'`);
      const delivering = ids(`status = 'delivering' and delivered_at is null`);
      killMoments.push({ run, before, after: Date.now(), submitting, delivering });
      killLog.push(`kill ${run + 1} after ${delay} ms${current.submitted ? ` (intake done: ${current.intake})` : ' (during intake)'}: ${JSON.stringify(statusCounts())}`);
    }
    for (const line of killLog) console.log(`[crash] ${line}`);

    // ---- the last run, left to finish
    current = startChild(env, kills);
    await current.started;
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    let counts: Record<string, number> = {};
    for (;;) {
      counts = statusCounts();
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      const final = (counts.succeeded ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0);
      if (current.submitted && total === 200 && final === 200) break;
      if (Date.now() > deadline) break;
      if (current.proc.exitCode !== null || current.proc.signalCode !== null) break;
      await sleep(200);
    }
    current.proc.kill('SIGTERM');
    const stopTimer = setTimeout(() => current?.proc.kill('SIGKILL'), 15_000);
    const exitCode = await current.exited;
    clearTimeout(stopTimer);

    // ---- what happened (users named u00..u19 again)
    const nameOf = new Map(crashJobs().map((j) => [`${j.platform}:${j.platformUserId}`, j.user]));
    const platformOf = new Map(crashJobs().map((j) => [j.user, j.platform]));
    const named = <T extends { user: string }>(row: T): T => ({ ...row, user: nameOf.get(row.user) ?? row.user });
    const jobRows = readDb(
      (db) =>
        db
          .prepare(
            `select j.id, u.platform || ':' || u.platform_user_id user, j.status, j.price, j.prompt, j.provider_task_id providerTaskId,
                    j.delivered_at deliveredAt, j.delivery_ref deliveryRef, j.error_kind errorKind
             from jobs j join users u on u.id = j.user_id`,
          )
          .all() as JobRow[],
    ).map(named);
    const ledger = readDb(
      (db) =>
        db
          .prepare(`select u.platform || ':' || u.platform_user_id user, l.kind, l.amount, l.job_id jobId from ledger_entries l join users u on u.id = l.user_id`)
          .all() as LedgerRow[],
    ).map(named);
    const intakeKeyCount = readDb((db) => (db.prepare(`select count(*) n from intake_keys where key like 'crash:%'`).get() as { n: number }).n);
    // What members saw: each video posted, by job, where (as the job's delivery_ref names it) and when.
    const posts = new Map<string, { platform: string; ref: string; at: number }[]>();
    const addPost = (filename: string, platform: string, ref: string, at: number) => {
      const jobId = filename.replace(/\.\w+$/, '');
      posts.set(jobId, [...(posts.get(jobId) ?? []), { platform, ref, at }]);
    };
    for (const m of discord.botMessages()) for (const f of m.files) addPost(f.filename, 'discord', `${m.channelId}/${m.id}`, m.createdAt);
    for (const m of telegram.videosIn(telegramChat)) addPost(m.video!.filename, 'telegram', `${m.chatId}:${m.messageId}`, m.sentAt);
    // Discord folds a re-post with the same nonce into the message already made: count those re-posts.
    const discordUploads = discord.calls('POST', /^\/channels\/\d+\/messages$/).filter((r) => r.files.length > 0 && r.status === 200);
    const foldedReposts = discordUploads.length - discord.botMessages().filter((m) => m.files.length > 0).length;
    const doubleSubmits = [...sim.stats.submissionsByJobId].filter(([, n]) => n > 1);
    // A double submission is in the known window when the provider created the first request before a kill that
    // found the job still `submitting` (the answer with the task id had not been saved), and the second after it.
    const simRequests = sim.requests();
    const knownWindow: string[] = [];
    const unexplained: string[] = [];
    for (const [jobId] of doubleSubmits) {
      const reqs = simRequests.filter((r) => r.jobId === jobId).sort((a, b) => a.submittedAt - b.submittedAt);
      for (let i = 0; i + 1 < reqs.length; i++) {
        const first = reqs[i]!;
        const next = reqs[i + 1]!;
        const kill = killMoments.find((k) => k.submitting.has(jobId) && first.submittedAt <= k.after && next.submittedAt >= k.after);
        if (kill) knownWindow.push(`${jobId}: request created ${kill.before - first.submittedAt} ms before kill ${kill.run + 1}`);
        else unexplained.push(`${jobId}: requests at ${reqs.map((r) => r.submittedAt).join(', ')}`);
      }
    }
    // A double post is in the known window when the first went out before a kill that found the job `delivering`
    // and not recorded as delivered, and the second after it. Telegram has no idempotency key to close it;
    // Discord does (a stable nonce per job), so any double there is unexplained.
    const doublePosts = [...posts].filter(([, list]) => list.length > 1);
    const postWindow: string[] = [];
    const unexplainedPosts: string[] = [];
    for (const [jobId, list] of doublePosts) {
      const sorted = [...list].sort((a, b) => a.at - b.at);
      for (let i = 0; i + 1 < sorted.length; i++) {
        const kill = killMoments.find((k) => k.delivering.has(jobId) && sorted[i]!.at <= k.after && sorted[i + 1]!.at >= k.after);
        if (kill && sorted[i]!.platform === 'telegram') postWindow.push(`${jobId}: posted ${kill.before - sorted[i]!.at} ms before kill ${kill.run + 1}`);
        else unexplainedPosts.push(`${jobId} (${sorted[i]!.platform}): posted at ${sorted.map((p) => p.at).join(', ')}`);
      }
    }
    const byState = Object.fromEntries(['succeeded', 'failed', 'cancelled'].map((s) => [s, jobRows.filter((j) => j.status === s).length]));
    const byError = jobRows.filter((j) => j.status === 'failed').reduce<Record<string, number>>((acc, j) => ({ ...acc, [j.errorKind ?? '?']: (acc[j.errorKind ?? '?'] ?? 0) + 1 }), {});
    console.log(
       `[crash] seed ${SEED}: ${kills} kills; final run intake ${current.intake} (new, duplicates, ms), exit ${exitCode}; jobs ${JSON.stringify(byState)} failures ${JSON.stringify(byError)}; ` +
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
    expect(intakeKeyCount).toBe(expected.length);
    expect(jobRows).toHaveLength(expected.length);
    expect(jobRows.filter((j) => !['succeeded', 'failed', 'cancelled'].includes(j.status)).map((j) => `${j.id}:${j.status}`)).toEqual([]);

    // ---- each job ended as its prompt says: crashes change when, never what
    const byPrompt = new Map(jobRows.map((j) => [j.prompt, j]));
    const wrongOutcome = expected
      .map((e) => ({ e, job: byPrompt.get(e.prompt) }))
      .filter(({ e, job }) => !job || job.status !== (/\[sim:(content_policy|fail)\]/.test(e.prompt) ? 'failed' : 'succeeded'))
      .map(({ e, job }) => `${e.key}:${job?.id}:${job?.status}:${job?.errorKind}`);
    expect(wrongOutcome).toEqual([]);

    // ---- the ledger: one hold and one settlement per job, the right kind and amounts
    const entriesOf = new Map<string, LedgerRow[]>();
    for (const entry of ledger) if (entry.jobId) entriesOf.set(entry.jobId, [...(entriesOf.get(entry.jobId) ?? []), entry]);
    const ledgerProblems: string[] = [];
    for (const job of jobRows) {
      const entries = entriesOf.get(job.id) ?? [];
      const holds = entries.filter((e) => e.kind === 'hold');
      const settlements = entries.filter((e) => e.kind === 'capture' || e.kind === 'release');
      const wantKind = job.status === 'succeeded' ? 'capture' : 'release';
      if (holds.length !== 1 || holds[0]!.amount !== -job.price) ledgerProblems.push(`${job.id}: holds ${JSON.stringify(holds)}`);
      if (settlements.length !== 1 || settlements[0]!.kind !== wantKind) ledgerProblems.push(`${job.id} (${job.status}): settlements ${JSON.stringify(settlements)}`);
      else if (wantKind === 'release' && settlements[0]!.amount !== job.price) ledgerProblems.push(`${job.id}: release of ${settlements[0]!.amount}, price ${job.price}`);
      if (entries.length !== holds.length + settlements.length) ledgerProblems.push(`${job.id}: other entries ${JSON.stringify(entries)}`);
    }
    expect(ledgerProblems).toEqual([]);

    // ---- balances: starting credits minus what the succeeded jobs cost
    const users = [...new Set(expected.map((e) => e.user))];
    const balances = Object.fromEntries(users.map((u) => [u, ledger.filter((e) => e.user === u).reduce((sum, e) => sum + e.amount, 0)]));
    const wantBalances = Object.fromEntries(
      users.map((u) => [u, STARTING_CREDITS - jobRows.filter((j) => j.user === u && j.status === 'succeeded').reduce((sum, j) => sum + j.price, 0)]),
    );
    expect(balances).toEqual(wantBalances);
    expect(ledger.filter((e) => e.kind === 'starting').map((e) => e.user).sort()).toEqual(users.sort());

    // ---- the provider saw each job once, except for the known window: a kill after the provider created the
    // request and before its task id was saved. fal's queue API takes no idempotency key, so that window cannot be
    // closed from our side; it is reported above (with the seed) and must be the only source of doubles.
    // CRASH_STRICT=1 makes those fail too.
    expect(unexplained).toEqual([]);
    if (process.env.CRASH_STRICT) expect(doubleSubmits).toEqual([]);
    for (const job of jobRows) {
      expect(job.providerTaskId, `${job.id} has no provider task id`).toBeTruthy();
      expect(sim.stats.submissionsByJobId.get(job.id) ?? 0, `${job.id} submissions`).toBeGreaterThanOrEqual(1);
      // The task id kept is the request the provider made last for the job (the earlier one is orphaned).
      const reqs = simRequests.filter((r) => r.jobId === job.id).sort((a, b) => a.submittedAt - b.submittedAt);
      expect(job.providerTaskId).toBe(reqs.at(-1)?.id);
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
        expect(jobPosts.every((p) => p.platform === platformOf.get(job.user)), `${job.id} posted on its own platform`).toBe(true);
        expect(job.deliveredAt, `${job.id} delivered_at`).toBeTruthy();
        // The recorded message is the one posted last (an earlier one is the known window's double).
        expect(job.deliveryRef).toBe([...jobPosts].sort((a, b) => a.at - b.at).at(-1)!.ref);
      } else {
        expect(jobPosts, `${job.id} (${job.status}) was posted`).toEqual([]);
        expect(job.deliveredAt).toBeNull();
      }
    }
    expect([...posts.values()].reduce((n, list) => n + list.length, 0)).toBe(byState.succeeded! + postWindow.length);
  });
});
