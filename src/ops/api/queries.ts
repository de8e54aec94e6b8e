import type { SqlQueryable } from './types.js';
import { effectiveWindowSeconds, hashrateFromDifficulty } from './hashrate.js';

/**
 * Read-only SQL for the JSON API, against src/store/migrations (001_core: miners, workers, shares, blocks;
 * 002_ledger: credits, payments, balances view). Litoshi amounts stay exact: bigint columns are returned as decimal strings.
 */

import { BLOCK_STATUSES, type BlockRow as StoredBlock, type BlockStatus } from '../../store/blocks.js';

/** A block as the API shows it: the stored row's fields, the reward as a decimal string, and its effort. */
export interface BlockRow
  extends Pick<StoredBlock, 'height' | 'hash' | 'status' | 'finder' | 'worker' | 'shareDifficulty' | 'networkDifficulty' | 'confirmations' | 'submitResult' | 'updatedAt'> {
  rewardLitoshis: string;
  foundAt: Date;
  /** Share difficulty since the previous found block over the expected (1 = 100 %); null until computed (005_miners_side). */
  effort: number | null;
  /** 'litecoin', or the aux chain's name (004_merged_mining). */
  chain?: string;
}

/**
 * Confirmations as the chain has them now: the blocks on top of it, from the current template's height (tip + 1),
 * for a Litecoin block the node accepted. The stored count is only written by payout runs, so a block read 0
 * until the next run. Rejected and orphaned blocks have none; aux-chain blocks keep the stored count.
 */
export function withChainConfirmations<T extends Pick<BlockRow, 'height' | 'status' | 'confirmations' | 'chain'>>(rows: T[], templateHeight: number | undefined): T[] {
  if (templateHeight === undefined) return rows;
  return rows.map((row) => {
    if (row.chain !== undefined && row.chain !== null && row.chain !== 'litecoin') return row;
    if (row.status === 'rejected' || row.status === 'orphaned') return { ...row, confirmations: 0 };
    if (row.status !== 'accepted' && row.status !== 'confirmed') return row; // not known to be in the chain yet
    return { ...row, confirmations: Math.max(row.confirmations ?? 0, templateHeight - row.height) };
  });
}

export async function recentBlocks(db: SqlQueryable, limit: number, status?: BlockStatus, chain?: string): Promise<BlockRow[]> {
  const { rows } = await db.query(
    `SELECT b.height, b.hash, b.status, b.finder, b.worker, b.reward_litoshis::text AS "rewardLitoshis",
            b.share_difficulty AS "shareDifficulty", b.network_difficulty AS "networkDifficulty",
            b.confirmations, b.submit_result AS "submitResult", b.created_at AS "foundAt", b.updated_at AS "updatedAt",
            e.effort, b.chain
       FROM blocks b
       LEFT JOIN block_effort e ON e.block_id = b.id
      WHERE ($2::text IS NULL OR b.status = $2::text) AND ($3::text IS NULL OR b.chain = $3::text)
      ORDER BY b.created_at DESC, b.id DESC
      LIMIT $1`,
    [limit, status ?? null, chain ?? null],
  );
  return rows as BlockRow[];
}

