import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { DEFAULT_NOTIFIER_OPTIONS, detectNotifications } from '../../src/ops/alerts/notifier.js';
import { formatStatus, gatherStatus } from '../../src/ops/status.js';
import { insertBatch, markBatchSent } from '../../src/payouts/ledger.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { startTestPool, waitFor, type TestPool } from '../support/pool.js';

/**
 * Alerts to miners end to end: a regtest pool, a test miner, and a local HTTP receiver started here that records
 * the webhook and ntfy requests. The receiver can be taken down and brought back on the same port.
 */

const MINER = 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw';

interface Received { path: string; headers: http.IncomingHttpHeaders; body: string }

class Receiver {
  readonly received: Received[] = [];
  private server: http.Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        this.received.push({ path: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }

  webhooks(kind: string): Record<string, any>[] {
    return this.received.filter((r) => r.path === '/hook').map((r) => JSON.parse(r.body)).filter((b) => b.kind === kind);
  }

  ntfy(title: RegExp): Received[] {
    return this.received.filter((r) => r.path === '/ntfy/rigs' && title.test(String(r.headers.title)));
  }
}

let node: RegtestNode;
let database: TestDatabase;
let pool: TestPool;
const receiver = new Receiver();
const spoolDir = path.join(os.tmpdir(), `ltcpool-alerts-spool-${process.pid}`);

const alertConfig = (url: string) => ({
  database: { url, spoolDir },
  history: { enabled: false },
  alerts: { intervalSeconds: 1, workerOfflineMinutes: 0.05, retryBaseSeconds: 0.2, timeoutMs: 1000, allowPrivateTargets: true },
});

beforeAll(async () => {
  await receiver.start();
  node = await startRegtest();
  database = await startPostgres();
  const db = createPool({ url: database.url, max: 1 });
  await migrate(db);
  await db.end();
  pool = await startTestPool(node, await node.newAddress(), alertConfig(database.url));
}, 180_000);

afterAll(async () => {
  await pool?.stop();
  await receiver.stop();
  await database?.stop();
  await node?.stop();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pay(amount: bigint, txid: string): Promise<number> {
  const batch = await insertBatch(pool.db!, `payout-test-${txid.slice(0, 8)}`, [{ address: MINER, amount, status: 'pending' }]);
  await markBatchSent(pool.db!, batch, txid, 1000n);
  const { rows } = await pool.db!.query<{ id: string }>('SELECT id::text FROM payments WHERE batch_id = $1', [batch]);
  return Number(rows[0].id);
}

describe('alerts to miners', () => {
  it('one "worker offline" per channel after the worker stops, one "payment sent" after a payout', async () => {
    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${MINER}.rig7`, hashrate: 3 });
    // an idle second connection of the address (no shares, so never "offline") authorises the settings below
    const idle = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${MINER}.idle` });
    await Promise.all([miner.start(), idle.start()]);
    miner.startMining();
    await waitFor('shares from rig7', () => miner.accepted >= 2, 60_000);
    await miner.close();
    // Targets set only once rig7 has stopped: a pause in its shares while mining (a loaded CI machine) cannot
    // count as an earlier, separate silence.
    const base = `http://127.0.0.1:${receiver.port}`;
    const res = await fetch(`${pool.httpUrl}/api/miners/${MINER}/settings`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ webhookUrl: `${base}/hook`, ntfyUrl: `${base}/ntfy/rigs`, notify: { workerOffline: true, paymentSent: true } }),
    });
    expect(res.status).toBe(200);
    await idle.close();

    await waitFor('worker offline on both channels', () => receiver.webhooks('worker_offline').length >= 1 && receiver.ntfy(/offline/).length >= 1, 20_000);
    const offline = receiver.webhooks('worker_offline');
    expect(offline[0]).toMatchObject({ kind: 'worker_offline', address: MINER, worker: 'rig7', title: 'Worker rig7 is offline' });
    expect(receiver.ntfy(/offline/)[0].body).toMatch(/No share from worker rig7 of rltc1q/);

    const paymentId = await pay(123_456_789n, 'ab'.repeat(32));
    await waitFor('payment sent', () => receiver.webhooks('payment_sent').length >= 1, 20_000);
    expect(receiver.webhooks('payment_sent')[0]).toMatchObject({ address: MINER, amountLitoshis: '123456789', txid: 'ab'.repeat(32), paymentId: String(paymentId) });
    expect(receiver.ntfy(/Payment sent/)[0].body).toBe(`Sent 1.23456789 LTC to ${MINER} in ${'ab'.repeat(32)}`);

    await pause(3000); // several more passes: nothing new
    expect(receiver.webhooks('worker_offline')).toHaveLength(1);
    expect(receiver.ntfy(/offline/)).toHaveLength(1);
    expect(receiver.webhooks('payment_sent')).toHaveLength(1);
    expect(receiver.ntfy(/Payment sent/)).toHaveLength(1);
  });

  it('a receiver that is down gets the notification once it is back, across a pool restart, and nothing twice', async () => {
    await receiver.stop();
    await pay(5_000_000n, 'cd'.repeat(32));
    await waitFor('failed attempts recorded', async () => {
      const { rows } = await pool.db!.query(`SELECT attempts, last_error FROM notifications WHERE kind = 'payment_sent' AND status = 'pending'`);
      return rows.length === 2 && rows.every((r) => r.attempts >= 2 && /fetch failed|ECONNREFUSED/.test(r.last_error));
    }, 20_000);

    // restart the pool while the notification is still owed
    await pool.stop();
    pool = await startTestPool(node, await node.newAddress(), alertConfig(database.url));
    await pause(1500);
    await receiver.start(); // same port
    await waitFor('the owed payment notification', () => receiver.webhooks('payment_sent').some((b) => b.txid === 'cd'.repeat(32)) && receiver.ntfy(/Payment sent/).length === 2, 20_000);
    await pause(3000);
    expect(receiver.webhooks('payment_sent').map((b) => b.txid)).toEqual(['ab'.repeat(32), 'cd'.repeat(32)]);
    expect(receiver.ntfy(/Payment sent/)).toHaveLength(2);
    expect(receiver.webhooks('worker_offline')).toHaveLength(1);
    const { rows } = await pool.db!.query(`SELECT status, count(*)::int AS n FROM notifications GROUP BY status`);
    expect(rows).toEqual([{ status: 'sent', n: 6 }]);
  });

  it('hashrate drop (last hour below the 24-hour average) and block found are detected once', async () => {
    const db = pool.db!;
    const other = 'rltc1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqc6h8ge';
    await db.query(`INSERT INTO miner_settings (address, webhook_url, notify_block_found, notify_worker_offline, notify_payment_sent)
                    VALUES ($1, 'http://127.0.0.1:9/hook', true, false, false)`, [other]);
    const now = new Date(Math.floor(Date.now() / 600_000) * 600_000 + 300_000);
    // 'steady' mined 10 per bucket all day; 'dropping' mined 10 per bucket until 2 hours ago, then 1
    for (let i = 1; i <= 144; i++) {
      const start = new Date(now.getTime() - 300_000 - i * 600_000);
      await db.query(`INSERT INTO worker_history VALUES ($1, 600, $2, 'steady', 10, 10), ($1, 600, $2, 'dropping', 10, $3)`, [start, other, i <= 12 ? 1 : 10]);
    }
    await db.query(`INSERT INTO workers VALUES ($1, 'steady', now(), $2), ($1, 'dropping', now(), $2)`, [other, now]);
    await db.query(`INSERT INTO blocks (height, hash, prev_hash, status, finder, reward_litoshis, share_difficulty, network_difficulty, block_hex, created_at)
                    VALUES (900, 'ee', '00', 'accepted', $1, 1, 1, 1, '', $2)`, [other, new Date(now.getTime() - 60_000)]);
    const options = { ...DEFAULT_NOTIFIER_OPTIONS, hashrateDropPercent: 50 };
    // The pool's own notifier runs meanwhile and may record the block first: check the table, not this call's count.
    await detectNotifications(db, options, now);
    const { rows } = await db.query(`SELECT kind, payload FROM notifications WHERE address = $1 ORDER BY kind`, [other]);
    const kinds = rows.map((r) => `${r.kind}:${r.payload.worker ?? r.payload.hash}`);
    expect(kinds.filter((k) => k.startsWith('hashrate_drop'))).toEqual(['hashrate_drop:dropping']);
    expect(kinds).toContain('block_found:ee');
    expect(rows.find((r) => r.kind === 'hashrate_drop').payload.message).toMatch(/ran at \d+ % of its 24-hour average/);
    expect(await detectNotifications(db, options, now)).toBe(0);
  });
});

