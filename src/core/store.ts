import type {
  CommunityMember,
  Job,
  JobStatus,
  LedgerKind,
  NewJob,
  QuoteRow,
  QuoteStatus,
  User,
} from '../../db/schema.js';

/**
 * The store port (design.md §8): everything the core keeps, behind async operations that an embedded SQLite
 * database (the default) and PostgreSQL (several processes) both implement. The core holds the rules (which moves
 * are allowed, what a member may spend, who may act where); an adapter only reads and writes rows, and promises:
 * - every operation is atomic on its own; a guarded write (`WHERE status IN …`, a unique key) reports whether it
 *   took effect, so of two actors racing exactly one wins, in any number of processes;
 * - `transaction(fn)` runs `fn` as one unit: all of its writes land or none, and no other transaction's writes
 *   interleave with what `fn` read and then wrote (SQLite: one writer at a time; PostgreSQL: serialisable,
 *   retried on a serialisation failure, so `fn` may run more than once and must not act outside the store).
 * Row types are those of `db/schema.ts`; both adapters read and write exactly those shapes.
 */

export type { CommunityMember, Job, JobStatus, LedgerKind, NewJob, QuoteRow, QuoteStatus, User };

export type JobPatch = Partial<Omit<NewJob, 'id' | 'status' | 'userId' | 'createdAt' | 'workerId' | 'leaseEpoch'>>;
export type JobUpdate = JobPatch & { status?: JobStatus };
/** What intake writes for a new job (a column left out is null); the other columns start at their defaults. */
export type NewJobRow = Pick<
  NewJob,
  | 'id'
  | 'userId'
  | 'status'
  | 'platform'
  | 'chatId'
  | 'guildId'
  | 'requestMessageId'
  | 'locale'
  | 'uploadLimitBytes'
  | 'model'
  | 'provider'
  | 'providerModel'
  | 'prompt'
  | 'params'
  | 'inputImageUrl'
  | 'inputMediaKey'
  | 'price'
  | 'createdAt'
  | 'updatedAt'
  | 'parentJobId'
  | 'followup'
> & { costUsd: number };

/** A queued job as the scheduler orders it, with its member's latest start (0 = never). */
export interface QueuedJob {
  id: string;
  userId: number;
  createdAt: number;
  provider: string;
  lastStart: number;
}

export interface CountedJobs {
  inWindow: number;
  oldestInWindow: number | null;
  today: number;
}

export interface JobRepo {
  insert(row: NewJobRow): Promise<Job>;
  get(id: string): Promise<Job | undefined>;
  /** Just the status: what a runner checks after every provider answer. */
  statusOf(id: string): Promise<JobStatus | undefined>;
  /**
   * `UPDATE jobs SET … WHERE id = ? AND status IN (from) [AND lease_epoch = fence]`: true if this call changed the
   * row. A runner passes the epoch it started or took the job over with, so once another process has taken the job
   * over, nothing the first one still does lands.
   */
  update(id: string, from: readonly JobStatus[], set: JobUpdate, fence?: number): Promise<boolean>;
  /** Starts a queued job on this worker (queued → submitting, a new lease epoch); its epoch, or undefined if it was not queued. */
  start(id: string, workerId: string, now: number): Promise<number | undefined>;
  /**
   * Takes over (for `workerId`, with a new lease epoch each) up to `limit` started, unfinished jobs of another worker
   * that is gone: no row in `workers`, or a lease that ran out before `now`. Two processes taking over at once get
   * different jobs. (A worker's own jobs are never taken back by itself: its runners still hold them.)
   */
  takeOver(
    workerId: string,
    now: number,
    limit: number,
  ): Promise<{ id: string; status: JobStatus; leaseEpoch: number }[]>;
  /** Unguarded bookkeeping that is not a state (where the job's status message is). */
  setStatusMessage(id: string, chatId: string, messageId: string): Promise<void>;
  ofProviderTask(provider: string, taskId: string): Promise<Pick<Job, 'id' | 'status'> | undefined>;
  /** The follow-ups (Extend, Upscale) made of this job, oldest first. */
  followupsOf(parentJobId: string): Promise<Pick<Job, 'id' | 'status' | 'followup'>[]>;

