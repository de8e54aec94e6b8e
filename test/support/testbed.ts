import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { startPostgres, startPrivatePostgres, type TestDatabase } from '../harness/postgres.js';

/** What every pool test stands on: litecoind regtest (no MWEB), a migrated database, a temp dir. */
export interface Testbed {
  node: RegtestNode;
  database: TestDatabase;
  db: pg.Pool;
  tmp: string;
  /** Ends `db`, stops the database and the node, removes `tmp`. */
  stop(): Promise<void>;
}

/**
 * Started together; whatever did start is stopped again when a later step fails. `privateDatabase`: a PostgreSQL
 * server of the test's own, which it may stop, start, pause and resume (outages).
 */
export async function startTestbed(options: { tmpPrefix: string; dbConnections: number; privateDatabase?: boolean }): Promise<Testbed> {
  const started = await Promise.allSettled([startRegtest({ mweb: false }), options.privateDatabase ? startPrivatePostgres() : startPostgres()]);
  const [nodeResult, databaseResult] = started;
  let db: pg.Pool | undefined;
  const stopStarted = async () => {
    await db?.end();
    if (databaseResult.status === 'fulfilled') await databaseResult.value.stop();
    if (nodeResult.status === 'fulfilled') await nodeResult.value.stop();
  };
  try {
    if (nodeResult.status === 'rejected') throw nodeResult.reason;
    if (databaseResult.status === 'rejected') throw databaseResult.reason;
    db = createPool({ url: databaseResult.value.url, max: options.dbConnections });
    await migrate(db);
  } catch (error) {
    await stopStarted().catch(() => undefined);
    throw error;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
  return {
    node: nodeResult.value,
    database: databaseResult.value,
    db,
    tmp,
    async stop() {
      await stopStarted();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
