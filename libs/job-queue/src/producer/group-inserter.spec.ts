import { GroupInserter } from './group-inserter';

describe('GroupInserter', () => {
  it('sends a lone call at once and groups the calls that arrive while one is in flight', async () => {
    const calls: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inserter = new GroupInserter<number, number>(async (items) => {
      calls.push(items);
      if (calls.length === 1) await gate;
      return items.map((i) => i * 10);
    });
    const first = inserter.add([1]);
    const second = inserter.add([2, 3]);
    const third = inserter.add([4]);
    expect(calls).toEqual([[1]]);
    release();
    expect(await first).toEqual([10]);
    expect(await second).toEqual([20, 30]);
    expect(await third).toEqual([40]);
    expect(calls).toEqual([[1], [2, 3, 4]]);
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
});
