import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * One address in front of a PostgreSQL server that can be moved to another server, as a DNS name or a cloud
 * endpoint is moved at failover: the connections open through it break (the old host is gone for them), and new
 * ones reach the new target. Between `cut()` and `moveTo()` the address answers nothing: every new connection is
 * reset at once, as during the seconds a managed failover takes.
 */
export class MovableProxy {
  private target: { host: string; port: number } | null;
  private readonly open = new Set<Socket>();
  /** Connections accepted so far, per target they were sent to (`host:port`), and those refused while cut. */
  readonly accepted = new Map<string, number>();
  refused = 0;

  private readonly server: Server;

  private constructor(private readonly targetUrl: string) {
    this.target = hostPort(targetUrl);
    this.server = createServer((client) => this.accept(client));
  }

  /** Starts the address on a free port, pointing at the server of `targetUrl`. */
  static async start(targetUrl: string): Promise<MovableProxy> {
    const proxy = new MovableProxy(targetUrl);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The first target's URL pointed at this address: what the apps are given. */
  get url(): string {
    const url = new URL(this.targetUrl);
    url.hostname = '127.0.0.1';
    url.port = String((this.server.address() as { port: number }).port);
    return url.toString();
  }

  /** The address stops answering: open connections are dropped, new ones reset until `moveTo`. */
  cut(): number {
    this.target = null;
    return this.dropAll();
  }

  /** Points the address at the server of `targetUrl`; whatever is still open to the old target is dropped. */
  moveTo(targetUrl: string): number {
    const dropped = this.dropAll();
    this.target = hostPort(targetUrl);
    return dropped;
  }

  async stop(): Promise<void> {
    this.target = null;
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    const target = this.target;
    if (!target) {
      this.refused += 1;
      client.destroy();
      return;
    }
    const key = `${target.host}:${target.port}`;
    this.accepted.set(key, (this.accepted.get(key) ?? 0) + 1);
    const upstream = connect({ host: target.host, port: target.port });
    upstream.on('error', () => undefined);
    this.open.add(client);
    this.open.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      this.open.delete(client);
      this.open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
  }

  /** Destroys both ends of every open connection: the app sees its socket fail, the server its client vanish. */
  private dropAll(): number {
    const sockets = [...this.open];
    this.open.clear();
    for (const socket of sockets) socket.destroy();
    return sockets.length / 2;
  }
}

function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}
