import { TimeOrderedIds } from './time-ordered-id';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('TimeOrderedIds', () => {
  it('draws version-7 UUIDs that carry the clock in their first 48 bits', () => {
    const id = new TimeOrderedIds(() => 0x0192_3456_789a).next();
    expect(id).toMatch(UUID_V7);
    expect(id.startsWith('01923456-789a-7')).toBe(true);
  });

  it('keeps ids strictly increasing within one millisecond and past 4,096 of them', () => {
    const ids = new TimeOrderedIds(() => 1_700_000_000_000);
    const drawn = Array.from({ length: 10_000 }, () => ids.next());
    expect(drawn.findIndex((id, i) => i > 0 && id <= drawn[i - 1])).toBe(-1);
    expect(drawn.filter((id) => !UUID_V7.test(id))).toEqual([]);
  });

  it('does not repeat or go back when the clock steps back', () => {
    let now = 2_000;
    const ids = new TimeOrderedIds(() => now);
    const first = ids.next();
    now = 1_000;
    const second = ids.next();
    expect(second > first).toBe(true);
  });
});
