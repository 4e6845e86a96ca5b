import { DEPTH_SAMPLE_PAGES, samplePercent } from './queue-depth.sampler';

describe('samplePercent', () => {
  it('reads every page of a small table (an exact count)', () => {
    expect(samplePercent(0)).toBe(100);
    expect(samplePercent(DEPTH_SAMPLE_PAGES)).toBe(100);
  });

  it('reads a fixed number of pages of a large one, whatever its size', () => {
    for (const pages of [DEPTH_SAMPLE_PAGES + 1, 10_000, 1_250_000]) {
      expect((samplePercent(pages) / 100) * pages).toBeCloseTo(DEPTH_SAMPLE_PAGES, 6);
    }
  });
});
