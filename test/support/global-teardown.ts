export default async function globalTeardown(): Promise<void> {
  const server = (globalThis as { __jobQueueTestServer?: { stop(): Promise<void> } }).__jobQueueTestServer;
  await server?.stop();
}
