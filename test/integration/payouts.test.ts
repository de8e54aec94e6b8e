/**
 * Payouts end to end on a real litecoind regtest (wallet 'pool' pays, wallet 'miners' receives) and a real
 * PostgreSQL: three test miners find blocks through the pool, blocks mature, a payout run pays every miner
 * exactly what an independent computation from the shares table says; an invalidated block earns nothing;
 * a payout process killed between sendmany and the database update pays nobody twice.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { startHttpServer } from '../../src/ops/http.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createPayoutContext, runPayoutOnce } from '../../src/payouts/cli.js';
import { PAYOUT_LOCK_KEY } from '../../src/payouts/runner.js';
import { unlockBlocks } from '../../src/payouts/unlocker.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { spawn } from 'node:child_process';
import { run, waitForExit } from '../harness/exec.js';
import { freePort } from '../harness/ports.js';
import { makeRpc, startRegtest, type RegtestNode, type RpcCall } from '../harness/litecoind.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { creditTotals, expectedPplnsCredits, mineThroughPool as mineWithMiners } from '../support/payouts.js';
import { metricValue, waitFor } from '../support/pool.js';

const UNRELATED = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg'; // in no wallet: maturing blocks pay it
const BAD_ADDRESS = 'ltc1qthisisnotaregtestaddressatall0000000000'; // a share row from a wrong-network config
const WINDOW_FACTOR = 20;
const FEE_BPS = 150n;

let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let poolWallet: RpcCall;
let minersWallet: RpcCall;
let payoutAddress: string;
let feeAddress: string;
let minerAddresses: string[];
let config: Config;
let configFile: string;
let invalidated: string;
/** What the first payout run paid (from its summary), for the API test. */
let firstRun: { owed: Map<string, bigint>; payments: Array<{ address: string; amount: bigint; status: string }>; txid: string } | undefined;

function payoutConfig(walletName = 'pool'): Config {
  return parseConfig({
    network: 'regtest',
    pool: { address: payoutAddress },
    node: { rpcUrl: node.rpcUrl },
    database: { url: database.url },
    http: { port: 0 },
    log: { level: 'warn' },
    payouts: {
      scheme: 'pplns', pplnsWindowFactor: WINDOW_FACTOR, feePercent: 1.5, feeAddresses: [{ address: feeAddress, weight: 1 }],
      minimumPayout: '1000', maturity: 100, walletName,
    },
  });
}

const mineThroughPool = (blocks: number) =>
  mineWithMiners({ node, payoutAddress, minerAddresses, databaseUrl: database.url, blocks });

const rows = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> => (await db.query<T>(sql, params)).rows;

/** The independent computation (test/support/payouts.ts): PPLNS from SQL rows, fee and rounding written out there. */
const expectedPerBlock = () => expectedPplnsCredits(db, { windowFactor: WINDOW_FACTOR, feeBps: FEE_BPS, feeAddress });
const totals = creditTotals;

const litoshis = (ltc: number): bigint => BigInt(Math.round(ltc * 1e8));

async function received(address: string): Promise<bigint> {
  return litoshis(await minersWallet<number>('getreceivedbyaddress', [address, 1]));
}

/** The ledger's invariants, checked straight in SQL. */
async function checkLedgerInvariants(): Promise<void> {
  const perBlock = await rows<{ id: string; reward: string; credited: string; fee: string; fee_credited: string }>(
    `SELECT b.id::text, b.reward_litoshis::text AS reward, COALESCE(sum(c.amount), 0)::text AS credited, s.fee_amount::text AS fee,
            COALESCE(sum(c.amount) FILTER (WHERE c.kind = 'fee'), 0)::text AS fee_credited
       FROM blocks b JOIN block_splits s ON s.block_id = b.id LEFT JOIN credits c ON c.block_id = b.id GROUP BY b.id, s.fee_amount`);
  for (const b of perBlock) {
    expect(b.credited, `credits of block ${b.id}`).toBe(b.reward);
    expect(b.fee_credited, `fee of block ${b.id}`).toBe(b.fee);
  }
  const unsplitCredited = await rows(`SELECT 1 FROM credits c JOIN blocks b ON b.id = c.block_id WHERE b.status <> 'confirmed'`);
  expect(unsplitCredited).toHaveLength(0);
  expect(await rows(`SELECT address FROM balances WHERE balance < 0`)).toHaveLength(0);
  const overpaid = await rows(
    `SELECT p.address FROM payments p WHERE p.status IN ('sent', 'pending', 'set_aside') GROUP BY p.address
     HAVING sum(p.amount) > (SELECT COALESCE(sum(c.amount), 0) FROM credits c JOIN blocks b ON b.id = c.block_id
                              WHERE b.status = 'confirmed' AND c.address = p.address)`);
  expect(overpaid).toHaveLength(0);
}

