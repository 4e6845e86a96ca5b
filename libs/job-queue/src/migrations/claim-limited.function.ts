import type { QueueTables } from '../sql/identifier';

/**
 * The claim of a type that has limits (`globalConcurrency`, `concurrencyPerKey`, `rateLimit`), as a PL/pgSQL
 * function, so that it stays one round trip and is exact. Why a function: the limits are counts of rows other
 * instances write (`processing` rows, recent starts), and a count is only exact if nobody can change it between the
 * count and the claim. The function takes `pg_advisory_xact_lock(p_lock)` (one lock per schema and type, held until
 * the claim commits), and only then counts: each statement of a VOLATILE function runs on a fresh snapshot in READ
 * COMMITTED, so it sees every claim that committed before it got the lock. A single SQL statement cannot do that:
 * its snapshot is taken before it waits for any lock, and would miss the claim it waited for.
 *
 * What counts as running is the `processing` rows of the type (or of the type and key): a row counts from the claim
 * that sets it to the statement that deletes it or sets it back to `pending` (completion, retry, dead-letter,
 * release at shutdown, recovery of an expired lease). A crashed instance's rows count until recovery takes them
 * back, and no counter has to be kept in step with every one of those statements.
 *
 * Rate limits are a sliding-window log in `rate_windows`: the start times of the last period, at most `max` of them.
 * A start is stamped `clock_timestamp()` taken after the lock, so starts are recorded in the order the claims are
 * serialised; the claim's jobs get it as `locked_at`. A claim at time t may start `max - |{s : s > t - period}|`
 * jobs, all at t. So every half-open window [a, a + period) holds at most `max` starts: take its last start, at t;
 * every start in the window lies in (t - period, t], which that claim counted.
 *
 * Per-key limits walk the keys round-robin, in byte order from the key where the previous claim of the type stopped
 * (`limit_cursors`), wrapping around, one job per key per visit, until the claim is full, a whole round took nothing,
 * or `p_max_keys` keys were visited. Each visit is a probe of `jobs_keyed_idx` for the next key (from version 11,
 * the next key with a due job in the served queues: `dueKeyFilter`) and one for that key's next job. Keys at their
 * limit are passed over without blocking the others. Jobs without a key of such a type are taken after the walk
 * from the head of the claim order (the first `KEYLESS_HEAD` rows per queue), limited only by the type-wide limits.
 *
 * Returns the claimed jobs (`r_done` false), the ids whose completion ($6/$7, written first, fenced by token) held
 * (`r_done` true), and one summary row (`r_done` null): `r_wake_in_ms`, when a rate limit is what stopped the claim,
 * the wait until its window has room again; `r_held`, the limits that left due jobs waiting.
 */
