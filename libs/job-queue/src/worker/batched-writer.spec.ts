import { BatchedWriter, isTransient } from './batched-writer';

describe('BatchedWriter', () => {
  it('writes items submitted in one tick as one batch and tells each whether its row held', async () => {
    const batches: string[][] = [];
    const writer = new BatchedWriter<{ id: string }>(
      async (items) => {
        batches.push(items.map((i) => i.id));
        return new Set(['a', 'c']);
      },
      0,
      () => undefined,
    );
    const results = await Promise.all(['a', 'b', 'c'].map((id) => writer.submit({ id })));
    expect(batches).toEqual([['a', 'b', 'c']]);
    expect(results).toEqual([true, false, true]);
  });

  it('calls back the owner of each item submitted without a promise, held or not, and on a stop', async () => {
    const writer = new BatchedWriter<{ id: string }>(
      async () => new Set(['a']),
      0,
      () => undefined,
    );
    const seen: string[] = [];
    const written = (owner: string, held: boolean) => seen.push(`${owner}:${held}`);
    const failed = (owner: string, error: unknown) => seen.push(`${owner}:${(error as Error).message}`);
    writer.submitFor({ id: 'a' }, 'first', written, failed);
    writer.submitFor({ id: 'b' }, 'second', written, failed);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['first:true', 'second:false']);

    writer.submitFor({ id: 'c' }, 'third', written, failed);
    const taken = writer.take();
    writer.stop(new Error('stopped'));
    writer.giveBack(taken);
    expect(seen).toEqual(['first:true', 'second:false', 'third:writer stopped']);
  });

  it('retries a failed write until it succeeds, reporting each failure', async () => {
    let calls = 0;
    const errors: number[] = [];
    const writer = new BatchedWriter<{ id: string }>(
      async (items) => {
        if (++calls < 3) throw new Error('connection lost');
        return new Set(items.map((i) => i.id));
      },
      0,
      (_e, attempt) => errors.push(attempt),
    );
    await expect(writer.submit({ id: 'x' })).resolves.toBe(true);
    expect(errors).toEqual([1, 2]);
  });

  it('rejects what is still waiting when stopped', async () => {
    const writer = new BatchedWriter<{ id: string }>(
      () => new Promise(() => undefined),
      50,
      () => undefined,
    );
    const pending = writer.submit({ id: 'x' });
    writer.stop(new Error('stopped'));
    await expect(pending).rejects.toThrow('stopped');
  });
});

describe('BatchedWriter with a row the database refuses', () => {
  it('fails that row alone and writes the rest of its batch', async () => {
    const writes: string[][] = [];
    const writer = new BatchedWriter<{ id: string }>(
      async (items) => {
        writes.push(items.map((i) => i.id));
        if (items.some((i) => i.id === 'bad')) throw Object.assign(new Error('bigint out of range'), { code: '22003' });
        return new Set(items.map((i) => i.id));
      },
      0,
      () => undefined,
    );
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((id) => writer.submit({ id })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(writes).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });
});

describe('BatchedWriter handing its items to another statement', () => {
  it('lets a caller take what waits, report it written, or give it back to be written as usual', async () => {
    const writes: string[][] = [];
    const writer = new BatchedWriter<{ id: string }>(
      async (items) => {
        writes.push(items.map((i) => i.id));
        return new Set(items.map((i) => i.id));
      },
      0,
      () => undefined,
    );
    const a = writer.submit({ id: 'a' });
    const b = writer.submit({ id: 'b' });
    const taken = writer.take();
    expect(taken.map((e) => e.item.id)).toEqual(['a', 'b']);
    writer.settle(taken, new Set(['a']));
    await expect(a).resolves.toBe(true);
    await expect(b).resolves.toBe(false);

    const c = writer.submit({ id: 'c' });
    writer.giveBack(writer.take());
    await expect(c).resolves.toBe(true);
    expect(writes).toEqual([['c']]);
  });
});

describe('isTransient', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });

  it('retries what a failover, a lock timeout or a system error causes', () => {
    // 25006 read-only (a standby during failover), 55P03 lock_timeout, 58030 I/O error, 58P01 undefined file.
    expect(['25006', '55P03', '58030', '58P01'].filter((code) => !isTransient(withCode(code)))).toEqual([]);
  });

  it('still retries connection, operator, resource and serialisation errors, and errors without a SQLSTATE', () => {
    expect(['08006', '57P01', '53300', '40001', '40P01'].every((code) => isTransient(withCode(code)))).toBe(true);
    expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('does not retry errors about the data', () => {
    expect(['22003', '23505', '22P02', '25P02', '55000'].filter((code) => isTransient(withCode(code)))).toEqual([]);
  });
});
