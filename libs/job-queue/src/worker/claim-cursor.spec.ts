import { CURSOR_MARGIN_MS, cursorAfter } from './claim-cursor';

describe('cursorAfter', () => {
  it('is the latest run-at of the lowest priority in the batch, less the margin', () => {
    const jobs = [
      { priority: 5, run_at_ms: 9_000 },
      { priority: 0, run_at_ms: 1_000 },
      { priority: 0, run_at_ms: 3_000 },
      { priority: 0, run_at_ms: 2_000 },
    ];
    expect(cursorAfter(jobs)).toEqual({ priority: 0, runAtMs: 3_000 - CURSOR_MARGIN_MS });
  });

  it('is none for an empty batch', () => {
    expect(cursorAfter([])).toBeUndefined();
  });
});
