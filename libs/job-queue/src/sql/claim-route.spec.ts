import { ONE_LEVEL_MAX_CLAIM } from './claim-one-level.sql';
import { ClaimRoute, WALKS_AFTER_SEVERAL_LEVELS } from './claim-route';

describe('ClaimRoute', () => {
  it('takes the one-level claim for one pair and a claim it can hold, the walk otherwise', () => {
    const route = new ClaimRoute();
    expect(route.oneLevel(['default'], ['a'], 10)).toBe(true);
    expect(route.oneLevel(['default'], ['a'], ONE_LEVEL_MAX_CLAIM)).toBe(true);
    expect(route.oneLevel(['default'], ['a'], ONE_LEVEL_MAX_CLAIM + 1)).toBe(false);
    expect(route.oneLevel(['default', 'default'], ['a', 'b'], 10)).toBe(false);
    expect(route.oneLevel([], [], 10)).toBe(false);
  });

  it('after a pair was found at several levels, walks its next claims, then tries the one-level claim again', () => {
    const route = new ClaimRoute();
    route.severalLevels('default', 'a');
    for (let i = 0; i < WALKS_AFTER_SEVERAL_LEVELS; i++) expect(route.oneLevel(['default'], ['a'], 10)).toBe(false);
    expect(route.oneLevel(['default'], ['a'], 10)).toBe(true);
  });

  it('keeps pairs apart, even where joining queue and type would make the same text', () => {
    const route = new ClaimRoute();
    route.severalLevels('a:b', 'c');
    expect(route.oneLevel(['a'], ['b:c'], 10)).toBe(true);
    expect(route.oneLevel(['default'], ['c'], 10)).toBe(true);
    expect(route.oneLevel(['a:b'], ['c'], 10)).toBe(false);
  });
});
