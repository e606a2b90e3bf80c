import { sql } from 'drizzle-orm';
import type { QuotedRequest, StoredParams } from '../src/core/ports.js';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** Times are epoch milliseconds (integers) so guards and backdating in tests stay simple. */

/**
 * One row per ledger account: a platform identity (a Discord user and a Telegram user are separate accounts), or a
 * community's budget (platform `community`, platformUserId the community id such as `telegram:-100123`).
 */
export const users = sqliteTable(
  'users',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    platform: text('platform', { enum: ['console', 'discord', 'telegram', 'community'] }).notNull(),
    platformUserId: text('platform_user_id').notNull(),
    displayName: text('display_name').notNull().default(''),
    banned: integer('banned', { mode: 'boolean' }).notNull().default(false),
    banReason: text('ban_reason'),
    /** Moderator override of the daily job quota; null = the configured default. */
    dailyJobQuota: integer('daily_job_quota'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('users_identity').on(t.platform, t.platformUserId)],
);

/**
 * - transfer: a moderator's grant out of a community budget: two entries in one transaction (budget -n, member +n);
 * - refund: a succeeded (captured) job's price given back by an owner or moderator;
 * - purchase: credits a member paid for on a platform (Telegram Stars), keyed by the platform's payment id;
 * - purchase_refund: an owner's refund of a purchase (the Stars went back): what could be taken back of its credits
 *   (0 or less), naming the purchase's payment id, at most one per payment.
 */
export const LEDGER_KINDS = [
  'starting',
  'daily',
  'grant',
  'deduct',
  'hold',
  'capture',
  'release',
  'transfer',
  'refund',
  'purchase',
  'purchase_refund',
] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/**
 * Append-only. Balance = SUM(amount). A hold debits the price; capture (amount 0) marks it spent;
 * release credits it back. Partial unique indexes make "one hold per job" and "settled once" facts of the schema.
 */
export const ledgerEntries = sqliteTable(
  'ledger_entries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind', { enum: LEDGER_KINDS }).notNull(),
    amount: integer('amount').notNull(),
    jobId: text('job_id').references(() => jobs.id),
    actorUserId: integer('actor_user_id').references(() => users.id),
    reason: text('reason'),
    /** For the daily allowance: the UTC day it belongs to, so it is granted once per day. */
    day: text('day'),
    /**
     * A purchase's payment id, namespaced by platform (`telegram:<telegram_payment_charge_id>`): unique among
     * purchases, so a payment re-delivered (or handled by two processes) is credited once; and unique among
     * purchase refunds, so a payment is refunded once.
     */
    paymentId: text('payment_id'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('ledger_user').on(t.userId),
    uniqueIndex('ledger_one_purchase_per_payment')
      .on(t.paymentId)
      .where(sql`kind = 'purchase'`),
    uniqueIndex('ledger_one_refund_per_payment')
      .on(t.paymentId)
      .where(sql`kind = 'purchase_refund'`),
    uniqueIndex('ledger_one_hold_per_job')
      .on(t.jobId)
      .where(sql`kind = 'hold'`),
    uniqueIndex('ledger_one_settlement_per_job')
      .on(t.jobId)
      .where(sql`kind in ('capture', 'release')`),
    uniqueIndex('ledger_one_daily_per_day')
      .on(t.userId, t.day)
      .where(sql`kind = 'daily'`),
  ],
);

