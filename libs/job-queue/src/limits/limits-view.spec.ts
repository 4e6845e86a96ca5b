import { limitsView } from './limits-view';

describe('limitsView', () => {
  const none = { globalConcurrency: null, concurrencyPerKey: null, rateLimit: null };

  it('joins each limited type with its running totals and per-key counts, types in order', () => {
    const view = limitsView(
      [
        { type: 'b.type', limits: { ...none, concurrencyPerKey: 2 } },
        { type: 'a.type', limits: { ...none, globalConcurrency: 3 } },
      ],
      [
        { type: 'a.type', key: null, running: 3 },
        { type: 'b.type', key: null, running: 3 },
        { type: 'b.type', key: 'A', running: 2 },
        { type: 'b.type', key: 'B', running: 1 },
        { type: 'not.limited', key: null, running: 7 },
      ],
    );
    expect(view).toEqual([
      { type: 'a.type', ...none, globalConcurrency: 3, running: 3, runningByKey: {} },
      { type: 'b.type', ...none, concurrencyPerKey: 2, running: 3, runningByKey: { A: 2, B: 1 } },
    ]);
  });

  it('shows a limited type with nothing running as 0', () => {
    expect(limitsView([{ type: 't', limits: { ...none, globalConcurrency: 1 } }], [])).toEqual([
      { type: 't', ...none, globalConcurrency: 1, running: 0, runningByKey: {} },
    ]);
  });
});
