import {
  CLAIM_CHUNK,
  claimAvailable,
  claimOneLevel,
  claimPairs,
  queueTables,
  type ClaimCursor,
} from '@app/job-queue/internal';
import { withClient } from './sql';

/** One node of `EXPLAIN (FORMAT JSON)`, with the fields the claim's tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'Heap Fetches'?: number;
  Plans?: PlanNode[];
}

export interface ClaimPlan {
  /** The root node; its buffers are the whole statement's. */
  root: PlanNode;
  /** Every node of the tree, depth first. */
  nodes: PlanNode[];
  /** Shared buffers the execution touched (hit + read), planning excluded. */
  buffers: number;
  /** Rows the claim returned. */
  claimed: number;
  /** Heap tuples its index-only scans had to visit: index entries that were not known dead or all-visible. */
  heapFetches: number;
}

export interface ExplainClaimOptions {
  types: string[];
  limit: number;
  queues?: string[];
  /** Plan it as a reused named statement would be once PostgreSQL switches to a generic plan. */
  generic?: boolean;
  /** Start the walk at a cursor, as the poller does while its claims come back full. */
  cursor?: ClaimCursor;
  /** Explain the one-level claim (one pair, one priority level) instead of the walk. */
  oneLevel?: boolean;
}

/**
 * `EXPLAIN (ANALYZE, BUFFERS)` of the library's own claim statement (the walk, or the one-level claim), run for
 * real inside a transaction that is rolled back, so every row stays pending. The generic plan is forced the way PostgreSQL reaches it for a named
 * statement: PREPARE, then `plan_cache_mode = force_generic_plan`.
 */
export async function explainClaim(url: string, options: ExplainClaimOptions): Promise<ClaimPlan> {
  const { text } = (options.oneLevel ? claimOneLevel : claimAvailable)(queueTables('job_queue'));
  const { cursor } = options;
  const [queues, types] = claimPairs(options.queues ?? ['default'], options.types);
  const values = [queues, types, options.limit, 'explain', cursor?.priority ?? null, cursor?.runAtMs ?? null];
  return withClient(url, async (client) => {
    await client.query('BEGIN');
    try {
      let rows: Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>;
      if (options.generic) {
        await client.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
        await client.query(`PREPARE explained_claim (text[], text[], int, text, int, float8) AS ${text}`);
        // EXECUTE takes its arguments as SQL text, not as bind parameters: literals, escaped by the driver.
        const list = (items: string[]) => `ARRAY[${items.map((i) => client.escapeLiteral(i)).join(', ')}]::text[]`;
        const at = cursor ? `${Number(cursor.priority)}, ${Number(cursor.runAtMs)}` : 'NULL, NULL';
        const args = `${list(values[0] as string[])}, ${list(values[1] as string[])}, ${Number(values[2])}, 'explain', ${at}`;
        rows = (await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE explained_claim (${args})`)).rows;
      } else {
        rows = (await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, values)).rows;
      }
      const root = rows[0]['QUERY PLAN'][0].Plan;
      const nodes = flatten(root);
      return {
        root,
        nodes,
        buffers: (root['Shared Hit Blocks'] ?? 0) + (root['Shared Read Blocks'] ?? 0),
        claimed: root['Actual Rows'] ?? 0,
        heapFetches: nodes.reduce((sum, n) => sum + (n['Heap Fetches'] ?? 0), 0),
      };
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}

/**
 * What makes a claim's cost grow with the backlog instead of with what it returns: a sequential scan of the jobs
 * table, a bitmap scan of it other than by primary key (the update fetches its claimed ids so), or a sort of more
 * rows than one candidate per (queue, type) pair served or one probe's chunk (PostgreSQL 18 sorts the chunk of at
 * most CLAIM_CHUNK rows a probe returned in index order before aggregating it: bounded by a constant, not by the
 * backlog). Returns a description of each such node, empty when none.
 */
export function backlogReaders(plan: ClaimPlan, pairs: number): string[] {
  const boundedSort = Math.max(pairs, CLAIM_CHUNK);
  const found: string[] = [];
  for (const node of plan.nodes) {
    const type = node['Node Type'];
    if (type === 'Seq Scan' && node['Relation Name'] === 'jobs') found.push('Seq Scan on jobs');
    if (type === 'Bitmap Heap Scan' && node['Relation Name'] === 'jobs') {
      const indexes = flatten(node).flatMap((n) => (n['Index Name'] ? [n['Index Name']] : []));
      if (indexes.some((name) => name !== 'jobs_pkey')) found.push(`Bitmap Heap Scan on jobs by ${indexes.join(', ')}`);
    }
    if (type === 'Sort') {
      const input = node.Plans?.[0]?.['Actual Rows'] ?? 0;
      if (input > boundedSort) found.push(`Sort of ${input} rows`);
    }
  }
  return found;
}