/** Litecoin blocks by status (aux-chain blocks are listed with their chain, not counted here). */
export async function blockCountsByStatus(db: SqlQueryable): Promise<Record<string, number>> {
  const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM blocks WHERE chain = 'litecoin' GROUP BY status`);
  const counts: Record<string, number> = Object.fromEntries(BLOCK_STATUSES.map((s) => [s, 0]));
  for (const row of rows as { status: string; n: number }[]) counts[row.status] = row.n;
  return counts;
}

/** Blocks of every chain by status: { litecoin: { confirmed: 3, ... }, dogecoin: { ... } }. */
export async function blockCountsByChain(db: SqlQueryable): Promise<Record<string, Record<string, number>>> {
  const { rows } = await db.query(`SELECT chain, status, count(*)::int AS n FROM blocks GROUP BY chain, status`);
  const out: Record<string, Record<string, number>> = { litecoin: Object.fromEntries(BLOCK_STATUSES.map((s) => [s, 0])) };
  for (const row of rows as { chain: string; status: string; n: number }[]) {
    out[row.chain] ??= Object.fromEntries(BLOCK_STATUSES.map((s) => [s, 0]));
    out[row.chain][row.status] = row.n;
  }
  return out;
}

export interface MinerRow {
  address: string;
  firstSeen: Date;
  lastSeen: Date;
}

export async function findMiner(db: SqlQueryable, address: string): Promise<MinerRow | undefined> {
  const { rows } = await db.query(
    `SELECT address, first_seen AS "firstSeen", last_seen AS "lastSeen" FROM miners WHERE address = $1`,
    [address],
  );
  return rows[0] as MinerRow | undefined;
}

export interface WorkerStats {
  name: string;
  /** Hashes per second over the window. */
  hashrate: number;
  shares: number;
  difficultySum: number;
  lastShareAt: Date | null;
  lastSeen: Date | null;
}

/** Every known worker of `address` (idle ones too) with its share count and hashrate over the last `windowSeconds`. */
export async function workerStats(db: SqlQueryable, address: string, windowSeconds: number): Promise<WorkerStats[]> {
  const { rows } = await db.query(
    `SELECT coalesce(w.name, s.worker) AS name, w.last_seen AS "lastSeen",
            coalesce(s.shares, 0)::int AS shares, coalesce(s.difficulty_sum, 0)::float8 AS "difficultySum",
            s.last_share AS "lastShareAt", extract(epoch FROM now() - s.first_share)::float8 AS "observedSeconds"
       FROM (SELECT name, last_seen FROM workers WHERE address = $1) w
       FULL JOIN (SELECT worker, count(*) AS shares, sum(difficulty) AS difficulty_sum, max(time) AS last_share, min(time) AS first_share
                    FROM shares
                   WHERE address = $1 AND time >= now() - make_interval(secs => $2)
                   GROUP BY worker) s
         ON s.worker = w.name
      ORDER BY 1`,
    [address, windowSeconds],
  );
  return (rows as Array<Omit<WorkerStats, 'hashrate'> & { observedSeconds: number | null }>).map((row) => ({
    name: row.name,
    // Over the time since the worker's first share in the window when that is shorter (a worker that just started).
    hashrate: hashrateFromDifficulty(row.difficultySum, effectiveWindowSeconds(windowSeconds, row.observedSeconds ?? windowSeconds)),
    shares: row.shares,
    difficultySum: row.difficultySum,
    lastShareAt: row.lastShareAt,
    lastSeen: row.lastSeen,
  }));
}

/** True when the address ever submitted a share, for miners whose miners row is missing. */
export async function hasShares(db: SqlQueryable, address: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT EXISTS (SELECT 1 FROM shares WHERE address = $1) AS found`, [address]);
  return (rows[0] as { found: boolean } | undefined)?.found === true;
}

export interface PaymentRow {
  id: string;
  address: string;
  amountLitoshis: string;
  /** pending | sent | failed | set_aside (002_ledger). */
  status: string;
  txid: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** 'litecoin' or the aux chain paid from (010_aux_ledger); the amount is in 1e-8 units of that chain's coin. */
  chain: string;
  /** Where the coins went when not `address` (aux chains: the miner's address there). */
  payee: string | null;
}

export async function recentPayments(db: SqlQueryable, limit: number, address?: string, chain?: string): Promise<PaymentRow[]> {
  const { rows } = await db.query(
    `SELECT id::text AS id, address, amount::text AS "amountLitoshis", status, txid,
            created_at AS "createdAt", updated_at AS "updatedAt", chain, payee
       FROM payments
      WHERE ($2::text IS NULL OR address = $2::text) AND ($3::text IS NULL OR chain = $3::text)
      ORDER BY created_at DESC, id DESC
      LIMIT $1`,
    [limit, address ?? null, chain ?? null],
  );
  return rows as PaymentRow[];
}

/** From 002_ledger's balances view (matured credits minus sent, pending and set-aside payments). */
export interface Balance {
  /** Payable now. */
  balanceLitoshis: string;
  /** Credits of blocks not matured yet (shown, not payable). */
  immatureLitoshis: string;
  /** Recorded before the wallet call, outcome not known yet. */
  pendingLitoshis: string;
  /** Sent to the address so far. */
  paidLitoshis: string;
}

