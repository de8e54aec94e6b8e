/**
 * PPS end to end on regtest: three test miners mine through a real pool into PostgreSQL; a payout run credits
 * every share at once with its expected value (compared with a computation written here from the shares table
 * alone) and pays it through litecoind's wallet while the pool's blocks are still immature; later shares are
 * credited by a later run, none twice; matured blocks pay the pool, and the ledger shows its luck.
 */
import pino from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { startHttpServer } from '../../src/ops/http.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { ltcToLitoshis } from '../../src/payouts/amounts.js';
import { createPayoutContext, runPayoutOnce, type PayoutRunSummary } from '../../src/payouts/cli.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { makeRpc, startRegtest, type RegtestNode, type RpcCall } from '../harness/litecoind.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { mineThroughPool } from '../support/payouts.js';

const UNRELATED = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg'; // in no wallet
const FEE_BPS = 200n; // feePercent 2
const UNITS = 10n ** 18n;

let node: RegtestNode;
let server: TestDatabase;
let db: pg.Pool;
let minersWallet: RpcCall;
let payoutAddress: string;
let minerAddresses: string[];

function payoutConfig(extra: Record<string, unknown> = {}): Config {
  return parseConfig({
    network: 'regtest',
    pool: { address: payoutAddress },
    node: { rpcUrl: node.rpcUrl },
    database: { url: server.url },
    http: { port: 0 },
    log: { level: 'warn' },
    payouts: { scheme: 'pps', feePercent: 2, minimumPayout: '1000', maturity: 100, walletName: 'pool', ...extra },
  });
}

async function payoutRun(extra: Record<string, unknown> = {}, metrics = createMetrics({ defaultMetrics: false })): Promise<PayoutRunSummary> {
  const context = await createPayoutContext(payoutConfig(extra), { logger: pino({ level: 'silent' }), metrics });
  return runPayoutOnce(context.deps).finally(() => context.close());
}

const rows = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> => (await db.query<T>(sql, params)).rows;

/** A decimal as PostgreSQL prints a float8 ('1e-05', '4.656542373373228e-10', '2400000') → numerator/denominator. */
function fraction(text: string): [bigint, bigint] {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(text);
  if (!m) throw new Error(`not a decimal: ${text}`);
  const exp = Number(m[3] ?? 0) - (m[2] ?? '').length;
  const digits = BigInt(m[1] + (m[2] ?? ''));
  return exp >= 0 ? [digits * 10n ** BigInt(exp), 1n] : [digits, 10n ** BigInt(-exp)];
}

/**
 * What PPS owes each address for the shares with seq <= throughSeq: per share subsidy(height) × d / (D × 65536)
 * less 2 %, floored to 10^-18 litoshi, summed per address, whole litoshis credited. Regtest halves every 150 blocks.
 */
async function expectedPps(throughSeq: bigint): Promise<{ credits: Map<string, bigint>; exact: Map<string, [bigint, bigint]> }> {
  const shares = await rows<{ address: string; d: string; nd: string; height: number }>(
    'SELECT address, difficulty::text AS d, network_difficulty::text AS nd, height FROM shares WHERE seq <= $1', [throughSeq.toString()]);
  const units = new Map<string, bigint>();
  const exact = new Map<string, [bigint, bigint]>();
  for (const s of shares) {
    const subsidy = (50n * 100_000_000n) >> BigInt(Math.floor(s.height / 150));
    const [dn, dd] = fraction(s.d);
    const [nn, nd] = fraction(s.nd);
    const num = subsidy * dn * nd * (10_000n - FEE_BPS);
    const den = dd * nn * 65_536n * 10_000n;
    units.set(s.address, (units.get(s.address) ?? 0n) + (num * UNITS) / den);
    const [en, ed] = exact.get(s.address) ?? [0n, 1n];
    exact.set(s.address, [en * den + num * ed, ed * den]);
  }
  return { credits: new Map([...units].map(([a, u]) => [a, u / UNITS])), exact };
}

async function storedShareCredits(): Promise<Map<string, bigint>> {
  const r = await rows<{ address: string; amount: string }>('SELECT address, sum(amount)::text AS amount FROM share_credits GROUP BY address');
  return new Map(r.map((x) => [x.address, BigInt(x.amount)]));
}