export const claimLimitedFunction = (t: QueueTables, version: ClaimLimitedVersion) => `
CREATE OR REPLACE FUNCTION ${t.schema}.claim_limited(
  p_lock bigint, p_queues text[], p_type text, p_limit int, p_instance text, p_done_ids uuid[], p_done_tokens uuid[],
  p_global int, p_per_key int, p_rate_max int, p_rate_ms int, p_rate_per_key boolean, p_max_keys int)
RETURNS TABLE (r_done boolean, r_id uuid, r_queue text, r_type text, r_payload jsonb, r_priority int,
  r_attempt_count int, r_max_attempts int, r_lock_token uuid, r_created_at_ms float8, r_claimed_at_ms float8,
  r_run_at_ms float8, r_wake_in_ms float8, r_held text${version >= 11 ? FRESH_COLUMNS : ''})
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
  v_now timestamptz;
  v_room int := greatest(p_limit, 0);
  v_bound int;
  v_ids uuid[] := '{}';
  v_done uuid[] := '{}';
  v_wake float8;
  v_held text[] := '{}';
  v_n int;
  v_id uuid;
  v_key text COLLATE "C";
  v_next text COLLATE "C";
  v_stop text COLLATE "C";
  v_last text COLLATE "C";
  v_probes int := 0;
  v_per_key boolean := p_per_key IS NOT NULL OR (p_rate_max IS NOT NULL AND p_rate_per_key);
  v_period interval := coalesce(p_rate_ms, 0) * interval '1 millisecond';
  v_starts timestamptz[];
${version >= 10 ? '  v_token uuid := gen_random_uuid();\n' : ''}BEGIN
  WITH d AS (
    DELETE FROM ${t.jobs} j USING unnest(p_done_ids, p_done_tokens) AS f(id, token)
    WHERE j.id = f.id AND j.lock_token = f.token
    RETURNING j.id)
  SELECT coalesce(array_agg(d.id), '{}') INTO v_done FROM d;
${version >= 9 ? nothingDueGuard(t) : ''}
  PERFORM pg_advisory_xact_lock(p_lock);
  v_now := clock_timestamp();

  IF p_global IS NOT NULL THEN
    SELECT p_global - count(*) INTO v_n FROM ${t.jobs} j WHERE j.status = 'processing' AND j.type = p_type;
    IF v_n < v_room THEN v_room := greatest(v_n, 0); v_held := v_held || 'global'::text; END IF;
  END IF;
  IF p_rate_max IS NOT NULL AND NOT p_rate_per_key THEN
    SELECT coalesce(array_agg(s ORDER BY s), '{}') INTO v_starts
    FROM ${t.schema}.rate_windows w CROSS JOIN LATERAL unnest(w.starts) AS s
    WHERE w.type = p_type AND w.key = '' AND s > v_now - v_period;
    v_n := p_rate_max - cardinality(v_starts);
    IF v_n < v_room THEN v_room := greatest(v_n, 0); v_held := v_held || 'rate'::text; END IF;
  END IF;
  v_bound := v_room;

  IF NOT v_per_key THEN
    IF v_room > 0 THEN
      WITH c AS MATERIALIZED (
        SELECT x.id FROM unnest(p_queues) AS q(queue) CROSS JOIN LATERAL (
          SELECT j.id, j.priority, j.next_retry_at, j.created_at FROM ${t.jobs} j
          WHERE j.status = 'pending' AND j.queue = q.queue AND j.type = p_type AND j.next_retry_at <= ${dueAt(version)}
          ORDER BY j.priority DESC, j.next_retry_at, j.created_at, j.id
          LIMIT v_room FOR UPDATE SKIP LOCKED) x
        ORDER BY x.priority DESC, x.next_retry_at, x.created_at, x.id
        LIMIT v_room),
      u AS (
        UPDATE ${t.jobs} j SET status = 'processing', locked_at = v_now, locked_by = p_instance,
          lock_token = ${claimToken(version)}, attempt_count = j.attempt_count + 1, updated_at = v_now
        FROM c WHERE j.id = c.id
        RETURNING j.id)
      SELECT coalesce(array_agg(u.id), '{}') INTO v_ids FROM u;
    END IF;
  ELSE
    SELECT lc.last_key INTO v_key FROM ${t.schema}.limit_cursors lc WHERE lc.type = p_type;
    WHILE v_room > 0 AND v_probes < p_max_keys LOOP
      v_probes := v_probes + 1;
      v_next := NULL;
      -- '' is below every key: keys are 1 to 255 characters.
      SELECT j.concurrency_key INTO v_next FROM ${t.jobs} j
      WHERE j.status = 'pending' AND j.type = p_type AND j.concurrency_key IS NOT NULL
        AND j.concurrency_key > coalesce(v_key, '')${version >= 11 ? dueKeyFilter : ''}
      ORDER BY j.concurrency_key
      LIMIT 1;
      IF v_next IS NULL THEN
        EXIT WHEN v_key IS NULL;
        v_key := NULL;
        CONTINUE;
      END IF;
      v_key := v_next;
      v_id := NULL;
      v_n := 1;
      IF p_per_key IS NOT NULL THEN
        SELECT p_per_key - count(*) INTO v_n FROM ${t.jobs} j
        WHERE j.status = 'processing' AND j.type = p_type AND j.concurrency_key = v_key;
        IF v_n <= 0 THEN v_held := v_held || 'key'::text; END IF;
      END IF;
      IF v_n > 0 AND p_rate_max IS NOT NULL AND p_rate_per_key THEN
        SELECT coalesce(array_agg(s ORDER BY s), '{}') INTO v_starts
        FROM ${t.schema}.rate_windows w CROSS JOIN LATERAL unnest(w.starts) AS s
        WHERE w.type = p_type AND w.key = v_key AND s > v_now - v_period;
        IF cardinality(v_starts) >= p_rate_max THEN
          v_n := 0;
          v_held := v_held || 'key_rate'::text;
          v_wake := least(v_wake, ceil(extract(epoch FROM (v_starts[1] + v_period - v_now)) * 1000));
        END IF;
      END IF;
      IF v_n > 0 THEN
        WITH c AS MATERIALIZED (
          SELECT j.id FROM ${t.jobs} j
          WHERE j.status = 'pending' AND j.type = p_type AND j.concurrency_key = v_key
            AND j.queue = ANY (p_queues) AND j.next_retry_at <= ${dueAt(version)}
          ORDER BY j.priority DESC, j.next_retry_at, j.created_at, j.id
          LIMIT 1 FOR UPDATE SKIP LOCKED)
        UPDATE ${t.jobs} j SET status = 'processing', locked_at = v_now, locked_by = p_instance,
          lock_token = ${claimToken(version)}, attempt_count = j.attempt_count + 1, updated_at = v_now
        FROM c WHERE j.id = c.id
        RETURNING j.id INTO v_id;
      END IF;
      IF v_id IS NOT NULL THEN
        v_ids := v_ids || v_id;
        v_room := v_room - 1;
        IF p_rate_max IS NOT NULL AND p_rate_per_key THEN
          INSERT INTO ${t.schema}.rate_windows AS w (type, key, starts) VALUES (p_type, v_key, v_starts || v_now)
          ON CONFLICT (type, key) DO UPDATE SET starts = EXCLUDED.starts;
        END IF;
      END IF;
      v_last := v_key;
      IF v_id IS NOT NULL THEN
        v_stop := v_key;
      ELSIF v_stop IS NULL THEN
        v_stop := v_key;
      ELSIF v_key = v_stop THEN
        EXIT;
      END IF;
    END LOOP;
    IF v_last IS NOT NULL THEN
      INSERT INTO ${t.schema}.limit_cursors AS lc (type, last_key) VALUES (p_type, v_last)
      ON CONFLICT (type) DO UPDATE SET last_key = EXCLUDED.last_key;
    END IF;
    IF v_room > 0 THEN
      WITH h AS MATERIALIZED (
        SELECT x.id FROM unnest(p_queues) AS q(queue) CROSS JOIN LATERAL (
          SELECT j.id, j.concurrency_key, j.priority, j.next_retry_at, j.created_at FROM ${t.jobs} j
          WHERE j.status = 'pending' AND j.queue = q.queue AND j.type = p_type AND j.next_retry_at <= ${dueAt(version)}
          ORDER BY j.priority DESC, j.next_retry_at, j.created_at, j.id
          LIMIT ${KEYLESS_HEAD}) x
        WHERE x.concurrency_key IS NULL
        ORDER BY x.priority DESC, x.next_retry_at, x.created_at, x.id
        LIMIT v_room),
      c AS MATERIALIZED (
        SELECT j.id FROM ${t.jobs} j JOIN h ON j.id = h.id WHERE j.status = 'pending' FOR UPDATE OF j SKIP LOCKED),
      u AS (
        UPDATE ${t.jobs} j SET status = 'processing', locked_at = v_now, locked_by = p_instance,
          lock_token = ${claimToken(version)}, attempt_count = j.attempt_count + 1, updated_at = v_now
        FROM c WHERE j.id = c.id
        RETURNING j.id)
      SELECT v_ids || coalesce(array_agg(u.id), '{}') INTO v_ids FROM u;
    END IF;
  END IF;

  IF p_rate_max IS NOT NULL AND NOT p_rate_per_key THEN
    IF cardinality(v_ids) > 0 THEN
      v_starts := v_starts || array_fill(v_now, ARRAY[cardinality(v_ids)]);
      INSERT INTO ${t.schema}.rate_windows AS w (type, key, starts) VALUES (p_type, '', v_starts)
      ON CONFLICT (type, key) DO UPDATE SET starts = EXCLUDED.starts;
    END IF;
    IF cardinality(v_starts) >= p_rate_max AND cardinality(v_ids) >= v_bound THEN
      v_wake := least(v_wake, ceil(extract(epoch FROM (v_starts[1] + v_period - v_now)) * 1000));
    END IF;
  END IF;
  -- A type-wide limit held jobs back only if the claim took all it allowed; fewer means none were left.
  IF cardinality(v_ids) < v_bound THEN
    v_held := array_remove(array_remove(v_held, 'global'), 'rate');
  END IF;
${version >= 9 ? '  END IF;\n' : ''}
  RETURN QUERY
    SELECT false, j.id, j.queue, j.type, j.payload, j.priority, j.attempt_count, j.max_attempts, j.lock_token,
           (extract(epoch FROM j.created_at) * 1000)::float8, (extract(epoch FROM v_now) * 1000)::float8,
           (extract(epoch FROM j.next_retry_at) * 1000)::float8, NULL::float8, NULL::text${
             version >= 11
               ? `,
           (date_part('epoch', j.scheduled_for) * 1000)::float8, j.snooze_count, j.trace_context`
               : ''
           }
    FROM unnest(v_ids) WITH ORDINALITY AS k(id, ord) JOIN ${t.jobs} j ON j.id = k.id
    ORDER BY k.ord;
  RETURN QUERY
    SELECT true, d.id, NULL::text, NULL::text, NULL::jsonb, NULL::int, NULL::int, NULL::int, NULL::uuid,
           NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::text${version >= 11 ? FRESH_NULLS : ''}
    FROM unnest(v_done) AS d(id);
  RETURN QUERY
    SELECT NULL::boolean, NULL::uuid, NULL::text, NULL::text, NULL::jsonb, NULL::int, NULL::int, NULL::int,
           NULL::uuid, NULL::float8, NULL::float8, NULL::float8, CASE WHEN v_wake IS NOT NULL THEN greatest(v_wake, 1) END::float8,
           nullif(array_to_string(ARRAY(SELECT DISTINCT h FROM unnest(v_held) AS h ORDER BY h), ','), '')${
             version >= 11 ? FRESH_NULLS : ''
           };
END
$fn$`;

