import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ScratchDatabase {
  url: string;
  /** Where it came from, for the report. */
  source: string;
  stop(): Promise<void>;
}

const FALLBACK_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A fresh, empty database: test/harness/postgres.ts startPostgres() when it is there, else a temporary database
 * created (and dropped by stop()) on LTCPOOL_BENCH_PG_URL / DATABASE_URL / the local server.
 */
export async function scratchDatabase(): Promise<ScratchDatabase> {
  let harnessError: string | undefined;
  try {
    const harness = (await import('../test/harness/postgres.js')) as {
      startPostgres(): Promise<{ url: string; stop(): Promise<void> }>;
    };
    const db = await harness.startPostgres();
    return { url: db.url, source: 'test/harness/postgres.ts', stop: () => db.stop() };
  } catch (error) {
    harnessError = (error as Error).message.split('\n')[0];
  }
  const adminUrl = process.env.LTCPOOL_BENCH_PG_URL ?? process.env.DATABASE_URL ?? FALLBACK_URL;
  const name = `ltcpool_bench_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    source: `temporary database on ${new URL(adminUrl).host} (harness unavailable: ${harnessError})`,
    stop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
