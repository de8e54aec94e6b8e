/**
 * Block unlocker: follows every block the pool found on the chain itself (getblockhash at its height, getblock
 * confirmations), never through the wallet's view of the coinbase.
 *
 * - Our hash is the main chain's block at its height: count confirmations; at `maturity` confirmations the block
 *   is 'confirmed' and its reward is split, in ONE transaction with the status change (block_splits + credits),
 *   so a block is credited exactly once (block_splits.block_id is the primary key, and the status is re-read
 *   under FOR UPDATE).
 * - Our hash is not on the main chain any more (another block sits at its height, or getblock says
 *   confirmations -1): 'orphaned', once that other block has `orphanConfirmations`; it earns nothing. Before
 *   that the block is 'contested' and looked at again next run: short forks do swing back, and the verdict is
 *   final.
 * - 'candidate' rows (persisted before submitblock, verdict not recorded, e.g. the pool died) are followed too:
 *   when the chain has them they count like accepted blocks; otherwise they are left to the pool.
 *
 * PROP rounds: the round of a block starts after the share of the previous pool block that is neither rejected
 * nor orphaned, so the shares of an orphaned round roll into the next round instead of being lost.
 */
import type pg from 'pg';
import pino from 'pino';
import { RpcError, type RpcClient } from '../chain/rpc.js';
import type { Metrics } from '../ops/metrics.js';
import type { BlockStatus, DbBlockRow } from '../store/blocks.js';
import { withTransaction } from '../store/db.js';
import { isPpsScheme } from './schemes/pps.js';
import { loadShares } from './share-loader.js';
import type { FeeConfig, RewardScheme, SplitResult } from './types.js';

export interface UnlockerDeps {
  db: pg.Pool;
  /** Node RPC (chain calls only). */
  rpc: Pick<RpcClient, 'call'>;
  scheme: RewardScheme;
  fee: FeeConfig;
  /** Confirmations (getblock) at which a block's coinbase counts as matured. */
  maturity: number;
  /** Confirmations of the block that replaced ours at its height before ours is declared orphaned. */
  orphanConfirmations: number;
  logger?: pino.Logger;
  metrics?: Pick<Metrics, 'blocksTotal'>;
  /** Whose blocks to follow: 'litecoin' (default) or an aux chain, with `rpc` that chain's node. */
  chain?: string;
}

export interface UnlockedBlock {
  id: number;
  height: number;
  hash: string;
  reward: bigint;
  credits: number;
  finderFallback: boolean;
}

export interface UnlockResult {
  confirmed: UnlockedBlock[];
  orphaned: Array<{ id: number; height: number; hash: string }>;
  /** On the main chain, not matured yet. */
  immature: number;
  /** Matured but not creditable yet (e.g. its share row not recorded yet); retried next run. */
  waiting: Array<{ id: number; hash: string; reason: string }>;
  /** Another block holds its height, not yet buried by orphanConfirmations: no verdict yet. */
  contested: Array<{ id: number; height: number; hash: string; reason: string }>;
}

type BlockRow = Pick<DbBlockRow, 'id' | 'height' | 'hash' | 'status' | 'finder' | 'reward_litoshis' | 'network_difficulty' | 'share_id' | 'confirmations'>;

const FOLLOWED: readonly string[] = ['candidate', 'submitted', 'accepted'] satisfies BlockStatus[];

