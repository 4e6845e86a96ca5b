import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { JobQueueModuleOptions } from '@app/job-queue';
import { waitFor } from './wait-for';

const root = join(__dirname, '../..');

/** `queue-child.ts` as a process of its own (TypeScript compiled by swc as it loads), and what it printed. */
export class QueueChild {
  readonly lines: string[] = [];
  exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    let partial = '';
    const capture = (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
    };
    child.stdout!.on('data', capture);
    child.stderr!.on('data', capture);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve((this.exitCode = code))));
  }

  static async start(options: JobQueueModuleOptions): Promise<QueueChild> {
    const script = join(root, 'test/support/queue-child.ts');
    const child = spawn(process.execPath, ['-r', join(root, 'test/support/swc-register.js'), script], {
      cwd: root,
      env: { ...process.env, QUEUE_CHILD_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new QueueChild(child);
    await waitFor('the child app started', () => started.saw('started') || started.exitCode !== undefined, 60_000, 50);
    if (!started.saw('started')) throw new Error(`The child app did not start:\n${started.lines.join('\n')}`);
    return started;
  }

  saw(prefix: string): boolean {
    return this.lines.some((line) => line.startsWith(prefix));
  }

  line(prefix: string): string | undefined {
    return this.lines.find((line) => line.startsWith(prefix));
  }

  /** Asks it to close its app (it never calls process.exit itself). */
  close(): void {
    this.child.kill('SIGTERM');
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }
}
