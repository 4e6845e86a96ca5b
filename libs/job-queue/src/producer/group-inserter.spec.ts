import { GroupInserter } from './group-inserter';

/** An insert that records its batches and holds each until released. */
function heldInsert() {
  const calls: number[][] = [];
  const gates: Array<() => void> = [];
  const insert = async (items: number[]) => {
    calls.push(items);
    await new Promise<void>((resolve) => gates.push(resolve));
    return items.map((i) => i * 10);
  };
  const releaseAll = () => gates.splice(0).forEach((release) => release());
  return { calls, insert, releaseAll };
}

describe('GroupInserter', () => {
  it('sends calls at once while a lane is free, and groups the calls that arrive while every lane is busy', async () => {
    const { calls, insert, releaseAll } = heldInsert();
    const inserter = new GroupInserter<number, number>(insert, 2);
    const results = [inserter.add([1]), inserter.add([2]), inserter.add([3]), inserter.add([4, 5])];
    expect(calls).toEqual([[1], [2]]);
    releaseAll();
    await results[0];
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([[1], [2], [3, 4, 5]]);
    releaseAll();
    expect(await Promise.all(results)).toEqual([[10], [20], [30], [40, 50]]);
  });

  it('never delays a lone call', async () => {
    const { calls, insert, releaseAll } = heldInsert();
    const inserter = new GroupInserter<number, number>(insert, 1);
    const lone = inserter.add([7]);
    expect(calls).toEqual([[7]]);
    releaseAll();
    expect(await lone).toEqual([70]);
  });

  it('fails only the group whose insert failed', async () => {
    let n = 0;
    const inserter = new GroupInserter<number, number>(async (items) => {
      if (n++ === 0) throw new Error('down');
      return items;
    });
    await expect(inserter.add([1])).rejects.toThrow('down');
    await expect(inserter.add([2])).resolves.toEqual([2]);
  });

  it('sends a group again in halves when the error is splittable, so that only the failing caller fails', async () => {
    const { calls, insert, releaseAll } = heldInsert();
    const refusing = async (items: number[]) => {
      const pending = insert(items);
      releaseAll();
      if (items.includes(13)) throw Object.assign(new Error('refused'), { code: '23514' });
      return pending;
    };
    const inserter = new GroupInserter<number, number>(
      refusing,
      1,
      1_000,
      (e) => (e as { code?: string }).code === '23514',
    );
    const first = inserter.add([0]);
    const grouped = [inserter.add([1]), inserter.add([13, 2]), inserter.add([3]), inserter.add([4])];
    await first;
    const outcomes = await Promise.allSettled(grouped);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'rejected'))).toEqual([
      [10],
      'rejected',
      [30],
      [40],
    ]);
    expect(calls[1]).toEqual([1, 13, 2, 3, 4]);
  });

  it('fails every caller of a group alike when the error is not splittable (an outage)', async () => {
    let n = 0;
    const inserter = new GroupInserter<number, number>(
      async (items) => {
        if (n++ > 0) throw new Error('down');
        await new Promise((r) => setImmediate(r));
        return items;
      },
      1,
      1_000,
      () => false,
    );
    const outcomes = await Promise.allSettled([inserter.add([1]), inserter.add([2]), inserter.add([3])]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(n).toBe(2);
  });
});
