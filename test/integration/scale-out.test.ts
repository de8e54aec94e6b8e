import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';

let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let tmp: string;
let payoutAddress: string;

beforeAll(async () => {
  [node, database] = await Promise.all([startRegtest({ mweb: false }), startPostgres()]);
  db = createPool({ url: database.url, max: 2 });
  await migrate(db);
  payoutAddress = await node.newAddress('bech32');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-scale-out-'));
}, 180_000);

afterAll(async () => {
  await db?.end();
  await database?.stop();
  await node?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Instance { pool: PoolProcess; stratumPort: number; httpPort: number }

async function instanceConfig(name: string, instanceId: number, leaseSeconds: number, extra: Record<string, unknown> = {}) {
  const [stratumPort, httpPort] = [await freePort(), await freePort()];
  const file = writeJson(path.join(tmp, `${name}.json`), {
    network: 'regtest',
    instanceId,
    instance: { leaseSeconds },
    pool: { address: payoutAddress },
    node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250 },
    stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001 }], vardiff: { enabled: false } },
    database: { url: database.url, spoolDir: path.join(tmp, `spool-${name}`) },
    http: { host: '127.0.0.1', port: httpPort, dashboard: false },
    alerts: { enabled: false },
    history: { enabled: false },
    log: { level: 'info' },
    ...extra,
  });
  return { file, stratumPort, httpPort };
}

async function start(name: string, instanceId: number, leaseSeconds: number): Promise<Instance> {
  const c = await instanceConfig(name, instanceId, leaseSeconds);
  return { pool: await spawnPool(c.file, c.stratumPort), stratumPort: c.stratumPort, httpPort: c.httpPort };
}

/** The start is refused: the error the process printed. */
async function refused(name: string, instanceId: number, leaseSeconds: number): Promise<string> {
  const error = await start(name, instanceId, leaseSeconds).then(
    async (i) => {
      await i.pool.kill('SIGKILL');
      return undefined;
    },
    (e: unknown) => (e as Error).message,
  );
  expect(error, `instance ${name} started with a held instanceId`).toBeDefined();
  return error!;
}

describe('instance identity lease', () => {
  it('refuses a second instance with a live id; after the first dies the id is free; a lease of another host is taken only once expired', async () => {
    const first = await start('first', 7, 2);
    let second: Instance | undefined;
    let third: Instance | undefined;
    try {
      const instances = await (await fetch(`http://127.0.0.1:${first.httpPort}/api/instances`)).json() as { instances: Array<Record<string, unknown>> };
      expect(instances.instances).toEqual([
        expect.objectContaining({ instanceId: 7, host: os.hostname(), pid: first.pool.child.pid, live: true, releasedAt: null, connections: 0 }),
      ]);

      const message = await refused('second-early', 7, 2);
      expect(message).toContain(`instanceId 7 is held by a live instance on host ${os.hostname()} (pid ${first.pool.child.pid}), last heartbeat`);
      expect(message).toMatch(/Stop that instance or give this one another instanceId/);

      // Heartbeats keep it live well past the lease.
      await new Promise((r) => setTimeout(r, 2500));
      expect(await refused('second-still', 7, 2)).toContain('instanceId 7 is held by a live instance');

      await first.pool.kill('SIGKILL');
      second = await start('second', 7, 2);
      const row = await db.query<{ pid: number; released_at: Date | null }>('SELECT pid, released_at FROM instance_leases WHERE instance_id = 7');
      expect(row.rows).toEqual([{ pid: second.pool.child.pid, released_at: null }]);

      // A lease held by a process on another host (its liveness is unknown here): refused while its heartbeat is
      // younger than its lease, taken once it is older. (Aged by hand: a spawn takes longer than a short lease.)
      await db.query(`INSERT INTO instance_leases (instance_id, token, host, pid, lease_seconds) VALUES (8, gen_random_uuid(), 'pool-b.example', 4242, 60)`);
      expect(await refused('third-early', 8, 2)).toContain('instanceId 8 is held by a live instance on host pool-b.example (pid 4242)');
      await db.query(`UPDATE instance_leases SET heartbeat_at = now() - interval '61 s' WHERE instance_id = 8`);
      third = await start('third', 8, 2);

      // A clean shutdown releases the lease at once; the row stays for /api/instances.
      await second.pool.kill('SIGTERM');
      const released = await db.query<{ released_at: Date | null }>('SELECT released_at FROM instance_leases WHERE instance_id = 7');
      expect(released.rows[0].released_at).not.toBeNull();
      const listed = await (await fetch(`http://127.0.0.1:${third.httpPort}/api/instances`)).json() as { instances: Array<Record<string, unknown>> };
      expect(listed.instances.map((i) => [i.instanceId, i.live])).toEqual([[7, false], [8, true]]);
    } finally {
      await first.pool.kill('SIGKILL');
      await second?.pool.kill('SIGKILL');
      await third?.pool.kill('SIGKILL');
    }
  }, 120_000);
});
