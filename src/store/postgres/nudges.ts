import pg from 'pg';
import type { JobNudges } from '../../core/store.js';

const CHANNEL = 'clipbot_job_nudges';
const RECONNECT_MS = 1000;

/**
 * Nudges between processes as PostgreSQL notifications: published with pg_notify on the pool, heard on one
 * connection of its own that LISTENs (a pooled connection would go back to the pool and stop hearing). When that
 * connection drops it is opened again; a nudge lost meanwhile costs only a delay, since runners also poll.
 */
export function pgNudges(
  pool: pg.Pool,
  url: string,
  onError: (error: Error) => void,
): JobNudges & { close(): Promise<void> } {
  const handlers = new Set<(jobId: string) => void>();
  let listener: Promise<pg.Client> | undefined;
  let closed = false;

  const listen = async (): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', ({ channel, payload }) => {
      if (channel === CHANNEL && payload) for (const handler of handlers) handler(payload);
    });
    client.on('error', onError);
    client.on('end', () => {
      if (closed) return;
      listener = undefined;
      setTimeout(() => {
        if (!closed && handlers.size > 0) (listener ??= listen()).catch(onError);
      }, RECONNECT_MS).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    return client;
  };

  return {
    async publish(jobId) {
      await pool.query('select pg_notify($1, $2)', [CHANNEL, jobId]);
    },
    async subscribe(handler) {
      handlers.add(handler);
      await (listener ??= listen());
      return async () => void handlers.delete(handler);
    },
    async close() {
      closed = true;
      const client = await listener?.catch(() => undefined);
      await client?.end().catch(() => {});
    },
  };
}
