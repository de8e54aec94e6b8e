/**
 * Rotation without downtime, on a real litecoind (-rpcauth + -rpcwhitelist) and a private PostgreSQL with
 * password (scram-sha-256) authentication: the pool's RPC password is changed in litecoind (restarted with the
 * new rpcauth) and the database password with ALTER ROLE; the config file gets the new ones, SIGHUP, and mining
 * carries on: no miner is disconnected, blocks are found and shares recorded with the new credentials.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POOL_RPC_METHODS } from '../../src/chain/wallet-probe.js';
import { TestMiner } from '../../src/miner/miner.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { makeRpc, startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import { startPrivatePostgres, type TestDatabase } from '../harness/postgres.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';
import { waitFor } from '../support/pool.js';
import { rpcauth } from '../support/rpcauth.js';

const POOL_USER = 'ltcpool-serve';
const ROLE = 'ltcpool_rotating';
const rpcPass = [randomBytes(12).toString('hex'), randomBytes(12).toString('hex')];
const dbPass = [randomBytes(12).toString('hex'), randomBytes(12).toString('hex')];

const litecoindArgs = (password: string) => [
  `-rpcauth=${rpcauth(POOL_USER, password)}`,
  `-rpcwhitelist=${POOL_USER}:${POOL_RPC_METHODS.join(',')}`,
  '-rpcwhitelistdefault=0',
];

let node: RegtestNode;
let database: TestDatabase;
let admin: pg.Pool;
let dir: string;
let dbName: string;
let dbPort: number;
let pool: PoolProcess | undefined;
const miners: TestMiner[] = [];

const roleUrl = (password: string) => `postgres://${ROLE}:${password}@127.0.0.1:${dbPort}/${dbName}`;

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  [node, database] = await Promise.all([startRegtest({ extraArgs: litecoindArgs(rpcPass[0]) }), startPrivatePostgres()]);
  const url = new URL(database.url);
  dbName = url.pathname.slice(1);
  dbPort = Number(url.port);
  admin = createPool({ url: database.url, max: 2 });
  await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${dbPass[0]}'`);
  await admin.query(`ALTER DATABASE ${dbName} OWNER TO ${ROLE}`);
  await admin.query(`ALTER SCHEMA public OWNER TO ${ROLE}`);
  // This role must give its password over TCP (the private server trusts everyone else).
  const hbaFile = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0].hba_file;
  fs.writeFileSync(hbaFile, `host all ${ROLE} 127.0.0.1/32 scram-sha-256\n` + fs.readFileSync(hbaFile, 'utf8'));
  await admin.query('SELECT pg_reload_conf()');
  await waitFor('password authentication in force', async () => !(await canConnect(roleUrl('wrong'))), 10_000, 100);
  const owner = createPool({ url: roleUrl(dbPass[0]), max: 1 });
  await migrate(owner);
  await owner.end();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-rotation-'));
});

afterAll(async () => {
  await Promise.all(miners.map((m) => m.close()));
  await pool?.kill('SIGKILL');
  await admin?.end();
  await database?.stop();
  await node?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const acceptedBlocks = async (): Promise<number> =>
  Number((await admin.query<{ n: string }>(`SELECT count(*)::text AS n FROM blocks WHERE status = 'accepted'`)).rows[0].n);
const recordedShares = async (): Promise<number> =>
  Number((await admin.query<{ n: string }>('SELECT count(*)::text AS n FROM shares')).rows[0].n);

describe('credential rotation with SIGHUP', () => {
  it('RPC and database passwords change under a mining pool: no miner is dropped, mining and recording carry on', async () => {
    const stratumPort = await freePort();
    const configFile = path.join(dir, 'pool.json');
    const writeConfig = (rpcPassword: string, databasePassword: string) => writeJson(configFile, {
      network: 'regtest',
      pool: { address: 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg' },
      node: { rpcUrl: `http://${POOL_USER}:${rpcPassword}@127.0.0.1:${node.rpcPort}`, pollIntervalMs: 250, refreshSeconds: 2 },
      stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001 }], vardiff: { enabled: false } },
      database: { url: roleUrl(databasePassword), spoolDir: path.join(dir, 'spool') },
      http: { enabled: false },
      log: { level: 'info' },
    });
    writeConfig(rpcPass[0], dbPass[0]);
    pool = await spawnPool(configFile, stratumPort);
    let closes = 0;
    for (let i = 0; i < 2; i++) {
      const address = await node.newAddress();
      const miner = new TestMiner({ host: '127.0.0.1', port: stratumPort, username: `${address}.rig${i}`, password: 'd=0.00001', hashrate: 4 });
      miners.push(miner);
      miner.on('close', () => closes++);
      expect((await miner.start()).result).toBe(true);
      miner.startMining();
    }
    await waitFor('a first block', async () => (await acceptedBlocks()) >= 1, 60_000, 200);

    // 1. RPC: litecoind restarts knowing only the new password; the old one is refused from then on.
    await node.restart({ extraArgs: litecoindArgs(rpcPass[1]) });
    await expect(makeRpc(node.rpcPort, POOL_USER, rpcPass[0])('getblockcount')).rejects.toThrow(/HTTP 401/);
    expect(await makeRpc(node.rpcPort, POOL_USER, rpcPass[1])<number>('getblockcount')).toBeGreaterThan(100);
    const heightAtRotation = await node.rpc<number>('getblockcount');
    const blocksAtRotation = await acceptedBlocks();
    await waitFor('the pool to meet the new password (401)', () => /401 Unauthorized/.test(pool!.output()), 30_000, 100);
    writeConfig(rpcPass[1], dbPass[0]);
    pool.child.kill('SIGHUP');
    await waitFor('reload with the RPC password applied', () => /"applied":\["node\.rpcUrl"\]/.test(pool!.output()), 10_000, 50);
    await waitFor('a block found and accepted with the new RPC password', async () =>
      (await acceptedBlocks()) > blocksAtRotation && (await node.rpc<number>('getblockcount')) > heightAtRotation, 60_000, 200);

    // 2. Database: the password changes and the pool's sessions end; new sessions need the new password.
    await admin.query(`ALTER ROLE ${ROLE} PASSWORD '${dbPass[1]}'`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [ROLE]);
    expect(await canConnect(roleUrl(dbPass[0]))).toBe(false);
    const sharesBefore = await recordedShares();
    await waitFor('the pool to fail to reconnect with the old password', () => /password authentication failed/.test(pool!.output()), 30_000, 100);
    writeConfig(rpcPass[1], dbPass[1]);
    pool.child.kill('SIGHUP');
    await waitFor('reload with the database password applied', () => pool!.output().includes('"applied":["database.url (password)"]'), 10_000, 50);
    await waitFor('shares recorded again, over new sessions', async () => {
      const sessions = await admin.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1', [ROLE]);
      return (sessions.rowCount ?? 0) > 0 && (await recordedShares()) > sharesBefore + 4;
    }, 60_000, 200);

    expect(closes).toBe(0);
    for (const m of miners) expect(m.accepted).toBeGreaterThan(0);
    await pool.kill('SIGTERM');
    const output = pool.output();
    for (const secret of [...rpcPass, ...dbPass]) expect(output).not.toContain(secret);
  });
});