export async function minerBalance(db: SqlQueryable, address: string): Promise<Balance> {
  const { rows } = await db.query(
    `SELECT balance::text AS "balanceLitoshis", immature::text AS "immatureLitoshis",
            pending::text AS "pendingLitoshis", sent::text AS "paidLitoshis"
       FROM balances
      WHERE address = $1`,
    [address],
  );
  return (rows[0] as Balance | undefined) ?? { balanceLitoshis: '0', immatureLitoshis: '0', pendingLitoshis: '0', paidLitoshis: '0' };
}

export interface PayoutStatus {
  /** Null until the payout runner has run once against this database. */
  checkedAt: Date | null;
  /** True while payouts are stopped: the wallet's spendable balance minus what is owed is below the reserve. */
  paused: boolean;
  reason: string | null;
  spendableLitoshis: string | null;
  owedLitoshis: string | null;
  reserveLitoshis: string | null;
  /** spendable - owed. */
  headroomLitoshis: string | null;
  /** PPS/FPPS: the pool's side (006_pps pool_ledger). */
  pool: {
    rewardsReceivedLitoshis: string;
    rewardsImmatureLitoshis: string;
    shareCreditsLitoshis: string;
    sharesCredited: string;
    blocksReceived: string;
    /** rewards received minus share credits: the pool's running luck. */
    luckLitoshis: string;
  };
}

export async function payoutStatus(db: SqlQueryable): Promise<PayoutStatus> {
  const [status, ledger] = await Promise.all([
    db.query(`SELECT checked_at AS "checkedAt", paused, reason, spendable::text AS spendable, owed::text AS owed, reserve::text AS reserve,
                     (spendable - owed)::text AS headroom FROM payout_status`),
    db.query(`SELECT rewards_received::text AS r, rewards_immature::text AS i, share_credits::text AS c, shares_credited::text AS s,
                     blocks_received::text AS b, luck::text AS l FROM pool_ledger`),
  ]);
  const st = status.rows[0] as { checkedAt: Date; paused: boolean; reason: string | null; spendable: string | null; owed: string; reserve: string; headroom: string | null } | undefined;
  const l = ledger.rows[0] as { r: string; i: string; c: string; s: string; b: string; l: string };
  return {
    checkedAt: st?.checkedAt ?? null,
    paused: st?.paused ?? false,
    reason: st?.reason ?? null,
    spendableLitoshis: st?.spendable ?? null,
    owedLitoshis: st?.owed ?? null,
    reserveLitoshis: st?.reserve ?? null,
    headroomLitoshis: st?.headroom ?? null,
    pool: { rewardsReceivedLitoshis: l.r, rewardsImmatureLitoshis: l.i, shareCreditsLitoshis: l.c, sharesCredited: l.s, blocksReceived: l.b, luckLitoshis: l.l },
  };
}

/** A miner's ledger on one aux chain (010_aux_ledger chain_balances) and the address it gave there, if any. */
export interface AuxChainBalance extends Balance {
  chain: string;
  /** The last address the miner gave for this chain (password option); null: the balance waits for one. */
  payTo: string | null;
}

export async function minerAuxBalances(db: SqlQueryable, address: string): Promise<AuxChainBalance[]> {
  const { rows } = await db.query(
    `SELECT COALESCE(c.chain, a.chain) AS chain, COALESCE(c.balance, 0)::text AS "balanceLitoshis", COALESCE(c.immature, 0)::text AS "immatureLitoshis",
            COALESCE(c.pending, 0)::text AS "pendingLitoshis", COALESCE(c.sent, 0)::text AS "paidLitoshis", a.aux_address AS "payTo"
       FROM (SELECT * FROM chain_balances WHERE address = $1 AND chain <> 'litecoin') c
       FULL JOIN (SELECT chain, aux_address FROM miner_aux_addresses WHERE address = $1) a ON a.chain = c.chain
      ORDER BY 1`,
    [address],
  );
  return rows as AuxChainBalance[];
}
