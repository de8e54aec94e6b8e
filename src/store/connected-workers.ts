import type { Logger } from 'pino';
import type pg from 'pg';
import type { SqlQueryable } from '../ops/api/types.js';
import { PRESENCE_LOCK_CLASS } from './cluster-events.js';

/**
 * This instance's connected workers in connected_workers (migration 011), so every instance can tell which workers
 * of an address are online and from which IP, pool-wide. Workers coming and going only change a map; a timer
 * writes the changed rows in one statement. After a failed write (the database away), the next one rewrites all
 * of this instance's rows in a transaction, so the table never keeps a worker that left meanwhile.
 */
export class ConnectedWorkersPublisher {
  /** address \0 worker \0 ip -> sessions carrying it now. */
  private readonly sessions = new Map<string, number>();
  private readonly changed = new Set<string>();
  private rewriteAll = true;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: { db: pg.Pool; instanceId: number; intervalMs?: number; logger: Logger }) {}

  added(address: string, worker: string, ip: string): void {
    const key = `${address}\0${worker}\0${ip}`;
    this.sessions.set(key, (this.sessions.get(key) ?? 0) + 1);
    this.changed.add(key);
  }

  removed(address: string, worker: string, ip: string): void {
    const key = `${address}\0${worker}\0${ip}`;
    const left = (this.sessions.get(key) ?? 1) - 1;
    if (left > 0) this.sessions.set(key, left);
    else this.sessions.delete(key);
    this.changed.add(key);
  }

  /** Writes every second (default) from now on; the first write replaces whatever rows the id had. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  flush(): Promise<void> {
    return (this.flushing ??= this.write().finally(() => (this.flushing = undefined)));
  }

  /** Stops writing and deletes this instance's rows (a clean shutdown; a dead instance's rows drop out with its lease). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.options.db.query('DELETE FROM connected_workers WHERE instance_id = $1', [this.options.instanceId]).catch(() => undefined);
  }

  private async write(): Promise<void> {
    if (!this.rewriteAll && this.changed.size === 0) return;
    const { db, instanceId, logger } = this.options;
    const all = this.rewriteAll;
    const keys = all ? [...this.sessions.keys()] : [...this.changed];
    this.rewriteAll = false;
    this.changed.clear();
    const present = keys.filter((k) => this.sessions.has(k));
    const gone = all ? [] : keys.filter((k) => !this.sessions.has(k));
    const columns = (list: string[]) => {
      const split = list.map((k) => k.split('\0'));
      return [split.map((s) => s[0]), split.map((s) => s[1]), split.map((s) => s[2])];
    };
    const [addresses, workers, ips] = columns(present);
    const counts = present.map((k) => this.sessions.get(k)!);
    const client = await db.connect().catch((error: unknown) => error as Error);
    if (client instanceof Error) {
      this.rewriteAll = true;
      logger.debug({ err: client }, 'connected workers not written (database away): rewritten once it answers');
      return;
    }
    try {
      await client.query('BEGIN');
      if (all) await client.query('DELETE FROM connected_workers WHERE instance_id = $1', [instanceId]);
      if (gone.length > 0) {
        const [ga, gw, gi] = columns(gone);
        await client.query(
          `DELETE FROM connected_workers c USING unnest($2::text[], $3::text[], $4::text[]) AS g(address, worker, ip)
            WHERE c.instance_id = $1 AND c.address = g.address AND c.worker = g.worker AND c.ip = g.ip`,
          [instanceId, ga, gw, gi],
        );
      }
      if (present.length > 0) {
        await client.query(
          `INSERT INTO connected_workers (instance_id, address, worker, ip, sessions)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[])
           ON CONFLICT (instance_id, address, worker, ip) DO UPDATE SET sessions = EXCLUDED.sessions`,
          [instanceId, addresses, workers, ips, counts],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      this.rewriteAll = true;
      logger.warn({ err: error }, 'connected workers not written: rewritten on the next try');
    } finally {
      client.release();
    }
  }
}

/**
 * A lease row of a serving instance: not released, heartbeat younger than its lease, and the instance's presence
 * lock held (cluster-events.ts), which PostgreSQL frees the moment the process dies: a SIGKILLed instance drops out
 * of the views at once, not when its lease expires.
 */
export const LIVE_INSTANCE = `l.released_at IS NULL AND l.heartbeat_at >= now() - make_interval(secs => l.lease_seconds)
  AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND k.classid = ${PRESENCE_LOCK_CLASS} AND k.objid = l.instance_id::int::oid
              AND k.objsubid = 2 AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;

/** Workers of `address` connected now to live instances (optionally all but one instance), with their IPs. */
export async function connectedWorkersOf(db: SqlQueryable, address: string, exceptInstance?: number): Promise<{ worker: string; ip: string }[]> {
  const { rows } = await db.query(
    `SELECT c.worker, c.ip FROM connected_workers c JOIN instance_leases l USING (instance_id)
      WHERE c.address = $1 AND ($2::int IS NULL OR c.instance_id <> $2::int) AND ${LIVE_INSTANCE}`,
    [address, exceptInstance ?? null],
  );
  return rows as { worker: string; ip: string }[];
}