export const JOB_STATUSES = [
  'queued',
  'submitting',
  'running',
  'fetching',
  'delivering',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** What a follow-up job does with its parent's clip: continue it with a new prompt, or make it sharper. */
export const FOLLOWUP_KINDS = ['extend', 'upscale'] as const;
export type FollowupKind = (typeof FOLLOWUP_KINDS)[number];

export const jobs = sqliteTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    status: text('status', { enum: JOB_STATUSES }).notNull(),
    /** Where the request came from and where replies go. */
    platform: text('platform', { enum: ['console', 'discord', 'telegram'] }).notNull(),
    chatId: text('chat_id').notNull(),
    guildId: text('guild_id'),
    requestMessageId: text('request_message_id'),
    locale: text('locale'),
    /** Largest upload the destination accepts, captured at intake (Discord's is per interaction). */
    uploadLimitBytes: integer('upload_limit_bytes'),

    model: text('model').notNull(),
    provider: text('provider').notNull(),
    providerModel: text('provider_model').notNull(),
    prompt: text('prompt').notNull(),
    /** JSON of the validated generation parameters (duration, resolution, aspect, seed, ...). */
    params: text('params', { mode: 'json' }).notNull().$type<StoredParams>(),
    /** The user's input image as given (never sent to a provider as is). */
    inputImageUrl: text('input_image_url'),
    /** Our re-hosted copy of the input image: what the provider receives. */
    inputMediaKey: text('input_media_key'),
    price: integer('price').notNull(),
    costUsd: real('cost_usd').notNull().default(0),

    providerTaskId: text('provider_task_id'),
    resultUrl: text('result_url'),
    statusChatId: text('status_chat_id'),
    statusMessageId: text('status_message_id'),
    attempts: integer('attempts').notNull().default(0),
    errorKind: text('error_kind'),
    errorMessage: text('error_message'),
    errorRef: text('error_ref'),

    mediaKey: text('media_key'),
    mediaBytes: integer('media_bytes'),
    mediaUrl: text('media_url'),
    deliveredAt: integer('delivered_at'),
    deliveryRef: text('delivery_ref'),

    createdAt: integer('created_at').notNull(),
    submittedAt: integer('submitted_at'),
    providerDoneAt: integer('provider_done_at'),
    finishedAt: integer('finished_at'),
    updatedAt: integer('updated_at').notNull(),

    /** The bot process (workers.id) running the job since it started; another takes it over once that one is gone. */
    workerId: text('worker_id'),
    /** Raised at every start and takeover: a runner's moves are fenced by it, so one that lost the job changes nothing. */
    leaseEpoch: integer('lease_epoch').notNull().default(0),

    /** A follow-up (Extend, Upscale) names the delivered job it continues; null for a job made from a prompt. */
    parentJobId: text('parent_job_id'),
    followup: text('followup', { enum: FOLLOWUP_KINDS }),
  },
  (t) => [
    index('jobs_worker').on(t.workerId),
    // Covers the scheduler's counts of jobs at each provider and for each user, without reading the rows.
    index('jobs_status_provider_user').on(t.status, t.provider, t.userId),
    // A queued job's position (per-member counts of queued jobs, and its rank among its member's own) from the index alone.
    index('jobs_status_user_created').on(t.status, t.userId, t.createdAt, t.id),
    // Also covers the quota counts (status and task id decide whether a job counts), without reading the rows.
    index('jobs_user_created').on(t.userId, t.createdAt, t.status, t.providerTaskId),
    // Each user's latest start (fair order) and the spend since a date (budget caps) are index seeks, not scans.
    index('jobs_user_submitted').on(t.userId, t.submittedAt),
    index('jobs_created').on(t.createdAt),
    uniqueIndex('jobs_provider_task').on(t.provider, t.providerTaskId),
    // A clip's follow-ups (kie will not extend a clip once upscaled).
    index('jobs_parent').on(t.parentJobId),
  ],
);

/**
 * Derived from jobs, kept by triggers (migrations 0005): one row per member with queued jobs, holding what fair order
 * ranks members by (how many queued, since when, latest start). A job's queue position reads these few rows instead of
 * grouping the whole queue. Never written by the code; migrate-to-postgres lets PostgreSQL's triggers rebuild it.
 */
export const queuedMembers = sqliteTable('queued_members', {
  userId: integer('user_id').primaryKey(),
  queued: integer('queued').notNull(),
  firstQueued: integer('first_queued').notNull(),
  /** The member's latest submitted_at over all their jobs, 0 if none ever started. */
  lastStart: integer('last_start').notNull(),
});

/** A re-delivered update (platform + chat + message/interaction id) must never act twice. */
export const intakeKeys = sqliteTable('intake_keys', {
  key: text('key').primaryKey(),
  command: text('command').notNull(),
  jobId: text('job_id').references(() => jobs.id),
  createdAt: integer('created_at').notNull(),
});

export const blocklistTerms = sqliteTable(
  'blocklist_terms',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** Normalised form, so matching and uniqueness agree. */
    term: text('term').notNull(),
    /** The community whose prompts it applies to (`discord:<server>`, `telegram:<group>`); '' = everywhere (owners). */
    community: text('community').notNull().default(''),
    addedBy: integer('added_by').references(() => users.id),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('blocklist_community_term').on(t.community, t.term)],
);

/**
 * A community moderator's measures against one member, applying to requests made in that community only.
 * (users.banned and users.daily_job_quota are the owners' measures, applying everywhere.)
 */
