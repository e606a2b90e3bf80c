import type { CommunityMember, Job, LedgerEntry, User } from '../../../db/schema.js';
import type { communityMembers, jobs, ledgerEntries, users } from '../../../db/pg/schema.js';

/**
 * Both stores hand core the row types of db/schema.ts. A PostgreSQL column whose type drifts from its SQLite twin
 * (a nullable, an enum, a JSON shape) fails to compile here instead of surprising core at run time.
 */

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Holds<T extends true> = T;

export type RowTypesMatch = [
  Holds<Same<typeof jobs.$inferSelect, Job>>,
  Holds<Same<typeof users.$inferSelect, User>>,
  Holds<Same<typeof ledgerEntries.$inferSelect, LedgerEntry>>,
  Holds<Same<typeof communityMembers.$inferSelect, CommunityMember>>,
];
