import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  pgView,
  primaryKey,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { QuotedRequest, StoredParams } from '../../src/core/ports.js';
import { FOLLOWUP_KINDS, JOB_STATUSES, LEDGER_KINDS, QUOTE_STATUSES } from '../schema.js';

/**
 * db/schema.ts for PostgreSQL: the same tables, columns, indexes and constraints, so both stores hold the same rows
 * and the adapters hand core the same types (src/store/postgres checks that they are equal). Read db/schema.ts for
 * what each table means. Times are epoch milliseconds in `bigint` (read back as numbers); byte counts are `bigint`
 * too (a Telegram upload limit is near 2^31); ids are identities that accept explicit values, so a SQLite database
 * can be copied over with its ids.
 */

const millis = (name: string) => bigint(name, { mode: 'number' });
const id = () => integer('id').primaryKey().generatedByDefaultAsIdentity();

export const users = pgTable(
  'users',
  {
    id: id(),
    platform: text('platform', { enum: ['console', 'discord', 'telegram', 'community'] }).notNull(),
    platformUserId: text('platform_user_id').notNull(),
    displayName: text('display_name').notNull().default(''),
    banned: boolean('banned').notNull().default(false),
    banReason: text('ban_reason'),
    dailyJobQuota: integer('daily_job_quota'),
    createdAt: millis('created_at').notNull(),
  },
  (t) => [uniqueIndex('users_identity').on(t.platform, t.platformUserId)],
);

export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: id(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind', { enum: LEDGER_KINDS }).notNull(),
    amount: integer('amount').notNull(),
    jobId: text('job_id').references(() => jobs.id),
    actorUserId: integer('actor_user_id').references(() => users.id),
    reason: text('reason'),
    day: text('day'),
    paymentId: text('payment_id'),
    createdAt: millis('created_at').notNull(),
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

export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    status: text('status', { enum: JOB_STATUSES }).notNull(),
    platform: text('platform', { enum: ['console', 'discord', 'telegram'] }).notNull(),
    chatId: text('chat_id').notNull(),
    guildId: text('guild_id'),
    requestMessageId: text('request_message_id'),
    locale: text('locale'),
    uploadLimitBytes: bigint('upload_limit_bytes', { mode: 'number' }),

    model: text('model').notNull(),
    provider: text('provider').notNull(),
    providerModel: text('provider_model').notNull(),
    prompt: text('prompt').notNull(),
    params: jsonb('params').notNull().$type<StoredParams>(),
    inputImageUrl: text('input_image_url'),
    inputMediaKey: text('input_media_key'),
    price: integer('price').notNull(),
    costUsd: doublePrecision('cost_usd').notNull().default(0),

    providerTaskId: text('provider_task_id'),
    resultUrl: text('result_url'),
    statusChatId: text('status_chat_id'),
    statusMessageId: text('status_message_id'),
    attempts: integer('attempts').notNull().default(0),
    errorKind: text('error_kind'),
    errorMessage: text('error_message'),
    errorRef: text('error_ref'),

    mediaKey: text('media_key'),
    mediaBytes: bigint('media_bytes', { mode: 'number' }),
    mediaUrl: text('media_url'),
    deliveredAt: millis('delivered_at'),
    deliveryRef: text('delivery_ref'),

    createdAt: millis('created_at').notNull(),
    submittedAt: millis('submitted_at'),
    providerDoneAt: millis('provider_done_at'),
    finishedAt: millis('finished_at'),
    updatedAt: millis('updated_at').notNull(),

    workerId: text('worker_id'),
    leaseEpoch: integer('lease_epoch').notNull().default(0),

    parentJobId: text('parent_job_id'),
    followup: text('followup', { enum: FOLLOWUP_KINDS }),
  },
  (t) => [
    index('jobs_worker').on(t.workerId),
    index('jobs_status_provider_user').on(t.status, t.provider, t.userId),
    index('jobs_status_user_created').on(t.status, t.userId, t.createdAt, t.id),
    // Also covers the quota counts (status and task id decide whether a job counts), without reading the rows.
    index('jobs_user_created').on(t.userId, t.createdAt, t.status, t.providerTaskId),
    index('jobs_user_submitted').on(t.userId, t.submittedAt),
    index('jobs_created').on(t.createdAt),
    uniqueIndex('jobs_provider_task').on(t.provider, t.providerTaskId),
    index('jobs_parent').on(t.parentJobId),
  ],
);

