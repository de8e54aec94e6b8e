import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { killWhenParentDies, trackChild } from '../../src/devnet/exec.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { startPostgres, startPrivatePostgres, type TestDatabase } from '../harness/postgres.js';
import { waitFor } from './pool.js';

export interface PoolProcess {
  child: ChildProcess;
  output: () => string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

const CLI = path.resolve('src/cli.ts');

/** `ltcpool serve --config <file>` as a real child process; resolves once the Stratum port accepts connections. */
export async function spawnPool(configFile: string, stratumPort: number, env: NodeJS.ProcessEnv = {}): Promise<PoolProcess> {
  // One process (not the tsx wrapper, which forks another node): SIGKILL must hit the pool itself.
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--config', configFile], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never outlive the test run, even when a test fails before it kills the pool (or vitest itself is killed).
  trackChild(child);
  const dismissWatchdog = child.pid ? killWhenParentDies(child.pid) : () => undefined;
  child.once('exit', () => dismissWatchdog());
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d.toString()).slice(-2_000_000)));
  child.stderr!.on('data', (d) => (log = (log + d.toString()).slice(-2_000_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(
    `pool on port ${stratumPort}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`pool exited with ${child.exitCode}:\n${log}`);
      return log.includes('ltcpool is serving');
    },
    60_000,
    100,
  );
  return {
    child,
    output: () => log,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}

/** What the tests of spawned pool processes share: litecoind regtest (no MWEB), a migrated database, a temp dir. */
export interface ProcessTestbed {
  node: RegtestNode;
  database: TestDatabase;
  db: pg.Pool;
  tmp: string;
  stop(): Promise<void>;
}

/** `privateDatabase`: a PostgreSQL server of the test's own, which it may stop, start, pause and resume (outages). */
export async function startProcessTestbed(options: { tmpPrefix: string; dbConnections: number; privateDatabase?: boolean }): Promise<ProcessTestbed> {
  const [node, database] = await Promise.all([startRegtest({ mweb: false }), options.privateDatabase ? startPrivatePostgres() : startPostgres()]);
  const db = createPool({ url: database.url, max: options.dbConnections });
  await migrate(db);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), options.tmpPrefix));
  return {
    node,
    database,
    db,
    tmp,
    async stop() {
      await db.end();
      await database.stop();
      await node.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
