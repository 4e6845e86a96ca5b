/**
 * The ids of a cancel message (`!cancel <id>,<id>…`, sent on the queue's channel by `sql/cancel-jobs.sql.ts`), or
 * null for any other payload. No queue name can start with `!`, so a message is never taken for a wake-up.
 */
export function cancelledIds(payload: string | undefined): string[] | null {
  if (payload === undefined || !payload.startsWith(CANCEL_PREFIX)) return null;
  return payload
    .slice(CANCEL_PREFIX.length)
    .split(',')
    .filter((id) => id.length > 0);
}

const CANCEL_PREFIX = '!cancel ';
