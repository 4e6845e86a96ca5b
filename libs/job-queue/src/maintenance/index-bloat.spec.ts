import { BLOAT_RATIO, BLOAT_SLACK_PAGES, planIndexRebuild, planLeftoverDrop, type IndexSize } from './index-bloat';

const index = (name: string, pages: number, expected = 2, valid = true): IndexSize => ({
  index: name,
  valid,
  pages,
  expected_pages: expected,
});

describe('planIndexRebuild', () => {
  it('rebuilds a valid index only past both the ratio and the slack', () => {
    const bound = BLOAT_RATIO * 100 + BLOAT_SLACK_PAGES;
    expect(
      planIndexRebuild([index('at_bound', bound, 100), index('past_bound', bound + 1, 100), index('small', 30, 1)]),
    ).toEqual({ drop: [], rebuild: ['past_bound'] });
  });

  it('drops the invalid leftovers of a concurrent rebuild, and no other invalid index', () => {
    expect(
      planIndexRebuild([
        index('jobs_pkey_ccnew', 900, 2, false),
        index('jobs_pkey_ccnew1', 900, 2, false),
        index('jobs_pkey_ccold', 900, 2, false),
        index('users_own_idx', 900, 2, false),
        index('jobs_ccnew_extra', 900, 2, false),
      ]),
    ).toEqual({ drop: ['jobs_pkey_ccnew', 'jobs_pkey_ccnew1', 'jobs_pkey_ccold'], rebuild: [] });
  });

  it('drops the leftovers alone when asked for them only, whatever the sizes', () => {
    expect(
      planLeftoverDrop([
        index('jobs_pkey_ccnew', 900, 2, false),
        index('jobs_pkey', 900, 2),
        index('users_own_idx', 900, 2, false),
      ]),
    ).toEqual({ drop: ['jobs_pkey_ccnew'], rebuild: [] });
  });
});