export async function unlockBlocks(deps: UnlockerDeps): Promise<UnlockResult> {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const result: UnlockResult = { confirmed: [], orphaned: [], immature: 0, waiting: [], contested: [] };
  const { rows } = await deps.db.query<BlockRow>(
    `SELECT id::text, height, hash, status, finder, reward_litoshis::text, network_difficulty, share_id, confirmations
       FROM blocks WHERE chain = $2 AND status = ANY($1::text[]) ORDER BY height, id`, [FOLLOWED, deps.chain ?? 'litecoin']);
  if (rows.length === 0) return result;
  const tip = await deps.rpc.call<number>('getblockcount');

  for (const row of rows) {
    const id = Number(row.id);
    const place = await chainPlace(deps.rpc, row, tip);
    if (place.kind === 'unknown') continue; // candidate the node never saw, or above the tip: nothing to say yet
    if (place.kind === 'orphaned') {
      if (row.status === 'candidate') continue;
      const replacedFor = tip - row.height + 1; // confirmations of the block now at our height
      if (replacedFor < deps.orphanConfirmations) {
        logger.warn({ id, height: row.height, hash: row.hash, reason: place.reason, replacedFor }, 'block contested: another block holds its height for now');
        result.contested.push({ id, height: row.height, hash: row.hash, reason: place.reason });
        continue;
      }
      if (await markOrphaned(deps.db, id)) {
        logger.warn({ id, height: row.height, hash: row.hash, reason: place.reason }, 'block orphaned: it earns nothing');
        deps.metrics?.blocksTotal.inc({ chain: deps.chain ?? 'litecoin', status: 'orphaned' });
        result.orphaned.push({ id, height: row.height, hash: row.hash });
      }
      continue;
    }
    if (place.confirmations < deps.maturity) {
      result.immature++;
      if (place.confirmations !== row.confirmations || row.status !== 'accepted') {
        await deps.db.query(
          `UPDATE blocks SET confirmations = $2, status = 'accepted', updated_at = now()
            WHERE id = $1 AND status = ANY($3::text[])`, [id, place.confirmations, FOLLOWED]);
      }
      continue;
    }
    const outcome = await creditBlock(deps, row, place.confirmations);
    if (outcome.kind === 'credited') {
      logger.info({ id, height: row.height, hash: row.hash, reward: row.reward_litoshis, credits: outcome.split.credits.length,
        scheme: outcome.split.scheme, finderFallback: outcome.split.finderFallback }, 'block matured and credited');
      deps.metrics?.blocksTotal.inc({ chain: deps.chain ?? 'litecoin', status: 'confirmed' });
      result.confirmed.push({
        id, height: row.height, hash: row.hash, reward: outcome.split.reward,
        credits: outcome.split.credits.length, finderFallback: outcome.split.finderFallback,
      });
    } else if (outcome.kind === 'waiting') {
      logger.warn({ id, hash: row.hash, reason: outcome.reason }, 'matured block not credited yet');
      result.waiting.push({ id, hash: row.hash, reason: outcome.reason });
    }
  }
  return result;
}

type ChainPlace =
  | { kind: 'main'; confirmations: number }
  | { kind: 'orphaned'; reason: string }
  | { kind: 'unknown' };

async function chainPlace(rpc: Pick<RpcClient, 'call'>, row: BlockRow, tip: number): Promise<ChainPlace> {
  let header: { confirmations: number; height: number } | null = null;
  try {
    header = await rpc.call<{ confirmations: number; height: number }>('getblockheader', [row.hash, true]);
  } catch (error) {
    // -5: the node does not know the block at all.
    if (!(error instanceof RpcError && error.code === -5)) throw error;
  }
  // The chain is shorter than our block's height (a reorg to a shorter but heavier chain): look again later.
  if (row.height > tip) return { kind: 'unknown' };
  const mainHash = await rpc.call<string>('getblockhash', [row.height]);
  if (mainHash === row.hash) {
    if (header === null || header.confirmations < 1) return { kind: 'unknown' }; // raced with a reorg; look again next run
    return { kind: 'main', confirmations: header.confirmations };
  }
  if (header === null) return row.status === 'candidate' ? { kind: 'unknown' } : { kind: 'orphaned', reason: `node does not know the block; ${mainHash} is at height ${row.height}` };
  return { kind: 'orphaned', reason: `block ${mainHash} is at height ${row.height} (ours has ${header.confirmations} confirmations)` };
}

async function markOrphaned(db: pg.Pool, id: number): Promise<boolean> {
  const res = await db.query(
    `UPDATE blocks SET status = 'orphaned', confirmations = 0, updated_at = now()
      WHERE id = $1 AND status = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM block_splits WHERE block_id = $1)`,
    [id, FOLLOWED]);
  return (res.rowCount ?? 0) > 0;
}

