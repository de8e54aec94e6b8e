/**
 * Least privilege on a real litecoind -regtest started with `-rpcauth` for two users and `-rpcwhitelist` for the
 * pool's: the pool mines with the restricted user, which litecoind itself refuses sendmany, getwalletinfo and
 * dumpprivkey; payouts pay with the wallet user (and cannot with the pool's); `serve` warns loudly when it is
 * given the wallet user. No log line carries either password.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POOL_RPC_METHODS } from '../../src/chain/wallet-probe.js';
import { TestMiner } from '../../src/miner/miner.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { run } from '../harness/exec.js';
import { makeRpc, startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';
import { waitFor } from '../support/pool.js';
import { rpcauth } from '../support/rpcauth.js';

const POOL_USER = 'ltcpool-serve';
const WALLET_USER = 'ltcpool-wallet';
const poolPassword = randomBytes(16).toString('hex');
const walletPassword = randomBytes(16).toString('hex');

let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let dir: string;
let poolUrl: string;
let walletUrl: string;
const processes: PoolProcess[] = [];

beforeAll(async () => {
  node = await startRegtest({
    extraArgs: [
      `-rpcauth=${rpcauth(POOL_USER, poolPassword)}`,
      `-rpcauth=${rpcauth(WALLET_USER, walletPassword)}`,
      `-rpcwhitelist=${POOL_USER}:${POOL_RPC_METHODS.join(',')}`,
      // Without this every user without a whitelist (the harness's own) would be allowed nothing.
      '-rpcwhitelistdefault=0',
    ],
  });
  database = await startPostgres();
  db = createPool({ url: database.url, max: 2 });
  await migrate(db);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-least-privilege-'));
  poolUrl = `http://${POOL_USER}:${poolPassword}@127.0.0.1:${node.rpcPort}`;
  walletUrl = `http://${WALLET_USER}:${walletPassword}@127.0.0.1:${node.rpcPort}`;
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  await db?.end();
  await database?.stop();
  await node?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(name: string, rpcUrl: string, withDatabase: boolean): Promise<{ pool: PoolProcess; stratumPort: number }> {
  const stratumPort = await freePort();
  const config = writeJson(path.join(dir, `${name}.json`), {
    network: 'regtest',
    pool: { address: await node.newAddress() },
    node: { rpcUrl, pollIntervalMs: 250, refreshSeconds: 2 },
    stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001 }], vardiff: { enabled: false } },
    database: withDatabase ? { url: database.url, spoolDir: path.join(dir, `${name}-spool`) } : {},
    http: { enabled: false },
    log: { level: 'info' },
  });
  const pool = await spawnPool(config, stratumPort);
  processes.push(pool);
  return { pool, stratumPort };
}

function expectNoSecrets(text: string): void {
  expect(text).not.toContain(poolPassword);
  expect(text).not.toContain(walletPassword);
  expect(text).not.toContain(database.url);
}

describe('two RPC identities on a real litecoind', () => {
  it('litecoind itself refuses the pool user sendmany, getwalletinfo and dumpprivkey; the wallet user may', async () => {
    const asPool = makeRpc(node.rpcPort, POOL_USER, poolPassword);
    const address = await node.newAddress();
    for (const [method, params] of [['sendmany', ['', { [address]: 1 }]], ['getwalletinfo', []], ['dumpprivkey', [address]]] as const) {
      await expect(asPool(method, [...params]), method).rejects.toThrow(/HTTP 403/);
    }
    // Chain calls are allowed: the same user is not simply locked out.
    expect(await asPool<number>('getblockcount')).toBeGreaterThan(100);
    const asWallet = makeRpc(node.rpcPort, WALLET_USER, walletPassword);
    expect((await asWallet<{ walletname: string }>('getwalletinfo')).walletname).toBe(node.walletName);
    // A wrong password is refused outright (401): the rpcauth lines are what litecoind checks.
    await expect(makeRpc(node.rpcPort, POOL_USER, 'not-the-password')('getblockcount')).rejects.toThrow(/HTTP 401/);
  });

  it('the pool mines blocks with the restricted user, states that it cannot spend, and logs no secret', async () => {
    const { pool, stratumPort } = await serve('restricted', poolUrl, true);
    expect(pool.output()).toContain('cannot call wallet methods');
    expect(pool.output()).not.toContain('SECURITY WARNING');
    const startHeight = await node.rpc<number>('getblockcount');
    const addresses = [await node.newAddress(), await node.newAddress()];
    const miners = addresses.map((a, i) => new TestMiner({ host: '127.0.0.1', port: stratumPort, username: `${a}.rig${i}`, password: 'd=0.00001', hashrate: 2 + 2 * i }));
    try {
      for (const m of miners) expect((await m.start()).result).toBe(true);
      for (const m of miners) m.startMining();
      await waitFor('2 blocks found by the pool', async () => {
        const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM blocks WHERE status = 'accepted'`);
        return Number(rows[0].n) >= 2 && miners.every((m) => m.accepted > 0);
      }, 60_000, 200);
    } finally {
      await Promise.all(miners.map((m) => m.close()));
    }
    expect(await node.rpc<number>('getblockcount')).toBeGreaterThanOrEqual(startHeight + 2);
    await pool.kill('SIGTERM');
    expectNoSecrets(pool.output());
  });

  it('payouts pay through the wallet user; with only the pool user they cannot', async () => {
    await node.mine(101, 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg');
    const config = writeJson(path.join(dir, 'payouts.json'), {
      network: 'regtest',
      pool: { address: await node.newAddress() },
      node: { rpcUrl: poolUrl },
      database: { url: database.url },
      http: { enabled: false },
      log: { level: 'info' },
      payouts: { feePercent: 0, minimumPayout: '1000', maturity: 100, walletName: node.walletName },
    });
    const payouts = (env: NodeJS.ProcessEnv) =>
      run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'payouts', '--once', '--config', config], { env: { ...process.env, ...env }, timeoutMs: 60_000 });

    // No wallet URL: the wallet calls go out as the pool user and litecoind refuses them; nothing is paid.
    const refused = await payouts({});
    expect(refused.code, refused.stdout + refused.stderr).not.toBe(0);
    expect(refused.stdout + refused.stderr).toMatch(/403 Forbidden/);
    expectNoSecrets(refused.stdout + refused.stderr);
    const sentBefore = await db.query(`SELECT 1 FROM payments WHERE status = 'sent'`);
    expect(sentBefore.rowCount).toBe(0);

    const paid = await payouts({ LTCPOOL_WALLET_RPC_URL: walletUrl });
    expect(paid.code, paid.stdout + paid.stderr).toBe(0);
    expectNoSecrets(paid.stdout + paid.stderr);
    const { rows } = await db.query<{ txid: string }>(
      `SELECT DISTINCT b.txid FROM payments p JOIN payment_batches b ON b.id = p.batch_id WHERE p.status = 'sent'`);
    expect(rows.length).toBe(1);
    const tx = await node.rpc<{ txid: string; details: unknown[] }>('gettransaction', [rows[0].txid]);
    expect(tx.txid).toBe(rows[0].txid);

    // The audit trail: the money config once, one row per payout batch; shown by --history; no secret in it.
    const audit = await db.query<{ kind: string; n: string }>(`SELECT kind, count(*)::text AS n FROM audit GROUP BY kind ORDER BY kind`);
    const batches = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM payment_batches`);
    expect(Object.fromEntries(audit.rows.map((r) => [r.kind, Number(r.n)]))).toEqual({ config_change: 1, payout_batch: Number(batches.rows[0].n) });
    const history = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'payouts', '--history', '--config', config], { env: { ...process.env, LTCPOOL_LOG_LEVEL: 'silent' }, timeoutMs: 30_000 });
    expect(history.code, history.stderr).toBe(0);
    expect(history.stdout).toContain(`txid ${rows[0].txid}`);
    expect(history.stdout).toMatch(/config_change .* payouts --once \(pid \d+\) on /);
    expectNoSecrets(history.stdout + JSON.stringify((await db.query('SELECT * FROM audit')).rows));
  });

  it('serve warns loudly, with the fix, when it is given the wallet user', async () => {
    const { pool } = await serve('wallet-user', walletUrl, false);
    const warning = pool.output().split('\n').find((l) => l.includes('SECURITY WARNING'));
    expect(warning, pool.output()).toBeDefined();
    expect(JSON.parse(warning!).level).toBe(40); // pino warn
    expect(warning).toContain('rpcwhitelist');
    expect(warning).toContain('rpcauth');
    await pool.kill('SIGTERM');
    expectNoSecrets(pool.output());
  });
});

describe('the compose stack\'s litecoind settings (docker/make-secrets.sh) on a real litecoind', () => {
  it('litecoin-rpc.conf lets the URLs in pool-rpc-url and wallet-rpc-url in, and keeps the pool user off the wallet', async () => {
    const secrets = path.join(dir, 'secrets');
    await run('sh', [path.resolve('docker/make-secrets.sh'), secrets]);
    const other = await startRegtest({ extraArgs: [`-conf=${path.join(secrets, 'litecoin-rpc.conf')}`] });
    try {
      const as = (file: string) => {
        const url = new URL(fs.readFileSync(path.join(secrets, file), 'utf8').trim());
        return makeRpc(other.rpcPort, decodeURIComponent(url.username), decodeURIComponent(url.password));
      };
      const serveUser = as('pool-rpc-url');
      const walletUser = as('wallet-rpc-url');
      expect(await serveUser<number>('getblockcount')).toBeGreaterThan(100);
      await expect(serveUser('getwalletinfo')).rejects.toThrow(/HTTP 403/);
      await expect(serveUser('dumpprivkey', [await other.newAddress()])).rejects.toThrow(/HTTP 403/);
      expect((await walletUser<{ walletname: string }>('getwalletinfo')).walletname).toBe(other.walletName);
    } finally {
      await other.stop();
    }
  });
});
