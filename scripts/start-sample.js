#!/usr/bin/env node
// `npm run start:sample`: builds the sample app when its bundle is missing or older than any source file, then
// runs it in this process (so signals reach it directly and its exit code is ours).
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const bundle = join(root, 'dist/apps/sample/main.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const sources = Math.max(newestMtime(join(root, 'apps/sample/src')), newestMtime(join(root, 'libs/job-queue/src')));
if (!existsSync(bundle) || statSync(bundle).mtimeMs < sources) {
  process.stdout.write('Building the sample app...\n');
  execFileSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build', 'sample'], {
    cwd: root,
    stdio: 'inherit',
  });
}
require(bundle);
