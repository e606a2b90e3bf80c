import { and, asc, eq } from 'drizzle-orm';
import { auditLog, blocklistTerms, chatSettings } from '../../../db/pg/schema.js';
import type { AuditRepo, BlocklistRepo, SettingsRepo } from '../../core/store.js';
import { tookEffect, type Pg } from './pg.js';

export function settingsRepo(db: Pg): SettingsRepo {
  return {
    async get(platform, chatId) {
      const [row] = await db
        .select({
          defaultModel: chatSettings.defaultModel,
          allowedChannelIds: chatSettings.allowedChannelIds,
          dailyJobQuota: chatSettings.dailyJobQuota,
        })
        .from(chatSettings)
        .where(and(eq(chatSettings.platform, platform), eq(chatSettings.chatId, chatId)));
      return row;
    },

    async put(platform, chatId, settings, updatedBy, now) {
      const { defaultModel, allowedChannelIds, dailyJobQuota } = settings;
      const values = { defaultModel, allowedChannelIds, dailyJobQuota, updatedBy, updatedAt: now };
      await db
        .insert(chatSettings)
        .values({ platform, chatId, ...values })
        .onConflictDoUpdate({ target: [chatSettings.platform, chatSettings.chatId], set: values });
    },
  };
}

export function blocklistRepo(db: Pg): BlocklistRepo {
  return {
    async add(term, community, addedBy, now) {
      return tookEffect(
        await db.insert(blocklistTerms).values({ term, community, addedBy, createdAt: now }).onConflictDoNothing(),
      );
    },

    async remove(term, community) {
      return tookEffect(
        await db
          .delete(blocklistTerms)
          .where(and(eq(blocklistTerms.term, term), eq(blocklistTerms.community, community))),
      );
    },

    async list() {
      return db
        .select({ term: blocklistTerms.term, community: blocklistTerms.community })
        .from(blocklistTerms)
        .orderBy(asc(blocklistTerms.term), asc(blocklistTerms.community));
    },
  };
}

export function auditRepo(db: Pg): AuditRepo {
  return {
    async append(row) {
      const { targetUserId = null, jobId = null, community = null, detail = null } = row;
      await db.insert(auditLog).values({
        actorUserId: row.actorUserId,
        action: row.action,
        targetUserId,
        jobId,
        community,
        detail,
        createdAt: row.createdAt,
      });
    },
  };
}
