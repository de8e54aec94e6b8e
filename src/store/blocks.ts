import type pg from 'pg';
import pino from 'pino';
import { isDatabaseUnavailableError } from './pg-errors.js';
import type { Spool, SpooledBlock } from './spool.js';

export const BLOCK_STATUSES = ['candidate', 'submitted', 'accepted', 'rejected', 'confirmed', 'orphaned'] as const;
export type BlockStatus = (typeof BLOCK_STATUSES)[number];

export interface BlockCandidate {
  /** 'litecoin' (default) or an aux chain's name. */
  chain?: string;
  height: number;
  hash: string;
  prevHash: string;
  finder: string;
  worker: string;
  rewardLitoshis: bigint;
  shareDifficulty: number;
  networkDifficulty: number;
  /** The full serialized block, exactly what goes to submitblock. */
  blockHex: string;
  shareId?: string | null;
}

export interface BlockRow extends Required<BlockCandidate> {
  id: number;
  status: BlockStatus;
  submitResult: string | null;
  confirmations: number;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * id is the row id; null when PostgreSQL was unreachable and the candidate went to the spool instead
 * (it is inserted when the spool is replayed; later status updates should then use updateStatusByHash).
 */
export interface InsertCandidateResult { id: number | null; spooled: boolean }

/** A `blocks` row as PostgreSQL returns it (bigint columns as strings). */
export interface DbBlockRow {
  id: string; height: number; hash: string; prev_hash: string; status: BlockStatus; finder: string; worker: string;
  reward_litoshis: string; share_difficulty: number; network_difficulty: number; block_hex: string;
  submit_result: string | null; confirmations: number; share_id: string | null; created_at: Date; updated_at: Date; chain: string;
}

function toRow(r: DbBlockRow): BlockRow {
  return {
    id: Number(r.id), chain: r.chain, height: r.height, hash: r.hash, prevHash: r.prev_hash, status: r.status, finder: r.finder,
    worker: r.worker, rewardLitoshis: BigInt(r.reward_litoshis), shareDifficulty: r.share_difficulty,
    networkDifficulty: r.network_difficulty, blockHex: r.block_hex, submitResult: r.submit_result,
    confirmations: r.confirmations, shareId: r.share_id, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

const INSERT_BLOCK = `INSERT INTO blocks (height, hash, prev_hash, status, finder, worker, reward_litoshis, share_difficulty,
    network_difficulty, block_hex, share_id, created_at, updated_at, chain)
  VALUES ($1, $2, $3, 'candidate', $4, $5, $6, $7, $8, $9, $10, $11, $11, COALESCE($12, 'litecoin'))
  ON CONFLICT (hash) DO NOTHING RETURNING id`;

export function candidateToSpooled(c: BlockCandidate, createdAt: Date = new Date()): SpooledBlock {
  return {
    height: c.height, hash: c.hash, prevHash: c.prevHash, finder: c.finder, worker: c.worker,
    rewardLitoshis: c.rewardLitoshis.toString(), shareDifficulty: c.shareDifficulty, networkDifficulty: c.networkDifficulty,
    blockHex: c.blockHex, shareId: c.shareId ?? null, createdAtMs: createdAt.getTime(),
    ...(c.chain && c.chain !== 'litecoin' ? { chain: c.chain } : {}),
  };
}

/** Idempotent insert of a candidate (used directly and by spool replay). Returns the id, existing or new. */
export async function insertBlockCandidateRow(db: pg.Pool | pg.PoolClient, b: SpooledBlock): Promise<number> {
  const res = await db.query<{ id: string }>(INSERT_BLOCK, [
    b.height, b.hash, b.prevHash, b.finder, b.worker, b.rewardLitoshis, b.shareDifficulty, b.networkDifficulty,
    b.blockHex, b.shareId, new Date(b.createdAtMs), b.chain ?? null,
  ]);
  if (res.rows.length) return Number(res.rows[0].id);
  const existing = await db.query<{ id: string }>('SELECT id FROM blocks WHERE hash = $1', [b.hash]);
  return Number(existing.rows[0].id);
}

export interface BlocksRepoOptions {
  /** When given, a candidate that cannot reach PostgreSQL is fsync'ed here and inserted on replay. */
  spool?: Spool;
  logger?: pino.Logger;
}

export class BlocksRepo {
  private readonly logger: pino.Logger;

  constructor(private readonly pool: pg.Pool, private readonly options: BlocksRepoOptions = {}) {
    this.logger = options.logger ?? pino({ level: 'silent' });
  }

  /**
   * Persist a found block BEFORE submitblock. Inserting the same hash twice returns the first row's id.
   * Throws only when neither PostgreSQL nor the spool could store it (submit the block anyway).
   */
  async insertCandidate(candidate: BlockCandidate): Promise<InsertCandidateResult> {
    const spooled = candidateToSpooled(candidate);
    try {
      return { id: await insertBlockCandidateRow(this.pool, spooled), spooled: false };
    } catch (err) {
      if (!this.options.spool || !isDatabaseUnavailableError(err)) throw err;
      this.logger.error({ hash: candidate.hash, height: candidate.height, err: { message: (err as Error).message } },
        'database unreachable: block candidate written to the spool');
      await this.options.spool.append({ kind: 'block', block: spooled });
      return { id: null, spooled: true };
    }
  }

  /** Idempotent insert of a candidate record (the block spool's format); the row id, existing or new. */
  async insert(block: SpooledBlock): Promise<number> {
    return insertBlockCandidateRow(this.pool, block);
  }

  /** Rows still 'candidate' (no verdict recorded) built on `prevHash`: the ones worth resubmitting while it is the tip. */
  async candidatesOn(prevHash: string, limit = 100): Promise<BlockRow[]> {
    const res = await this.pool.query<DbBlockRow>(
      "SELECT * FROM blocks WHERE chain = 'litecoin' AND status = 'candidate' AND prev_hash = $1 ORDER BY id LIMIT $2", [prevHash, limit]);
    return res.rows.map(toRow);
  }

  async updateStatus(id: number, status: BlockStatus, submitResult?: string | null, confirmations?: number): Promise<void> {
    const res = await this.pool.query(
      `UPDATE blocks SET status = $2, submit_result = COALESCE($3, submit_result),
              confirmations = COALESCE($4, confirmations), updated_at = now() WHERE id = $1`,
      [id, status, submitResult ?? null, confirmations ?? null]);
    if (res.rowCount === 0) throw new Error(`block id ${id} not found`);
  }

  async updateStatusByHash(hash: string, status: BlockStatus, submitResult?: string | null, confirmations?: number): Promise<void> {
    const res = await this.pool.query(
      `UPDATE blocks SET status = $2, submit_result = COALESCE($3, submit_result),
              confirmations = COALESCE($4, confirmations), updated_at = now() WHERE hash = $1`,
      [hash, status, submitResult ?? null, confirmations ?? null]);
    if (res.rowCount === 0) throw new Error(`block ${hash} not found`);
  }

  async listByStatus(status: BlockStatus | BlockStatus[], limit = 1000, chain = 'litecoin'): Promise<BlockRow[]> {
    const statuses = Array.isArray(status) ? status : [status];
    const res = await this.pool.query<DbBlockRow>(
      'SELECT * FROM blocks WHERE chain = $3 AND status = ANY($1::text[]) ORDER BY height, id LIMIT $2', [statuses, limit, chain]);
    return res.rows.map(toRow);
  }

  async getByHash(hash: string): Promise<BlockRow | null> {
    const res = await this.pool.query<DbBlockRow>('SELECT * FROM blocks WHERE hash = $1', [hash]);
    return res.rows.length ? toRow(res.rows[0]) : null;
  }

  async getById(id: number): Promise<BlockRow | null> {
    const res = await this.pool.query<DbBlockRow>('SELECT * FROM blocks WHERE id = $1', [id]);
    return res.rows.length ? toRow(res.rows[0]) : null;
  }
}