export const communityMembers = sqliteTable(
  'community_members',
  {
    community: text('community').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    banned: integer('banned', { mode: 'boolean' }).notNull().default(false),
    banReason: text('ban_reason'),
    dailyJobQuota: integer('daily_job_quota'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.community, t.userId] })],
);

/** Every community the bot has heard from: the owners' list, and the allow-list's one refusal per community. */
export const communities = sqliteTable('communities', {
  /** `discord:<server id>` or `telegram:<chat id>`. */
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  firstSeenAt: integer('first_seen_at').notNull(),
  lastSeenAt: integer('last_seen_at').notNull(),
  /** When the allow-list refusal was sent (once per community). */
  refusedAt: integer('refused_at'),
  /** When the bot left it (LEAVE_UNLISTED). */
  leftAt: integer('left_at'),
});

/**
 * Bot processes alive on this database: each renews its lease while it runs and removes its row when it stops, so
 * the jobs of one that died are taken over once its lease has run out (design.md §8).
 */
export const workers = sqliteTable('workers', {
  id: text('id').primaryKey(),
  startedAt: integer('started_at').notNull(),
  leaseUntil: integer('lease_until').notNull(),
});

/** Provider webhook deliveries already acted on (dedup by provider + delivery id). */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    provider: text('provider').notNull(),
    deliveryId: text('delivery_id').notNull(),
    jobId: text('job_id'),
    receivedAt: integer('received_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.deliveryId] })],
);

/** Per guild / group settings (filled by the platform issues; the engine reads defaults from here). */
export const chatSettings = sqliteTable(
  'chat_settings',
  {
    platform: text('platform').notNull(),
    chatId: text('chat_id').notNull(),
    defaultModel: text('default_model'),
    allowedChannelIds: text('allowed_channel_ids', { mode: 'json' }).$type<string[]>(),
    dailyJobQuota: integer('daily_job_quota'),
    updatedBy: integer('updated_by').references(() => users.id),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.platform, t.chatId] })],
);

/** Moderator actions (ban, quota, blocklist, refund, grants): who did what to whom, and why. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    actorUserId: integer('actor_user_id')
      .notNull()
      .references(() => users.id),
    action: text('action').notNull(),
    targetUserId: integer('target_user_id').references(() => users.id),
    jobId: text('job_id'),
    /** The community the action was taken for; null for owners' actions that apply everywhere. */
    community: text('community'),
    detail: text('detail'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('audit_created').on(t.createdAt)],
);

export const QUOTE_STATUSES = ['open', 'confirmed', 'cancelled', 'expired', 'superseded'] as const;
export type QuoteStatus = (typeof QUOTE_STATUSES)[number];

/**
 * A price shown with Confirm and Cancel before anything is held (CONFIRM_ABOVE_CREDITS). Kept here, not in memory, so
 * a press reaching another process or a restarted one finds it; `status` moves once (guarded), and the job it makes
 * is deduplicated by the request's intake key.
 */
export const quotes = sqliteTable(
  'quotes',
  {
    id: text('id').primaryKey(),
    /** The requester: only they may confirm or cancel. */
    platform: text('platform').notNull(),
    platformUserId: text('platform_user_id').notNull(),
    request: text('request', { mode: 'json' }).notNull().$type<QuotedRequest>(),
    model: text('model').notNull(),
    price: integer('price').notNull(),
    status: text('status', { enum: QUOTE_STATUSES }).notNull(),
    jobId: text('job_id'),
    createdAt: integer('created_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('quotes_created').on(t.createdAt)],
);

/**
 * Providers found failing, for PROVIDER_FALLBACK (src/core/health/provider-health.ts): one row per provider, shared by
 * every process on the store, so they skip a failing provider together and only the process whose guarded write
 * marks it down (or up again) tells the owners.
 */
export const providerHealth = sqliteTable('provider_health', {
  provider: text('provider').primaryKey(),
  /** Transient submit failures since the provider last accepted a job. */
  failuresInARow: integer('failures_in_a_row').notNull().default(0),
  /** When it was marked down; null while healthy. */
  downSince: integer('down_since'),
  downReason: text('down_reason'),
  /** The last probe's start: one process probes per interval. */
  probedAt: integer('probed_at'),
});

export type User = typeof users.$inferSelect;
export type Job = typeof jobs.$inferSelect;
export type NewJob = typeof jobs.$inferInsert;
export type LedgerEntry = typeof ledgerEntries.$inferSelect;
export type CommunityMember = typeof communityMembers.$inferSelect;
export type QuoteRow = typeof quotes.$inferSelect;
