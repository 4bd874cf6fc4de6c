/**
 * The last resort of a shutdown while Redis is unreachable. BullMQ's close()
 * waits for a connection that its client keeps retrying forever, so it never
 * returns; ending the clients (no more reconnects) lets it finish. This
 * reaches into BullMQ 6's RedisQueueBackend (backend.connection and
 * backend.blockingConnection, each holding its client in `_client`): it is
 * best effort, and does nothing when the shapes differ.
 */
interface Disconnectable {
  disconnect(): unknown;
}

function clientOf(connection: unknown): Disconnectable | undefined {
  if (typeof connection !== 'object' || connection === null) return undefined;
  const client: unknown = (connection as { _client?: unknown })._client;
  if (typeof client !== 'object' || client === null) return undefined;
  return typeof (client as Partial<Disconnectable>).disconnect === 'function' ? (client as Disconnectable) : undefined;
}

/** End the Redis clients of a BullMQ Worker or QueueEvents (`owner.backend`). */
export function forceDisconnect(owner: { backend?: unknown } | undefined): void {
  const backend = owner?.backend;
  if (typeof backend !== 'object' || backend === null) return;
  const { connection, blockingConnection } = backend as { connection?: unknown; blockingConnection?: unknown };
  for (const c of [connection, blockingConnection]) {
    try {
      const result = clientOf(c)?.disconnect();
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // already ended
    }
  }
}