/**
 * db/schema.ts's queued_members as a view: the same rows, computed from the queue when read. A table kept by
 * triggers, as on SQLite, made every SERIALIZABLE intake write one more shared index (new members' rows), and the
 * serialisation failures it added exhausted intake's retries with 2 processes in the bench; PostgreSQL's intake keeps
 * its former O(queued) position until that is solved.
 */
export const queuedMembers = pgView('queued_members').as((qb) =>
  qb
    .select({
      userId: jobs.userId,
      queued: sql<number>`count(*)::integer`.as('queued'),
      firstQueued: sql<number>`min(${jobs.createdAt})`.mapWith(Number).as('first_queued'),
      // The outer row named with its table: drizzle writes a bare column name, which inside the subquery means its own row.
      lastStart: sql<number>`coalesce((select max(s.submitted_at) from jobs s where s.user_id = jobs.user_id), 0)`
        .mapWith(Number)
        .as('last_start'),
    })
    .from(jobs)
    .where(sql`${jobs.status} = 'queued'`)
    .groupBy(jobs.userId),
);

export const intakeKeys = pgTable('intake_keys', {
  key: text('key').primaryKey(),
  command: text('command').notNull(),
  jobId: text('job_id').references(() => jobs.id),
  createdAt: millis('created_at').notNull(),
});

export const blocklistTerms = pgTable(
  'blocklist_terms',
  {
    id: id(),
    term: text('term').notNull(),
    community: text('community').notNull().default(''),
    addedBy: integer('added_by').references(() => users.id),
    createdAt: millis('created_at').notNull(),
  },
  (t) => [uniqueIndex('blocklist_community_term').on(t.community, t.term)],
);

export const communityMembers = pgTable(
  'community_members',
  {
    community: text('community').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id),
    banned: boolean('banned').notNull().default(false),
    banReason: text('ban_reason'),
    dailyJobQuota: integer('daily_job_quota'),
    updatedAt: millis('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.community, t.userId] })],
);

export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  startedAt: millis('started_at').notNull(),
  leaseUntil: millis('lease_until').notNull(),
});

export const communities = pgTable('communities', {
  id: text('id').primaryKey(),
  title: text('title').notNull().default(''),
  firstSeenAt: millis('first_seen_at').notNull(),
  lastSeenAt: millis('last_seen_at').notNull(),
  refusedAt: millis('refused_at'),
  leftAt: millis('left_at'),
});

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    provider: text('provider').notNull(),
    deliveryId: text('delivery_id').notNull(),
    jobId: text('job_id'),
    receivedAt: millis('received_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.deliveryId] })],
);

export const chatSettings = pgTable(
  'chat_settings',
  {
    platform: text('platform').notNull(),
    chatId: text('chat_id').notNull(),
    defaultModel: text('default_model'),
    allowedChannelIds: jsonb('allowed_channel_ids').$type<string[]>(),
    dailyJobQuota: integer('daily_job_quota'),
    updatedBy: integer('updated_by').references(() => users.id),
    updatedAt: millis('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.platform, t.chatId] })],
);

export const auditLog = pgTable(
  'audit_log',
  {
    id: id(),
    actorUserId: integer('actor_user_id')
      .notNull()
      .references(() => users.id),
    action: text('action').notNull(),
    targetUserId: integer('target_user_id').references(() => users.id),
    jobId: text('job_id'),
    community: text('community'),
    detail: text('detail'),
    createdAt: millis('created_at').notNull(),
  },
  (t) => [index('audit_created').on(t.createdAt)],
);

export const quotes = pgTable(
  'quotes',
  {
    id: text('id').primaryKey(),
    platform: text('platform').notNull(),
    platformUserId: text('platform_user_id').notNull(),
    request: jsonb('request').notNull().$type<QuotedRequest>(),
    model: text('model').notNull(),
    price: integer('price').notNull(),
    status: text('status', { enum: QUOTE_STATUSES }).notNull(),
    jobId: text('job_id'),
    createdAt: millis('created_at').notNull(),
    expiresAt: millis('expires_at').notNull(),
  },
  (t) => [index('quotes_created').on(t.createdAt)],
);

export const providerHealth = pgTable('provider_health', {
  provider: text('provider').primaryKey(),
  failuresInARow: integer('failures_in_a_row').notNull().default(0),
  downSince: millis('down_since'),
  downReason: text('down_reason'),
  probedAt: millis('probed_at'),
});
