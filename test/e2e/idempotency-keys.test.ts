import { query } from '../support/sql';
import { withFleetOutput, type HttpResult } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

/**
 * Idempotency keys under concurrent producers in real processes: callers of two instances send batches holding the
 * same new keys in different orders, so their inserts race for the same unique-index entries. PostgreSQL must never
 * find a lock cycle among them (a deadlock would fail every caller grouped in the aborted statement).
 */

const ROUNDS = 5;
const CALLERS = 12;
const KEYS = 400;
const UNKEYED = 3;
/** Keeps every job pending for the whole test: a key is unique only while its job lives. */
const LATER = { delayMs: 3_600_000 };

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('e2e: idempotency keys across processes', () => {
  const run = fleetPerTest();

  it(
    'concurrent batches with shared keys in shuffled order: all 201, one job per key whose id every caller got, unkeyed jobs once',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const instances = await run.fleet!.startMany(['a', 'b']);
        const gotByKey = new Map<string, Set<string>>();
        const unkeyedIds = new Map<string, string>();
        const failures: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          // New keys each round: keys whose jobs already committed only conflict, they never wait.
          const keys = Array.from({ length: KEYS }, (_, k) => `r${round}-k${k}`);
          const requests = Array.from({ length: CALLERS }, async (_, caller) => {
            const unkeyed = Array.from({ length: UNKEYED }, (_, u) => `r${round}-c${caller}-u${u}`);
            const jobs = shuffled<{
              type: string;
              payload: Record<string, string>;
              idempotencyKey?: string;
              delayMs: number;
            }>([
              ...keys.map((key) => ({ type: 'demo.noop', payload: { key }, idempotencyKey: key, ...LATER })),
              ...unkeyed.map((marker) => ({ type: 'demo.noop', payload: { marker }, ...LATER })),
            ]);
            const res: HttpResult<{ ids: string[] }> = await instances[caller % 2].request(
              'POST',
              '/jobs/batch',
              { jobs },
              60_000,
            );
            if (res.status !== 201) {
              failures.push(`${res.status} ${res.text}`);
              return;
            }
            jobs.forEach((job, i) => {
              const id = res.body.ids[i];
              if (job.idempotencyKey) {
                const got = gotByKey.get(job.idempotencyKey) ?? new Set<string>();
                gotByKey.set(job.idempotencyKey, got.add(id));
              } else {
                unkeyedIds.set(job.payload.marker, id);
              }
            });
          });
          await Promise.all(requests);
        }
        expect(failures).toEqual([]);

        const keyed = await query<{ key: string; ids: string[] }>(
          run.db.url,
          `SELECT idempotency_key AS key, array_agg(id::text) AS ids FROM job_queue.jobs
           WHERE idempotency_key IS NOT NULL GROUP BY 1`,
        );
        expect(keyed).toHaveLength(ROUNDS * KEYS);
        for (const row of keyed) expect({ key: row.key, ids: [...gotByKey.get(row.key)!] }).toEqual(row);

        const unkeyed = await query<{ marker: string; ids: string[] }>(
          run.db.url,
          `SELECT payload->>'marker' AS marker, array_agg(id::text) AS ids FROM job_queue.jobs
           WHERE idempotency_key IS NULL GROUP BY 1`,
        );
        expect(unkeyed).toHaveLength(ROUNDS * CALLERS * UNKEYED);
        for (const row of unkeyed) expect({ marker: row.marker, ids: [unkeyedIds.get(row.marker)] }).toEqual(row);
      },
    ),
    240_000,
  );
});
