import { describe, expect, it } from 'vitest';
import { IntakeSlots } from './intake-slots.js';

describe('IntakeSlots', () => {
  it('refuses a member past their own limit, with the count, while others still get slots', () => {
    const slots = new IntakeSlots({ total: 5, perUser: 2 });
    slots.take(1);
    slots.take(1);
    expect(() => slots.take(1)).toThrow(
      expect.objectContaining({ identifier: 'intake_busy_user', context: { inProgress: 2 } }),
    );
    expect(() => slots.take(2)).not.toThrow();
    expect(slots.inProgress).toBe(3);
  });

  it('refuses everyone past the total, and takes them again once a slot is given back (once, however often it is called)', () => {
    const slots = new IntakeSlots({ total: 2, perUser: 2 });
    const release = slots.take(1);
    slots.take(2);
    expect(() => slots.take(3)).toThrow(expect.objectContaining({ identifier: 'intake_busy' }));
    release();
    release();
    expect(slots.inProgress).toBe(1);
    slots.take(3);
    expect(() => slots.take(4)).toThrow(expect.objectContaining({ identifier: 'intake_busy' }));
  });
});
