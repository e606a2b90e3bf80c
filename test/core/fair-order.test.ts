import { describe, expect, it } from 'vitest';
import { fairOrder } from '../../src/core/limits/fair-order.js';

const job = (id: string, userId: number, createdAt: number) => ({ id, userId, createdAt });

describe('fair order', () => {
  describe('when user A queued ten jobs and user B one after them', () => {
    it('starts B no later than A’s second job', () => {
      const queued = [...Array.from({ length: 10 }, (_, i) => job(`a${i}`, 1, i)), job('b0', 2, 100)];
      const order = fairOrder(queued, new Map()).map((j) => j.id);
      expect(order.indexOf('b0')).toBeLessThan(order.indexOf('a1'));
      expect(order.slice(0, 3)).toEqual(['a0', 'b0', 'a1']);
    });

    it('starts B first once A has already started a job', () => {
      const queued = [...Array.from({ length: 9 }, (_, i) => job(`a${i + 1}`, 1, i + 1)), job('b0', 2, 100)];
      const order = fairOrder(queued, new Map([[1, 50]])).map((j) => j.id);
      expect(order[0]).toBe('b0');
    });
  });

  describe('when three users queue several jobs each', () => {
    it('interleaves them round-robin and keeps each user’s own order', () => {
      const queued = [
        job('a0', 1, 0),
        job('a1', 1, 1),
        job('b0', 2, 2),
        job('c0', 3, 3),
        job('b1', 2, 4),
        job('a2', 1, 5),
      ];
      expect(fairOrder(queued, new Map()).map((j) => j.id)).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'a2']);
    });
  });
});