async function walletSendsWithComment(label: string): Promise<string[]> {
  const list = await poolWallet<Array<{ category: string; comment?: string; txid: string }>>('listtransactions', ['*', 1000, 0, true]);
  return [...new Set(list.filter((e) => e.category === 'send' && e.comment === label).map((e) => e.txid))];
}

beforeAll(async () => {
  [node, database] = await Promise.all([startRegtest(), startPostgres()]);
  db = createPool({ url: database.url, max: 4 });
  await migrate(db);
  payoutAddress = await node.newAddress('bech32'); // in wallet 'pool' (the only wallet loaded so far)
  await node.rpc('createwallet', ['miners']);
  await node.rpc('createwallet', ['empty']);
  poolWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/wallet/pool');
  minersWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/wallet/miners');
  minerAddresses = [];
  for (let i = 0; i < 3; i++) minerAddresses.push(await minersWallet<string>('getnewaddress', ['', 'bech32']));
  feeAddress = await minersWallet<string>('getnewaddress', ['', 'bech32']);
  config = payoutConfig();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-payouts-'));
  configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({
    network: 'regtest', pool: { address: payoutAddress }, node: { rpcUrl: node.rpcUrl }, database: { url: database.url },
    log: { level: 'warn' }, http: { port: 0 },
    payouts: { scheme: 'pplns', pplnsWindowFactor: WINDOW_FACTOR, feePercent: 1.5, feeAddresses: [{ address: feeAddress, weight: 1 }],
      minimumPayout: '1000', maturity: 100, walletName: 'pool' },
  }));
}, 120_000);

afterAll(async () => {
  await db?.end();
  await database?.stop();
  await node?.stop();
  if (configFile) fs.rmSync(path.dirname(configFile), { recursive: true, force: true });
});

