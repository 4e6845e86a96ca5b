import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';

const root = join(__dirname, '..');

/** The files of the README's "Use it in your Nest app" block: each starts with a `// name.ts` line. */
function snippetFiles(): Map<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it in your Nest app'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const files = new Map<string, string>();
  const parts = block.split(/^\/\/ (\S+\.ts)\n/m);
  for (let i = 1; i < parts.length; i += 2) files.set(parts[i], parts[i + 1]);
  return files;
}

describe('the README snippet', () => {
  it('is a complete app: every file compiles under strict TypeScript, with all its imports', () => {
    const files = snippetFiles();
    expect([...files.keys()]).toEqual([
      'main.ts',
      'app.module.ts',
      'email.jobs.ts',
      'signup.controller.ts',
      'health.controller.ts',
    ]);
    // Inside the repository, so that its node_modules and the library's path alias resolve.
    mkdirSync(join(root, 'dist'), { recursive: true });
    const dir = mkdtempSync(join(root, 'dist/readme-snippet-'));
    try {
      for (const [name, text] of files) writeFileSync(join(dir, name), text);
      const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
      const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
      const program = ts.createProgram({
        rootNames: [...files.keys()].map((name) => join(dir, name)),
        options: { ...parsed.options, strict: true, noEmit: true, incremental: false, rootDir: root },
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .map(
          (d) =>
            `${d.file ? d.file.fileName.slice(dir.length + 1) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
        );
      expect(problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
