import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectRevenue } from '../../src/core/admin.js';
import { queuePositions } from '../../src/core/engine/scheduler.js';
import type { JobStatus, LedgerEntryRow, NewJobRow, Store, StoreTx, User } from '../../src/core/store.js';

/**
 * What every store adapter promises (src/core/store.ts), checked the same way on each: every operation of every
 * repo, the guards that make one of several racing actors win, and transactions (all or nothing, serialisable).
 * `open` gives a fresh, empty store for each test; the suite closes it.
 */

const DAY_MS = 86_400_000;
/** "Today" for the reports and quotas; jobs are made at noon. */
const DAY_START = Date.UTC(2026, 2, 10);
const NOW = DAY_START + DAY_MS / 2;

let jobCount = 0;

function jobRow(userId: number, over: Partial<NewJobRow> = {}): NewJobRow {
  return {
    id: `job-${++jobCount}`,
    userId,
    status: 'queued',
    platform: 'discord',
    chatId: 'channel-1',
    guildId: 'g1',
    requestMessageId: null,
    locale: null,
    uploadLimitBytes: null,
    model: 'seedance-lite',
    provider: 'fal',
    providerModel: 'fal-ai/seedance/text-to-video',
    prompt: 'a cat on a skateboard',
    params: { durationS: 5, resolution: '720p', aspectRatio: '16:9' },
    inputImageUrl: null,
    inputMediaKey: null,
    price: 40,
    costUsd: 0.25,
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  };
}

/** The ledger entry a job's hold is. */
function hold(userId: number, jobId: string, price: number, createdAt = NOW): LedgerEntryRow {
  return { userId, kind: 'hold', amount: -price, jobId, createdAt };
}

function byKey<T>(rows: T[], key: (row: T) => string): T[] {
  return [...rows].sort((a, b) => key(a).localeCompare(key(b)));
}

/** A promise and the function that resolves it: a point one async flow waits at until another lets it through. */
function gate(): { reached: Promise<void>; pass(): void } {
  let pass!: () => void;
  const reached = new Promise<void>((resolve) => (pass = resolve));
  return { reached, pass };
}

