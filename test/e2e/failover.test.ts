import { MovableProxy } from '../support/movable-proxy';
import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { report, totals } from './support/queue-outcome';
import { ReplicatedPostgres } from './support/replicated-postgres';
import {
  enqueueBatch,
  FAST_RECOVERY_ENV,
  SampleFleet,
  withFleetOutput,
  type SampleProcess,
} from './support/sample-process';

/**
 * A failover as managed PostgreSQL does it: a primary and an asynchronous (or synchronous) streaming standby, the app
 * instances connected through one address that moves. The WAL stream is partitioned first, so that the old primary
 * commits work the standby never sees; then the address goes dark, the standby is promoted, the address points at it
 * and the old primary dies. The instances reconnect by themselves and drain; every job is accounted for from what
 * each server held.
 */

const records = (n: number, delayMs: number) =>
  Array.from({ length: n }, () => ({ type: 'demo.record', payload: { delayMs } }));

/** The queue's rows on one server: live jobs, dead jobs, and the jobs that left an effect (how often). */
interface ServerState {
  live: Set<string>;
  dead: Set<string>;
  effects: Map<string, number>;
}

async function stateOf(url: string): Promise<ServerState> {
  const live = await query<{ id: string }>(url, 'SELECT id FROM job_queue.jobs');
  const dead = await query<{ id: string }>(url, 'SELECT id FROM job_queue.dead_jobs');
  const effects = await query<{ job_id: string; n: number }>(
    url,
    'SELECT job_id, count(*)::int AS n FROM sample.effects GROUP BY job_id',
  );
  return {
    live: new Set(live.map((r) => r.id)),
    dead: new Set(dead.map((r) => r.id)),
    effects: new Map(effects.map((r) => [r.job_id, r.n])),
  };
}

const knows = (s: ServerState, id: string) => s.live.has(id) || s.dead.has(id) || s.effects.has(id);
/** Jobs that have an effect and are still in `jobs`: impossible while the effect and the delete share a commit. */
const effectWithoutCompletion = (s: ServerState) => [...s.effects.keys()].filter((id) => s.live.has(id));

interface Ack {
  ids: string[];
  at: number;
}