/**
 * The function's versions: 7 as migration 7 created it; 9 (migration 9) skips everything after the completions
 * when no job of the type is due; 10 (migration 10) draws one lock token per call; 11 (migration 11) returns the
 * claimed rows' `scheduled_for`, `snooze_count` and `trace_context` itself, counts as due what is due when it holds the
 * lock, and walks only the keys that have a due job in the served queues.
 */
export type ClaimLimitedVersion = 7 | 9 | 10 | 11;

/**
 * Version 11's further columns. Before, the calling statement joined `jobs` for them; but it reads in its own
 * snapshot, taken before the function waited for its lock, so a row claimed after the wait came back as it was
 * before it (a snooze not counted), or not at all (a job inserted meanwhile: no slot, no trace context). The
 * function's last statement reads after the lock, on a snapshot of its own.
 */
const FRESH_COLUMNS = ',\n  r_scheduled_for_ms float8, r_snooze_count int, r_trace_context jsonb';
const FRESH_NULLS = ', NULL::float8, NULL::int, NULL::jsonb';

/**
 * The time a job must be due by to be claimed, after the lock. Before version 11, `now()`: the calling statement's
 * start, before the lock wait, so a job that fell due (a snooze, a retry, a schedule's slot) while the claim waited
 * was left to the next claim. From 11, `v_now`, the clock read once the lock is held, which is also every claimed
 * row's `locked_at`: a job is claimed only at or after its run-at. (The nothing-due guard, before the lock, keeps
 * `now()`: it only decides whether to take the lock at all.)
 */
