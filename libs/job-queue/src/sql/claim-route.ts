import { ONE_LEVEL_MAX_CLAIM } from './claim-one-level.sql';

/**
 * Claims of a pair found at several priority levels take the walk this many times before the one-level claim is
 * tried again: a queue that uses priorities tends to keep using them, and each try that finds several levels costs
 * a statement that claims nothing.
 */
export const WALKS_AFTER_SEVERAL_LEVELS = 100;

/**
 * Which claim statement serves a claim: the one-level claim (`claim-one-level.sql.ts`) for one served pair and a
 * claim it can hold, unless that pair was lately found at several priority levels; the walk otherwise. Kept per
 * repository, in memory: it decides only which statement runs first, never what is claimed (the one-level claim
 * claims nothing where it does not apply, and says so).
 */
export class ClaimRoute {
  private readonly walksLeft = new Map<string, number>();

  /** Whether the claim of `limit` jobs of these pairs ($1, $2 of the claim) takes the one-level claim. */
  oneLevel(pairQueues: string[], pairTypes: string[], limit: number): boolean {
    if (pairQueues.length !== 1 || limit > ONE_LEVEL_MAX_CLAIM) return false;
    const key = pairKey(pairQueues[0], pairTypes[0]);
    const left = this.walksLeft.get(key);
    if (left === undefined) return true;
    if (left <= 1) this.walksLeft.delete(key);
    else this.walksLeft.set(key, left - 1);
    return false;
  }

  /** The one-level claim found the pair at several levels: the walk serves its next claims. */
  severalLevels(queue: string, type: string): void {
    this.walksLeft.set(pairKey(queue, type), WALKS_AFTER_SEVERAL_LEVELS);
  }
}

const pairKey = (queue: string, type: string) => `${queue}\u0000${type}`;
