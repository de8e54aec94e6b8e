import { hashrateFromDifficulty } from './hashrate.js';
import type { SqlQueryable } from './types.js';

/**
 * Hashrate series for the API from 005_miners_side's pool_history / worker_history (written by
 * src/store/history.ts). Ranges up to a day are served in ten-minute points, longer ones in hours.
 */

export const HISTORY_RANGES = { '1h': 3600, '24h': 86_400, '7d': 7 * 86_400, '30d': 30 * 86_400 } as const;
export type HistoryRange = keyof typeof HISTORY_RANGES;

export interface HistoryPoint {
  /** Start of the bucket. */
  time: string;
  /** Hashes per second over the bucket (the current bucket: over its elapsed part). */
  hashrate: number;
  shares: number;
}

export interface PoolHistoryPoint extends HistoryPoint {
  miners: number;
  workers: number;
}

export interface Series<P> {
  range: HistoryRange;
  bucketSeconds: number;
  from: string;
  to: string;
  points: P[];
}

export function stepFor(range: HistoryRange): number {
  return HISTORY_RANGES[range] <= 86_400 ? 600 : 3600;
}

interface Frame {
  step: number;
  starts: number[];
  from: Date;
  now: number;
}

function frame(range: HistoryRange, now: Date): Frame {
  const step = stepFor(range);
  const stepMs = step * 1000;
  const last = Math.floor(now.getTime() / stepMs) * stepMs;
  // The whole range back from now: the first point is the bucket holding now - range (partly in range).
  const count = Math.floor(HISTORY_RANGES[range] / step) + 1;
  const starts = Array.from({ length: count }, (_, i) => last - (count - 1 - i) * stepMs);
  return { step, starts, from: new Date(starts[0]), now: now.getTime() };
}

function seconds(f: Frame, start: number): number {
  const end = Math.min(start + f.step * 1000, f.now);
  return Math.max(1, (end - start) / 1000);
}

interface BucketRow {
  t: Date;
  shares: string | number;
  difficultySum: number;
}

function points(f: Frame, rows: BucketRow[]): HistoryPoint[] {
  const byStart = new Map(rows.map((r) => [new Date(r.t).getTime(), r]));
  return f.starts.map((start) => {
    const row = byStart.get(start);
    const difficulty = row ? Number(row.difficultySum) : 0;
    return { time: new Date(start).toISOString(), hashrate: hashrateFromDifficulty(difficulty, seconds(f, start)), shares: row ? Number(row.shares) : 0 };
  });
}

const EPOCH = '2000-01-01 00:00:00+00';

export async function poolHistory(db: SqlQueryable, range: HistoryRange, now: Date = new Date()): Promise<Series<PoolHistoryPoint>> {
  const f = frame(range, now);
  const { rows } = await db.query(
    `SELECT date_bin(make_interval(secs => $2), bucket_start, $3::timestamptz) AS t, sum(shares)::bigint AS shares,
            sum(difficulty_sum)::float8 AS "difficultySum", max(miners)::int AS miners, max(workers)::int AS workers
       FROM pool_history
      WHERE bucket_start >= $1
      GROUP BY 1`,
    [f.from, f.step, EPOCH],
  );
  const typed = rows as (BucketRow & { miners: number; workers: number })[];
  const extra = new Map(typed.map((r) => [new Date(r.t).getTime(), r]));
  return {
    range,
    bucketSeconds: f.step,
    from: f.from.toISOString(),
    to: now.toISOString(),
    points: points(f, typed).map((p) => {
      const row = extra.get(Date.parse(p.time));
      return { ...p, miners: row?.miners ?? 0, workers: row?.workers ?? 0 };
    }),
  };
}

export interface MinerHistory extends Series<HistoryPoint> {
  address: string;
  workers: { name: string; points: HistoryPoint[] }[];
}

/** The miner's series and one per worker that had shares in the range (optionally only `worker`). */
export async function minerHistory(db: SqlQueryable, address: string, range: HistoryRange, options: { worker?: string; now?: Date } = {}): Promise<MinerHistory> {
  const now = options.now ?? new Date();
  const f = frame(range, now);
  const { rows } = await db.query(
    `SELECT worker, date_bin(make_interval(secs => $3), bucket_start, $4::timestamptz) AS t, sum(shares)::bigint AS shares,
            sum(difficulty_sum)::float8 AS "difficultySum"
       FROM worker_history
      WHERE address = $1 AND bucket_start >= $2 AND ($5::text IS NULL OR worker = $5::text)
      GROUP BY 1, 2`,
    [address, f.from, f.step, EPOCH, options.worker ?? null],
  );
  const typed = rows as (BucketRow & { worker: string })[];
  const byWorker = new Map<string, BucketRow[]>();
  const total = new Map<number, BucketRow>();
  for (const row of typed) {
    const list = byWorker.get(row.worker) ?? [];
    list.push(row);
    byWorker.set(row.worker, list);
    const key = new Date(row.t).getTime();
    const sum = total.get(key) ?? { t: new Date(key), shares: 0, difficultySum: 0 };
    sum.shares = Number(sum.shares) + Number(row.shares);
    sum.difficultySum += Number(row.difficultySum);
    total.set(key, sum);
  }
  return {
    address,
    range,
    bucketSeconds: f.step,
    from: f.from.toISOString(),
    to: now.toISOString(),
    points: points(f, [...total.values()]),
    workers: [...byWorker.keys()].sort().map((name) => ({ name, points: points(f, byWorker.get(name)!) })),
  };
}
