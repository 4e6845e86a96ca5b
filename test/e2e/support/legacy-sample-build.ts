import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOnce } from './sample-build';

const root = join(__dirname, '../../..');

/**
 * The sample app as an earlier commit of this repository built it: a worker of a previous release, for the upgrade
 * tests. The commit's sources (`git archive`, so the repository needs its history: a full clone) are built in a
 * temporary folder against this checkout's node_modules, and the bundle is kept in dist/legacy/<commit>/main.js,
 * where it resolves the same node_modules. A commit never changes, so the bundle is built once per checkout.
 */
export function ensureLegacySampleBuilt(commit: string): string {
  const full = git(['rev-parse', '--verify', `${commit}^{commit}`]).trim();
  const bundle = join(root, 'dist/legacy', full, 'main.js');
  if (existsSync(bundle)) return bundle;
  buildOnce(
    join(root, 'dist/.legacy-build.lock'),
    () => existsSync(bundle),
    () => {
      process.stdout.write(`e2e: building the sample app of ${commit} (git archive, nest build sample)...\n`);
      const work = mkdtempSync(join(tmpdir(), `legacy-sample-${commit}-`));
      try {
        const archive = join(work, 'source.tar');
        git(['archive', '--output', archive, full, 'libs', 'apps', 'tsconfig.json', 'nest-cli.json', 'package.json']);
        execFileSync('tar', ['-xf', archive, '-C', work]);
        symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir');
        try {
          execFileSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build', 'sample'], {
            cwd: work,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        } catch (error) {
          const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
          throw new Error(
            `Building the sample app of ${commit} failed:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`,
            {
              cause: error,
            },
          );
        }
        mkdirSync(join(bundle, '..'), { recursive: true });
        // Copied under a temporary name, then renamed: a bundle that exists is whole.
        copyFileSync(join(work, 'dist/apps/sample/main.js'), `${bundle}.partial`);
        renameSync(`${bundle}.partial`, bundle);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
  return bundle;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (error) {
    const { stderr } = error as { stderr?: Buffer };
    throw new Error(
      `git ${args.join(' ')} failed (the upgrade tests need the repository's history: a full clone): ${stderr?.toString() ?? ''}`,
      {
        cause: error,
      },
    );
  }
}
