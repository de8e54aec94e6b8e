import type pg from 'pg';
import pino from 'pino';
import { withTransaction } from './db.js';

/** Maintenance of the daily shares partitions (shares_pYYYYMMDD, UTC days). See 001_core.sql for why. */

const PARTITION_NAME = /^shares_p(\d{4})(\d{2})(\d{2})$/;
/** Serialises partition DDL between pool instances. */
const PARTITION_LOCK_KEY = '8462373617430298625';
const DAY_MS = 86_400_000;

function utcDayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

export function sharePartitionName(dayStartMs: number): string {
  return `shares_p${new Date(dayStartMs).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

async function listSharePartitions(db: pg.Pool | pg.PoolClient): Promise<{ name: string; dayStartMs: number }[]> {
  const res = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'shares'::regclass`);
  const out: { name: string; dayStartMs: number }[] = [];
  for (const { name } of res.rows) {
    const m = PARTITION_NAME.exec(name);
    if (m) out.push({ name, dayStartMs: Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) });
  }
  return out.sort((a, b) => a.dayStartMs - b.dayStartMs);
}

/**
 * Creates the partitions for today (UTC) and the next daysAhead days when missing. Rows that already
 * landed in shares_default for such a day are moved into the new partition in the same transaction
 * (PostgreSQL refuses to add a partition whose range has rows in the default partition).
 * Returns the names created. Safe to run concurrently from several instances.
 */
export async function ensureSharePartitions(pool: pg.Pool, daysAhead = 7, now: Date = new Date()): Promise<string[]> {
  const existing = new Set((await listSharePartitions(pool)).map((p) => p.name));
  const created: string[] = [];
  const today = utcDayStart(now.getTime());
  for (let d = 0; d <= daysAhead; d++) {
    const from = today + d * DAY_MS;
    const name = sharePartitionName(from);
    if (existing.has(name)) continue;
    const made = await withTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [PARTITION_LOCK_KEY]);
      // Share inserts wait until the partition is attached (milliseconds; the default partition is normally
      // empty). Without this, a share inserted into shares_default after the move below made ATTACH fail
      // ("updated partition constraint for default partition would be violated"): a fresh database's first shares.
      await client.query('LOCK TABLE shares IN SHARE ROW EXCLUSIVE MODE');
      const again = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
      if (again.rows[0].t !== null) return false;
      const lo = new Date(from).toISOString();
      const hi = new Date(from + DAY_MS).toISOString();
      // name is generated from a date (digits only), so interpolating it is safe.
      await client.query(`CREATE TABLE ${name} (LIKE shares INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
      await client.query(
        `WITH moved AS (DELETE FROM shares_default WHERE time >= $1 AND time < $2 RETURNING *)
         INSERT INTO ${name} SELECT * FROM moved`, [lo, hi]);
      await client.query(`ALTER TABLE shares ATTACH PARTITION ${name} FOR VALUES FROM ('${lo}') TO ('${hi}')`);
      return true;
    });
    if (made) created.push(name);
  }
  return created;
}

/**
 * Retention: drops every daily partition whose whole day ended more than retentionDays ago, and deletes
 * equally old rows from the default partition. Returns the dropped partition names.
 */
export async function dropOldSharePartitions(pool: pg.Pool, retentionDays: number, now: Date = new Date()): Promise<string[]> {
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`retentionDays must be an integer >= 1, got ${retentionDays}`);
  const cutoff = utcDayStart(now.getTime()) - retentionDays * DAY_MS;
  const dropped: string[] = [];
  for (const p of await listSharePartitions(pool)) {
    if (p.dayStartMs + DAY_MS > cutoff) continue;
    await withTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [PARTITION_LOCK_KEY]);
      await client.query(`DROP TABLE IF EXISTS ${p.name}`);
    });
    dropped.push(p.name);
  }
  await pool.query('DELETE FROM shares_default WHERE time < $1', [new Date(cutoff).toISOString()]);
  return dropped;
}

export interface PartitionMaintenanceOptions {
  daysAhead?: number;
  /** Undefined: keep shares forever. */
  retentionDays?: number;
  intervalMs?: number;
  logger?: pino.Logger;
}

/** Runs ensureSharePartitions (and retention when set) now and then every intervalMs (default 1 h). */
export function startSharePartitionMaintenance(pool: pg.Pool, options: PartitionMaintenanceOptions = {}): { stop(): void; ready: Promise<void> } {
  const logger = options.logger ?? pino({ level: 'silent' });
  const run = async (): Promise<void> => {
    try {
      const created = await ensureSharePartitions(pool, options.daysAhead ?? 7);
      if (created.length) logger.info({ created }, 'created share partitions');
      if (options.retentionDays !== undefined) {
        const dropped = await dropOldSharePartitions(pool, options.retentionDays);
        if (dropped.length) logger.info({ dropped }, 'dropped old share partitions');
      }
    } catch (err) {
      logger.warn({ err }, 'share partition maintenance failed; will retry');
    }
  };
  const ready = run();
  const timer = setInterval(() => void run(), options.intervalMs ?? 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer), ready };
}
