import { withFleetOutput } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

/** An HTTP client picks job types and queue names; the series on /metrics must not grow with them. */
describe('e2e: metric labels over HTTP', () => {
  const run = fleetPerTest();

  it(
    'types without a handler and queues not served count as other: /metrics holds none of the names a client sent',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const app = await run.fleet!.start('a');
        const tag = `t${Date.now()}`;
        const later = { delayMs: 3_600_000 };
        const before = await app.metric('job_queue_jobs_enqueued_total', { queue: 'other', type: 'other' });
        for (let n = 0; n < 30; n++) {
          const res = await app.request('POST', '/jobs', {
            type: `client.${tag}.${n}`,
            queue: `q-${tag}-${n}`,
            ...later,
          });
          expect(res.status).toBe(201);
        }
        const { text } = await app.request('GET', '/metrics');
        expect(text).not.toContain(tag);
        expect((await app.metric('job_queue_jobs_enqueued_total', { queue: 'other', type: 'other' })) - before).toBe(
          30,
        );
      },
    ),
    120_000,
  );
});
