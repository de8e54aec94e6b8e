import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner, type SubmittedShare } from '../../src/miner/miner.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import { startPostgres, startPrivatePostgres, type TestDatabase } from '../harness/postgres.js';
import { spawnPool, writeJson } from '../support/pool-process.js';
import { startTestPool, waitFor } from '../support/pool.js';

const minerAddresses = ['rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg', 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw'];
let node: RegtestNode;
let tmp: string;

beforeAll(async () => {
  node = await startRegtest({ mweb: false });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-durability-'));
}, 180_000);

afterAll(async () => {
  await node?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function shareId(instanceId: number, s: SubmittedShare): string {
  return `${instanceId}:${s.extranonce1}:${s.jobId}:${s.extranonce2}${s.ntime}${s.nonce}`;
}

async function countIds(db: pg.Pool, ids: string[]): Promise<Map<string, number>> {
  const res = await db.query<{ share_id: string; n: string }>('SELECT share_id, count(*) AS n FROM shares WHERE share_id = ANY($1::text[]) GROUP BY share_id', [ids]);
  return new Map(res.rows.map((r) => [r.share_id, Number(r.n)]));
}

async function expectEveryAcknowledgedShareOnce(db: pg.Pool, miners: TestMiner[]): Promise<number> {
  const acknowledged = miners.flatMap((m) => m.submitted.filter((s) => s.accepted)).map((s) => shareId(0, s));
  expect(new Set(acknowledged).size).toBe(acknowledged.length);
  const counts = await countIds(db, acknowledged);
  const missing = acknowledged.filter((id) => counts.get(id) !== 1);
  expect(missing, `acknowledged shares missing or doubled (${missing.length} of ${acknowledged.length})`).toEqual([]);
  return acknowledged.length;
}

describe('durable accounting', () => {
  it('kill -9 of the pool at random moments loses no acknowledged share and doubles none', async () => {
    const database = await startPostgres();
    const db = createPool({ url: database.url, max: 2 });
    try {
      await migrate(db);
      const stratumPort = await freePort();
      const configFile = writeJson(path.join(tmp, 'crash.json'), {
        network: 'regtest',
        pool: { address: await node.newAddress('bech32') },
        node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250 },
        stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001 }], vardiff: { enabled: false }, staleGraceMs: 5000 },
        database: { url: database.url, spoolDir: path.join(tmp, 'spool-crash') },
        http: { enabled: false },
        log: { level: 'info' },
      });
      const miners = minerAddresses.map(
        (address, i) => new TestMiner({ host: '127.0.0.1', port: stratumPort, username: `${address}.crash${i}`, hashrate: 8, autoReconnect: true }),
      );
      let pool = await spawnPool(configFile, stratumPort);
      const accepted = () => miners.reduce((n, m) => n + m.accepted, 0);
      const withPoolLog = (error: unknown): never => {
        throw new Error(`${(error as Error).message}; tail of the pool's log:\n${pool.output().slice(-3000)}`);
      };
      try {
        for (const miner of miners) {
          await miner.start();
          miner.startMining();
        }
        for (let round = 0; round < 4; round++) {
          const before = accepted();
          await waitFor('shares acknowledged this round', () => accepted() > before + 5, 30_000).catch(withPoolLog);
          await new Promise((r) => setTimeout(r, 200 + Math.random() * 1500));
          await pool.kill('SIGKILL');
          pool = await spawnPool(configFile, stratumPort);
          await waitFor('miners back', () => miners.every((m) => m.job !== undefined), 30_000).catch(withPoolLog);
        }
        const before = accepted();
        await waitFor('shares after the last restart', () => accepted() > before + 5, 30_000).catch(withPoolLog);
      } finally {
        for (const miner of miners) await miner.close();
        await pool.kill('SIGTERM');
      }
      const checked = await expectEveryAcknowledgedShareOnce(db, miners);
      expect(checked).toBeGreaterThan(20);
    } finally {
      await db.end();
      await database.stop();
    }
  }, 240_000);

  it('mining goes on through a PostgreSQL outage; every acknowledged share and block lands exactly once', async () => {
    const database: TestDatabase = await startPrivatePostgres();
    const db = createPool({ url: database.url, max: 2, connectionTimeoutMs: 1000 });
    await migrate(db);
    await db.end();
    const pool = await startTestPool(node, await node.newAddress('bech32'), {
      database: { url: database.url, spoolDir: path.join(tmp, 'spool-outage') },
      stratum: { staleGraceMs: 5000 },
    });
    const miners = minerAddresses.map(
      (address, i) => new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${address}.outage${i}`, hashrate: 8 }),
    );
    try {
      for (const miner of miners) {
        await miner.start();
        miner.startMining();
      }
      await waitFor('shares before the outage', () => miners.every((m) => m.accepted >= 3), 30_000);
      await database.stopServer!();
      const atOutage = miners.reduce((n, m) => n + m.accepted, 0);
      await waitFor('shares acknowledged during the outage', () => miners.reduce((n, m) => n + m.accepted, 0) >= atOutage + 20, 30_000);
      await database.startServer!();
      await waitFor('shares after the outage', () => miners.reduce((n, m) => n + m.accepted, 0) >= atOutage + 40, 30_000);
      for (const miner of miners) await miner.close();
      await pool.stop();
      const check = createPool({ url: database.url, max: 2 });
      try {
        await expectEveryAcknowledgedShareOnce(check, miners);
        const accepted = pool.blocks.outcomes.filter((o) => o.accepted);
        expect(accepted.length).toBeGreaterThan(0);
        const rows = await check.query<{ hash: string; height: number; status: string; finder: string }>(
          'SELECT hash, height, status, finder FROM blocks WHERE hash = ANY($1::text[])',
          [accepted.map((o) => o.hash)],
        );
        const byHash = new Map(rows.rows.map((r) => [r.hash, r]));
        for (const outcome of accepted) {
          const row = byHash.get(outcome.hash);
          expect(row, `block ${outcome.hash} in the blocks table`).toBeDefined();
          expect(row!.height).toBe(outcome.height);
          expect(row!.status).toBe('accepted');
          expect(minerAddresses).toContain(row!.finder);
          expect(await node.rpc<string>('getblockhash', [outcome.height])).toBe(outcome.hash);
        }
      } finally {
        await check.end();
      }
    } finally {
      for (const miner of miners) await miner.close();
      await pool.stop();
      await database.stop();
    }
  }, 240_000);
});
