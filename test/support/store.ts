import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { ensureSharePartitions } from '../../src/store/partitions.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';

/** What the store tests share: a PostgreSQL of their own, migrated, with share partitions for a day. */
export interface StoreTestbed {
  database: TestDatabase;
  pool: pg.Pool;
  /** Empties `tables` (comma-separated, CASCADE) and makes a fresh spool dir; `remove` deletes the dir. */
  fresh(tables: string): Promise<{ spoolDir: string; remove: () => void }>;
  stop(): Promise<void>;
}

/** `partitionsFrom`: the day the share partitions start (default today). */
export async function startStoreTestbed(options: { partitionsFrom?: Date } = {}): Promise<StoreTestbed> {
  const database = await startPostgres();
  const pool = createPool({ url: database.url });
  await migrate(pool);
  await ensureSharePartitions(pool, 1, options.partitionsFrom);
  return {
    database,
    pool,
    async fresh(tables) {
      const spoolDir = mkdtempSync(path.join(tmpdir(), 'ltcpool-spool-'));
      await pool.query(`TRUNCATE ${tables} CASCADE`);
      return { spoolDir, remove: () => rmSync(spoolDir, { recursive: true, force: true }) };
    },
    async stop() {
      await pool.end();
      await database.stop();
    },
  };
}