  /** Whether any job is queued, and how many are at a provider: in one read, since the scheduler asks on every intake. */
  schedulingLoad(): Promise<{ queued: boolean; atProvider: number }>;
  /** Whether a job is queued of a member and for a provider other than the given ones (those at their caps). */
  hasQueuedBesides(userIds: readonly number[], providers: readonly string[]): Promise<boolean>;
  queued(): Promise<QueuedJob[]>;
  /**
   * The queued job's 1-based place in the order jobs start (fair order: what `queued()` in `fairOrder` gives), from
   * per-member counts rather than the whole queue; undefined when the job is not queued.
   */
  queuePosition(id: string): Promise<number | undefined>;
  /** Jobs at a provider (submitting or running). */
  countAtProvider(): Promise<number>;
  /** Jobs at a provider per member / per provider, for the given keys (all keys when `keys` is omitted). */
  atProviderByUser(userIds?: readonly number[]): Promise<Map<number, number>>;
  atProviderByProvider(providers?: readonly string[]): Promise<Map<string, number>>;
  unfinished(): Promise<{ id: string; status: JobStatus }[]>;

  latestCancellableOf(userId: number, cancellable: readonly JobStatus[]): Promise<Pick<Job, 'id'> | undefined>;
  /** The member's jobs in the given statuses, oldest first. */
  ofUserIn(userId: number, statuses: readonly JobStatus[]): Promise<Job[]>;
  recentOf(userId: number, limit: number): Promise<Job[]>;
  countsByStatusProviderModel(): Promise<{ status: JobStatus; provider: string; model: string; n: number }[]>;
  queueDepth(): Promise<number>;

  /** The member's jobs not yet final. */
  pendingCountOf(userId: number): Promise<number>;
  /**
   * The member's jobs that count against quotas (not failed/cancelled before a provider saw them), in one read: those
   * created since `windowStart` (with the oldest one's time) and those created since `dayStart`.
   */
  countedSince(userId: number, since: { windowStart: number; dayStart: number }): Promise<CountedJobs>;
  /** Jobs the member made since `since` in one community (any status). */
  countInCommunitySince(userId: number, platform: string, guildId: string, since: number): Promise<number>;
  /** Estimated provider spend of jobs created since `since` that reached a provider or may still. */
  spentUsdSince(since: number): Promise<number>;
  /** Seconds from submission to provider completion of the newest successful similar jobs, newest first. */
  recentDurations(similar: { model: string; resolution: string; durationS: number }, limit: number): Promise<number[]>;
  /** Final jobs finished before `before` that still keep stored media. */
  withExpiredMedia(before: number, limit: number): Promise<Pick<Job, 'id' | 'mediaKey' | 'inputMediaKey'>[]>;
  forgetMedia(id: string): Promise<void>;
}

/** The bot processes sharing the store, each with a lease it renews while it lives. */
export interface WorkerRepo {
  /** Registers the worker or renews its lease until `leaseUntil`. */
  renew(id: string, now: number, leaseUntil: number): Promise<void>;
  /** Removes the worker: its unfinished jobs may be taken over at once. */
  leave(id: string): Promise<void>;
  /**
   * Forgets workers whose lease ran out before `before` (killed processes leave their row behind). Their jobs stay
   * free to take over: a missing row counts as gone, as an expired lease does. Returns how many were forgotten.
   */
  forgetGone(before: number): Promise<number>;
}

export interface LedgerEntryRow {
  userId: number;
  kind: LedgerKind;
  amount: number;
  jobId?: string | null;
  actorUserId?: number | null;
  reason?: string | null;
  day?: string | null;
  /** A purchase's platform payment id (`telegram:<charge id>`): unique among purchases, and among purchase refunds. */
  paymentId?: string | null;
  createdAt: number;
}

/** A credited purchase, as /history shows it. */
export interface PurchaseRow {
  amount: number;
  paymentId: string;
  reason: string | null;
  createdAt: number;
  /** Its refund, if it was refunded: the credits taken back; `byPlatform` when the platform did it (Discord). */
  refund?: { taken: number; byPlatform: boolean };
}

/** A credited purchase found by its payment id, with its refund if an owner refunded it. */
export interface PurchaseRecord {
  userId: number;
  amount: number;
  reason: string | null;
  createdAt: number;
  /** The purchase_refund entry: `taken` the credits it took back (0 or more). */
  refund?: { taken: number; actorUserId: number | null; createdAt: number };
}

