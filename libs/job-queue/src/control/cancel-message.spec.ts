import { JOB_TYPE_PATTERN } from '../job-queue.constants';
import { cancelledIds } from './cancel-message';

describe('cancelledIds', () => {
  it('reads the ids of a cancel message', () => {
    expect(cancelledIds('!cancel a,b')).toEqual(['a', 'b']);
    expect(cancelledIds('!cancel 0f0c2b5e-1111-4a4a-8b8b-123456789abc')).toEqual([
      '0f0c2b5e-1111-4a4a-8b8b-123456789abc',
    ]);
  });

  it('takes any other payload for a wake-up, and no queue name can be a cancel message', () => {
    expect(cancelledIds(undefined)).toBeNull();
    expect(cancelledIds('default')).toBeNull();
    expect(cancelledIds('cancel a')).toBeNull();
    expect(JOB_TYPE_PATTERN.test('!cancel a')).toBe(false);
  });
});