/** Enqueues demo.record jobs through HTTP without pause, one batch at a time per instance; keeps every answer. */
function produce(procs: SampleProcess[], perBatch: number, everyMs: number) {
  const acks: Ack[] = [];
  /** Refused or unanswered batches by HTTP status (0: no answer in time). */
  const failed: Record<number, number> = {};
  let running = true;
  const loops = procs.map(async (proc) => {
    while (running) {
      const tick = Date.now();
      try {
        const res = await proc.request<{ ids: string[] }>(
          'POST',
          '/jobs/batch',
          { jobs: records(perBatch, 10) },
          3_000,
        );
        if (res.status === 201) acks.push({ ids: res.body.ids, at: Date.now() });
        else failed[res.status] = (failed[res.status] ?? 0) + 1;
      } catch {
        failed[0] = (failed[0] ?? 0) + 1; // no answer: the producer never got ids for this batch
      }
      await new Promise((r) => setTimeout(r, Math.max(0, tick + everyMs - Date.now())));
    }
  });
  return {
    acks,
    failed,
    ackedSince: (t: number) => acks.filter((a) => a.at >= t).reduce((n, a) => n + a.ids.length, 0),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('e2e: failover to a promoted standby', () => {
  let pair: ReplicatedPostgres | undefined;
  let address: MovableProxy | undefined;
  let fleet: SampleFleet | undefined;
  let producer: ReturnType<typeof produce> | undefined;

  afterEach(async () => {
    await producer?.stop();
    await fleet?.stopAll();
    await address?.stop();
    await pair?.stop();
    producer = fleet = address = pair = undefined;
  });

  async function failover(mode: 'async' | 'sync') {
    pair = await ReplicatedPostgres.start();
    if (mode === 'sync') await pair.makeSynchronous();
    const { primary, standby } = pair;
    address = await MovableProxy.start(primary.url);
    fleet = new SampleFleet(address.url, FAST_RECOVERY_ENV);
    const procs = await fleet.startMany([`${mode}-a`, `${mode}-b`]);
    producer = produce(procs, 5, 50);
    await waitFor('work done on the primary', async () => (await stateOf(primary.url)).effects.size >= 100, 20_000, 50);

    // A backlog the old primary works on during the partition: these inserts reach the standby, their completions
    // will not.
    const backlog = await enqueueBatch(procs[0], records(300, 40));
    const replicatedBefore = Date.now();
    await pair.caughtUp(); // everything acknowledged before `replicatedBefore` is on the standby
    expect(pair.partition()).toBe(1);
    const partitionedAt = Date.now();
    // Async: the old primary goes on committing (enqueues acknowledged, jobs done) what the standby never receives.
    // Sync: every commit on it waits for the standby, and nothing is acknowledged.
    await new Promise((r) => setTimeout(r, 2_000));

    // The failover: the address goes dark, the old primary's last sessions end (what it holds now is final), the
    // standby is promoted, the address moves to it, and the old primary dies.
    const cutAt = Date.now();
    const dropped = address.cut();
    await pair.endPrimarySessions();
    const oldPrimary = await stateOf(primary.url);
    await pair.promote();
    const [{ promotedAt }] = await query<{ promotedAt: Date }>(standby.url, 'SELECT now() AS "promotedAt"');
    const survived = await stateOf(standby.url);
    address.moveTo(standby.url);
    const movedAt = Date.now();
    await pair.killPrimary();

    // Work goes on through the same address, now served by the promoted standby.
    await waitFor('enqueues accepted after the move', () => producer!.ackedSince(movedAt) >= 100, 20_000, 50);
    await producer.stop();
    await waitFor('drained on the new primary', async () => (await totals(standby.url)).live === 0, 30_000, 100);
    await Promise.all(
      procs.map((p) =>
        waitFor(
          `${p.id} listening again`,
          async () => (await p.metric('job_queue_listener_connected')) === 1,
          15_000,
          100,
        ),
      ),
    );
    const health = await Promise.all(procs.map((p) => p.request('GET', '/health').then((r) => r.status)));
    const final = await stateOf(standby.url);
    const byInstance = await query<{ instance_id: string; n: number }>(
      standby.url,
      'SELECT instance_id, count(*)::int AS n FROM sample.effects WHERE created_at > $1 GROUP BY 1 ORDER BY 1',
      [promotedAt],
    );

    // Every acknowledged id, by what became of it.
    const acked = producer.acks
      .flatMap((a) => a.ids.map((id) => ({ id, at: a.at })))
      .concat(backlog.map((id) => ({ id, at: replicatedBefore - 1 })));
    const replicated = acked.filter((a) => knows(survived, a.id));
    const lostWithOldPrimary = acked.filter((a) => !knows(survived, a.id) && knows(oldPrimary, a.id));
    const afterMove = acked.filter((a) => !knows(survived, a.id) && !knows(oldPrimary, a.id));
    // Completions the old primary committed and the standby never received: those jobs ran again.
    const ranAgain = [...oldPrimary.effects.keys()].filter((id) => survived.live.has(id));
    const wrong = (ids: Array<{ id: string }>, expected: number) =>
      ids.filter((a) => (final.effects.get(a.id) ?? 0) !== expected || final.live.has(a.id) || final.dead.has(a.id));

    report(`failover-${mode}`, {
      acked: acked.length,
      refusedBatchesByStatus: producer.failed,
      partitionMs: cutAt - partitionedAt,
      droppedAtCut: dropped,
      refusedWhileCut: address.refused,
      replicated: replicated.length,
      lostWithOldPrimary: lostWithOldPrimary.length,
      ackedAfterMove: afterMove.length,
      completionsLostRanAgain: ranAgain.length,
      oldPrimaryEffects: oldPrimary.effects.size,
      survivedEffects: survived.effects.size,
      survivedLive: survived.live.size,
      finalEffects: final.effects.size,
      effectsAfterPromotionByInstance: Object.fromEntries(byInstance.map((r) => [r.instance_id, r.n])),
      health,
    });

    // Both servers' last states are consistent: no effect without its job's deletion.
    expect(effectWithoutCompletion(oldPrimary)).toEqual([]);
    expect(effectWithoutCompletion(survived)).toEqual([]);
    // Everything acknowledged before the standby was last seen caught up was on it.
    expect(acked.filter((a) => a.at < replicatedBefore && !knows(survived, a.id))).toEqual([]);
    // Every acknowledged job whose insert reached the standby, or that was enqueued after the move, ran exactly
    // once on the surviving database; none is left live or dead.
    expect(wrong(replicated, 1)).toEqual([]);
    expect(wrong(afterMove, 1)).toEqual([]);
    expect(afterMove.length).toBeGreaterThan(0);
    // The completions the old primary took with it ran again, and their effect exists once.
    expect(ranAgain.filter((id) => final.effects.get(id) !== 1)).toEqual([]);
    // Acknowledged enqueues committed on the old primary only: gone from the survivor, job and effect alike.
    expect(wrong(lostWithOldPrimary, 0)).toEqual([]);
    expect(final.live.size + final.dead.size).toBe(0);
    expect([...final.effects.values()].filter((n) => n > 1)).toEqual([]);
    // Enqueues that hit the gap were refused as retryable (503) or not answered, never failed with a 500.
    expect(Object.keys(producer.failed).filter((status) => status !== '503' && status !== '0')).toEqual([]);
    // The instances came back by themselves: alive, healthy, and both working on the new primary.
    expect(procs.every((p) => p.alive)).toBe(true);
    expect(health).toEqual([200, 200]);
    expect(byInstance.map((r) => r.instance_id)).toEqual(procs.map((p) => p.id));
    return { lostWithOldPrimary, ranAgain, survived, oldPrimary };
  }

  it(
    'asynchronous standby: completions lost with the old primary run again once; unreplicated enqueues are lost',
    withFleetOutput(
      () => fleet,
      async () => {
        const { lostWithOldPrimary, ranAgain } = await failover('async');
        // The partition was real: the old primary acknowledged enqueues and finished jobs the standby never saw.
        expect(lostWithOldPrimary.length).toBeGreaterThan(0);
        expect(ranAgain.length).toBeGreaterThan(0);
      },
    ),
    90_000,
  );

  it(
    'synchronous standby: no acknowledged enqueue is lost',
    withFleetOutput(
      () => fleet,
      async () => {
        const { lostWithOldPrimary } = await failover('sync');
        expect(lostWithOldPrimary).toEqual([]);
      },
    ),
    90_000,
  );
});