/** A purchase and its refund from their ledger rows (for the adapters' purchaseByPayment). */
export function purchaseRecord(
  rows: readonly {
    kind: LedgerKind;
    userId: number;
    amount: number;
    reason: string | null;
    actorUserId: number | null;
    createdAt: number;
  }[],
): PurchaseRecord | undefined {
  const purchase = rows.find((r) => r.kind === 'purchase');
  if (!purchase) return undefined;
  const refund = rows.find((r) => r.kind === 'purchase_refund');
  const { userId, amount, reason, createdAt } = purchase;
  return {
    userId,
    amount,
    reason,
    createdAt,
    ...(refund
      ? { refund: { taken: -refund.amount, actorUserId: refund.actorUserId, createdAt: refund.createdAt } }
      : {}),
  };
}

export interface LedgerRepo {
  balanceOf(userId: number): Promise<number>;
  /** Credits held by the member's unsettled jobs. */
  heldOf(userId: number): Promise<number>;
  append(entry: LedgerEntryRow): Promise<void>;
  /**
   * Appends unless a unique index already holds such an entry (a job's settlement, a day's allowance, a purchase's
   * payment id); true if written.
   */
  appendOnce(entry: LedgerEntryRow): Promise<boolean>;
  holdOf(jobId: string): Promise<{ userId: number; amount: number } | undefined>;
  hasEntryOfJob(jobId: string, kinds: readonly LedgerKind[]): Promise<boolean>;
  /** Final jobs whose hold was never settled. */
  orphanedHolds(): Promise<{ id: string; status: JobStatus }[]>;
  totals(): Promise<{ held: number; captured: number; released: number }>;
  /** The member's purchases, newest first. */
  purchasesOf(userId: number, limit: number): Promise<PurchaseRow[]>;
  /** The purchase credited under `paymentId` (and its refund, if any); undefined if none was. */
  purchaseByPayment(paymentId: string): Promise<PurchaseRecord | undefined>;
}

export interface UserRepo {
  find(platform: string, platformUserId: string): Promise<User | undefined>;
  byId(id: number): Promise<User | undefined>;
  insert(row: Pick<User, 'platform' | 'platformUserId' | 'displayName' | 'createdAt'>): Promise<User>;
  update(id: number, set: Partial<Pick<User, 'displayName' | 'banned' | 'banReason' | 'dailyJobQuota'>>): Promise<void>;
}

export interface Community {
  id: string;
  title: string;
  firstSeenAt: number;
  lastSeenAt: number;
  refusedAt: number | null;
  leftAt: number | null;
}

export interface CommunityRepo {
  /** Inserts the community or refreshes when it was last seen (and its title when given). */
  note(id: string, now: number, title?: string): Promise<Community>;
  /** Sets `refusedAt` unless already set: true only for the first caller. */
  claimRefusal(id: string, now: number): Promise<boolean>;
  markLeft(id: string, now: number): Promise<void>;
  list(): Promise<Community[]>;
  /** Per community: members served and credits captured and not refunded since. */
  usage(): Promise<{ community: string; members: number; spent: number }[]>;
  measures(community: string, userId: number): Promise<CommunityMember | undefined>;
  setMeasures(
    community: string,
    userId: number,
    change: Partial<Pick<CommunityMember, 'banned' | 'banReason' | 'dailyJobQuota'>>,
    now: number,
  ): Promise<void>;
}

export interface StoredChatSettings {
  defaultModel: string | null;
  allowedChannelIds: string[] | null;
  dailyJobQuota: number | null;
}

export interface SettingsRepo {
  get(platform: string, chatId: string): Promise<StoredChatSettings | undefined>;
  put(platform: string, chatId: string, settings: StoredChatSettings, updatedBy: number, now: number): Promise<void>;
}

export interface BlocklistRepo {
  /** False when the term is already there for that community. */
  add(term: string, community: string, addedBy: number, now: number): Promise<boolean>;
  /** False when it was not there. */
  remove(term: string, community: string): Promise<boolean>;
  list(): Promise<{ term: string; community: string }[]>;
}

export interface AuditRow {
  actorUserId: number;
  action: string;
  targetUserId?: number | null;
  jobId?: string | null;
  community?: string | null;
  detail?: string | null;
  createdAt: number;
}

export interface AuditRepo {
  append(row: AuditRow): Promise<void>;
}

export interface IntakeKeyRepo {
  /** False when the key was claimed before. */
  claim(key: string, command: string, now: number): Promise<boolean>;
  link(key: string, jobId: string): Promise<void>;
  release(key: string): Promise<void>;
  /** The key's claim, and its job if one was made. */
  get(key: string): Promise<{ jobId: string | null; job: Job | undefined } | undefined>;
}

