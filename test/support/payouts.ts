/**
 * Helpers of the payout integration tests: mining through a real pool into a given database, and the reward
 * split written out independently of src/payouts (so a test compares the pool's credits against it).
 */
import type pg from 'pg';
import { expect } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { startTestPool, waitFor } from './pool.js';

/** Mines through a pool recording into `databaseUrl` with one miner per address (1, 2, 4 ... H/s at d=0.00001) until `blocks` more are accepted. */
export async function mineThroughPool(o: { node: RegtestNode; payoutAddress: string; minerAddresses: string[]; databaseUrl: string; blocks: number }): Promise<void> {
  const pool = await startTestPool(o.node, o.payoutAddress, { database: { url: o.databaseUrl } });
  const miners = o.minerAddresses.map((address, i) =>
    new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${address}.rig${i}`, password: 'd=0.00001', hashrate: 2 ** i }));
  try {
    for (const m of miners) expect((await m.start()).result).toBe(true);
    for (const m of miners) m.startMining();
    await waitFor(`${o.blocks} accepted blocks`, () => pool.blocks.outcomes.filter((x) => x.accepted).length >= o.blocks && miners.every((m) => m.accepted > 0), 60_000);
  } finally {
    await Promise.all(miners.map((m) => m.close()));
    await pool.stop();
  }
}

/**
 * fee = floor(reward × feeBps / 10000) to `feeAddress`; the rest by weight, floors first, then one litoshi each
 * to the largest remainders (ties: the address that sorts first).
 */
export function expectedSplit(reward: bigint, feeBps: bigint, feeAddress: string, weights: Iterable<[string, bigint]>): Map<string, bigint> {
  const fee = (reward * feeBps) / 10_000n;
  const minersPart = reward - fee;
  const entries = [...weights];
  const total = entries.reduce((s, [, w]) => s + w, 0n);
  const credits = new Map<string, bigint>();
  if (fee > 0n) credits.set(feeAddress, fee);
  const parts = entries.map(([address, w]) => ({ address, q: (minersPart * w) / total, rem: (minersPart * w) % total }));
  let left = minersPart - parts.reduce((s, p) => s + p.q, 0n);
  parts.sort((a, b) => (a.rem === b.rem ? (a.address < b.address ? -1 : 1) : a.rem > b.rem ? -1 : 1));
  for (const p of parts) {
    const extra = left > 0n ? 1n : 0n;
    left -= extra;
    if (p.q + extra > 0n) credits.set(p.address, (credits.get(p.address) ?? 0n) + p.q + extra);
  }
  return credits;
}

/**
 * The independent computation of PPLNS credits of every confirmed block of `chain`: the window straight from SQL
 * rows (window function over seq, weights in exact numeric, N = factor × the block's network difficulty × 65536
 * × 1e6), then fee and largest-remainder rounding by expectedSplit, not through src/payouts.
 * Returns block id → address → credit.
 */
export async function expectedPplnsCredits(
  db: pg.Pool, o: { chain?: string; windowFactor: number; feeBps: bigint; feeAddress: string },
): Promise<Map<string, Map<string, bigint>>> {
  const blocks = await db.query<{ id: string; reward: string; nd: string; seq: string }>(
    `SELECT b.id::text, b.reward_litoshis::text AS reward, b.network_difficulty::text AS nd, s.seq::text
       FROM blocks b JOIN shares s ON s.share_id = b.share_id WHERE b.status = 'confirmed' AND b.chain = $1 ORDER BY b.id`,
    [o.chain ?? 'litecoin']);
  const out = new Map<string, Map<string, bigint>>();
  for (const block of blocks.rows) {
    const { rows: [{ n }] } = await db.query<{ n: string }>(`SELECT round($1::numeric * $2::numeric * 65536 * 1000000)::text AS n`, [o.windowFactor, block.nd]);
    const counted = await db.query<{ address: string; w: string }>(
      `WITH w AS (SELECT seq, address, round(difficulty::text::numeric * 1000000) AS wt FROM shares WHERE seq <= $1),
            c AS (SELECT address, wt, sum(wt) OVER (ORDER BY seq DESC) - wt AS before FROM w WHERE wt > 0)
       SELECT address, sum(LEAST(wt, $2::numeric - before))::text AS w FROM c WHERE before < $2::numeric GROUP BY address`,
      [block.seq, n]);
    out.set(block.id, expectedSplit(BigInt(block.reward), o.feeBps, o.feeAddress, counted.rows.map((r) => [r.address, BigInt(r.w)])));
  }
  return out;
}

/** Sum of per-block credits by address. */
export function creditTotals(perBlock: Map<string, Map<string, bigint>>): Map<string, bigint> {
  const sum = new Map<string, bigint>();
  for (const credits of perBlock.values()) for (const [a, v] of credits) sum.set(a, (sum.get(a) ?? 0n) + v);
  return sum;
}
