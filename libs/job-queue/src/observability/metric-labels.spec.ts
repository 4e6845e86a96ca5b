import { MetricLabels, OTHER_LABEL } from './metric-labels';

describe('MetricLabels', () => {
  const handled = new Set(['email.send']);
  const labels = new MetricLabels(['default', 'mail'], {
    get: (type: string) => (handled.has(type) ? ({} as never) : undefined),
  });

  it('keeps the types this instance handles and the queues it serves', () => {
    expect(labels.of({ queue: 'mail', type: 'email.send' })).toEqual({ queue: 'mail', type: 'email.send' });
  });

  it('maps any other type or queue to one fixed value', () => {
    expect(labels.of({ queue: 'anything-a-client-sent', type: 'random.42' })).toEqual({
      queue: OTHER_LABEL,
      type: OTHER_LABEL,
    });
  });

  it('sees handlers registered after it was made', () => {
    expect(labels.type('late.type')).toBe(OTHER_LABEL);
    handled.add('late.type');
    expect(labels.type('late.type')).toBe('late.type');
  });
});
