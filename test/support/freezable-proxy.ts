import { createServer, connect, type Server, type Socket } from 'node:net';

/** One client connection through the proxy, and what its startup message said about it. */
interface Link {
  client: Socket;
  server: Socket;
  /** The startup message (and whatever came with it): holds `application_name`. */
  startup: string;
  /** Nothing is forwarded any more, and the app's FIN gets no answer: it reads as dropped without a word. */
  frozen: boolean;
  /** The app ended or dropped its side of the connection. */
  clientClosed: boolean;
}

/**
 * A TCP proxy in front of PostgreSQL that can make chosen connections go silent: nothing is forwarded any more in
 * either direction and nothing is closed, as when a NAT or a firewall forgets a connection or a host vanishes. The
 * app's socket stays open and the server never answers.
 */
export class FreezableProxy {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly links: Link[],
  ) {}

  /** Starts a proxy to the server of `targetUrl`; its `url` is `targetUrl` pointed at the proxy. */
  static async start(targetUrl: string): Promise<FreezableProxy> {
    const target = new URL(targetUrl);
    const links: Link[] = [];
    // Half-open allowed: a frozen connection must not answer the app's FIN with its own, as Node does by default.
    const server = createServer({ allowHalfOpen: true }, (client) => {
      const upstream = connect({ port: Number(target.port || 5432), host: target.hostname, allowHalfOpen: true });
      const link: Link = { client, server: upstream, startup: '', frozen: false, clientClosed: false };
      links.push(link);
      client.on('data', (chunk) => {
        if (link.startup.length < 4096) link.startup += chunk.toString('latin1');
        if (!link.frozen) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!link.frozen) client.write(chunk);
      });
      client.on('end', () => {
        link.clientClosed = true;
        if (!link.frozen) upstream.end();
      });
      upstream.on('end', () => {
        if (!link.frozen) client.end();
      });
      client.on('close', () => {
        link.clientClosed = true;
        if (!link.frozen) upstream.destroy();
      });
      upstream.on('close', () => {
        if (!link.frozen) client.destroy();
      });
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxied = new URL(targetUrl);
    proxied.hostname = '127.0.0.1';
    proxied.port = String((server.address() as { port: number }).port);
    return new FreezableProxy(server, proxied.toString(), links);
  }

  /** Connections whose startup names this `application_name` (or starts with it). */
  connections(applicationName: string): Array<{ frozen: boolean; clientClosed: boolean }> {
    return this.links.filter((l) => l.startup.includes(`application_name\0${applicationName}`));
  }

  /** Makes every open connection of `applicationName` silent; returns how many. */
  freeze(applicationName: string): number {
    const chosen = this.links.filter(
      (l) => !l.clientClosed && l.startup.includes(`application_name\0${applicationName}`),
    );
    for (const link of chosen) link.frozen = true;
    return chosen.length;
  }

  async stop(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.server.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
