import { QueueNotifier } from './queue-notifier';

describe('QueueNotifier', () => {
  it('notifies at once, and folds the queues that arrive while a notify is in flight into the next one', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const notifier = new QueueNotifier(async (queues) => {
      sent.push(queues);
      if (sent.length === 1) await new Promise<void>((r) => (release = r));
    }, () => undefined);
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
    const notifier = new QueueNotifier(async (queues) => {
      if (fail) {
        fail = false;
        throw new Error('down');
      }
      sent.push(queues);
    }, (e) => errors.push(e));
    notifier.notify(['a']);
    await new Promise((r) => setImmediate(r));
    notifier.notify(['b']);
    await new Promise((r) => setImmediate(r));
    expect(errors).toHaveLength(1);
    expect(sent).toEqual([['b']]);
  });
});