const dueAt = (version: ClaimLimitedVersion) => (version >= 11 ? 'v_now' : 'now()');

/**
 * Version 11: the probe for the next key skips keys that have no job the claim could take, the due rows in the
 * served queues. Before, it found any pending row's key: a key whose jobs were all delayed, in retry backoff, or in
 * a queue not served (or paused) cost one of the claim's `p_max_keys` visits and took nothing, so 200 such keys
 * before a due one made the claim return empty (not full, not held) and the due job waited for the next poll.
 *
 * The probe is still one ordered walk of `jobs_keyed_idx` from the last key, stopped at the first row that passes:
 * `next_retry_at` is a column of the index, so rows not yet due are passed over inside the index, without reading
 * the table; the queue is read from the table for due rows only. What it passes is the pending rows of the keys
 * between, not yet due (or due in queues not served): rows that a visit of each of those keys used to read too
 * (the next-job probe passes over a key's rows that are not due the same way), at most once per turn of the walk:
 * 100,000 keys with one job due in an hour each, passed in one probe, were 1,663 buffers, where the 200 visits of
 * version 10 were 2,694 and took nothing. A key with due jobs is found at its first due row, as before.
 *
 * The other way out, a claim stopped at its budget telling the poller to claim again at once, was left: it does not
 * know whether the next claim would find anything, and with more than `p_max_keys` keys at their limit every claim
 * would stop at its budget, so the instance would claim again and again without end.
 */
