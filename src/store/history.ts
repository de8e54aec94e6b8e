import type pg from 'pg';
import pino from 'pino';
import { withTransaction } from './db.js';
import { SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY } from '../work/difficulty.js';

/**
 * Hashrate history (005_miners_side: worker_history, pool_history) and effort per block (block_effort), written
 * from the shares table.
 *
 * - Ten-minute buckets are recomputed from the shares table for the last `recomputeMinutes` on every tick, as an
 *   idempotent upsert: a bucket holds exactly the shares table's count and difficulty for its window, whichever
 *   instance wrote the shares and whenever they committed within that horizon (a spool replayed later than the
 *   horizon is not counted in history; its shares still count for payouts).
 * - Buckets older than `rollupAfterHours` are summed into hour buckets and the ten-minute rows deleted, in one
 *   transaction: the sums stay equal.
 * - Rows older than `retentionDays` are deleted.
 * Several instances may run the writer: each step takes a transaction advisory lock and is skipped while
 * another instance holds it.
 */

export const BUCKET_SECONDS = 600;
export const HOUR_SECONDS = 3600;
/** 'ltchist\0' — serialises history writing between instances. */
const HISTORY_LOCK_KEY = '8462373617430298626';
const EPOCH = '2000-01-01 00:00:00+00';

export interface HistoryOptions {
  recomputeMinutes: number;
  rollupAfterHours: number;
  retentionDays: number;
  /** A block's effort is computed once it is this old, when the shares before it have committed. */
  effortSettleSeconds: number;
}

export const DEFAULT_HISTORY_OPTIONS: HistoryOptions = { recomputeMinutes: 30, rollupAfterHours: 24, retentionDays: 90, effortSettleSeconds: 30 };

function alignDown(ms: number, seconds: number): number {
  return Math.floor(ms / (seconds * 1000)) * seconds * 1000;
}

type Db = pg.Pool | pg.PoolClient;

async function tryLock(client: pg.PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS ok', [HISTORY_LOCK_KEY]);
  return rows[0].ok;
}

/**
 * Rewrites the ten-minute buckets overlapping [from, to) from the shares table. `from` is aligned down to a bucket
 * start, so each bucket it touches is written whole. Buckets already rolled up into hours are left alone.
 */
export async function recomputeBuckets(pool: pg.Pool, from: Date, to: Date): Promise<{ workerRows: number; poolRows: number } | null> {
  const lo = new Date(alignDown(from.getTime(), BUCKET_SECONDS));
  const hi = new Date(alignDown(to.getTime(), BUCKET_SECONDS) + BUCKET_SECONDS * 1000);
  return withTransaction(pool, async (client) => {
    if (!(await tryLock(client))) return null;
    const workers = await client.query(
      `INSERT INTO worker_history (bucket_start, bucket_seconds, address, worker, shares, difficulty_sum)
       SELECT date_bin('600 seconds', time, $3::timestamptz), 600, address, worker, count(*), sum(difficulty)
         FROM shares
        WHERE time >= $1 AND time < $2
        GROUP BY 1, 3, 4
       ON CONFLICT (address, bucket_start, worker) DO UPDATE
         SET shares = EXCLUDED.shares, difficulty_sum = EXCLUDED.difficulty_sum
         WHERE worker_history.bucket_seconds = 600`,
      [lo, hi, EPOCH],
    );
    const poolRows = await client.query(
      `INSERT INTO pool_history (bucket_start, bucket_seconds, shares, difficulty_sum, miners, workers)
       SELECT date_bin('600 seconds', time, $3::timestamptz), 600, count(*), sum(difficulty),
              count(DISTINCT address), count(DISTINCT (address, worker))
         FROM shares
        WHERE time >= $1 AND time < $2
        GROUP BY 1
       ON CONFLICT (bucket_start) DO UPDATE
         SET shares = EXCLUDED.shares, difficulty_sum = EXCLUDED.difficulty_sum, miners = EXCLUDED.miners, workers = EXCLUDED.workers
         WHERE pool_history.bucket_seconds = 600`,
      [lo, hi, EPOCH],
    );
    return { workerRows: workers.rowCount ?? 0, poolRows: poolRows.rowCount ?? 0 };
  });
}