describe('payouts on regtest + PostgreSQL', () => {
  it('three miners find blocks through the pool; one pool block is invalidated and the chain moves past maturity', async () => {
    // An old share from a wrong-network address, inside the first block's PPLNS window: it earns a credit that
    // can never be paid, which must not block anyone else.
    await db.query(
      `INSERT INTO shares (time, share_id, address, difficulty, network_difficulty, height, job_id, hash, instance_id)
       VALUES (now(), 'legacy:1', $1, 0.0001, 0, 0, 'x', 'x', 9)`, [BAD_ADDRESS]);
    await mineThroughPool(5);
    const perMiner = await rows<{ address: string; n: string }>(`SELECT address, count(*)::text AS n FROM shares GROUP BY address`);
    for (const a of minerAddresses) expect(Number(perMiner.find((r) => r.address === a)?.n ?? 0), `shares of ${a}`).toBeGreaterThan(0);

    const tip = await node.rpc<string>('getbestblockhash');
    const [ours] = await rows<{ hash: string; status: string }>('SELECT hash, status FROM blocks WHERE hash = $1', [tip]);
    expect(ours, 'the tip is a pool block').toBeDefined();
    expect(ours.status).toBe('accepted');
    invalidated = tip;
    await node.rpc('invalidateblock', [invalidated]);
    await node.mine(101, UNRELATED); // a longer chain without it, and 100+ confirmations for the others
    expect((await node.rpc<{ confirmations: number }>('getblockheader', [invalidated])).confirmations).toBe(-1);
  });

  it('a payout run credits matured blocks and pays every address exactly the independent computation', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const context = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics });
    const summary = await runPayoutOnce(context.deps).finally(() => context.close());
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.locked).toBe(true);
    expect(summary.unlocked.confirmed.length).toBeGreaterThanOrEqual(3);
    expect(summary.unlocked.orphaned.map((b) => b.hash)).toContain(invalidated);
    expect(summary.shortfall).toBe(0n);

    const expected = await expectedPerBlock();
    expect(expected.size).toBe(summary.unlocked.confirmed.length);
    // per block, the stored credits equal the independent split
    for (const [blockId, credits] of expected) {
      const stored = await rows<{ address: string; amount: string }>(
        `SELECT address, sum(amount)::text AS amount FROM credits WHERE block_id = $1 GROUP BY address`, [blockId]);
      expect(new Map(stored.map((r) => [r.address, BigInt(r.amount)])), `credits of block ${blockId}`).toEqual(credits);
    }
    const owed = totals(expected);
    expect(owed.get(BAD_ADDRESS), 'the wrong-network share earned a credit').toBeGreaterThan(0n);
    for (const a of [...minerAddresses, feeAddress]) expect(owed.get(a), a).toBeGreaterThan(0n);

    await node.mine(1, UNRELATED);
    for (const a of [...minerAddresses, feeAddress]) expect(await received(a), `received by ${a}`).toBe(owed.get(a));
    const sent = summary.payments.filter((p) => p.status === 'sent');
    expect(sent.map((p) => p.address).sort()).toEqual([...minerAddresses, feeAddress].sort());
    const aside = summary.payments.filter((p) => p.status === 'set_aside');
    expect(aside).toEqual([expect.objectContaining({ address: BAD_ADDRESS, amount: owed.get(BAD_ADDRESS) })]);
    expect(await metricValue(metrics, 'ltcpool_payouts_paid_litoshis_total', { chain: 'litecoin' })).toBe(Number(sent.reduce((s, p) => s + p.amount, 0n)));
    expect(await metricValue(metrics, 'ltcpool_blocks_total', { chain: 'litecoin', status: 'orphaned' })).toBeGreaterThanOrEqual(1);

    // the batch's transaction is in the wallet with its label and the fee the pool paid is on record
    const [batch] = await rows<{ label: string; txid: string; tx_fee: string }>(
      `SELECT b.label, b.txid, b.tx_fee::text FROM payment_batches b WHERE b.txid IS NOT NULL`);
    expect(await walletSendsWithComment(batch.label)).toEqual([batch.txid]);
    expect(BigInt(batch.tx_fee)).toBeGreaterThan(0n);
    await checkLedgerInvariants();
    firstRun = { owed, payments: summary.payments, txid: batch.txid };

    // a second run finds nothing new to do and pays nobody again
    const again = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics });
    const second = await runPayoutOnce(again.deps).finally(() => again.close());
    expect(second.payments).toEqual([]);
    expect(second.unlocked.confirmed).toEqual([]);
  });

  it('the orphaned (invalidated) block is marked orphaned and earns nothing', async () => {
    const [block] = await rows<{ id: string; status: string }>('SELECT id::text, status FROM blocks WHERE hash = $1', [invalidated]);
    expect(block.status).toBe('orphaned');
    expect(await rows('SELECT 1 FROM block_splits WHERE block_id = $1', [block.id])).toHaveLength(0);
    expect(await rows('SELECT 1 FROM credits WHERE block_id = $1', [block.id])).toHaveLength(0);
  });

  it('the JSON API serves those payments and balances as the ledger wrote them in PostgreSQL', async () => {
    expect(firstRun, 'the payout run above').toBeDefined();
    const { owed, payments, txid } = firstRun!;
    const server = await startHttpServer({
      port: 0, readiness: [], registry: createMetrics({ defaultMetrics: false }).registry,
      api: { db, network: 'regtest', stats: { poolSummary: () => { throw new Error('not asked in this test'); } } },
    });
    try {
      const get = async (url: string) => {
        const response = await fetch(server.url + url);
        expect(response.status, url).toBe(200);
        return (await response.json()) as any;
      };
      const listed = (await get('/api/payments')).payments as Array<{ address: string; amountLitoshis: string; status: string; txid: string | null }>;
      const key = (p: { address: string; amount: string; status: string }) => `${p.address} ${p.amount} ${p.status}`;
      expect(listed.map((p) => key({ ...p, amount: p.amountLitoshis })).sort())
        .toEqual(payments.map((p) => key({ ...p, amount: p.amount.toString() })).sort());
      expect(new Set(listed.filter((p) => p.status === 'sent').map((p) => p.txid))).toEqual(new Set([txid]));
      expect(listed.find((p) => p.status === 'set_aside')).toMatchObject({ address: BAD_ADDRESS, txid: null });

      for (const address of minerAddresses) {
        const miner = await get(`/api/miners/${address}`);
        // everything matured was paid: nothing payable, nothing pending, paid = the independent computation
        expect(miner, address).toMatchObject({ balanceLitoshis: '0', pendingLitoshis: '0', immatureLitoshis: '0', paidLitoshis: owed.get(address)!.toString() });
        expect(miner.payments, address).toEqual([expect.objectContaining({ address, amountLitoshis: owed.get(address)!.toString(), status: 'sent', txid })]);
      }
    } finally {
      await server.close();
    }
  });

  it('with a wallet that cannot cover what is owed, nothing is paid, loudly, and the shortfall is a metric', async () => {
    await mineThroughPool(2);
    await node.mine(100, UNRELATED);
    const metrics = createMetrics({ defaultMetrics: false });
    const context = await createPayoutContext(payoutConfig('empty'), { logger: pino({ level: 'silent' }), metrics });
    const batchesBefore = await rows('SELECT 1 FROM payment_batches');
    const summary = await runPayoutOnce(context.deps).finally(() => context.close());
    expect(summary.ok).toBe(false);
    expect(summary.unlocked.confirmed.length).toBeGreaterThanOrEqual(2);
    expect(summary.spendable).toBe(0n);
    expect(summary.shortfall).toBe(summary.owed);
    expect(summary.owed).toBeGreaterThan(0n);
    expect(summary.errors.join('\n')).toMatch(/WALLET SHORTFALL/);
    expect(summary.payments).toEqual([]);
    expect(await rows('SELECT 1 FROM payment_batches')).toHaveLength(batchesBefore.length);
    expect(await metricValue(metrics, 'ltcpool_wallet_shortfall_litoshis', { chain: 'litecoin' })).toBe(Number(summary.shortfall));
  });

  it('killed between sendmany and the database update, the next run reconciles: nobody is paid twice', async () => {
    // node --import tsx (not the tsx wrapper, which would turn the child's SIGKILL into an exit code)
    const cli = [process.execPath, ['--import', 'tsx', 'src/cli.ts', 'payouts', '--once', '--config', configFile]] as const;
    const crashed = await run(cli[0], [...cli[1]], { env: { ...process.env, LTCPOOL_TEST_CRASH_AFTER_SEND: '1' }, timeoutMs: 60_000 });
    expect(crashed.signal, crashed.stdout + crashed.stderr).toBe('SIGKILL');

    const pending = await rows<{ label: string; n: string }>(
      `SELECT b.label, count(*)::text AS n FROM payment_batches b JOIN payments p ON p.batch_id = b.id
        WHERE p.status = 'pending' AND b.txid IS NULL GROUP BY b.label`);
    expect(pending).toHaveLength(1);
    const label = pending[0].label;
    const sends = await walletSendsWithComment(label);
    expect(sends, 'the wallet did send the batch before the kill').toHaveLength(1);

    const rerun = await run(cli[0], [...cli[1]], { env: { ...process.env }, timeoutMs: 60_000 });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain(`reconciled batch ${label}: sent ${sends[0]}`);
    expect(rerun.stdout).toContain('result: ok');
    expect(await walletSendsWithComment(label)).toEqual(sends);
    const states = await rows<{ status: string; txid: string | null }>(
      `SELECT p.status, p.txid FROM payments p JOIN payment_batches b ON b.id = p.batch_id WHERE b.label = $1`, [label]);
    expect(states.length).toBeGreaterThan(0);
    for (const s of states) expect(s).toEqual({ status: 'sent', txid: sends[0] });

    await node.mine(1, UNRELATED);
    const owed = totals(await expectedPerBlock());
    for (const a of [...minerAddresses, feeAddress]) expect(await received(a), `received by ${a} over both rounds`).toBe(owed.get(a));
    const balances = await rows<{ address: string; balance: string }>('SELECT address, balance::text FROM balances');
    for (const b of balances) expect(b.balance, `balance of ${b.address}`).toBe('0');
    await checkLedgerInvariants();
  });

  it('one runner at a time: while another session holds the advisory lock, a run does nothing', async () => {
    const holder = await db.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [PAYOUT_LOCK_KEY]);
      const context = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
      const summary = await runPayoutOnce(context.deps).finally(() => context.close());
      expect(summary.locked).toBe(false);
      expect(summary.payments).toEqual([]);
      expect(summary.unlocked.confirmed).toEqual([]);
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1::bigint)', [PAYOUT_LOCK_KEY]);
      holder.release();
    }
  });

  it('--interval runs as a worker serving /metrics and /healthz', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'payouts', '--interval', '1', '--config', configFile], {
      env: { ...process.env, LTCPOOL_HTTP_PORT: String(port) }, stdio: 'ignore',
    });
    try {
      const body = await waitFor('payout metrics', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
        const text = res?.ok ? await res.text() : '';
        // owed after the runs above = the set-aside credit of the wrong-network address (still in the wallet)
        return /^ltcpool_payouts_pending_litoshis\{chain="litecoin"\} [1-9]\d*$/m.test(text) && text;
      }, 30_000, 250);
      expect(body).toMatch(/^ltcpool_wallet_shortfall_litoshis\{chain="litecoin"\} 0$/m);
      const [{ aside }] = await rows<{ aside: string }>(`SELECT sum(amount)::text AS aside FROM payments WHERE status = 'set_aside'`);
      expect(body).toContain(`ltcpool_payouts_pending_litoshis{chain="litecoin"} ${aside}`);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await waitForExit(child, 10_000)).toBe(true);
      expect(child.exitCode).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
  it('--release returns a set-aside payment to the balance; the next run handles it again and loses nothing', async () => {
    const [before] = await rows<{ amount: string }>(`SELECT sum(amount)::text AS amount FROM payments WHERE status = 'set_aside' AND address = $1`, [BAD_ADDRESS]);
    expect(BigInt(before.amount)).toBeGreaterThan(0n);
    const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'payouts', '--config', configFile, ...args], {
      env: { ...process.env, LTCPOOL_LOG_LEVEL: 'silent' }, timeoutMs: 60_000,
    });
    const released = await cli(['--release', BAD_ADDRESS]);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toContain(`released  ${BAD_ADDRESS}`);
    const [balance] = await rows<{ balance: string; set_aside: string }>(`SELECT balance::text, set_aside::text FROM balances WHERE address = $1`, [BAD_ADDRESS]);
    expect(balance).toEqual({ balance: before.amount, set_aside: '0' });
    await checkLedgerInvariants();
    expect((await cli(['--release', BAD_ADDRESS])).code).toBe(1); // nothing left to release
    expect((await cli(['--release', BAD_ADDRESS, '--once'])).code).toBe(2);

    // the address is still wrong for this network: the next run sets the same amount aside again
    const context = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    const summary = await runPayoutOnce(context.deps).finally(() => context.close());
    expect(summary.payments.filter((p) => p.status === 'set_aside')).toEqual([expect.objectContaining({ address: BAD_ADDRESS, amount: BigInt(before.amount) })]);
    await checkLedgerInvariants();
  });
  it('a block out-raced at its height stays contested, not orphaned, until the other block is buried; a fork back restores it', async () => {
    await mineThroughPool(1);
    const ours = await node.rpc<string>('getbestblockhash');
    expect(await rows('SELECT 1 FROM blocks WHERE hash = $1 AND status = $2', [ours, 'accepted'])).toHaveLength(1);
    const context = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    const unlock = () => unlockBlocks({
      db: context.deps.db, rpc: context.deps.chain, scheme: context.deps.scheme, fee: context.deps.fee, maturity: 100, orphanConfirmations: 3,
    });
    const status = async () => (await rows<{ status: string }>('SELECT status FROM blocks WHERE hash = $1', [ours]))[0].status;
    try {
      // another block takes our height (as when a competing pool's block wins the race for now)
      await node.rpc('invalidateblock', [ours]);
      const [theirs] = await node.mine(1, UNRELATED);
      let result = await unlock();
      expect(result.contested.map((b) => b.hash)).toEqual([ours]);
      expect(result.orphaned).toEqual([]);
      expect(await status()).toBe('accepted');

      // the fork swings back: ours is on the main chain again and simply immature
      await node.rpc('reconsiderblock', [ours]);
      await node.rpc('invalidateblock', [theirs]);
      expect(await node.rpc<string>('getbestblockhash')).toBe(ours);
      result = await unlock();
      expect(result.contested).toEqual([]);
      expect(await status()).toBe('accepted');

      // lost for good: once the replacing block has orphanConfirmations, the verdict is orphaned (mined to another
      // address than `theirs`: the same coinbase in the same second would rebuild that very block)
      await node.rpc('invalidateblock', [ours]);
      await node.mine(2, feeAddress);
      expect((await unlock()).contested.map((b) => b.hash)).toEqual([ours]);
      await node.mine(1, feeAddress);
      expect((await unlock()).orphaned.map((b) => b.hash)).toEqual([ours]);
      expect(await status()).toBe('orphaned');
    } finally {
      await context.close();
    }
  });
});