const litoshis = (n: bigint): string => `${n / 100_000_000n}.${(n % 100_000_000n).toString().padStart(8, '0')}`;

const received = async (address: string): Promise<bigint> =>
  BigInt(Math.round((await minersWallet<number>('getreceivedbyaddress', [address, 1])) * 1e8));

beforeAll(async () => {
  const [regtest, database] = await Promise.all([startRegtest(), startPostgres()]);
  node = regtest;
  server = database;
  db = createPool({ url: server.url, max: 3 });
  await migrate(db);
  payoutAddress = await node.newAddress('bech32'); // wallet 'pool': it can pay from its own coins at once
  // On regtest a share at d=0.00001 is worth about a third of a block, and most shares come after a block on
  // a job that is stale a moment later: the credits run far above the blocks found. Give the wallet ~740 LTC more.
  await node.mine(200, payoutAddress);
  await node.rpc('createwallet', ['miners']);
  minersWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/wallet/miners');
  minerAddresses = [];
  for (let i = 0; i < 3; i++) minerAddresses.push(await minersWallet<string>('getnewaddress', ['', 'bech32']));
}, 120_000);

afterAll(async () => {
  await db?.end();
  await server?.stop();
  await node?.stop();
});

describe('PPS on regtest + PostgreSQL', () => {
  it('credits every share once with its expected value and pays it before any block matures; matured blocks pay the pool', async () => {
    await mineThroughPool({ node, payoutAddress, minerAddresses, databaseUrl: server.url, blocks: 2 });
    const [{ n: firstShares }] = await rows<{ n: string }>('SELECT count(*)::text AS n FROM shares');

    const first = await payoutRun();
    expect(first.errors).toEqual([]);
    expect(first.unlocked.confirmed).toEqual([]); // nothing matured yet
    expect(first.unlocked.immature).toBeGreaterThanOrEqual(2);
    expect(first.pps?.shareCount).toBe(Number(firstShares));

    const want = await expectedPps(first.pps!.throughSeq);
    const stored = await storedShareCredits();
    expect(stored).toEqual(want.credits);
    for (const [address, [num, den]] of want.exact) {
      const credited = stored.get(address) ?? 0n;
      expect(credited * den <= num, `${address}: never above the exact value`).toBe(true);
      expect((credited + 1n) * den > num, `${address}: short by less than a litoshi`).toBe(true);
    }
    expect([...stored.keys()].sort()).toEqual([...minerAddresses].sort());

    // Paid at once, from the wallet's own coins, while every pool block is immature.
    const sent = new Map(first.payments.filter((p) => p.status === 'sent').map((p) => [p.address, p.amount]));
    expect(sent).toEqual(stored);
    await node.mine(1, UNRELATED);
    for (const [address, amount] of sent) expect(await received(address), `received by ${address}`).toBe(amount);

    // Nothing new: nothing credited, nothing paid.
    const idle = await payoutRun();
    expect(idle.pps?.runId).toBeNull();
    expect(idle.payments).toEqual([]);

    // More shares: a later run credits exactly those.
    await mineThroughPool({ node, payoutAddress, minerAddresses, databaseUrl: server.url, blocks: 1 });
    const second = await payoutRun();
    expect(second.errors).toEqual([]);
    const [{ n: allShares, max }] = await rows<{ n: string; max: string }>('SELECT count(*)::text AS n, max(seq)::text AS max FROM shares');
    expect(second.pps?.afterSeq).toBe(first.pps!.throughSeq);
    expect(first.pps!.shareCount + second.pps!.shareCount).toBe(Number(allShares));
    const runs = await rows<{ after: string; through: string }>('SELECT after_seq::text AS after, through_seq::text AS through FROM share_credit_runs ORDER BY id');
    expect(runs.map((r) => [r.after, r.through])).toEqual([['0', first.pps!.throughSeq.toString()], [first.pps!.throughSeq.toString(), max]]);
    // The carry makes two runs credit what one run over all the shares would.
    expect(await storedShareCredits()).toEqual((await expectedPps(BigInt(max))).credits);

    // A credit is final.
    await expect(db.query('DELETE FROM share_credits')).rejects.toThrow(/append-only/);
    await expect(db.query('UPDATE share_credits SET amount = 1')).rejects.toThrow(/append-only/);
    // A run overlapping an earlier one is refused by the database itself.
    await expect(db.query(`INSERT INTO share_credit_runs (scheme, after_seq, through_seq, share_count, fee_bps, value_units, credited)
      VALUES ('pps', 1, 2, 1, 200, 0, 0)`)).rejects.toThrow(/conflicting key value violates exclusion constraint/);

    // Maturity: the pool's blocks pay the pool, no miner is credited again.
    const before = await storedShareCredits();
    await node.mine(100, UNRELATED);
    const matured = await payoutRun();
    expect(matured.errors).toEqual([]);
    expect(matured.unlocked.confirmed.length).toBeGreaterThanOrEqual(3);
    expect(matured.unlocked.confirmed.every((b) => b.credits === 0)).toBe(true);
    expect(await storedShareCredits()).toEqual(before);
    const [{ credits }] = await rows<{ credits: string }>('SELECT count(*)::text AS credits FROM credits');
    expect(credits).toBe('0');
    const [rewards] = await rows<{ total: string; n: string }>(`SELECT sum(reward_litoshis)::text AS total, count(*)::text AS n FROM blocks WHERE status = 'confirmed'`);
    const [ledger] = await rows<{ rewards_received: string; share_credits: string; luck: string; blocks_received: string }>('SELECT * FROM pool_ledger');
    const credited = [...before.values()].reduce((a, b) => a + b, 0n);
    expect(ledger.rewards_received).toBe(rewards.total);
    expect(ledger.blocks_received).toBe(rewards.n);
    expect(BigInt(ledger.share_credits)).toBe(credited);
    expect(BigInt(ledger.luck)).toBe(BigInt(rewards.total) - credited);
  });

  it('stops paying when the wallet is drained below the reserve, says so, and pays again once it is refilled', async () => {
    const RESERVE = 5_000_000_000n; // 50 LTC
    const poolWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/wallet/pool');
    const spendable = async () => ltcToLitoshis((await poolWallet<{ mine: { trusted: number } }>('getbalances')).mine.trusted);
    const metrics = createMetrics({ defaultMetrics: false });
    const gauge = async () => (await metrics.payoutsReserveBreached.get()).values[0]?.value;
    const http = await startHttpServer({
      port: 0, readiness: [], dashboard: false, registry: metrics.registry,
      api: { db, network: 'regtest', stats: { poolSummary: () => ({ network: null, feePercent: 2, scheme: 'PPS' }) } },
    });
    const status = async () => (await fetch(`${http.url}/api/payouts/status`)).json() as Promise<{ scheme: string; paused: boolean; reason: string | null; headroomLitoshis: string; reserveLitoshis: string; pool: { luckLitoshis: string } }>;
    try {
      await mineThroughPool({ node, payoutAddress, minerAddresses, databaseUrl: server.url, blocks: 1 }); // new shares to pay

      // Drained: the wallet sends everything it can spend away.
      const sink = await minersWallet<string>('getnewaddress', ['', 'bech32']);
      await poolWallet('sendtoaddress', [sink, (await poolWallet<{ mine: { trusted: number } }>('getbalances')).mine.trusted, '', '', true]);
      await node.mine(1, UNRELATED);
      expect(await spendable()).toBe(0n);
      const drained = await payoutRun({ reserveLitoshis: RESERVE.toString() }, metrics);
      expect(drained.pps?.shareCount).toBeGreaterThan(0);
      expect(drained.reserveBreached).toBe(true);
      expect(drained.payments).toEqual([]);
      expect(drained.ok).toBe(false);
      expect(await gauge()).toBe(1);
      const paused = await status();
      expect(paused).toMatchObject({ scheme: 'PPS', paused: true, reserveLitoshis: RESERVE.toString() });
      expect(paused.reason).toMatch(/WALLET SHORTFALL/);

      // Refilled to what is owed plus 10 LTC: no shortfall, but still below the reserve.
      await minersWallet('sendtoaddress', [payoutAddress, litoshis(drained.owed + 1_000_000_000n)]);
      await node.mine(1, UNRELATED);
      const short = await payoutRun({ reserveLitoshis: RESERVE.toString() }, metrics);
      expect(short.shortfall).toBe(0n);
      expect(short.headroom).toBe(1_000_000_000n);
      expect(short.reserveBreached).toBe(true);
      expect(short.payments).toEqual([]);
      expect(await gauge()).toBe(1);
      expect(await status()).toMatchObject({ paused: true, headroomLitoshis: '1000000000', reason: expect.stringMatching(/RESERVE BREACHED/) });

      // Refilled above the reserve: paid.
      await minersWallet('sendtoaddress', [payoutAddress, litoshis(RESERVE)]);
      await node.mine(1, UNRELATED);
      const refilled = await payoutRun({ reserveLitoshis: RESERVE.toString() }, metrics);
      expect(refilled.errors).toEqual([]);
      expect(refilled.reserveBreached).toBe(false);
      expect(refilled.payments.filter((p) => p.status === 'sent').reduce((s, p) => s + p.amount, 0n)).toBe(drained.owed);
      expect(await gauge()).toBe(0);
      const resumed = await status();
      expect(resumed).toMatchObject({ paused: false, reason: null });
      const [ledger] = await rows<{ luck: string }>('SELECT luck::text AS luck FROM pool_ledger');
      expect(resumed.pool.luckLitoshis).toBe(ledger.luck);
    } finally {
      await http.close();
    }
  });

  it('FPPS adds the average fees of the blocks below each share\'s job, read from litecoind', async () => {
    const WINDOW = 10;
    // A block with fees: the miners' wallet (refilled above) sends a few transactions.
    for (let i = 0; i < 3; i++) await minersWallet('sendtoaddress', [UNRELATED, '1.5']);
    await node.mine(1, UNRELATED);
    await mineThroughPool({ node, payoutAddress, minerAddresses, databaseUrl: server.url, blocks: 1 });
    const carryBefore = new Map((await rows<{ address: string; units: string }>('SELECT address, units::text FROM pps_carry')).map((r) => [r.address, BigInt(r.units)]));
    const run = await payoutRun({ scheme: 'fpps', fppsFeeWindowBlocks: WINDOW });
    expect(run.errors).toEqual([]);
    expect(run.pps?.scheme).toBe('fpps');
    expect(run.pps?.shareCount).toBeGreaterThan(0);

    // Fees of a block from its coinbase (outputs minus subsidy), not from getblockstats.
    const feeCache = new Map<number, bigint>();
    const feeAt = async (height: number): Promise<bigint> => {
      if (!feeCache.has(height)) {
        const block = await node.rpc<{ tx: Array<{ vout: Array<{ value: number }> }> }>('getblock', [await node.rpc<string>('getblockhash', [height]), 2]);
        const out = block.tx[0].vout.reduce((sum, o) => sum + ltcToLitoshis(o.value), 0n);
        feeCache.set(height, out - ((50n * 100_000_000n) >> BigInt(Math.floor(height / 150))));
      }
      return feeCache.get(height)!;
    };
    const shares = await rows<{ address: string; d: string; nd: string; height: number }>(
      'SELECT address, difficulty::text AS d, network_difficulty::text AS nd, height FROM shares WHERE seq > $1 AND seq <= $2',
      [run.pps!.afterSeq.toString(), run.pps!.throughSeq.toString()]);
    const units = new Map<string, bigint>();
    let anyFees = false;
    for (const s of shares) {
      let fees = 0n;
      let count = 0n;
      for (let h = Math.max(0, s.height - WINDOW); h < s.height; h++, count++) fees += await feeAt(h);
      if (fees > 0n) anyFees = true;
      const subsidy = (50n * 100_000_000n) >> BigInt(Math.floor(s.height / 150));
      const [dn, dd] = fraction(s.d);
      const [nn, nd] = fraction(s.nd);
      // (subsidy + fees / count) × d / (D × 65536) × (1 − 2 %)
      const num = (subsidy * count + fees) * dn * nd * (10_000n - FEE_BPS);
      const den = count * dd * nn * 65_536n * 10_000n;
      units.set(s.address, (units.get(s.address) ?? 0n) + (num * UNITS) / den);
    }
    expect(anyFees, 'a block with fees is in the window').toBe(true);
    const want = new Map<string, bigint>();
    for (const [address, u] of units) {
      const credit = ((carryBefore.get(address) ?? 0n) + u) / UNITS;
      if (credit > 0n) want.set(address, credit);
    }
    const stored = await rows<{ address: string; amount: string }>('SELECT address, amount::text FROM share_credits WHERE run_id = $1', [run.pps!.runId]);
    expect(new Map(stored.map((r) => [r.address, BigInt(r.amount)]))).toEqual(want);
  });
});
