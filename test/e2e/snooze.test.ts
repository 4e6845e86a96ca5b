import { waitFor } from '../support/wait-for';
import { withFleetOutput } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

const MS = 500;
const TIMES = 3;

describe('e2e: demo.snooze through the sample app', () => {
  const run = fleetPerTest();

  it(
    'snoozes `times` times by `ms` without charging an attempt, then completes',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const app = await run.fleet!.start('a');
        const created = await app.request('POST', '/jobs', { type: 'demo.snooze', payload: { ms: MS, times: TIMES } });
        expect(created.status).toBe(201);
        const { id } = created.body as { id: string };

        // Between snoozes GET /jobs/:id shows the job waiting: pending, no attempt charged, due ms after the snooze
        // was written (both times from the database's now()).
        for (let n = 1; n <= TIMES; n++) {
          const job = await waitFor(`snooze ${n}`, async () => {
            const res = await app.request('GET', `/jobs/${id}`);
            return res.status === 200 && res.body.snooze_count === n && res.body.status === 'pending'
              ? res.body
              : undefined;
          });
          expect(job).toMatchObject({ attempt_count: 0, locked_by: null, last_error: null, type: 'demo.snooze' });
          // The progress the handler reported just before it snoozed was written before the snooze.
          expect(job.progress).toEqual({ snoozes: n, of: TIMES });
          expect(Date.parse(job.run_at) - Date.parse(job.updated_at)).toBe(MS);
        }
        // Then it completes: gone from jobs, not dead.
        await waitFor('completed', async () => (await app.request('GET', `/jobs/${id}`)).status === 404);
        const stats = await app.request('GET', '/queue/stats');
        expect(stats.body).toMatchObject({ pending: 0, processing: 0, dead: 0 });
      },
    ),
  );

  it(
    'bad snooze input fails the attempt with the reason, like any handler error',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const app = await run.fleet!.start('a', { JOB_QUEUE_MAX_ATTEMPTS: 1 });
        const created = await app.request('POST', '/jobs', { type: 'demo.snooze', payload: { ms: -5, times: 1 } });
        const { id } = created.body as { id: string };
        const dead = await waitFor('dead', async () => {
          const res = await app.request('GET', `/jobs/${id}`);
          return res.body?.status === 'dead' ? res.body : undefined;
        });
        expect(dead.last_error).toMatch(/Invalid job snooze: must be an integer of ms/);
      },
    ),
  );
});
