import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import type { TestDatabase } from '../harness/postgres.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { waitFor } from '../support/pool.js';

/**
 * A replacement started before the old process has exited (blue/green, or a supervisor that does not wait):
 * it must wait for the ports the old one still holds, never exit half-up, and the miners must be back.
 */

const minerAddresses = ['rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg', 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw'];
let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let tmp: string;

let testbed: Testbed | undefined;

beforeAll(async () => {
  testbed = await startTestbed({ tmpPrefix: 'ltcpool-overlap-', dbConnections: 2 });
  ({ node, database, db, tmp } = testbed);
}, 180_000);

afterAll(() => testbed?.stop());

describe('overlapping restarts', () => {
  // Each round starts a process (seconds on a loaded CI machine): 3 in the suite, LTCPOOL_OVERLAP_ROUNDS=10 for the full check.
  const rounds = Number(process.env.LTCPOOL_OVERLAP_ROUNDS ?? 3);
  it(`${rounds} replacements started before the old process exits: none exits, miners are back each time`, async () => {
    const [stratumPort, httpPort] = [await freePort(), await freePort()];
    const configFile = writeJson(path.join(tmp, 'overlap.json'), {
      network: 'regtest',
      pool: { address: await node.newAddress('bech32') },
      node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250 },
      stratum: {
        host: '127.0.0.1',
        ports: [{ port: stratumPort, difficulty: 0.00001 }],
        vardiff: { enabled: false },
        shutdown: { waveIntervalMs: 200, graceMs: 800 },
      },
      database: { url: database.url, spoolDir: path.join(tmp, 'spool') },
      http: { host: '127.0.0.1', port: httpPort },
      log: { level: 'info' },
    });
    let pool: PoolProcess = await spawnPool(configFile, stratumPort);
    const miners = minerAddresses.map(
      (address, i) => new TestMiner({ host: '127.0.0.1', port: stratumPort, username: `${address}.o${i}`, hashrate: 4, autoReconnect: true }),
    );
    try {
      for (const miner of miners) {
        await miner.start();
        miner.startMining();
      }
      const backAfter: number[] = [];
      for (let round = 0; round < rounds; round++) {
        await waitFor('shares before the restart', () => miners.every((m) => m.accepted > 0), 30_000);
        const before = miners.map((m) => m.accepted);
        const next = spawnPool(configFile, stratumPort); // starts while the old one still holds both ports
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
        // A slow database (blocks table locked) makes the old process take seconds to flush after its miners left.
        const locker = await db.connect();
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE');
        const oldExit = pool.kill('SIGTERM');
        try {
          pool = await next.catch((error: Error) => {
            throw new Error(`round ${round}: the replacement exited: ${error.message.slice(-3000)}`);
          });
        } finally {
          await locker.query('ROLLBACK').catch(() => undefined);
          locker.release();
        }
        const servingAt = Date.now();
        await oldExit;
        await waitFor(`round ${round}: miners back`, () => miners.every((m, i) => m.accepted > before[i]), 20_000).catch((error: Error) => {
          throw new Error(`${error.message}; replacement log:\n${pool.output().slice(-2000)}`);
        });
        backAfter.push(Date.now() - servingAt);
        expect(pool.child.exitCode).toBeNull();
      }
      console.log(`${rounds} overlapping restarts: miners had an accepted share again ${Math.min(...backAfter)}-${Math.max(...backAfter)} ms after the replacement was serving`);
    } finally {
      for (const miner of miners) await miner.close();
      await pool.kill('SIGTERM');
    }
  }, 240_000);
});