const dueKeyFilter = `
        AND j.next_retry_at <= v_now AND j.queue = ANY (p_queues)`;

/**
 * The lock token of the rows a call claims. Before version 10, a `gen_random_uuid()` per row; from 10, one per call,
 * drawn when the call starts (`v_token`), as the plain claim draws one per statement (`claimUpdate`): every
 * statement that acts on an attempt matches id and token together, so a token must be new for each claim, not for
 * each row, and a row claimed again is claimed by another call. A UUID per row cost ~2 µs a claimed job.
 */
const claimToken = (version: ClaimLimitedVersion) => (version >= 10 ? 'v_token' : 'gen_random_uuid()');

/**
 * Version 9: nothing of the type is due in the served queues (one probe of `jobs_available_idx` per queue, which
 * stops at the first due row; ordered as the index is, so that no plan prefers a sequential scan that a LIMIT 1
 * makes look cheap), so nothing to claim: no lock, no counts, no rate window read. The counts are what
 * this saves: `globalConcurrency` counts the type's `processing` rows through `jobs_rescue_idx`, which holds every
 * type's running rows, and while a long transaction elsewhere holds the horizon, every claimed-and-completed row's
 * dead version too; each claim cycle of every limited type, due jobs or not, read them all (a soak with a 5-minute
 * idle transaction lost more than half its throughput to it). Opens an `IF` that the function's end closes.
 */
const nothingDueGuard = (t: QueueTables) => `
  IF EXISTS (
    SELECT 1 FROM unnest(p_queues) AS q(queue) CROSS JOIN LATERAL (
      SELECT 1 FROM ${t.jobs} j
      WHERE j.status = 'pending' AND j.queue = q.queue AND j.type = p_type AND j.next_retry_at <= now()
      ORDER BY j.priority DESC, j.next_retry_at, j.created_at, j.id
      LIMIT 1) due) THEN`;

/** Rows per queue a per-key type's claim reads from the head of the claim order for jobs that have no key. */
export const KEYLESS_HEAD = 64;
