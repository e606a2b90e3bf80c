import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';

/**
 * The SQLite store's one connection would let any statement join an open transaction; the writer gate keeps
 * operations from other async contexts out until it ends (issue 13: a transaction spans awaits now).
 */
describe('the SQLite store while a transaction is open', () => {
  let store: SqliteStore;
  afterEach(async () => {
    await store.close();
  });

  const newUser = (s: Pick<SqliteStore, 'users'>, id: string) =>
    s.users.insert({ platform: 'console', platformUserId: id, displayName: id, createdAt: 1 });

  it('holds an outside write back until the transaction ends, so a rollback cannot take it along', async () => {
    store = openSqliteStore(':memory:');
    const order: string[] = [];
    let entered!: () => void;
    let finish!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const finishing = new Promise<void>((resolve) => (finish = resolve));
    const failing = store.transaction(async (tx) => {
      await newUser(tx, 'inside');
      entered();
      await finishing;
      order.push('transaction failing');
      throw new Error('boom');
    });
    await inside;
    const outside = newUser(store, 'outside').then(() => order.push('outside written'));
    finish();
    await expect(failing).rejects.toThrow('boom');
    await outside;
    expect(order).toEqual(['transaction failing', 'outside written']);
    expect(await store.users.find('console', 'inside')).toBeUndefined();
    expect(await store.users.find('console', 'outside')).toBeDefined();
  });

  it('runs transactions one at a time, and one begun inside another joins it', async () => {
    store = openSqliteStore(':memory:');
    const user = await newUser(store, 'u');
    const credit = () =>
      store.transaction(async (tx) => {
        const balance = await tx.ledger.balanceOf(user.id);
        await new Promise((resolve) => setImmediate(resolve));
        await tx.transaction(async (inner) =>
          inner.ledger.append({ userId: user.id, kind: 'grant', amount: balance + 1, createdAt: 1 }),
        );
      });
    await Promise.all(Array.from({ length: 5 }, credit));
    // Each transaction read the balance the previous one left: 1, 2, 4, 8, 16 → 31.
    expect(await store.ledger.balanceOf(user.id)).toBe(31);
  });
});
