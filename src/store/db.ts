import os from 'node:os';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import pino from 'pino';
import { redactUrl } from '../ops/logger.js';

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

/**
 * A URL without a user gets the operating system's user name, as libpq does (PGUSER, else the OS user): node-pg
 * would take $USER, which a service manager or container may not set, and then fail with no user at all.
 */
export function withDefaultUser(url: string, env: NodeJS.ProcessEnv = process.env, osUser: () => string = () => os.userInfo().username): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url; // not a URL (e.g. a libpq key=value string): node-pg reports it
  }
  if (parsed.username !== '' || parsed.searchParams.has('user') || env.PGUSER) return url;
  if (parsed.host === '') parsed.searchParams.set('user', osUser()); // socket URL (postgresql:///db?host=/run/postgresql)
  else parsed.username = encodeURIComponent(osUser());
  return parsed.toString();
}

/** The URL without its password: what must stay the same for a password rotation. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** Per pool: the password new connections use (rotated by setPoolPassword) and the rest of the URL. */
const poolCredentials = new WeakMap<pg.Pool, { password: string; rest: string }>();

/**
 * A URL with a password: connections read it from a holder when they open, so setPoolPassword can rotate it
 * without closing the pool (open connections stay, PostgreSQL does not drop them on ALTER ROLE ... PASSWORD).
 */
function connectionConfig(url: string): { config: pg.PoolConfig; holder?: { password: string; rest: string } } {
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    parsed = parseConnectionString(url);
  } catch {
    return { config: { connectionString: url } };
  }
  if (!parsed.password) return { config: { connectionString: url } };
  const { password, ...rest } = parsed;
  const holder = { password, rest: withoutPassword(url) };
  return { config: { ...(rest as pg.PoolConfig), password: () => holder.password }, holder };
}

export type PasswordRotation = 'rotated' | 'unchanged' | 'restart-needed';

/**
 * Password rotation: connections opened from now on use the password in `url`. Anything else in the URL
 * (user, host, database, options) changed, or a pool created without a password, needs a restart.
 */
export function setPoolPassword(pool: pg.Pool, url: string): PasswordRotation {
  url = withDefaultUser(url);
  const holder = poolCredentials.get(pool);
  if (!holder) return withoutPassword(url) === url ? 'unchanged' : 'restart-needed';
  if (withoutPassword(url) !== holder.rest) return 'restart-needed';
  let password: string | undefined;
  try {
    password = parseConnectionString(url).password ?? undefined;
  } catch {
    return 'restart-needed';
  }
  if (!password) return 'restart-needed';
  if (password === holder.password) return 'unchanged';
  holder.password = password;
  return 'rotated';
}

export function createPool(options: CreatePoolOptions): pg.Pool {
  const logger = options.logger ?? pino({ level: 'silent' });
  const { config, holder } = connectionConfig(withDefaultUser(options.url));
  const pool = new pg.Pool({
    ...config,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    query_timeout: options.queryTimeoutMs ?? 30_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'ltcpool',
  });
  if (holder) poolCredentials.set(pool, holder);
  // Without a listener an error on an idle client (server restart) would crash the process.
  pool.on('error', (err) => {
    logger.warn({ err: { message: err.message, code: (err as { code?: string }).code }, db: redactUrl(options.url) }, 'idle postgres client error');
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

/**
 * An error from connecting to or asking PostgreSQL, said so that the operator knows what failed and what to try;
 * undefined when `error` is not one of those.
 */
export function describeDatabaseError(error: unknown, url?: string): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const e = error as Error & { code?: string; address?: string; port?: number; hostname?: string; user?: string };
  let where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : '';
  let user = '';
  let database = '';
  if (url) {
    try {
      const parsed = new URL(withDefaultUser(url));
      where ||= `${parsed.hostname || parsed.searchParams.get('host') || 'localhost'}:${parsed.port || 5432}`;
      user = decodeURIComponent(parsed.username || parsed.searchParams.get('user') || '');
      database = decodeURIComponent(parsed.pathname.slice(1));
    } catch {
      // not a URL
    }
  }
  switch (e.code) {
    case 'ECONNREFUSED':
      return `ECONNREFUSED ${where} — is PostgreSQL running? (database.url / DATABASE_URL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${e.code} ${e.hostname ?? where}: the database host name does not resolve (database.url / DATABASE_URL)`;
    case 'ETIMEDOUT':
      return `ETIMEDOUT ${where}: no answer from PostgreSQL (firewall? wrong host?)`;
    case '28P01':
      return `PostgreSQL at ${where} refused the password for user "${user}" (28P01)`;
    case '28000':
      return `PostgreSQL at ${where} refused user "${user}" (28000: ${e.message}; see pg_hba.conf)`;
    case '3D000':
      return `PostgreSQL at ${where} has no database "${database}" (3D000): create it (createdb ${database || '<name>'}), then run ltcpool migrate`;
    default:
      if (/Connection terminated due to connection timeout|timeout expired/i.test(e.message)) return `${where}: PostgreSQL did not answer in time (${e.message})`;
      return undefined;
  }
}