type CreditOutcome = { kind: 'credited'; split: SplitResult } | { kind: 'waiting'; reason: string } | { kind: 'skipped' };

async function creditBlock(deps: UnlockerDeps, row: BlockRow, confirmations: number): Promise<CreditOutcome> {
  // An early return commits a transaction that wrote nothing: it only releases the row lock.
  return withTransaction(deps.db, async (client): Promise<CreditOutcome> => {
    const locked = await client.query<{ status: string }>('SELECT status FROM blocks WHERE id = $1 FOR UPDATE', [row.id]);
    const split = await client.query('SELECT 1 FROM block_splits WHERE block_id = $1', [row.id]);
    if (!locked.rows.length || !FOLLOWED.includes(locked.rows[0].status) || split.rows.length) {
      return { kind: 'skipped' };
    }
    let blockSeq: bigint | null = null;
    if (row.share_id !== null) {
      const seq = await client.query<{ seq: string }>('SELECT seq::text AS seq FROM shares WHERE share_id = $1 ORDER BY seq LIMIT 1', [row.share_id]);
      if (seq.rows.length) blockSeq = BigInt(seq.rows[0].seq);
    }
    if (blockSeq === null && deps.scheme.name !== 'solo' && !isPpsScheme(deps.scheme.name)) {
      return { kind: 'waiting', reason: row.share_id === null ? 'block has no share id' : `share ${row.share_id} is not in the shares table yet` };
    }
    const previous = blockSeq === null ? null : await client.query<{ seq: string | null }>(
      `SELECT max(s.seq)::text AS seq FROM blocks b JOIN shares s ON s.share_id = b.share_id
        WHERE b.id <> $1 AND b.chain = $3 AND b.status NOT IN ('rejected', 'orphaned') AND s.seq < $2`, [row.id, blockSeq.toString(), deps.chain ?? 'litecoin']);
    const context = {
      reward: BigInt(row.reward_litoshis),
      finder: row.finder,
      fee: deps.fee,
      blockSeq: blockSeq ?? 0n,
      previousBlockSeq: previous?.rows[0]?.seq ? BigInt(previous.rows[0].seq) : null,
      networkDifficulty: row.network_difficulty,
    };
    const shares = await loadShares(client, deps.scheme.sharesNeeded(context));
    const result = deps.scheme.split(context, shares);
    const credited = result.credits.reduce((s, c) => s + c.amount, 0n);
    // PPS/FPPS: the shares were paid already; the reward is the pool's, no one is credited.
    const expectedCredit = isPpsScheme(result.scheme) ? 0n : result.reward;
    if (credited !== expectedCredit || result.reward !== context.reward) {
      throw new Error(`split of block ${row.hash} credits ${credited} of reward ${context.reward}`);
    }
    await client.query(
      `INSERT INTO block_splits (block_id, scheme, reward, fee_amount, fee_bps, window_weight, total_weight, share_count,
         first_seq, last_seq, finder_fallback) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [row.id, result.scheme, result.reward.toString(), result.feeAmount.toString(), Number(deps.fee.bps),
        result.windowWeight?.toString() ?? null, result.totalWeight.toString(), result.shareCount,
        result.firstSeq?.toString() ?? null, result.lastSeq?.toString() ?? null, result.finderFallback]);
    if (result.credits.length) {
      await client.query(
        `INSERT INTO credits (block_id, address, kind, amount)
           SELECT $1, a, k, m FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(a, k, m)`,
        [row.id, result.credits.map((c) => c.address), result.credits.map((c) => c.kind), result.credits.map((c) => c.amount.toString())]);
    }
    await client.query(`UPDATE blocks SET status = 'confirmed', confirmations = $2, updated_at = now() WHERE id = $1`, [row.id, confirmations]);
    return { kind: 'credited', split: result };
  });
}
