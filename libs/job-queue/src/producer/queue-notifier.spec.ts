import { QueueNotifier } from './queue-notifier';

describe('QueueNotifier', () => {
  it('notifies at once, and folds the queues that arrive while a notify is in flight into the next one', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const notifier = new QueueNotifier(
      async (queues) => {
        sent.push(queues);
        if (sent.length === 1) await new Promise<void>((r) => (release = r));
      },
      () => undefined,
      0,
    );
    notifier.notify(['a']);
    notifier.notify(['b']);
    notifier.notify(['a', 'c']);
    expect(sent).toEqual([['a']]);
    release();
    await new Promise((r) => setImmediate(r));
    // Nothing is skipped: every queue notified after its insert is sent again after the one in flight.
    expect(sent).toEqual([['a'], ['b', 'a', 'c']]);
  });

  it('drops a failed notify after reporting it, and keeps notifying', async () => {
    const errors: unknown[] = [];
    const sent: string[][] = [];
    let fail = true;
    const notifier = new QueueNotifier(
      async (queues) => {
        if (fail) {
          fail = false;
          throw new Error('down');
        }
        sent.push(queues);
      },
      (e) => errors.push(e),
      0,
    );
    notifier.notify(['a']);
    await new Promise((r) => setImmediate(r));
    notifier.notify(['b']);
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    expect(sent).toEqual([['b']]);
  });

  it('sends a lone notify at once, and folds the ones that follow within the gap into one at its end', async () => {
    const sent: Array<{ queues: string[]; at: number }> = [];
    const gapMs = 30;
    const notifier = new QueueNotifier(
      async (queues) => {
        sent.push({ queues, at: performance.now() });
      },
      () => undefined,
      gapMs,
    );
    notifier.notify(['a']);
    expect(sent.map((s) => s.queues)).toEqual([['a']]);
    await new Promise((r) => setImmediate(r));
    notifier.notify(['b']);
    notifier.notify(['c']);
    await new Promise((r) => setImmediate(r));
    // Within the gap: held back, not dropped.
    expect(sent).toHaveLength(1);
    const deadline = Date.now() + 2_000;
    while (sent.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(sent.map((s) => s.queues)).toEqual([['a'], ['b', 'c']]);
    // Measured from inside send, a few microseconds after the notifier's own clock read: hence the small slack.
    expect(sent[1].at - sent[0].at).toBeGreaterThanOrEqual(gapMs - 1);
  });

  it('gives an insert the turn to carry its NOTIFY only when one would go at once, and counts the turn as sent', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const gapMs = 30;
    const notifier = new QueueNotifier(
      async (queues) => {
        sent.push(queues);
        await new Promise<void>((r) => (release = r));
      },
      () => undefined,
      gapMs,
    );
    expect(notifier.takeTurn()).toBe(true);
    // Within the gap of that turn: no second turn, and a notify waits for the gap's end, as after a sent NOTIFY.
    expect(notifier.takeTurn()).toBe(false);
    notifier.notify(['a']);
    expect(sent).toEqual([]);
    const deadline = Date.now() + 2_000;
    while (sent.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(sent).toEqual([['a']]);
    // In flight: no turn, even once the gap is over.
    await new Promise((r) => setTimeout(r, gapMs + 5));
    expect(notifier.takeTurn()).toBe(false);
    release();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, gapMs + 5));
    expect(notifier.takeTurn()).toBe(true);
  });
});
