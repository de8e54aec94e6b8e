/**
 * PPS/FPPS crediting: every accepted share in the shares table is credited once, at once, with its expected
 * value (schemes/pps.ts); the pool's own blocks pay the pool (the unlocker records them with no credits).
 *
 * Each share exactly once:
 * - A run credits the shares with after_seq < seq <= through_seq, after_seq being where the previous run
 *   ended; share_credit_runs refuses overlapping ranges (an exclusion constraint), so a share can never be in
 *   two runs, even with two runners racing.
 * - through_seq is read while holding LOCK TABLE shares IN SHARE MODE for an instant: no share insert is in
 *   flight then, so every seq up to it is either committed or never will be. (seq comes from a sequence at
 *   insert time; without the lock, a batch still committing could hold a lower seq than one already visible,
 *   and the run would pass over it for good.) The share writer waits for that instant at most `lockTimeoutMs`;
 *   if the lock is not granted in time the run credits nothing and the next one tries again.
 * - Credits, the run row, the carried remainders and nothing else, in one transaction.
 *
 * A credit is never reduced afterwards: share_credits and share_credit_runs refuse UPDATE and DELETE
 * (006_pps.sql), and a block orphaned later changes the pool's luck, not a miner's balance.
 */
import type pg from 'pg';
import pino from 'pino';
import { withTransaction } from '../store/db.js';
import type { NetworkName } from '../work/address.js';
import {
  blockSubsidy,
  creditShares,
  expectedBlockReward,
  feeWindow,
  HALVING_INTERVAL,
  trailingFeeAverage,
  type Fraction,
  type PpsSchemeName,
  type PpsShare,
} from './schemes/pps.js';

export interface PpsCreditingDeps {
  db: pg.Pool;
  scheme: PpsSchemeName;
  network: NetworkName;
  /** Pool fee, basis points. */
  feeBps: bigint;
  /** FPPS: the fees (litoshis) of the main-chain blocks at heights from..to, in height order. */
  blockFees?: (from: number, to: number) => Promise<bigint[]>;
  /** FPPS: how many blocks below the job's height are averaged. */
  feeWindowBlocks?: number;
  /** How long the share writer may be held back while the horizon is read. Default 5000 ms. */
  lockTimeoutMs?: number;
  logger?: pino.Logger;
}

export interface PpsRunSummary {
  runId: number | null;
  scheme: PpsSchemeName;
  afterSeq: bigint;
  throughSeq: bigint;
  shareCount: number;
  credited: bigint;
  /** Addresses credited at least one litoshi. */
  addresses: number;
  /** Why nothing was credited, when nothing was. */
  skipped?: string;
}

interface GroupRow { address: string; difficulty: number; network_difficulty: number; height: number; n: string; min_seq: string; max_seq: string }

/** The highest share seq that can no longer gain a lower-numbered neighbour (see the header). null: the lock timed out. */
async function shareHorizon(db: pg.Pool, lockTimeoutMs: number): Promise<bigint | null> {
  try {
    return await withTransaction(db, async (client) => {
      await client.query(`SET LOCAL lock_timeout = '${Math.max(1, Math.floor(lockTimeoutMs))}ms'`);
      await client.query('LOCK TABLE shares IN SHARE MODE');
      const res = await client.query<{ v: string }>(`SELECT (CASE WHEN is_called THEN last_value ELSE 0 END)::text AS v FROM shares_seq`);
      return BigInt(res.rows[0].v);
    });
  } catch (error) {
    if ((error as { code?: string }).code === '55P03') return null; // lock_not_available
    throw error;
  }
}

/** Per height, the block reward a share is expected to earn: subsidy, plus the trailing fee average for FPPS. */
async function rewardsByHeight(deps: PpsCreditingDeps, heights: number[]): Promise<Map<number, Fraction>> {
  const interval = HALVING_INTERVAL[deps.network];
  const out = new Map<number, Fraction>();
  if (deps.scheme === 'pps' || heights.length === 0) {
    for (const h of heights) out.set(h, expectedBlockReward(blockSubsidy(h, interval), null));
    return out;
  }
  if (!deps.blockFees) throw new Error('FPPS needs a source of block fees');
  const window = deps.feeWindowBlocks ?? 100;
  const ranges = heights.map((h) => feeWindow(h, window));
  const present = ranges.filter((r): r is { from: number; to: number } => r !== null);
  const fees = new Map<number, bigint>();
  if (present.length) {
    const from = Math.min(...present.map((r) => r.from));
    const to = Math.max(...present.map((r) => r.to));
    const list = await deps.blockFees(from, to);
    if (list.length !== to - from + 1) throw new Error(`block fee source returned ${list.length} fees for heights ${from}..${to}`);
    list.forEach((fee, i) => fees.set(from + i, fee));
  }
  heights.forEach((h, i) => {
    const r = ranges[i];
    const window: bigint[] = [];
    if (r) for (let x = r.from; x <= r.to; x++) window.push(fees.get(x)!);
    out.set(h, expectedBlockReward(blockSubsidy(h, interval), trailingFeeAverage(window)));
  });
  return out;
}