describe('ltcpool status', () => {
  it('summarises instances, miners, last block, payouts, wallet and alerts; the CLI prints it', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    // The last block: a real chain block 5 below the tip, stored with 0 confirmations as a new block is until a
    // payout run. Status shows the node's count (it showed the stored 0).
    const tip = await node.rpc<number>('getblockcount');
    const lastHash = await node.rpc<string>('getblockhash', [tip - 5]);
    await pool.db!.query(`INSERT INTO blocks (height, hash, prev_hash, status, finder, reward_litoshis, share_difficulty, network_difficulty, block_hex, created_at)
                    VALUES ($1, $2, '00', 'accepted', $3, 1, 1, 1, '', now() + interval '1 hour')
                    ON CONFLICT (hash) DO UPDATE SET status = 'accepted', confirmations = 0, created_at = EXCLUDED.created_at`, [tip - 5, lastHash, MINER]);
    const report = await gatherStatus(pool.config, { db: pool.db, urls: [pool.httpUrl!, `http://127.0.0.1:${closedPort}`] });
    const chainCount = (await node.rpc<{ confirmations: number }>('getblockheader', [lastHash])).confirmations;
    expect(report.lastBlock).toMatchObject({ hash: lastHash, confirmationsFrom: 'chain' });
    expect(report.lastBlock!.confirmations).toBeGreaterThanOrEqual(6);
    expect(report.lastBlock!.confirmations).toBeLessThanOrEqual(chainCount);
    expect(report.database.ok).toBe(true);
    expect(report.payouts!.paid).toBe(123_456_789n + 5_000_000n);
    expect(report.endpoints[0].error).toBeUndefined();
    expect(report.endpoints[0].templateAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(report.endpoints[1].error).toMatch(/ECONNREFUSED/);
    const text = formatStatus(report, pool.config);
    expect(text).toMatch(/^payouts: +owed .* LTC, paid 1\.28456789 LTC, pending 0\.00000000 LTC, last payment \d+ s ago$/m);
    expect(text).toMatch(new RegExp(`^last block: +${tip - 5} accepted, \\d+ s ago, ${report.lastBlock!.confirmations} confirmations, effort `, 'm'));
    expect(text).toMatch(/^wallet: +(\d+\.\d{8} LTC spendable|UNREACHABLE)/m);
    expect(text).toContain(`http://127.0.0.1:${closedPort} UNREACHABLE`);
    expect(text.split('\n').length).toBeLessThanOrEqual(24);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'ltcpool-status-'));
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({
      network: 'regtest', pool: { address: pool.config.pool.address }, node: { rpcUrl: pool.config.node.rpcUrl },
      database: { url: database.url }, http: { port: Number(new URL(pool.httpUrl!).port) },
    }));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'status', '--config', file], { timeout: 60_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
    expect(out).toMatch(/^ltcpool status {2}regtest/);
    expect(out).toMatch(/^database: +ok$/m);
    expect(out).toMatch(/^ {2}endpoint: +http:\/\/127\.0\.0\.1:\d+ height \d+, template \d+ s old, \d+ connections, share queue 0, spool 0 shares/m);
    expect(out).toMatch(/paid 1\.28456789 LTC/);
    console.log(out);
  });
});
