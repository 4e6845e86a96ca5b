import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unreachableFolder } from './folder-access';

describe('unreachableFolder', () => {
  let base: string;
  /** A user that owns none of the folders and is in none of their groups. */
  const stranger = { uid: 54_321, gid: 54_321 };

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'folder-access-'));
    mkdirSync(join(base, 'home/project/node_modules'), { recursive: true });
    chmodSync(base, 0o755);
  });

  afterEach(() => {
    chmodSync(join(base, 'home'), 0o755);
    rmSync(base, { recursive: true, force: true });
  });

  it('names the first folder closed to the user, with its mode', () => {
    chmodSync(join(base, 'home'), 0o700);
    expect(unreachableFolder(join(base, 'home/project/node_modules/initdb'), stranger)).toEqual({
      path: join(base, 'home'),
      mode: '0700',
    });
  });

  it('is null when every folder above the path is open to others', () => {
    chmodSync(join(base, 'home'), 0o711);
    expect(unreachableFolder(join(base, 'home/project/node_modules/initdb'), stranger)).toBeNull();
  });

  it("uses the owner's and the group's bits for the folder's owner and group", () => {
    chmodSync(join(base, 'home'), 0o750);
    const { uid, gid } = statSync(join(base, 'home'));
    expect(unreachableFolder(join(base, 'home/project/x'), { uid, gid: stranger.gid })).toBeNull();
    expect(unreachableFolder(join(base, 'home/project/x'), { uid: stranger.uid, gid })).toBeNull();
    expect(unreachableFolder(join(base, 'home/project/x'), stranger)).toEqual({
      path: join(base, 'home'),
      mode: '0750',
    });
  });
});