/** Credits every share recorded since the previous run. */
export async function creditNewShares(deps: PpsCreditingDeps): Promise<PpsRunSummary> {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const last = await deps.db.query<{ through: string }>(`SELECT COALESCE(max(through_seq), 0)::text AS through FROM share_credit_runs`);
  const afterSeq = BigInt(last.rows[0].through);
  const summary: PpsRunSummary = { runId: null, scheme: deps.scheme, afterSeq, throughSeq: afterSeq, shareCount: 0, credited: 0n, addresses: 0 };
  const horizon = await shareHorizon(deps.db, deps.lockTimeoutMs ?? 5000);
  if (horizon === null) {
    summary.skipped = 'share inserts held the shares table past lockTimeoutMs; the next run credits these shares';
    logger.warn(summary.skipped);
    return summary;
  }
  if (horizon <= afterSeq) {
    summary.skipped = 'no new shares';
    return summary;
  }

  const credited = await withTransaction(deps.db, async (client) => {
    // Aggregated in SQL: one row per (address, difficulty, network difficulty, height) rather than per share.
    const groups = await client.query<GroupRow>(
      `SELECT address, difficulty, network_difficulty, height, count(*)::text AS n, min(seq)::text AS min_seq, max(seq)::text AS max_seq
         FROM shares WHERE seq > $1 AND seq <= $2
        GROUP BY address, difficulty, network_difficulty, height`, [afterSeq.toString(), horizon.toString()]);
    const shares: PpsShare[] = groups.rows.map((r) => ({
      seq: BigInt(r.min_seq), address: r.address, difficulty: r.difficulty, networkDifficulty: r.network_difficulty,
      height: r.height, count: BigInt(r.n),
    }));
    const rewards = await rewardsByHeight(deps, [...new Set(shares.map((s) => s.height))]);
    const addresses = [...new Set(shares.map((s) => s.address))];
    const carried = await client.query<{ address: string; units: string }>(
      'SELECT address, units::text FROM pps_carry WHERE address = ANY($1::text[]) FOR UPDATE', [addresses]);
    const result = creditShares({
      shares, feeBps: deps.feeBps, blockReward: (h) => rewards.get(h)!,
      carry: new Map(carried.rows.map((r) => [r.address, BigInt(r.units)])),
    });
    const run = await client.query<{ id: string }>(
      `INSERT INTO share_credit_runs (scheme, after_seq, through_seq, share_count, fee_bps, value_units, credited)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text`,
      [deps.scheme, afterSeq.toString(), horizon.toString(), result.shareCount, Number(deps.feeBps), result.totalUnits.toString(), result.creditedLitoshis.toString()]);
    const runId = Number(run.rows[0].id);
    const credits = [...result.credits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (credits.length) {
      await client.query(
        `INSERT INTO share_credits (run_id, address, amount) SELECT $1, a, m FROM unnest($2::text[], $3::bigint[]) AS u(a, m)`,
        [runId, credits.map(([a]) => a), credits.map(([, m]) => m.toString())]);
    }
    const carry = [...result.carry];
    if (carry.length) {
      await client.query(
        `INSERT INTO pps_carry (address, units) SELECT a, u FROM unnest($1::text[], $2::numeric[]) AS x(a, u)
         ON CONFLICT (address) DO UPDATE SET units = EXCLUDED.units, updated_at = now()`,
        [carry.map(([a]) => a), carry.map(([, u]) => u.toString())]);
    }
    return { runId, shareCount: result.shareCount, credited: result.creditedLitoshis, addresses: credits.length };
  });
  Object.assign(summary, { ...credited, throughSeq: horizon });
  logger.info({ runId: credited.runId, scheme: deps.scheme, afterSeq: afterSeq.toString(), throughSeq: horizon.toString(), shares: credited.shareCount,
    credited: credited.credited.toString() }, 'shares credited');
  return summary;
}

/** FPPS fee source through litecoind: getblockstats totalfee per height, remembered (a block's fees never change at a given hash; a reorg below the window is rare and only moves an average). */
export function rpcBlockFees(rpc: { call<T>(method: string, params?: unknown[]): Promise<T> }): (from: number, to: number) => Promise<bigint[]> {
  const cache = new Map<number, bigint>();
  return async (from, to) => {
    const out: bigint[] = [];
    for (let h = from; h <= to; h++) {
      let fee = cache.get(h);
      if (fee === undefined) {
        const stats = await rpc.call<{ totalfee: number }>('getblockstats', [h, ['totalfee']]);
        fee = BigInt(stats.totalfee);
        if (cache.size > 10_000) cache.clear();
        cache.set(h, fee);
      }
      out.push(fee);
    }
    return out;
  };
}
