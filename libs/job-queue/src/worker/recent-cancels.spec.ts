import { RecentCancels } from './recent-cancels';

describe('RecentCancels', () => {
  it('remembers a cancelled id until it is taken, once', () => {
    const cancels = new RecentCancels(1_000, 10, () => 0);
    expect(cancels.take('a')).toBe(false);
    cancels.add('a');
    expect(cancels.take('b')).toBe(false);
    expect(cancels.take('a')).toBe(true);
    expect(cancels.take('a')).toBe(false);
  });

  it('forgets an id after its time, and counts that time from its latest cancel', () => {
    let now = 0;
    const cancels = new RecentCancels(1_000, 10, () => now);
    cancels.add('a');
    cancels.add('b');
    now = 600;
    cancels.add('a');
    now = 1_000;
    expect(cancels.take('b')).toBe(false);
    expect(cancels.take('a')).toBe(true);
    cancels.add('c');
    now = 2_000;
    expect(cancels.take('c')).toBe(false);
  });

  it('keeps at most max ids, forgetting the oldest', () => {
    const cancels = new RecentCancels(1_000, 2, () => 0);
    cancels.add('a');
    cancels.add('b');
    cancels.add('c');
    expect(cancels.take('a')).toBe(false);
    expect(cancels.take('b')).toBe(true);
    expect(cancels.take('c')).toBe(true);
  });
});
