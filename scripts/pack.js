#!/usr/bin/env node
// `npm run pack`: builds the library with tsc into a staging folder (its compiled files, its package.json, the
// README, CHANGELOG and LICENSE: nothing of the sample app or the tests) and writes exactly one tarball into
// dist/package/. Prints the tarball's path on its last line.
const { execFileSync } = require('node:child_process');
const { cpSync, mkdirSync, readdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const stage = join(root, 'dist/package-build');
const out = join(root, 'dist/package');

rmSync(stage, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

execFileSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', join(root, 'libs/job-queue/tsconfig.lib.json')],
  {
    stdio: 'inherit',
  },
);
cpSync(join(root, 'libs/job-queue/package.json'), join(stage, 'package.json'));
for (const file of ['README.md', 'CHANGELOG.md', 'LICENSE']) cpSync(join(root, file), join(stage, file));

// --ignore-scripts: the staged package has none, and the repo's own must not run for it.
const [packed] = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {
    cwd: stage,
    encoding: 'utf8',
  }),
);
const tarballs = readdirSync(out).filter((f) => f.endsWith('.tgz'));
if (tarballs.length !== 1)
  throw new Error(`expected one tarball in dist/package, found ${tarballs.join(', ') || 'none'}`);
console.log(
  `${packed.name}@${packed.version}: ${packed.entryCount} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`,
);
console.log(join(out, tarballs[0]));