export function describeStoreContract(name: string, open: () => Promise<Store & { close(): Promise<void> }>): void {
  describe(`the ${name} store`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    const member = (id: string, platform: User['platform'] = 'discord', db: StoreTx = store) =>
      db.users.insert({ platform, platformUserId: id, displayName: `member ${id}`, createdAt: NOW });
    const job = (userId: number, over: Partial<NewJobRow> = {}, db: StoreTx = store) =>
      db.jobs.insert(jobRow(userId, over));
    /** A job that reached `status` with `fields` set, the way runners move it. */
    async function jobIn(
      userId: number,
      status: JobStatus,
      fields: Parameters<StoreTx['jobs']['update']>[2] = {},
      over: Partial<NewJobRow> = {},
    ) {
      const row = await job(userId, over);
      if (status !== 'queued' || Object.keys(fields).length > 0)
        expect(await store.jobs.update(row.id, ['queued'], { status, ...fields })).toBe(true);
      return (await store.jobs.get(row.id))!;
    }

    it('is open until closed, and closing twice is harmless', async () => {
      expect(store.isOpen()).toBe(true);
      await store.close();
      expect(store.isOpen()).toBe(false);
      await store.close();
    });

    describe('jobs', () => {
      it('inserts a job with every other column at its default, and reads it back whole', async () => {
        const user = await member('a');
        const row = jobRow(user.id, {
          params: {
            durationS: 5,
            resolution: '1080p',
            aspectRatio: '9:16',
            seed: 7,
            musicVideo: { taskId: 't', audioId: 'a' },
          },
          costUsd: 0.123,
          uploadLimitBytes: 2_000_000_000,
          locale: 'de',
        });
        const inserted = await store.jobs.insert(row);
        expect(inserted).toEqual({
          ...row,
          providerTaskId: null,
          resultUrl: null,
          statusChatId: null,
          statusMessageId: null,
          attempts: 0,
          errorKind: null,
          errorMessage: null,
          errorRef: null,
          mediaKey: null,
          mediaBytes: null,
          mediaUrl: null,
          deliveredAt: null,
          deliveryRef: null,
          submittedAt: null,
          providerDoneAt: null,
          finishedAt: null,
          workerId: null,
          leaseEpoch: 0,
          parentJobId: null,
          followup: null,
        });
        expect(await store.jobs.get(row.id)).toEqual(inserted);
        expect(await store.jobs.statusOf(row.id)).toBe('queued');
        expect(await store.jobs.get('no-such-job')).toBeUndefined();
        expect(await store.jobs.statusOf('no-such-job')).toBeUndefined();
      });

      it('keeps a follow-up’s parent and kind, and lists a job’s follow-ups oldest first', async () => {
        const user = await member('a');
        const parent = await jobIn(user.id, 'succeeded');
        const up = await store.jobs.insert(
          jobRow(user.id, { parentJobId: parent.id, followup: 'upscale', createdAt: NOW + 1 }),
        );
        const more = await store.jobs.insert(
          jobRow(user.id, { parentJobId: parent.id, followup: 'extend', createdAt: NOW + 2 }),
        );
        await store.jobs.insert(jobRow(user.id, { parentJobId: more.id, followup: 'extend', createdAt: NOW + 3 }));
        expect(up).toMatchObject({ parentJobId: parent.id, followup: 'upscale' });
        expect(await store.jobs.followupsOf(parent.id)).toEqual([
          { id: up.id, status: 'queued', followup: 'upscale' },
          { id: more.id, status: 'queued', followup: 'extend' },
        ]);
        expect(await store.jobs.followupsOf(up.id)).toEqual([]);
      });

      it('refuses a second job with the same id, and a job of a member who does not exist', async () => {
        const user = await member('a');
        const row = jobRow(user.id);
        await store.jobs.insert(row);
        await expect(store.jobs.insert(row)).rejects.toThrow();
        await expect(store.jobs.insert(jobRow(user.id + 1000))).rejects.toThrow();
      });

      it('updates a job only from the given statuses, and says whether it did', async () => {
        const user = await member('a');
        const { id } = await job(user.id);
        expect(
          await store.jobs.update(id, ['queued'], { status: 'submitting', submittedAt: NOW + 1, updatedAt: NOW + 1 }),
        ).toBe(true);
        expect(await store.jobs.update(id, ['queued'], { status: 'submitting', updatedAt: NOW + 2 })).toBe(false);
        expect(
          await store.jobs.update(id, ['running', 'submitting'], {
            status: 'running',
            providerTaskId: 'task-1',
            updatedAt: NOW + 3,
          }),
        ).toBe(true);
        // A patch without a move, guarded by the status the job is in.
        expect(await store.jobs.update(id, ['running'], { attempts: 2, mediaBytes: 3_000_000_000 })).toBe(true);
        expect(await store.jobs.update(id, ['queued'], { attempts: 9 })).toBe(false);
        expect(await store.jobs.update(id, [], { status: 'failed' })).toBe(false);
        expect(await store.jobs.update('no-such-job', ['queued', 'running'], { status: 'failed' })).toBe(false);
        expect(await store.jobs.get(id)).toMatchObject({
          status: 'running',
          submittedAt: NOW + 1,
          providerTaskId: 'task-1',
          attempts: 2,
          mediaBytes: 3_000_000_000,
          updatedAt: NOW + 3,
        });
      });

      it('remembers where the status message is, whatever the status', async () => {
        const user = await member('a');
        const { id } = await jobIn(user.id, 'cancelled', { finishedAt: NOW });
        await store.jobs.setStatusMessage(id, 'chat-9', 'message-9');
        expect(await store.jobs.get(id)).toMatchObject({
          status: 'cancelled',
          statusChatId: 'chat-9',
          statusMessageId: 'message-9',
        });
      });

      it("finds a job by its provider's task id", async () => {
        const user = await member('a');
        const { id } = await jobIn(user.id, 'running', { providerTaskId: 'task-1' });
        expect(await store.jobs.ofProviderTask('fal', 'task-1')).toEqual({ id, status: 'running' });
        expect(await store.jobs.ofProviderTask('kie', 'task-1')).toBeUndefined();
        expect(await store.jobs.ofProviderTask('fal', 'task-2')).toBeUndefined();
      });

      it("lists queued jobs with their member's latest start (0 for never)", async () => {
        const a = await member('a');
        const b = await member('b');
        expect((await store.jobs.schedulingLoad()).queued).toBe(false);
        expect(await store.jobs.queued()).toEqual([]);
        await jobIn(a.id, 'running', { submittedAt: NOW - 5_000 });
        await jobIn(a.id, 'succeeded', { submittedAt: NOW - 1_000, finishedAt: NOW });
        const queuedA = await job(a.id, { createdAt: NOW + 1, provider: 'kie' });
        const queuedB = await job(b.id, { createdAt: NOW + 2 });
        expect(await store.jobs.schedulingLoad()).toEqual({ queued: true, atProvider: 1 });
        expect(byKey(await store.jobs.queued(), (j) => j.id)).toEqual(
          byKey(
            [
              { id: queuedA.id, userId: a.id, createdAt: NOW + 1, provider: 'kie', lastStart: NOW - 1_000 },
              { id: queuedB.id, userId: b.id, createdAt: NOW + 2, provider: 'fal', lastStart: 0 },
            ],
            (j) => j.id,
          ),
        );
        expect(await store.jobs.queueDepth()).toBe(2);
        await store.jobs.update(queuedA.id, ['queued'], { status: 'cancelled' });
        await store.jobs.update(queuedB.id, ['queued'], { status: 'submitting' });
        expect((await store.jobs.schedulingLoad()).queued).toBe(false);
        expect(await store.jobs.queueDepth()).toBe(0);
      });

      it("tells a queued job's place in fair order from members' counts: rounds, then who started longest ago", async () => {
        const [a, b, c] = [await member('a'), await member('b'), await member('c')];
        // a started a job lately, b long ago, c never: within a round c goes first, then b, then a.
        await jobIn(a.id, 'running', { submittedAt: NOW - 1_000 });
        await jobIn(b.id, 'succeeded', { submittedAt: NOW - 9_000, finishedAt: NOW });
        const a1 = await job(a.id, { createdAt: NOW + 1 });
        const a2 = await job(a.id, { createdAt: NOW + 2 });
        const a3 = await job(a.id, { createdAt: NOW + 3 });
        const b1 = await job(b.id, { createdAt: NOW + 4 });
        const c1 = await job(c.id, { createdAt: NOW + 5 });
        const c2 = await job(c.id, { createdAt: NOW + 6 });
        const order = [c1, b1, a1, c2, a2, a3];
        for (const [i, { id }] of order.entries()) expect(await store.jobs.queuePosition(id)).toBe(i + 1);
        await store.jobs.update(c1.id, ['queued'], { status: 'cancelled' });
        expect(await store.jobs.queuePosition(c1.id)).toBeUndefined();
        expect(await store.jobs.queuePosition(c2.id)).toBe(1);
        expect(await store.jobs.queuePosition(a3.id)).toBe(5);
        expect(await store.jobs.queuePosition('no-such-job')).toBeUndefined();
      });

      it('puts every queued job where the scheduler will start it, for any queue', async () => {
        let run = 0;
        const queue = fc.array(
          fc.record({
            // Few distinct times and ids of mixed case and punctuation: ties in every key the order breaks on.
            member: fc.nat(3),
            createdAt: fc.nat(4),
            id: fc.string({ unit: fc.constantFrom('a', 'B', 'z', '0', '-', '_'), minLength: 1, maxLength: 3 }),
            queued: fc.boolean(),
          }),
          { maxLength: 14 },
        );
        const lastStarts = fc.array(fc.option(fc.nat(2), { nil: undefined }), { minLength: 4, maxLength: 4 });
        // Then some queued jobs start (by index into the queue in fair order), or leave it: members' facts move.
        const moves = fc.array(fc.record({ pick: fc.nat(13), start: fc.boolean() }), { maxLength: 4 });
        await fc.assert(
          fc.asyncProperty(queue, lastStarts, moves, async (jobs, starts, later) => {
            run++;
            const members = [];
            for (const [i, start] of starts.entries()) {
              const m = await member(`p${run}-${i}`);
              if (start !== undefined)
                await jobIn(m.id, 'succeeded', { submittedAt: NOW - 10 + start, finishedAt: NOW });
              members.push(m);
            }
            const ids = new Set<string>();
            for (const j of jobs) {
              const id = `p${run}/${j.id}`;
              if (ids.has(id)) continue;
              ids.add(id);
              await jobIn(
                members[j.member]!.id,
                j.queued ? 'queued' : 'cancelled',
                {},
                { id, createdAt: NOW + j.createdAt },
              );
            }
            let expected = await queuePositions(store);
            try {
              for (const id of ids) expect([id, await store.jobs.queuePosition(id)]).toEqual([id, expected.get(id)]);
              for (const [step, move] of later.entries()) {
                const queued = [...expected.keys()];
                const id = queued[move.pick % Math.max(1, queued.length)];
                if (id === undefined) break;
                if (move.start) await store.jobs.start(id, 'w', NOW + 10 + step);
                else await store.jobs.update(id, ['queued'], { status: 'cancelled' });
                expected = await queuePositions(store);
                for (const other of ids)
                  expect([other, await store.jobs.queuePosition(other)]).toEqual([other, expected.get(other)]);
              }
            } finally {
              // The next run starts from an empty queue, even after a failure (while fast-check shrinks it).
              for (const id of (await queuePositions(store)).keys())
                await store.jobs.update(id, ['queued'], { status: 'cancelled' });
            }
          }),
          { numRuns: 40 },
        );
      });

      it('ranks a member by their next queued job once their first one leaves the queue', async () => {
        // Both never started: the member who has waited longest goes first, so a stale first-queued time would misplace them.
        const [a, b] = [await member('a'), await member('b')];
        await jobIn(a.id, 'queued', {}, { id: 'a-first', createdAt: NOW + 1 });
        await jobIn(b.id, 'queued', {}, { id: 'b-only', createdAt: NOW + 3 });
        await jobIn(a.id, 'queued', {}, { id: 'a-next', createdAt: NOW + 5 });
        expect([await store.jobs.queuePosition('a-next'), await store.jobs.queuePosition('b-only')]).toEqual([3, 2]);
        await store.jobs.update('a-first', ['queued'], { status: 'cancelled' });
        expect([await store.jobs.queuePosition('b-only'), await store.jobs.queuePosition('a-next')]).toEqual([1, 2]);
        expect(await queuePositions(store)).toEqual(
          new Map([
            ['b-only', 1],
            ['a-next', 2],
          ]),
        );
      });

      it('tells whether a job is queued besides those of the given members and providers', async () => {
        const [a, b] = [await member('a'), await member('b')];
        expect(await store.jobs.hasQueuedBesides([], [])).toBe(false);
        await jobIn(a.id, 'running', {}, { provider: 'kie' });
        await jobIn(a.id, 'queued');
        await jobIn(b.id, 'queued', {}, { provider: 'kie' });
        expect(await store.jobs.hasQueuedBesides([], [])).toBe(true);
        expect(await store.jobs.hasQueuedBesides([a.id], [])).toBe(true);
        expect(await store.jobs.hasQueuedBesides([a.id], ['kie'])).toBe(false);
        expect(await store.jobs.hasQueuedBesides([b.id], ['fal'])).toBe(false);
        expect(await store.jobs.hasQueuedBesides([b.id], ['kie'])).toBe(true);
        expect(await store.jobs.hasQueuedBesides([a.id, b.id], [])).toBe(false);
        expect(await store.jobs.hasQueuedBesides([], ['fal', 'kie'])).toBe(false);
      });

      it('counts the jobs at providers, in all, per member and per provider', async () => {
        const [a, b, c] = [await member('a'), await member('b'), await member('c')];
        await jobIn(a.id, 'submitting');
        await jobIn(a.id, 'running', {}, { provider: 'kie' });
        await jobIn(b.id, 'running');
        await jobIn(b.id, 'queued');
        await jobIn(b.id, 'fetching');
        await jobIn(c.id, 'succeeded');
        expect(await store.jobs.countAtProvider()).toBe(3);
        expect((await store.jobs.schedulingLoad()).atProvider).toBe(3);
        expect(await store.jobs.atProviderByUser()).toEqual(
          new Map([
            [a.id, 2],
            [b.id, 1],
          ]),
        );
        expect(await store.jobs.atProviderByUser([a.id, c.id])).toEqual(new Map([[a.id, 2]]));
        expect(await store.jobs.atProviderByUser([])).toEqual(new Map());
        expect(await store.jobs.atProviderByProvider()).toEqual(
          new Map([
            ['fal', 2],
            ['kie', 1],
          ]),
        );
        expect(await store.jobs.atProviderByProvider(['kie', 'nobody'])).toEqual(new Map([['kie', 1]]));
        expect(await store.jobs.atProviderByProvider([])).toEqual(new Map());
      });

      it('lists the unfinished jobs and counts jobs by status, provider and model', async () => {
        const a = await member('a');
        const queued = await jobIn(a.id, 'queued');
        const delivering = await jobIn(a.id, 'delivering', {}, { model: 'kling' });
        await jobIn(a.id, 'succeeded');
        await jobIn(a.id, 'failed');
        await jobIn(a.id, 'cancelled', {}, { provider: 'kie' });
        expect(byKey(await store.jobs.unfinished(), (j) => j.id)).toEqual(
          byKey(
            [
              { id: queued.id, status: 'queued' },
              { id: delivering.id, status: 'delivering' },
            ],
            (j) => j.id,
          ),
        );
        const counts = await store.jobs.countsByStatusProviderModel();
        expect(byKey(counts, (r) => `${r.status}/${r.provider}/${r.model}`)).toEqual([
          { status: 'cancelled', provider: 'kie', model: 'seedance-lite', n: 1 },
          { status: 'delivering', provider: 'fal', model: 'kling', n: 1 },
          { status: 'failed', provider: 'fal', model: 'seedance-lite', n: 1 },
          { status: 'queued', provider: 'fal', model: 'seedance-lite', n: 1 },
          { status: 'succeeded', provider: 'fal', model: 'seedance-lite', n: 1 },
        ]);
      });

      it("answers a member's questions about their own jobs", async () => {
        const [a, b] = [await member('a'), await member('b')];
        const first = await jobIn(a.id, 'running', {}, { createdAt: NOW - 3_000 });
        const second = await jobIn(a.id, 'queued', {}, { createdAt: NOW - 2_000 });
        const third = await jobIn(a.id, 'succeeded', {}, { createdAt: NOW - 1_000 });
        await jobIn(b.id, 'queued', {}, { createdAt: NOW });
        const cancellable = ['queued', 'submitting', 'running'] as const;
        expect(await store.jobs.latestCancellableOf(a.id, cancellable)).toEqual({ id: second.id });
        expect(await store.jobs.latestCancellableOf(a.id, ['fetching'])).toBeUndefined();
        expect((await store.jobs.ofUserIn(a.id, ['queued', 'running'])).map((j) => j.id)).toEqual([
          first.id,
          second.id,
        ]);
        expect(await store.jobs.ofUserIn(a.id, ['failed'])).toEqual([]);
        expect((await store.jobs.recentOf(a.id, 2)).map((j) => j.id)).toEqual([third.id, second.id]);
        expect(await store.jobs.recentOf(a.id, 10)).toHaveLength(3);
        expect(await store.jobs.pendingCountOf(a.id)).toBe(2);
        expect(await store.jobs.pendingCountOf(b.id)).toBe(1);
        expect(await store.jobs.pendingCountOf(b.id + 1000)).toBe(0);
      });

      it('counts what weighs on quotas and spend: not the jobs that failed or were cancelled before a provider saw them', async () => {
        const [a, b] = [await member('a'), await member('b')];
        await jobIn(a.id, 'queued', {}, { costUsd: 0.5 });
        await jobIn(a.id, 'failed', {}, { costUsd: 100 });
        await jobIn(a.id, 'cancelled', {}, { costUsd: 100 });
        await jobIn(a.id, 'failed', { providerTaskId: 'seen' }, { createdAt: NOW + 10, costUsd: 0.25 });
        await jobIn(a.id, 'succeeded', {}, { createdAt: NOW - 2 * DAY_MS, costUsd: 100 });
        await jobIn(b.id, 'succeeded', {}, { createdAt: NOW + 20, guildId: null, costUsd: 1 });
        expect(await store.jobs.countedSince(a.id, { windowStart: NOW - 1_000, dayStart: NOW - 3 * DAY_MS })).toEqual({
          inWindow: 2,
          oldestInWindow: NOW,
          today: 3,
        });
        expect(await store.jobs.countedSince(a.id, { windowStart: NOW + 5, dayStart: NOW - 1_000 })).toEqual({
          inWindow: 1,
          oldestInWindow: NOW + 10,
          today: 2,
        });
        expect(await store.jobs.countedSince(a.id, { windowStart: NOW + 100, dayStart: NOW + 100 })).toEqual({
          inWindow: 0,
          oldestInWindow: null,
          today: 0,
        });
        expect(await store.jobs.spentUsdSince(NOW - 1_000)).toBeCloseTo(1.75);
        expect(await store.jobs.spentUsdSince(NOW + 100)).toBe(0);
        expect(await store.jobs.countInCommunitySince(a.id, 'discord', 'g1', NOW - 1_000)).toBe(4);
        expect(await store.jobs.countInCommunitySince(a.id, 'discord', 'g1', NOW - 3 * DAY_MS)).toBe(5);
        expect(await store.jobs.countInCommunitySince(a.id, 'telegram', 'g1', NOW - 1_000)).toBe(0);
        expect(await store.jobs.countInCommunitySince(a.id, 'discord', 'g2', NOW - 1_000)).toBe(0);
      });

      it('gives the provider durations of the newest similar successes, newest first', async () => {
        const a = await member('a');
        const done = (
          submittedAt: number | null,
          seconds: number,
          over: Partial<NewJobRow> = {},
          status: JobStatus = 'succeeded',
        ) => jobIn(a.id, status, { submittedAt, providerDoneAt: (submittedAt ?? NOW) + seconds * 1000 }, over);
        await done(NOW, 30);
        await done(NOW + 100_000, 45.5);
        await done(NOW + 50_000, 60);
        await done(NOW + 200_000, 1, { params: { durationS: 5, resolution: '1080p', aspectRatio: '16:9' } });
        await done(NOW + 200_000, 2, { params: { durationS: 10, resolution: '720p', aspectRatio: '16:9' } });
        await done(NOW + 200_000, 3, { model: 'kling' });
        await done(NOW + 200_000, 4, {}, 'failed');
        await done(NOW + 200_000, -5);
        await done(null, 6);
        const similar = { model: 'seedance-lite', resolution: '720p', durationS: 5 };
        expect(await store.jobs.recentDurations(similar, 20)).toEqual([45.5, 60, 30]);
        expect(await store.jobs.recentDurations(similar, 1)).toEqual([45.5]);
        expect(await store.jobs.recentDurations({ ...similar, model: 'nobody' }, 20)).toEqual([]);
      });

      it('finds final jobs whose media outlived retention, and forgets their media', async () => {
        const a = await member('a');
        const expired = await jobIn(
          a.id,
          'succeeded',
          { finishedAt: NOW - 10 * DAY_MS, mediaKey: 'out/1.mp4', mediaUrl: 'https://x/1.mp4' },
          { inputMediaKey: 'in/1.png' },
        );
        const inputOnly = await jobIn(a.id, 'failed', { finishedAt: NOW - 9 * DAY_MS }, { inputMediaKey: 'in/2.png' });
        await jobIn(a.id, 'succeeded', { finishedAt: NOW - DAY_MS, mediaKey: 'out/3.mp4' });
        await jobIn(a.id, 'succeeded', { finishedAt: NOW - 10 * DAY_MS });
        await jobIn(a.id, 'running', {}, { inputMediaKey: 'in/5.png', createdAt: NOW - 20 * DAY_MS });
        const cutoff = NOW - 7 * DAY_MS;
        expect(byKey(await store.jobs.withExpiredMedia(cutoff, 10), (j) => j.id)).toEqual(
          byKey(
            [
              { id: expired.id, mediaKey: 'out/1.mp4', inputMediaKey: 'in/1.png' },
              { id: inputOnly.id, mediaKey: null, inputMediaKey: 'in/2.png' },
            ],
            (j) => j.id,
          ),
        );
        expect(await store.jobs.withExpiredMedia(cutoff, 1)).toHaveLength(1);
        await store.jobs.forgetMedia(expired.id);
        await store.jobs.forgetMedia(inputOnly.id);
        expect(await store.jobs.get(expired.id)).toMatchObject({
          mediaKey: null,
          mediaUrl: null,
          inputMediaKey: null,
          status: 'succeeded',
        });
        expect(await store.jobs.withExpiredMedia(cutoff, 10)).toEqual([]);
      });
    });

    it('hands a nudge to every subscriber until it unsubscribes', async () => {
      const heard: string[] = [];
      const stop = await store.nudges.subscribe((jobId) => heard.push(jobId));
      await store.nudges.publish('job-1');
      await expect.poll(() => heard).toEqual(['job-1']);
      await stop();
      await store.nudges.publish('job-2');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(heard).toEqual(['job-1']);
    });

    describe('workers and leases', () => {
      it('starts a queued job on a worker with a new epoch, once', async () => {
        const u = await member('1');
        const row = await job(u.id);
        expect(await store.jobs.start(row.id, 'w1', NOW)).toBe(1);
        expect(await store.jobs.start(row.id, 'w2', NOW)).toBeUndefined();
        expect(await store.jobs.get(row.id)).toMatchObject({
          status: 'submitting',
          submittedAt: NOW,
          workerId: 'w1',
          leaseEpoch: 1,
        });
      });

      it('fences a move by the epoch: one made with an old epoch changes nothing', async () => {
        const u = await member('1');
        const row = await job(u.id);
        const epoch = (await store.jobs.start(row.id, 'w1', NOW))!;
        expect(await store.jobs.update(row.id, ['submitting'], { status: 'running' }, epoch + 1)).toBe(false);
        expect(await store.jobs.update(row.id, ['submitting'], { status: 'running' }, epoch)).toBe(true);
      });

      it('takes over the started jobs of a worker that left or whose lease ran out, never a live one or a queued or final job', async () => {
        const u = await member('1');
        await store.workers.renew('live', NOW, NOW + 30_000);
        await store.workers.renew('expired', NOW - 60_000, NOW - 1);
        await store.workers.renew('left', NOW, NOW + 30_000);
        await store.workers.leave('left');
        const started = async (worker: string, status: JobStatus = 'running') => {
          const row = await job(u.id);
          await store.jobs.start(row.id, worker, NOW);
          if (status !== 'submitting') await store.jobs.update(row.id, ['submitting'], { status });
          return row.id;
        };
        const live = await started('live');
        const expired = await started('expired', 'fetching');
        const left = await started('left', 'submitting');
        const unknown = await started('never-registered', 'delivering');
        await started('expired', 'failed');
        await job(u.id);
        const taken = await store.jobs.takeOver('me', NOW, 100);
        expect(byKey(taken, (t) => t.id)).toEqual(
          byKey(
            [
              { id: expired, status: 'fetching', leaseEpoch: 2 },
              { id: left, status: 'submitting', leaseEpoch: 2 },
              { id: unknown, status: 'delivering', leaseEpoch: 2 },
            ],
            (t) => t.id,
          ),
        );
        expect((await store.jobs.get(live))!.workerId).toBe('live');
        expect((await store.jobs.get(expired))!.workerId).toBe('me');
        // Now they are this worker's; it has no lease row yet, so they stay takeable until it renews.
        await store.workers.renew('me', NOW, NOW + 30_000);
        expect(await store.jobs.takeOver('other', NOW, 100)).toEqual([]);
      });

      it('forgets the rows of workers gone before a moment, and their jobs stay free to take over', async () => {
        const u = await member('1');
        await store.workers.renew('live', NOW, NOW + 30_000);
        await store.workers.renew('long-gone', NOW - 120_000, NOW - 60_000);
        await store.workers.renew('just-gone', NOW - 60_000, NOW - 10);
        const row = await job(u.id);
        await store.jobs.start(row.id, 'long-gone', NOW - 120_000);
        expect(await store.workers.forgetGone(NOW - 30_000)).toBe(1);
        expect(await store.workers.forgetGone(NOW - 30_000)).toBe(0);
        expect(await store.jobs.takeOver('me', NOW, 100)).toEqual([
          { id: row.id, status: 'submitting', leaseEpoch: 2 },
        ]);
        // The live one and the one gone after that moment are still known: the live one's jobs are not taken.
        await store.workers.renew('me', NOW, NOW + 30_000);
        const live = await job(u.id);
        await store.jobs.start(live.id, 'live', NOW);
        expect(await store.jobs.takeOver('other', NOW, 100)).toEqual([]);
        expect(await store.workers.forgetGone(NOW)).toBe(1);
      });

      it('gives each of several workers taking over at once different jobs', async () => {
        const u = await member('1');
        const takers = ['a', 'b', 'c', 'd', 'e'];
        for (const w of takers) await store.workers.renew(w, NOW, NOW + 30_000);
        // Several rounds: a race between a taker's scan and another's commit shows only now and then.
        for (let round = 0; round < 5; round++) {
          for (let i = 0; i < 12; i++) await store.jobs.start((await job(u.id)).id, `dead-${round}`, NOW);
          const taken = (await Promise.all(takers.map((w) => store.jobs.takeOver(w, NOW, 3)))).flat().map((t) => t.id);
          expect(new Set(taken).size).toBe(taken.length);
          expect(taken.length).toBe(12);
        }
      });
    });

    describe('ledger', () => {
      it("sums a member's entries into their balance", async () => {
        const [a, b, owner] = [await member('a'), await member('b'), await member('owner')];
        expect(await store.ledger.balanceOf(a.id)).toBe(0);
        await store.ledger.append({
          userId: a.id,
          kind: 'starting',
          amount: 100,
          reason: 'welcome credits',
          createdAt: NOW,
        });
        await store.ledger.append({
          userId: a.id,
          kind: 'grant',
          amount: 20,
          actorUserId: owner.id,
          reason: 'thanks',
          createdAt: NOW,
        });
        await store.ledger.append({
          userId: a.id,
          kind: 'deduct',
          amount: -30,
          actorUserId: owner.id,
          reason: 'oops',
          createdAt: NOW,
        });
        await store.ledger.append({ userId: b.id, kind: 'transfer', amount: 7, actorUserId: owner.id, createdAt: NOW });
        expect(await store.ledger.balanceOf(a.id)).toBe(90);
        expect(await store.ledger.balanceOf(b.id)).toBe(7);
      });

      it('tells what unsettled holds keep aside, and finds a hold and the entries of a job', async () => {
        const a = await member('a');
        const [first, second] = [await job(a.id), await job(a.id, { price: 50 })];
        await store.ledger.append({ userId: a.id, kind: 'starting', amount: 200, createdAt: NOW });
        await store.ledger.append(hold(a.id, first.id, 40));
        await store.ledger.append(hold(a.id, second.id, 50));
        expect(await store.ledger.balanceOf(a.id)).toBe(110);
        expect(await store.ledger.heldOf(a.id)).toBe(90);
        await store.ledger.append({ userId: a.id, kind: 'capture', amount: 0, jobId: first.id, createdAt: NOW });
        expect(await store.ledger.heldOf(a.id)).toBe(50);
        await store.ledger.append({
          userId: a.id,
          kind: 'release',
          amount: 50,
          jobId: second.id,
          reason: 'failed',
          createdAt: NOW,
        });
        expect(await store.ledger.heldOf(a.id)).toBe(0);
        expect(await store.ledger.balanceOf(a.id)).toBe(160);
        // The hold as it is written: a debit.
        expect(await store.ledger.holdOf(first.id)).toEqual({ userId: a.id, amount: -40 });
        expect(await store.ledger.holdOf('no-such-job')).toBeUndefined();
        expect(await store.ledger.hasEntryOfJob(first.id, ['capture'])).toBe(true);
        expect(await store.ledger.hasEntryOfJob(first.id, ['release', 'refund'])).toBe(false);
        expect(await store.ledger.hasEntryOfJob(second.id, ['capture', 'release'])).toBe(true);
        expect(await store.ledger.hasEntryOfJob(first.id, [])).toBe(false);
      });

      it('appends once what a unique index allows once: a hold and a settlement per job, an allowance per member and day', async () => {
        const [a, b] = [await member('a'), await member('b')];
        const { id } = await job(a.id);
        expect(await store.ledger.appendOnce(hold(a.id, id, 40))).toBe(true);
        expect(await store.ledger.appendOnce(hold(a.id, id, 40))).toBe(false);
        expect(
          await store.ledger.appendOnce({ userId: a.id, kind: 'capture', amount: 0, jobId: id, createdAt: NOW }),
        ).toBe(true);
        expect(
          await store.ledger.appendOnce({ userId: a.id, kind: 'release', amount: 40, jobId: id, createdAt: NOW }),
        ).toBe(false);
        expect(
          await store.ledger.appendOnce({ userId: a.id, kind: 'capture', amount: 0, jobId: id, createdAt: NOW }),
        ).toBe(false);
        const daily = (userId: number, day: string, amount = 10): LedgerEntryRow => ({
          userId,
          kind: 'daily',
          amount,
          day,
          reason: 'free daily allowance',
          createdAt: NOW,
        });
        expect(await store.ledger.appendOnce(daily(a.id, '2026-03-10'))).toBe(true);
        expect(await store.ledger.appendOnce(daily(a.id, '2026-03-10', 5))).toBe(false);
        expect(await store.ledger.appendOnce(daily(a.id, '2026-03-11'))).toBe(true);
        expect(await store.ledger.appendOnce(daily(b.id, '2026-03-10'))).toBe(true);
        // Nothing makes a grant unique.
        expect(await store.ledger.appendOnce({ userId: b.id, kind: 'grant', amount: 5, createdAt: NOW })).toBe(true);
        expect(await store.ledger.appendOnce({ userId: b.id, kind: 'grant', amount: 5, createdAt: NOW })).toBe(true);
        expect(await store.ledger.balanceOf(a.id)).toBe(-40 + 10 + 10);
        expect(await store.ledger.balanceOf(b.id)).toBe(20);
        // append is held to the same indexes: a second hold is refused.
        await expect(store.ledger.append(hold(a.id, id, 40))).rejects.toThrow();
      });

      it("credits a purchase once per payment id, whichever member or amount a second one claims, and lists a member's purchases newest first", async () => {
        const [a, b] = [await member('a', 'telegram'), await member('b', 'telegram')];
        const purchase = (userId: number, paymentId: string, amount = 100, createdAt = NOW): LedgerEntryRow => ({
          userId,
          kind: 'purchase',
          amount,
          paymentId,
          reason: '50 Telegram Stars',
          createdAt,
        });
        expect(await store.ledger.appendOnce(purchase(a.id, 'telegram:charge-1'))).toBe(true);
        expect(await store.ledger.appendOnce(purchase(a.id, 'telegram:charge-1'))).toBe(false);
        expect(await store.ledger.appendOnce(purchase(b.id, 'telegram:charge-1', 500))).toBe(false);
        await expect(store.ledger.append(purchase(a.id, 'telegram:charge-1'))).rejects.toThrow();
        expect(await store.ledger.appendOnce(purchase(a.id, 'telegram:charge-2', 500, NOW + 1000))).toBe(true);
        // Only purchases are unique by payment id: a later refund entry may name the same payment.
        expect(
          await store.ledger.appendOnce({
            userId: a.id,
            kind: 'refund',
            amount: -100,
            paymentId: 'telegram:charge-1',
            createdAt: NOW,
          }),
        ).toBe(true);
        expect(await store.ledger.balanceOf(a.id)).toBe(500);
        expect(await store.ledger.balanceOf(b.id)).toBe(0);
        expect(await store.ledger.purchasesOf(a.id, 10)).toEqual([
          { amount: 500, paymentId: 'telegram:charge-2', reason: '50 Telegram Stars', createdAt: NOW + 1000 },
          { amount: 100, paymentId: 'telegram:charge-1', reason: '50 Telegram Stars', createdAt: NOW },
        ]);
        expect(await store.ledger.purchasesOf(a.id, 1)).toHaveLength(1);
        expect(await store.ledger.purchasesOf(b.id, 10)).toEqual([]);
      });

      it('finds a purchase by its payment id with its refund, and refunds a payment once', async () => {
        const [a, b] = [await member('a', 'telegram'), await member('b', 'telegram')];
        await store.ledger.append({
          userId: a.id,
          kind: 'purchase',
          amount: 100,
          paymentId: 'telegram:charge-1',
          reason: '50 Telegram Stars',
          createdAt: NOW,
        });
        expect(await store.ledger.purchaseByPayment('telegram:charge-1')).toEqual({
          userId: a.id,
          amount: 100,
          reason: '50 Telegram Stars',
          createdAt: NOW,
        });
        expect(await store.ledger.purchaseByPayment('telegram:charge-2')).toBeUndefined();
        const refund = (userId: number, amount: number): LedgerEntryRow => ({
          userId,
          kind: 'purchase_refund',
          amount,
          paymentId: 'telegram:charge-1',
          actorUserId: b.id,
          reason: 'refund of payment charge-1',
          createdAt: NOW + 5,
        });
        expect(await store.ledger.appendOnce(refund(a.id, -60))).toBe(true);
        expect(await store.ledger.appendOnce(refund(a.id, -100))).toBe(false);
        await expect(store.ledger.append(refund(b.id, 0))).rejects.toThrow();
        expect(await store.ledger.purchaseByPayment('telegram:charge-1')).toEqual({
          userId: a.id,
          amount: 100,
          reason: '50 Telegram Stars',
          createdAt: NOW,
          refund: { taken: 60, actorUserId: b.id, createdAt: NOW + 5 },
        });
        expect(await store.ledger.balanceOf(a.id)).toBe(40);
        // /history's list marks it refunded (by an owner: an actor), and a platform's refund (no actor) as the platform's.
        await store.ledger.append({
          userId: a.id,
          kind: 'purchase',
          amount: 50,
          paymentId: 'discord:2',
          reason: 'SKU',
          createdAt: NOW + 6,
        });
        await store.ledger.append({
          userId: a.id,
          kind: 'purchase',
          amount: 70,
          paymentId: 'discord:3',
          reason: 'SKU',
          createdAt: NOW + 7,
        });
        await store.ledger.append({
          userId: a.id,
          kind: 'purchase_refund',
          amount: -50,
          paymentId: 'discord:2',
          reason: 'Discord',
          createdAt: NOW + 8,
        });
        expect(await store.ledger.purchasesOf(a.id, 10)).toEqual([
          { amount: 70, paymentId: 'discord:3', reason: 'SKU', createdAt: NOW + 7 },
          {
            amount: 50,
            paymentId: 'discord:2',
            reason: 'SKU',
            createdAt: NOW + 6,
            refund: { taken: 50, byPlatform: true },
          },
          {
            amount: 100,
            paymentId: 'telegram:charge-1',
            reason: '50 Telegram Stars',
            createdAt: NOW,
            refund: { taken: 60, byPlatform: false },
          },
        ]);
      });

      it('finds final jobs whose hold was never settled', async () => {
        const a = await member('a');
        const orphans: { id: string; status: JobStatus }[] = [];
        for (const status of ['succeeded', 'failed', 'cancelled', 'running', 'queued'] as const) {
          const unsettled = await jobIn(a.id, status);
          await store.ledger.append(hold(a.id, unsettled.id, 40));
          if (status === 'succeeded' || status === 'failed' || status === 'cancelled')
            orphans.push({ id: unsettled.id, status });
          const settled = await jobIn(a.id, status);
          await store.ledger.append(hold(a.id, settled.id, 40));
          await store.ledger.append({
            userId: a.id,
            kind: status === 'succeeded' ? 'capture' : 'release',
            amount: 0,
            jobId: settled.id,
            createdAt: NOW,
          });
        }
        await jobIn(a.id, 'failed');
        expect(byKey(await store.ledger.orphanedHolds(), (j) => j.id)).toEqual(byKey(orphans, (j) => j.id));
      });

      it('totals what is held, captured and released', async () => {
        const a = await member('a');
        expect(await store.ledger.totals()).toEqual({ held: 0, captured: 0, released: 0 });
        const [held, captured, released] = [await job(a.id), await job(a.id), await job(a.id)];
        await store.ledger.append({ userId: a.id, kind: 'starting', amount: 1000, createdAt: NOW });
        await store.ledger.append(hold(a.id, held.id, 40));
        await store.ledger.append(hold(a.id, captured.id, 50));
        await store.ledger.append({ userId: a.id, kind: 'capture', amount: 0, jobId: captured.id, createdAt: NOW });
        await store.ledger.append(hold(a.id, released.id, 70));
        await store.ledger.append({ userId: a.id, kind: 'release', amount: 70, jobId: released.id, createdAt: NOW });
        expect(await store.ledger.totals()).toEqual({ held: 40, captured: 50, released: 70 });
      });
    });

    describe('users', () => {
      it('inserts a member, finds them by identity and id, and updates what moderators change', async () => {
        const a = await store.users.insert({
          platform: 'telegram',
          platformUserId: '42',
          displayName: 'Ada',
          createdAt: NOW,
        });
        expect(a).toEqual({
          id: a.id,
          platform: 'telegram',
          platformUserId: '42',
          displayName: 'Ada',
          banned: false,
          banReason: null,
          dailyJobQuota: null,
          createdAt: NOW,
        });
        expect(await store.users.find('telegram', '42')).toEqual(a);
        expect(await store.users.find('discord', '42')).toBeUndefined();
        expect(await store.users.byId(a.id)).toEqual(a);
        expect(await store.users.byId(a.id + 1000)).toBeUndefined();
        await store.users.update(a.id, { banned: true, banReason: 'spam', dailyJobQuota: 0, displayName: 'Ada L.' });
        expect(await store.users.byId(a.id)).toEqual({
          ...a,
          banned: true,
          banReason: 'spam',
          dailyJobQuota: 0,
          displayName: 'Ada L.',
        });
        await store.users.update(a.id, { banned: false, banReason: null });
        await store.users.update(a.id, {});
        expect(await store.users.byId(a.id)).toMatchObject({ banned: false, banReason: null, dailyJobQuota: 0 });
      });

      it('refuses a second account for the same identity', async () => {
        const a = await member('a');
        await expect(member('a')).rejects.toThrow();
        const other = await member('a', 'telegram');
        expect(other.id).not.toBe(a.id);
      });
    });

    describe('communities', () => {
      it('notes a community when first heard from, then refreshes when it was last seen and its title', async () => {
        expect(await store.communities.note('discord:1', NOW, 'Cats')).toEqual({
          id: 'discord:1',
          title: 'Cats',
          firstSeenAt: NOW,
          lastSeenAt: NOW,
          refusedAt: null,
          leftAt: null,
        });
        expect(await store.communities.note('discord:1', NOW + 1)).toMatchObject({
          title: 'Cats',
          firstSeenAt: NOW,
          lastSeenAt: NOW + 1,
        });
        expect(await store.communities.note('discord:1', NOW + 2, 'Dogs')).toMatchObject({
          title: 'Dogs',
          firstSeenAt: NOW,
          lastSeenAt: NOW + 2,
        });
        expect(await store.communities.note('telegram:-100', NOW)).toMatchObject({ title: '' });
        await store.communities.markLeft('telegram:-100', NOW + 5);
        expect(await store.communities.list()).toEqual([
          { id: 'discord:1', title: 'Dogs', firstSeenAt: NOW, lastSeenAt: NOW + 2, refusedAt: null, leftAt: null },
          { id: 'telegram:-100', title: '', firstSeenAt: NOW, lastSeenAt: NOW, refusedAt: null, leftAt: NOW + 5 },
        ]);
      });

      it('lets only the first caller claim the refusal', async () => {
        await store.communities.note('discord:1', NOW);
        expect(await store.communities.claimRefusal('discord:1', NOW + 1)).toBe(true);
        expect(await store.communities.claimRefusal('discord:1', NOW + 2)).toBe(false);
        expect((await store.communities.list())[0]).toMatchObject({ refusedAt: NOW + 1 });
      });

      it('tells per community the members served and the credits captured and not refunded', async () => {
        const [a, b, c] = [await member('a'), await member('b'), await member('c', 'telegram')];
        const capture = async (userId: number, over: Partial<NewJobRow>) => {
          const done = await jobIn(userId, 'succeeded', {}, over);
          await store.ledger.append(hold(userId, done.id, done.price));
          await store.ledger.append({ userId, kind: 'capture', amount: 0, jobId: done.id, createdAt: NOW });
          return done;
        };
        await capture(a.id, { price: 40 });
        const refunded = await capture(a.id, { price: 50 });
        await store.ledger.append({ userId: a.id, kind: 'refund', amount: 50, jobId: refunded.id, createdAt: NOW });
        await store.ledger.append(hold(b.id, (await job(b.id, { price: 70 })).id, 70));
        await capture(c.id, { platform: 'telegram', guildId: '-100', price: 60 });
        await capture(c.id, { platform: 'telegram', guildId: null, price: 1000 });
        expect(byKey(await store.communities.usage(), (r) => r.community)).toEqual([
          { community: 'discord:g1', members: 2, spent: 40 },
          { community: 'telegram:-100', members: 1, spent: 60 },
        ]);
      });

      it("keeps a community's measures against a member, changing only what is given", async () => {
        const a = await member('a');
        expect(await store.communities.measures('discord:1', a.id)).toBeUndefined();
        await store.communities.setMeasures('discord:1', a.id, { banned: true, banReason: 'spam' }, NOW);
        expect(await store.communities.measures('discord:1', a.id)).toEqual({
          community: 'discord:1',
          userId: a.id,
          banned: true,
          banReason: 'spam',
          dailyJobQuota: null,
          updatedAt: NOW,
        });
        await store.communities.setMeasures('discord:1', a.id, { dailyJobQuota: 3 }, NOW + 1);
        expect(await store.communities.measures('discord:1', a.id)).toEqual({
          community: 'discord:1',
          userId: a.id,
          banned: true,
          banReason: 'spam',
          dailyJobQuota: 3,
          updatedAt: NOW + 1,
        });
        await store.communities.setMeasures('discord:2', a.id, { dailyJobQuota: 1 }, NOW);
        expect(await store.communities.measures('discord:2', a.id)).toMatchObject({ banned: false, dailyJobQuota: 1 });
        await store.communities.setMeasures('discord:1', a.id, { banned: false, banReason: null }, NOW + 2);
        expect(await store.communities.measures('discord:1', a.id)).toMatchObject({
          banned: false,
          banReason: null,
          dailyJobQuota: 3,
        });
      });
    });

    describe('settings', () => {
      it("stores a chat's settings whole, per platform and chat", async () => {
        const mod = await member('mod');
        expect(await store.settings.get('discord', 'g1')).toBeUndefined();
        await store.settings.put(
          'discord',
          'g1',
          { defaultModel: 'kling', allowedChannelIds: ['c1', 'c2'], dailyJobQuota: 3 },
          mod.id,
          NOW,
        );
        expect(await store.settings.get('discord', 'g1')).toEqual({
          defaultModel: 'kling',
          allowedChannelIds: ['c1', 'c2'],
          dailyJobQuota: 3,
        });
        expect(await store.settings.get('telegram', 'g1')).toBeUndefined();
        await store.settings.put(
          'discord',
          'g1',
          { defaultModel: null, allowedChannelIds: null, dailyJobQuota: 3 },
          mod.id,
          NOW + 1,
        );
        expect(await store.settings.get('discord', 'g1')).toEqual({
          defaultModel: null,
          allowedChannelIds: null,
          dailyJobQuota: 3,
        });
        await store.settings.put(
          'discord',
          'g1',
          { defaultModel: null, allowedChannelIds: [], dailyJobQuota: null },
          mod.id,
          NOW + 2,
        );
        expect(await store.settings.get('discord', 'g1')).toEqual({
          defaultModel: null,
          allowedChannelIds: [],
          dailyJobQuota: null,
        });
      });
    });

    describe('blocklist', () => {
      it('adds a term once per community, removes it, and lists them all', async () => {
        const mod = await member('mod');
        expect(await store.blocklist.add('nude', 'discord:1', mod.id, NOW)).toBe(true);
        expect(await store.blocklist.add('nude', 'discord:1', mod.id, NOW)).toBe(false);
        expect(await store.blocklist.add('nude', '', mod.id, NOW)).toBe(true);
        expect(await store.blocklist.add('gore', 'discord:1', mod.id, NOW)).toBe(true);
        expect(byKey(await store.blocklist.list(), (r) => `${r.term}/${r.community}`)).toEqual([
          { term: 'gore', community: 'discord:1' },
          { term: 'nude', community: '' },
          { term: 'nude', community: 'discord:1' },
        ]);
        expect(await store.blocklist.remove('nude', 'discord:1')).toBe(true);
        expect(await store.blocklist.remove('nude', 'discord:1')).toBe(false);
        expect(await store.blocklist.remove('gore', '')).toBe(false);
        expect(byKey(await store.blocklist.list(), (r) => `${r.term}/${r.community}`)).toEqual([
          { term: 'gore', community: 'discord:1' },
          { term: 'nude', community: '' },
        ]);
      });
    });

    describe('audit', () => {
      it('appends what moderators did, and refuses an actor who does not exist', async () => {
        const [mod, target] = [await member('mod'), await member('target')];
        await store.audit.append({ actorUserId: mod.id, action: 'settings.update', createdAt: NOW });
        await store.audit.append({
          actorUserId: mod.id,
          action: 'user.ban',
          targetUserId: target.id,
          jobId: 'j',
          community: 'discord:1',
          detail: '{"reason":"spam"}',
          createdAt: NOW,
        });
        await expect(
          store.audit.append({ actorUserId: mod.id + 1000, action: 'user.ban', createdAt: NOW }),
        ).rejects.toThrow();
      });
    });

    describe('intake keys', () => {
      it('lets a key be claimed once, linked to its job, and given back', async () => {
        const a = await member('a');
        expect(await store.intakeKeys.get('discord:1:m1')).toBeUndefined();
        expect(await store.intakeKeys.claim('discord:1:m1', 'video', NOW)).toBe(true);
        expect(await store.intakeKeys.claim('discord:1:m1', 'video', NOW)).toBe(false);
        expect(await store.intakeKeys.get('discord:1:m1')).toEqual({ jobId: null, job: undefined });
        const made = await job(a.id);
        await store.intakeKeys.link('discord:1:m1', made.id);
        expect(await store.intakeKeys.get('discord:1:m1')).toEqual({ jobId: made.id, job: made });
        expect(await store.intakeKeys.claim('discord:1:m2', 'ban', NOW)).toBe(true);
        await store.intakeKeys.release('discord:1:m2');
        expect(await store.intakeKeys.get('discord:1:m2')).toBeUndefined();
        expect(await store.intakeKeys.claim('discord:1:m2', 'ban', NOW)).toBe(true);
      });
    });

    describe('webhook deliveries', () => {
      it("records a provider's delivery once, and forgets the old ones", async () => {
        const delivery = { provider: 'fal', deliveryId: 'd1', jobId: 'job-x' };
        expect(await store.webhookDeliveries.record(delivery, NOW - DAY_MS)).toBe(true);
        expect(await store.webhookDeliveries.record(delivery, NOW)).toBe(false);
        expect(await store.webhookDeliveries.record({ ...delivery, provider: 'kie' }, NOW)).toBe(true);
        expect(await store.webhookDeliveries.record({ ...delivery, deliveryId: 'd2' }, NOW - 2 * DAY_MS)).toBe(true);
        expect(await store.webhookDeliveries.prune(NOW - 1)).toBe(2);
        expect(await store.webhookDeliveries.prune(NOW - 1)).toBe(0);
        expect(await store.webhookDeliveries.record(delivery, NOW)).toBe(true);
        expect(await store.webhookDeliveries.record({ ...delivery, provider: 'kie' }, NOW)).toBe(false);
      });
    });

    describe('provider health', () => {
      it('counts failures in a row, and clears them', async () => {
        const health = store.providerHealth;
        expect(await health.get('fal')).toBeUndefined();
        expect(await health.countFailure('fal')).toBe(1);
        expect(await health.countFailure('fal')).toBe(2);
        await health.clearFailures('fal');
        await health.clearFailures('ark');
        expect(await health.get('fal')).toEqual({
          provider: 'fal',
          failuresInARow: 0,
          downSince: null,
          downReason: null,
          probedAt: null,
        });
        expect(await health.get('ark')).toBeUndefined();
      });

      it('marks a provider down once and up once, whoever races, and lets one caller probe it per interval', async () => {
        const health = store.providerHealth;
        const raced = await Promise.all([
          health.markDown('fal', 'auth', NOW),
          health.markDown('fal', 'transient', NOW),
        ]);
        expect([...raced].sort()).toEqual([false, true]);
        const winner = raced[0] ? 'auth' : 'transient';
        expect(await health.markDown('ark', 'transient', NOW)).toBe(true);
        expect((await health.down()).map((r) => [r.provider, r.downReason, r.downSince]).sort()).toEqual([
          ['ark', 'transient', NOW],
          ['fal', winner, NOW],
        ]);
        expect(
          (
            await Promise.all([health.claimProbe('fal', NOW + 10, NOW), health.claimProbe('fal', NOW + 10, NOW)])
          ).sort(),
        ).toEqual([false, true]);
        expect(await health.claimProbe('fal', NOW + 20, NOW + 10)).toBe(false);
        expect(await health.claimProbe('fal', NOW + 30, NOW + 11)).toBe(true);
        expect(await health.claimProbe('kie', NOW, NOW)).toBe(false);
        await health.countFailure('fal');
        expect((await Promise.all([health.markUp('fal'), health.markUp('fal')])).sort()).toEqual([false, true]);
        expect(await health.get('fal')).toMatchObject({ downSince: null, downReason: null, failuresInARow: 0 });
        expect(await health.claimProbe('fal', NOW + 99, NOW + 98)).toBe(false);
        expect(await health.markDown('fal', 'insufficient_funds', NOW + 100)).toBe(true);
        expect(await health.get('fal')).toMatchObject({
          downSince: NOW + 100,
          downReason: 'insufficient_funds',
          probedAt: null,
        });
      });
    });

    describe('reports', () => {
      /** Two members in discord:g1 and one in telegram:-100, jobs today and yesterday, and a community budget. */
      async function day() {
        const [a, b, c] = [await member('a'), await member('b'), await member('c', 'telegram')];
        await store.users.insert({
          platform: 'community',
          platformUserId: 'discord:g1',
          displayName: '',
          createdAt: NOW,
        });
        const settle = async (userId: number, status: JobStatus, over: Partial<NewJobRow>, settledAt = NOW) => {
          const made = await jobIn(userId, status, {}, over);
          await store.ledger.append(hold(userId, made.id, made.price, over.createdAt));
          if (status === 'succeeded')
            await store.ledger.append({ userId, kind: 'capture', amount: 0, jobId: made.id, createdAt: settledAt });
          if (status === 'failed')
            await store.ledger.append({
              userId,
              kind: 'release',
              amount: made.price,
              jobId: made.id,
              createdAt: settledAt,
            });
        };
        await settle(a.id, 'succeeded', { price: 40, costUsd: 0.25 });
        await settle(a.id, 'queued', { price: 50, costUsd: 0.5 });
        await settle(b.id, 'running', { price: 70, costUsd: 1 });
        await settle(b.id, 'succeeded', { price: 30, costUsd: 2, createdAt: NOW - DAY_MS }, NOW - DAY_MS);
        await settle(c.id, 'failed', { platform: 'telegram', guildId: '-100', price: 60, costUsd: 4 });
        await settle(c.id, 'succeeded', { platform: 'telegram', guildId: null, price: 20, costUsd: 8 });
      }

      it('gives the figures of everywhere', async () => {
        await day();
        const stats = await store.reports.stats(DAY_START);
        expect(stats).toEqual({
          jobsByStatus: { succeeded: 3, queued: 1, running: 1, failed: 1 },
          jobsToday: 5,
          usdToday: expect.closeTo(0.25 + 8, 6),
          usersTotal: 3,
          creditsHeld: 120,
          creditsSpentToday: 60,
        });
      });

      it("gives the owners' revenue per platform after refunds, in credits and Stars, beside all-time provider spend", async () => {
        await day();
        const [a, c] = [(await store.users.find('discord', 'a'))!, (await store.users.find('telegram', 'c'))!];
        const buy = (userId: number, paymentId: string, amount: number, reason: string) =>
          store.ledger.append({ userId, kind: 'purchase', amount, paymentId, reason, createdAt: NOW });
        const refund = (userId: number, paymentId: string, taken: number, actorUserId: number | null) =>
          store.ledger.append({
            userId,
            kind: 'purchase_refund',
            amount: -taken,
            paymentId,
            actorUserId,
            reason: 'refund',
            createdAt: NOW + 1,
          });
        await buy(c.id, 'telegram:t1', 100, '50 Telegram Stars');
        await buy(c.id, 'telegram:t2', 100, '50 Telegram Stars');
        await buy(c.id, 'telegram:t3', 500, '225 Telegram Stars');
        await refund(c.id, 'telegram:t2', 30, a.id);
        await buy(a.id, 'discord:1', 100, 'Discord purchase of SKU 9');
        await buy(a.id, 'discord:2', 500, 'Discord purchase of SKU 8');
        await refund(a.id, 'discord:2', 500, null);
        const { platforms, usdTotal } = await collectRevenue(store);
        expect(platforms).toEqual([
          { platform: 'discord', purchases: 2, refunded: 1, credits: 100, takenBack: 500 },
          { platform: 'telegram', purchases: 3, refunded: 1, credits: 600, takenBack: 30, stars: 275 },
        ]);
        // Succeeded jobs only, every day: 0.25 + 2 + 8.
        expect(usdTotal).toBeCloseTo(10.25, 6);
      });

      it('gives the figures of the jobs made in one community', async () => {
        await day();
        expect(await store.reports.stats(DAY_START, 'discord:g1')).toEqual({
          jobsByStatus: { succeeded: 2, queued: 1, running: 1 },
          jobsToday: 3,
          usdToday: 0.25,
          usersTotal: 2,
          creditsHeld: 120,
          creditsSpentToday: 40,
        });
        expect(await store.reports.stats(DAY_START, 'telegram:-100')).toEqual({
          jobsByStatus: { failed: 1 },
          jobsToday: 1,
          usdToday: 0,
          usersTotal: 1,
          creditsHeld: 0,
          creditsSpentToday: 0,
        });
        expect(await store.reports.stats(DAY_START, 'discord:nowhere')).toEqual({
          jobsByStatus: {},
          jobsToday: 0,
          usdToday: 0,
          usersTotal: 0,
          creditsHeld: 0,
          creditsSpentToday: 0,
        });
      });
    });

    describe('transactions', () => {
      it('commits the writes of a transaction and returns what it returned', async () => {
        const result = await store.transaction(async (tx) => {
          const a = await member('a', 'discord', tx);
          await tx.ledger.append({ userId: a.id, kind: 'starting', amount: 100, createdAt: NOW });
          await job(a.id, {}, tx);
          return a.id;
        });
        expect(await store.ledger.balanceOf(result)).toBe(100);
        expect(await store.jobs.recentOf(result, 10)).toHaveLength(1);
      });

      it('leaves nothing of a transaction that throws, and throws what it threw', async () => {
        const a = await member('a');
        const failure = new Error('changed my mind');
        let jobId = '';
        await expect(
          store.transaction(async (tx) => {
            await tx.ledger.append({ userId: a.id, kind: 'starting', amount: 100, createdAt: NOW });
            jobId = (await job(a.id, {}, tx)).id;
            await member('b', 'discord', tx);
            await tx.communities.note('discord:1', NOW);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.ledger.balanceOf(a.id)).toBe(0);
        expect(await store.jobs.get(jobId)).toBeUndefined();
        expect(await store.users.find('discord', 'b')).toBeUndefined();
        expect(await store.communities.list()).toEqual([]);
      });

      it("joins a transaction opened inside one: its writes are the outer one's, undone with it", async () => {
        const a = await member('a');
        await store.transaction(async (tx) => {
          await tx.transaction(async (inner) =>
            inner.ledger.append({ userId: a.id, kind: 'grant', amount: 5, createdAt: NOW }),
          );
          expect(await tx.ledger.balanceOf(a.id)).toBe(5);
        });
        await expect(
          store.transaction(async (tx) => {
            await tx.transaction(async (inner) =>
              inner.ledger.append({ userId: a.id, kind: 'grant', amount: 7, createdAt: NOW }),
            );
            expect(await tx.ledger.balanceOf(a.id)).toBe(12);
            throw new Error('undo');
          }),
        ).rejects.toThrow('undo');
        expect(await store.ledger.balanceOf(a.id)).toBe(5);
      });

      it("hides a transaction's writes until it commits, and keeps what others wrote meanwhile when it rolls back", async () => {
        const [a, b] = [await member('a'), await member('b')];
        const inside = gate();
        const release = gate();
        const transaction = store.transaction(async (tx) => {
          await tx.ledger.append({ userId: a.id, kind: 'grant', amount: 50, createdAt: NOW });
          inside.pass();
          await release.reached;
          throw new Error('roll back');
        });
        await inside.reached;
        // Started while the transaction is open; a store with one writer at a time may run them after it.
        const seen = store.ledger.balanceOf(a.id);
        const written = store.ledger.append({ userId: b.id, kind: 'grant', amount: 7, createdAt: NOW });
        release.pass();
        await expect(transaction).rejects.toThrow('roll back');
        await written;
        expect(await seen).toBe(0);
        expect(await store.ledger.balanceOf(a.id)).toBe(0);
        expect(await store.ledger.balanceOf(b.id)).toBe(7);
      });

      it('never lets transactions that read a balance and then spend it spend more than there is', async () => {
        const a = await member('a');
        await store.ledger.append({ userId: a.id, kind: 'starting', amount: 100, createdAt: NOW });
        const spends = await Promise.all(
          Array.from({ length: 10 }, () =>
            store.transaction(async (tx) => {
              if ((await tx.ledger.balanceOf(a.id)) < 30) return false;
              await tx.ledger.append({ userId: a.id, kind: 'deduct', amount: -30, createdAt: NOW });
              return true;
            }),
          ),
        );
        expect(spends.filter(Boolean)).toHaveLength(3);
        expect(await store.ledger.balanceOf(a.id)).toBe(10);
      });

      it('settles a hold once when 20 transactions race to settle it', async () => {
        const a = await member('a');
        const { id } = await job(a.id);
        await store.ledger.append({ userId: a.id, kind: 'starting', amount: 100, createdAt: NOW });
        await store.ledger.append(hold(a.id, id, 40));
        const settled = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.transaction(async (tx) => {
              const held = await tx.ledger.holdOf(id);
              if (!held) return false;
              const capture = i % 2 === 0;
              return tx.ledger.appendOnce({
                userId: held.userId,
                kind: capture ? 'capture' : 'release',
                amount: capture ? 0 : -held.amount,
                jobId: id,
                createdAt: NOW,
              });
            }),
          ),
        );
        expect(settled.filter(Boolean)).toHaveLength(1);
        const totals = await store.ledger.totals();
        expect(totals.held).toBe(0);
        expect(totals.captured + totals.released).toBe(40);
        expect(await store.ledger.balanceOf(a.id)).toBe(totals.captured ? 60 : 100);
      });
    });

    describe('guarded writes outside transactions', () => {
      it('let exactly one of 20 racing actors win', async () => {
        const a = await member('a');
        const { id } = await job(a.id);
        await store.communities.note('discord:1', NOW);
        const race = async (write: (i: number) => Promise<boolean>) =>
          (await Promise.all(Array.from({ length: 20 }, (_, i) => write(i)))).filter(Boolean).length;
        expect(await race(() => store.jobs.update(id, ['queued'], { status: 'submitting', updatedAt: NOW }))).toBe(1);
        expect(await race(() => store.ledger.appendOnce(hold(a.id, id, 40)))).toBe(1);
        expect(
          await race((i) =>
            store.ledger.appendOnce({
              userId: a.id,
              kind: i % 2 ? 'capture' : 'release',
              amount: i % 2 ? 0 : 40,
              jobId: id,
              createdAt: NOW,
            }),
          ),
        ).toBe(1);
        expect(
          await race((i) =>
            store.ledger.appendOnce({ userId: a.id, kind: 'daily', amount: i, day: '2026-03-10', createdAt: NOW }),
          ),
        ).toBe(1);
        expect(await race(() => store.intakeKeys.claim('discord:1:m1', 'video', NOW))).toBe(1);
        expect(await race(() => store.communities.claimRefusal('discord:1', NOW))).toBe(1);
        expect(await race(() => store.blocklist.add('nude', '', a.id, NOW))).toBe(1);
        expect(
          await race(() => store.webhookDeliveries.record({ provider: 'fal', deliveryId: 'd1', jobId: id }, NOW)),
        ).toBe(1);
      });
    });
  });
}
