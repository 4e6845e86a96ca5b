/** One B-tree index of a queue table, as `indexSizes` reads it. */
export interface IndexSize {
  index: string;
  valid: boolean;
  pages: number;
  expected_pages: number;
}

/** What a rebuild round does to a table's indexes: leftovers dropped first, then bloated indexes rebuilt. */
export interface IndexPlan {
  drop: string[];
  rebuild: string[];
}

/**
 * An index is bloated past this many times its freshly built size (an upper bound already, see `indexSizes`)...
 * B-tree pages split half full and fill up again, so a churning index sits well above its packed size without
 * being bloated; two and a half times the bound is bloat.
 */
export const BLOAT_RATIO = 2.5;
/** ...and by more than this many pages (256 KiB): rebuilding a few pages back to one gains nothing. */
export const BLOAT_SLACK_PAGES = 32;

/** Names PostgreSQL gives the transient index of `REINDEX … CONCURRENTLY` (`_ccnew`, `_ccnew1`, …) and the old one. */
const REINDEX_LEFTOVER = /_cc(new|old)[0-9]*$/;

/**
 * The round's plan: invalid indexes named as a failed concurrent rebuild leaves them are dropped (an index the user
 * built and left invalid under another name is not ours to drop); valid indexes past the bloat bound are rebuilt.
 */
export function planIndexRebuild(indexes: IndexSize[]): IndexPlan {
  return {
    drop: planLeftoverDrop(indexes).drop,
    rebuild: indexes
      .filter((i) => i.valid && i.pages > BLOAT_RATIO * i.expected_pages + BLOAT_SLACK_PAGES)
      .map((i) => i.index),
  };
}

/** A round that only drops the invalid leftovers of a concurrent rebuild, and rebuilds nothing. */
export function planLeftoverDrop(indexes: Array<Pick<IndexSize, 'index' | 'valid'>>): IndexPlan {
  return { drop: indexes.filter((i) => !i.valid && isRebuildLeftover(i.index)).map((i) => i.index), rebuild: [] };
}

/** Named as a failed concurrent rebuild leaves an index (whether it is still invalid is the catalog's to say). */
export function isRebuildLeftover(index: string): boolean {
  return REINDEX_LEFTOVER.test(index);
}
