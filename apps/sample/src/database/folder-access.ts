import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The first folder above `path` that `user` may not enter (no search permission for it by owner, group or others),
 * or null when every one is open to it. Checks modes only (not ACLs or supplementary groups): enough to catch a
 * project cloned under a private (0700) home, which is what stops PostgreSQL running as another user.
 */
export function unreachableFolder(
  path: string,
  user: { uid: number; gid: number },
): { path: string; mode: string } | null {
  const folders: string[] = [];
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    folders.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const folder of folders) {
    const { mode, uid, gid } = statSync(folder);
    const bit = uid === user.uid ? 0o100 : gid === user.gid ? 0o010 : 0o001;
    if ((mode & bit) === 0) return { path: folder, mode: (mode & 0o777).toString(8).padStart(4, '0') };
  }
  return null;
}
