import { ProgressThrottle } from './progress-throttle';

describe('ProgressThrottle', () => {
  let clock = 0;
  let writes: string[];
  let throttle: ProgressThrottle;

  beforeEach(() => {
    jest.useFakeTimers();
    clock = 0;
    writes = [];
    throttle = new ProgressThrottle(
      1_000,
      async (json) => void writes.push(json),
      () => clock,
    );
  });
  afterEach(() => jest.useRealTimers());

  const advance = async (ms: number) => {
    clock += ms;
    await jest.advanceTimersByTimeAsync(ms);
  };

  it('writes the first value on the next tick, then at most once per interval, always the latest value', async () => {
    throttle.report('1');
    await advance(0);
    expect(writes).toEqual(['1']);
    for (let i = 2; i <= 10; i++) {
      throttle.report(String(i));
      await advance(100);
    }
    // 900 ms after the first write: nothing more yet.
    expect(writes).toEqual(['1']);
    await advance(100);
    expect(writes).toEqual(['1', '10']);
    // Quiet afterwards: the last value was written, nothing is repeated.
    await advance(5_000);
    expect(writes).toEqual(['1', '10']);
  });

  it('writes a value still waiting when closed with flush, and nothing after close', async () => {
    throttle.report('a');
    await advance(0);
    throttle.report('b');
    await throttle.close(true);
    expect(writes).toEqual(['a', 'b']);
    throttle.report('c');
    await advance(5_000);
    expect(writes).toEqual(['a', 'b']);
  });

  it('drops a waiting value when closed without flush', async () => {
    throttle.report('a');
    await advance(0);
    throttle.report('b');
    await throttle.close(false);
    await advance(5_000);
    expect(writes).toEqual(['a']);
  });
});
