/**
 * Fair scheduling: round-robin across users instead of one global FIFO.
 * Round k holds every user's k-th queued job; within a round, the user who started a job least recently
 * (never = first) goes first, ties broken by who has waited longest. So a user with ten queued jobs cannot
 * starve a user who asks for one: the newcomer's job starts no later than the first user's second.
 */

export interface QueuedJob {
  id: string;
  userId: number;
  createdAt: number;
}

export function fairOrder<T extends QueuedJob>(
  queued: readonly T[],
  lastStartByUser: ReadonlyMap<number, number>,
): T[] {
  const byUser = new Map<number, T[]>();
  // Ids compare byte-wise, as the stores compare them when they count a job's place (JobRepo.queuePosition).
  for (const job of [...queued].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const list = byUser.get(job.userId);
    if (list) list.push(job);
    else byUser.set(job.userId, [job]);
  }
  const users = [...byUser.entries()].sort(([userA, jobsA], [userB, jobsB]) => {
    const startA = lastStartByUser.get(userA) ?? -Infinity;
    const startB = lastStartByUser.get(userB) ?? -Infinity;
    if (startA !== startB) return startA - startB;
    return jobsA[0]!.createdAt - jobsB[0]!.createdAt || userA - userB;
  });
  const ordered: T[] = [];
  for (let round = 0; ordered.length < queued.length; round++) {
    for (const [, list] of users) {
      const job = list[round];
      if (job) ordered.push(job);
    }
  }
  return ordered;
}