/** Sums ten-minute buckets that start before `before` (aligned down to an hour) into hour buckets. */
export async function rollUp(pool: pg.Pool, before: Date): Promise<{ rolled: number } | null> {
  const cutoff = new Date(alignDown(before.getTime(), HOUR_SECONDS));
  return withTransaction(pool, async (client) => {
    if (!(await tryLock(client))) return null;
    // Pool: distinct miners/workers of the hour come from the worker rows, still present at this point.
    await client.query(
      `CREATE TEMP TABLE rolled_pool ON COMMIT DROP AS
       SELECT date_bin('3600 seconds', p.bucket_start, $2::timestamptz) AS hour, sum(p.shares) AS shares,
              sum(p.difficulty_sum) AS difficulty_sum
         FROM pool_history p
        WHERE p.bucket_seconds = 600 AND p.bucket_start < $1
        GROUP BY 1`,
      [cutoff, EPOCH],
    );
    await client.query(
      `CREATE TEMP TABLE rolled_workers ON COMMIT DROP AS
       SELECT date_bin('3600 seconds', bucket_start, $2::timestamptz) AS hour, address, worker,
              sum(shares) AS shares, sum(difficulty_sum) AS difficulty_sum
         FROM worker_history
        WHERE bucket_seconds = 600 AND bucket_start < $1
        GROUP BY 1, 2, 3`,
      [cutoff, EPOCH],
    );
    await client.query('DELETE FROM pool_history WHERE bucket_seconds = 600 AND bucket_start < $1', [cutoff]);
    const deleted = await client.query('DELETE FROM worker_history WHERE bucket_seconds = 600 AND bucket_start < $1', [cutoff]);
    await client.query(
      `INSERT INTO worker_history (bucket_start, bucket_seconds, address, worker, shares, difficulty_sum)
       SELECT hour, 3600, address, worker, shares, difficulty_sum FROM rolled_workers
       ON CONFLICT (address, bucket_start, worker) DO UPDATE
         SET bucket_seconds = 3600, shares = worker_history.shares + EXCLUDED.shares,
             difficulty_sum = worker_history.difficulty_sum + EXCLUDED.difficulty_sum`,
    );
    await client.query(
      `INSERT INTO pool_history (bucket_start, bucket_seconds, shares, difficulty_sum, miners, workers)
       SELECT r.hour, 3600, r.shares, r.difficulty_sum,
              (SELECT count(DISTINCT address) FROM rolled_workers w WHERE w.hour = r.hour),
              (SELECT count(*) FROM rolled_workers w WHERE w.hour = r.hour)
         FROM rolled_pool r
       ON CONFLICT (bucket_start) DO UPDATE
         SET bucket_seconds = 3600, shares = pool_history.shares + EXCLUDED.shares,
             difficulty_sum = pool_history.difficulty_sum + EXCLUDED.difficulty_sum,
             miners = greatest(pool_history.miners, EXCLUDED.miners), workers = greatest(pool_history.workers, EXCLUDED.workers)`,
    );
    return { rolled: deleted.rowCount ?? 0 };
  });
}

export async function dropOldHistory(pool: pg.Pool, before: Date): Promise<number> {
  const a = await pool.query('DELETE FROM worker_history WHERE bucket_start < $1', [before]);
  const b = await pool.query('DELETE FROM pool_history WHERE bucket_start < $1', [before]);
  return (a.rowCount ?? 0) + (b.rowCount ?? 0);
}

/**
 * Effort of every found block (not rejected) older than `settleSeconds` that has none yet: the share difficulty
 * accepted after the previous found block of the same chain up to this one, against its network difficulty (see
 * 005_miners_side). Per chain: with merged mining (004) every share is work on Litecoin and on each aux chain.
 */
export async function computeBlockEfforts(db: Db, settleSeconds: number): Promise<number> {
  const res = await db.query(
    `INSERT INTO block_effort (block_id, since, shares, difficulty_sum, effort)
     SELECT b.id, prev.created_at, s.n, s.d, CASE WHEN b.network_difficulty > 0 THEN s.d / (b.network_difficulty * ${SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY}) ELSE 0 END
       FROM blocks b
       LEFT JOIN LATERAL (SELECT p.created_at FROM blocks p
                           WHERE p.chain = b.chain AND p.status <> 'rejected' AND (p.created_at, p.id) < (b.created_at, b.id)
                           ORDER BY p.created_at DESC, p.id DESC LIMIT 1) prev ON true
      CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(difficulty), 0) AS d FROM shares
                           WHERE time <= b.created_at AND (prev.created_at IS NULL OR time > prev.created_at)) s
      WHERE b.status <> 'rejected'
        AND b.created_at < now() - make_interval(secs => $1)
        AND NOT EXISTS (SELECT 1 FROM block_effort e WHERE e.block_id = b.id)
     ON CONFLICT (block_id) DO NOTHING`,
    [settleSeconds],
  );
  return res.rowCount ?? 0;
}

export interface HistoryWriterOptions extends Partial<HistoryOptions> {
  pool: pg.Pool;
  intervalMs?: number;
  logger?: pino.Logger;
  now?: () => Date;
}

/** Runs the history steps every intervalMs (default 60 s); tick() runs them once. */
export class HistoryWriter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly options: HistoryOptions;
  private readonly logger: pino.Logger;
  private readonly now: () => Date;

  constructor(private readonly deps: HistoryWriterOptions) {
    this.options = { ...DEFAULT_HISTORY_OPTIONS, ...Object.fromEntries(Object.entries(deps).filter(([, v]) => v !== undefined)) } as HistoryOptions;
    this.logger = deps.logger ?? pino({ level: 'silent' });
    this.now = deps.now ?? (() => new Date());
  }

  start(): void {
    const interval = this.deps.intervalMs ?? 60_000;
    this.timer = setInterval(() => void this.tick().catch((error) => this.logger.warn({ err: error }, 'history tick failed')), interval);
    this.timer.unref();
    void this.tick().catch((error) => this.logger.warn({ err: error }, 'history tick failed'));
  }

  /** One pass; concurrent calls share the pass in progress. */
  tick(): Promise<void> {
    return (this.running ??= this.pass().finally(() => {
      this.running = undefined;
    }));
  }

  private async pass(): Promise<void> {
    const now = this.now().getTime();
    const { recomputeMinutes, rollupAfterHours, retentionDays, effortSettleSeconds } = this.options;
    // Never recompute into hours that are already rolled up.
    const horizon = Math.min(recomputeMinutes * 60_000, rollupAfterHours * 3_600_000 - 3_600_000);
    await recomputeBuckets(this.deps.pool, new Date(now - Math.max(horizon, BUCKET_SECONDS * 1000)), new Date(now));
    await rollUp(this.deps.pool, new Date(now - rollupAfterHours * 3_600_000));
    await dropOldHistory(this.deps.pool, new Date(now - retentionDays * 86_400_000));
    await computeBlockEfforts(this.deps.pool, effortSettleSeconds);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
