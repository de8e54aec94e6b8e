/**
 * PROP and SOLO end to end on one regtest chain: two pool runs, each recording into its own PostgreSQL database
 * (one per scheme), three test miners over TCP, a real payout wallet. After maturity each database's payout run
 * credits its blocks as an independent computation from its shares table says, and litecoind's wallet receives
 * the sum of what both paid.
 */
import pino from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createPayoutContext, runPayoutOnce } from '../../src/payouts/cli.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { makeRpc, startRegtest, type RegtestNode, type RpcCall } from '../harness/litecoind.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { expectedSplit, mineThroughPool as mineWithMiners } from '../support/payouts.js';

const UNRELATED = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg'; // in no wallet: the maturing blocks pay it
const FEE_BPS = 200n; // feePercent 2

type Scheme = 'prop' | 'solo';

let node: RegtestNode;
let minersWallet: RpcCall;
let payoutAddress: string;
let feeAddress: string;
let minerAddresses: string[];
const databases = new Map<Scheme, { server: TestDatabase; pool: pg.Pool }>();

function payoutConfig(scheme: Scheme): Config {
  return parseConfig({
    network: 'regtest',
    pool: { address: payoutAddress },
    node: { rpcUrl: node.rpcUrl },
    database: { url: databases.get(scheme)!.server.url },
    http: { port: 0 },
    log: { level: 'warn' },
    payouts: { scheme, feePercent: 2, feeAddresses: [{ address: feeAddress, weight: 1 }], minimumPayout: '1000', maturity: 100, walletName: 'pool' },
  });
}

const mineThroughPool = (scheme: Scheme, blocks: number) =>
  mineWithMiners({ node, payoutAddress, minerAddresses, databaseUrl: databases.get(scheme)!.server.url, blocks });

const rows = async <T extends pg.QueryResultRow>(scheme: Scheme, sql: string, params: unknown[] = []): Promise<T[]> =>
  (await databases.get(scheme)!.pool.query<T>(sql, params)).rows;

const split = (reward: bigint, weights: Map<string, bigint>) => expectedSplit(reward, FEE_BPS, feeAddress, weights);

/** Per confirmed block, what the scheme should credit, from the shares and blocks tables alone. */
async function expectedCredits(scheme: Scheme): Promise<Map<string, Map<string, bigint>>> {
  const blocks = await rows<{ id: string; reward: string; finder: string; seq: string }>(scheme,
    `SELECT b.id::text, b.reward_litoshis::text AS reward, b.finder, s.seq::text
       FROM blocks b JOIN shares s ON s.share_id = b.share_id WHERE b.status = 'confirmed' ORDER BY s.seq`);
  const out = new Map<string, Map<string, bigint>>();
  let roundStart = '0'; // PROP: a round runs from the previous credited block's share (exclusive) to this one's
  for (const block of blocks) {
    if (scheme === 'solo') {
      out.set(block.id, split(BigInt(block.reward), new Map([[block.finder, 1n]])));
      continue;
    }
    const weights = await rows<{ address: string; w: string }>(scheme,
      `SELECT address, sum(round(difficulty::text::numeric * 1000000))::text AS w FROM shares
        WHERE seq > $1 AND seq <= $2 GROUP BY address`, [roundStart, block.seq]);
    out.set(block.id, split(BigInt(block.reward), new Map(weights.map((r) => [r.address, BigInt(r.w)]))));
    roundStart = block.seq;
  }
  return out;
}

beforeAll(async () => {
  const [regtest, propDb, soloDb] = await Promise.all([startRegtest(), startPostgres(), startPostgres()]);
  node = regtest;
  for (const [scheme, server] of [['prop', propDb], ['solo', soloDb]] as const) {
    const pool = createPool({ url: server.url, max: 3 });
    await migrate(pool);
    databases.set(scheme, { server, pool });
  }
  payoutAddress = await node.newAddress('bech32'); // wallet 'pool', the only one loaded so far
  await node.rpc('createwallet', ['miners']);
  minersWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/wallet/miners');
  minerAddresses = [];
  for (let i = 0; i < 3; i++) minerAddresses.push(await minersWallet<string>('getnewaddress', ['', 'bech32']));
  feeAddress = await minersWallet<string>('getnewaddress', ['', 'bech32']);
}, 120_000);

afterAll(async () => {
  for (const { server, pool } of databases.values()) {
    await pool.end();
    await server.stop();
  }
  await node?.stop();
});

describe('PROP and SOLO payouts on regtest + PostgreSQL', () => {
  it('each scheme credits its matured blocks as the shares table says, and the wallet pays the sum', async () => {
    await mineThroughPool('prop', 3);
    await mineThroughPool('solo', 3);
    await node.mine(101, UNRELATED);

    const paid = new Map<string, bigint>();
    for (const scheme of ['prop', 'solo'] as const) {
      const context = await createPayoutContext(payoutConfig(scheme), { logger: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
      const summary = await runPayoutOnce(context.deps).finally(() => context.close());
      expect(summary.errors, scheme).toEqual([]);
      expect(summary.unlocked.confirmed.length, scheme).toBeGreaterThanOrEqual(3);

      const expected = await expectedCredits(scheme);
      expect(expected.size, scheme).toBe(summary.unlocked.confirmed.length);
      for (const [blockId, credits] of expected) {
        const stored = await rows<{ address: string; amount: string }>(scheme,
          `SELECT address, sum(amount)::text AS amount FROM credits WHERE block_id = $1 GROUP BY address`, [blockId]);
        expect(new Map(stored.map((r) => [r.address, BigInt(r.amount)])), `${scheme} credits of block ${blockId}`).toEqual(credits);
      }
      if (scheme === 'solo') {
        // the finder of each block, and only the finders, are credited (plus the fee)
        const finders = new Set((await rows<{ finder: string }>(scheme, `SELECT finder FROM blocks WHERE status = 'confirmed'`)).map((r) => r.finder));
        const credited = new Set((await rows<{ address: string }>(scheme, 'SELECT DISTINCT address FROM credits')).map((r) => r.address));
        expect(credited).toEqual(new Set([...finders, feeAddress]));
      }
      for (const p of summary.payments) {
        expect(p.status, `${scheme} payment to ${p.address}`).toBe('sent');
        paid.set(p.address, (paid.get(p.address) ?? 0n) + p.amount);
      }
      const [{ left }] = await rows<{ left: string }>(scheme, 'SELECT coalesce(sum(balance), 0)::text AS left FROM balances');
      expect(BigInt(left), `${scheme}: every balance over the minimum was paid`).toBe(0n);
    }

    await node.mine(1, UNRELATED);
    for (const [address, amount] of paid) {
      const received = BigInt(Math.round((await minersWallet<number>('getreceivedbyaddress', [address, 1])) * 1e8));
      expect(received, `received by ${address}`).toBe(amount);
    }
    expect([...paid.keys()].sort()).toEqual(expect.arrayContaining([feeAddress]));
  });
});
