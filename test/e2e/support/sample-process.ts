import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../../support/test-database-resolver';
import { SAMPLE_BUNDLE, ensureSampleBuilt } from './sample-build';

export type SampleEnv = Record<string, string | number | undefined>;

/** Queue settings that make recovery take seconds, not minutes: a 2 s lease, rescued within half a second. */
export const FAST_RECOVERY_ENV: SampleEnv = {
  JOB_QUEUE_CONCURRENCY: 10,
  JOB_QUEUE_LEASE_MS: 2000,
  JOB_QUEUE_POLL_INTERVAL_MS: 200,
  JOB_QUEUE_RECOVERY_INTERVAL_MS: 500,
  JOB_QUEUE_RETRY_DELAY_MS: 100,
  JOB_QUEUE_SHUTDOWN_TIMEOUT_MS: 2000,
};

const MAX_LINES = 3000;
/** Every child still running, so that a crashing test run never leaves one behind. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface HttpResult<T = any> {
  status: number;
  body: T;
  text: string;
}

/** One `node dist/apps/sample/main.js` child: its port, its captured output, its exit. */
export class SampleProcess {
  private readonly lines: string[] = [];
  private dropped = 0;
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  readonly startedAt = Date.now();

  constructor(
    readonly id: string,
    readonly port: number,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    const capture = (stream: 'out' | 'err') => {
      let partial = '';
      return (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.push(`[${id} ${stream}] ${line}`);
        if (process.env.SAMPLE_E2E_LOGS) for (const line of parts) process.stdout.write(`[${id}] ${line}\n`);
      };
    };
    child.stdout?.on('data', capture('out'));
    child.stderr?.on('data', capture('err'));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        this.push(`[${id}] exited: code ${code}, signal ${signal}`);
        resolve(this.exit);
      });
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The captured output (the last MAX_LINES lines). */
  output(): string {
    const head = this.dropped > 0 ? `[${this.id}] … ${this.dropped} earlier lines dropped\n` : '';
    return head + this.lines.join('\n');
  }

  /** Lines of output matching `pattern`. */
  grep(pattern: RegExp): string[] {
    return this.lines.filter((l) => pattern.test(l));
  }

  async request<T = any>(method: string, path: string, body?: unknown, timeoutMs = 5_000): Promise<HttpResult<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: false,
          timeout: timeoutMs,
          headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (the metrics text)
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`${method} ${path} on ${this.id}: no answer within ${timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Ready when GET /queue/stats answers 200 (the app is listening and its database answers). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    for (;;) {
      if (!this.alive)
        throw new Error(`${this.id} exited before it was ready (${JSON.stringify(this.exit)})\n${this.output()}`);
      try {
        const res = await this.request('GET', '/queue/stats', undefined, 2_000);
        if (res.status === 200) return;
        last = `${res.status} ${res.text}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`${this.id} not ready after ${timeoutMs} ms (last: ${last})\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** The sum of a Prometheus metric's samples on GET /metrics whose labels include `labels`. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const { status, text } = await this.request('GET', '/metrics');
    if (status !== 200) throw new Error(`GET /metrics on ${this.id}: ${status}`);
    return sumMetric(text, name, labels);
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > MAX_LINES) {
      this.lines.shift();
      this.dropped += 1;
    }
  }
}

export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Instances of the sample app on one database, each on a free port with its own INSTANCE_ID. Keeps every process it
 * ever started, so that a failing test can print all their output; `stopAll` SIGKILLs whatever still runs.
 */
export class SampleFleet {
  readonly all: SampleProcess[] = [];
  private readonly current = new Map<string, SampleProcess>();
  private readonly envOf = new Map<string, SampleEnv>();

  constructor(
    readonly databaseUrl: string,
    readonly env: SampleEnv = FAST_RECOVERY_ENV,
  ) {
    ensureSampleBuilt();
  }

  /**
   * Spawns `id` (again, if it ran before) without waiting for it; `bundle` runs another build of the sample app (a
   * previous release's, for the upgrade tests).
   */
  async spawn(id: string, env: SampleEnv = this.envOf.get(id) ?? {}, bundle = SAMPLE_BUNDLE): Promise<SampleProcess> {
    this.envOf.set(id, env);
    const port = await freePort();
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...this.env, ...env })) if (v !== undefined) merged[k] = String(v);
    const child = spawn(process.execPath, [bundle], {
      cwd: join(SAMPLE_BUNDLE, '../../../..'),
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        NO_COLOR: '1',
        DATABASE_URL: this.databaseUrl,
        ...merged,
        PORT: String(port),
        INSTANCE_ID: id,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new SampleProcess(id, port, child);
    this.all.push(proc);
    this.current.set(id, proc);
    return proc;
  }

  /** Spawns `id` and waits until it answers. */
  async start(id: string, env?: SampleEnv, bundle?: string): Promise<SampleProcess> {
    const proc = await this.spawn(id, env, bundle);
    await proc.waitReady();
    return proc;
  }

  async startMany(ids: string[], env?: SampleEnv): Promise<SampleProcess[]> {
    return Promise.all(ids.map((id) => this.start(id, env)));
  }

  get(id: string): SampleProcess {
    const proc = this.current.get(id);
    if (!proc) throw new Error(`no instance ${id}`);
    return proc;
  }

  /** The latest process of every id. */
  latest(): SampleProcess[] {
    return [...this.current.values()];
  }

  alive(): SampleProcess[] {
    return this.latest().filter((p) => p.alive);
  }

  /** Any live instance, for HTTP calls. */
  any(): SampleProcess {
    const proc = this.alive()[0];
    if (!proc) throw new Error('no live instance');
    return proc;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((p) => p.kill()));
  }

  output(): string {
    return this.all.map((p) => p.output()).join('\n');
  }
}

/** Runs a test body; on failure prints the output of every process of the fleet before rethrowing. */
export function withFleetOutput(fleet: () => SampleFleet | undefined, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (error) {
      const output = fleet()?.output();
      if (output) process.stderr.write(`\n----- sample app output -----\n${output}\n----- end of output -----\n`);
      throw error;
    }
  };
}

/** Enqueues through POST /jobs/batch in chunks; returns the ids in order. */
export async function enqueueBatch(proc: SampleProcess, jobs: unknown[], chunk = 500): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < jobs.length; i += chunk) {
    const res = await proc.request<{ ids: string[] }>(
      'POST',
      '/jobs/batch',
      { jobs: jobs.slice(i, i + chunk) },
      15_000,
    );
    if (res.status !== 201) throw new Error(`POST /jobs/batch: ${res.status} ${res.text}`);
    ids.push(...res.body.ids);
  }
  return ids;
}
