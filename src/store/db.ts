import pg from 'pg';
import pino from 'pino';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface CreatePoolOptions {
  /** postgres://user:password@host:port/db — never logged. */
  url: string;
  max?: number;
  connectionTimeoutMs?: number;
  /** Client-side query timeout; a hung server (no RST) must not hang share acknowledgements forever. */
  queryTimeoutMs?: number;
  applicationName?: string;
  logger?: pino.Logger;
}

/** The URL with any password replaced, safe for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|key|token/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    return '<unparseable database url>';
  }
}

export function createPool(options: CreatePoolOptions): pg.Pool {
  const logger = options.logger ?? pino({ level: 'silent' });
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    query_timeout: options.queryTimeoutMs ?? 30_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'ltcpool',
  });
  // Without a listener an error on an idle client (server restart) would crash the process.
  pool.on('error', (err) => {
    logger.warn({ err: { message: err.message, code: (err as { code?: string }).code }, db: redactDatabaseUrl(options.url) }, 'idle postgres client error');
  });
  // A client whose connection drops while checked out (between two queries of a transaction) emits
  // 'error'; without a listener that is an uncaught exception. Its next query fails and it is discarded.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      logger.debug({ err: { message: err.message, code: (err as { code?: string }).code } }, 'postgres client connection error');
    });
  });
  return pool;
}

/** Runs fn inside BEGIN/COMMIT on one client; rolls back and rethrows on error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // Same reason as in createPool, for pools created elsewhere.
  const onError = (): void => { broken = true; };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true; // connection is gone: do not return it to the pool
    }
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken ? true : undefined);
  }
}