/** Prices shown with Confirm and Cancel (quotes.ts): a row per quote, whose status moves once from `open`. */
export interface QuoteRepo {
  insert(row: QuoteRow): Promise<void>;
  get(id: string): Promise<QuoteRow | undefined>;
  /** Moves an open quote to `to` (with the job it made); false if it was no longer open. */
  close(id: string, to: Exclude<QuoteStatus, 'open'>, jobId?: string): Promise<boolean>;
  /** Forgets quotes made before `before`; returns how many. */
  prune(before: number): Promise<number>;
}

export interface WebhookDeliveryRepo {
  /** False when this provider's delivery id was recorded before. */
  record(delivery: { provider: string; deliveryId: string; jobId: string }, now: number): Promise<boolean>;
  /** Forgets deliveries received before `before`; returns how many. */
  prune(before: number): Promise<number>;
}

/** A provider's health as every process on the store sees it (PROVIDER_FALLBACK; core/health/provider-health.ts). */
export interface ProviderHealthRow {
  provider: string;
  failuresInARow: number;
  downSince: number | null;
  downReason: string | null;
  probedAt: number | null;
}

export interface ProviderHealthRepo {
  get(provider: string): Promise<ProviderHealthRow | undefined>;
  /** Providers marked down. */
  down(): Promise<ProviderHealthRow[]>;
  /** One more failure in a row (the row is made if missing); the new count. */
  countFailure(provider: string): Promise<number>;
  /** Back to no failures; writes nothing when there were none. */
  clearFailures(provider: string): Promise<void>;
  /** Marks the provider down unless it already is: true only for the caller whose write did it. */
  markDown(provider: string, reason: string, now: number): Promise<boolean>;
  /** Marks a down provider healthy again (no failures): true only for the caller whose write did it. */
  markUp(provider: string): Promise<boolean>;
  /** Claims the probe of a down provider whose last probe started before `dueBefore` (or never): true for one caller. */
  claimProbe(provider: string, now: number, dueBefore: number): Promise<boolean>;
}

/** Figures for /stats, everywhere or for the jobs made in one community. */
export interface StatsRow {
  jobsByStatus: Record<string, number>;
  jobsToday: number;
  usdToday: number;
  usersTotal: number;
  creditsHeld: number;
  creditsSpentToday: number;
}

/**
 * Purchases of one platform at one reason (a reason names the price paid where the platform tells it: `50 Telegram
 * Stars`), for the owners' /stats: how many, their credits, and of them how many were refunded, their credits, and
 * the credits those refunds took back.
 */
export interface RevenueRow {
  /** The payment id's namespace: `telegram`, `discord`. */
  platform: string;
  reason: string | null;
  purchases: number;
  credits: number;
  refunded: number;
  refundedCredits: number;
  takenBack: number;
}

export interface ReportRepo {
  stats(dayStart: number, community?: string): Promise<StatsRow>;
  /** Every purchase ever, grouped (RevenueRow), and the provider spend of every succeeded job, USD. */
  revenue(): Promise<{ rows: RevenueRow[]; usdTotal: number }>;
}

/** What a transaction (and the store outside one) can do. */
export interface StoreTx {
  readonly jobs: JobRepo;
  readonly workers: WorkerRepo;
  readonly ledger: LedgerRepo;
  readonly users: UserRepo;
  readonly communities: CommunityRepo;
  readonly settings: SettingsRepo;
  readonly blocklist: BlocklistRepo;
  readonly audit: AuditRepo;
  readonly intakeKeys: IntakeKeyRepo;
  readonly webhookDeliveries: WebhookDeliveryRepo;
  readonly reports: ReportRepo;
  readonly quotes: QuoteRepo;
  readonly providerHealth: ProviderHealthRepo;
  /** Runs `fn` in a transaction; called on a transaction, `fn` joins it. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
}

/**
 * A provider callback may reach any process sharing the store, while the job's runner lives in one: the receiving
 * process nudges, and whichever process runs the job looks at the provider at once (no payload: the runner trusts only
 * what it reads itself).
 */
export interface JobNudges {
  publish(jobId: string): Promise<void>;
  /** Calls `handler` for every nudge published by any process on the store, this one included; returns the unsubscribe. */
  subscribe(handler: (jobId: string) => void): Promise<() => Promise<void>>;
}

export interface Store extends StoreTx {
  readonly kind: 'sqlite' | 'postgres';
  readonly nudges: JobNudges;
  /** Whether the store can still be used (for /health). */
  isOpen(): boolean;
  close(): Promise<void>;
}
