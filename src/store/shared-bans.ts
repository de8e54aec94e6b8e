import type { Logger } from 'pino';
import type pg from 'pg';
import type { BanList } from '../stratum/bans.js';
import { CLUSTER_CHANNEL } from './cluster-events.js';

/**
 * Bans shared by every instance (ip_bans, migration 011): a ban made here is written and announced in one
 * statement (NOTIFY is sent at commit); a ban announced by another instance, or found in the table after a
 * (re)connect or a restart, is imposed here for the time it has left. The IP is the miner's (PROXY protocol).
 */
export class SharedBans {
  /** Bans made while the database was away: written once it answers (ip -> local expiry, reason). */
  private readonly pending = new Map<string, { until: number; reason: string }>();

  constructor(private readonly options: { db: pg.Pool; instanceId: number; bans: BanList; logger: Logger }) {}

  /** A ban this instance made: into the table and to the other instances. */
  async publish(ip: string, reason: string, seconds = this.options.bans.banSeconds): Promise<void> {
    const { db, instanceId, logger } = this.options;
    try {
      await db.query(
        `WITH b AS (
           INSERT INTO ip_bans AS t (ip, banned_until, reason, instance_id) VALUES ($1, now() + make_interval(secs => $2), $3, $4)
           ON CONFLICT (ip) DO UPDATE SET banned_until = greatest(t.banned_until, EXCLUDED.banned_until), reason = EXCLUDED.reason,
             instance_id = EXCLUDED.instance_id, created_at = now()
           RETURNING ip, extract(epoch FROM banned_until - now())::float8 AS seconds)
         SELECT pg_notify($5, json_build_object('kind', 'ban', 'from', $4::int, 'ip', b.ip, 'seconds', b.seconds, 'reason', $3::text)::text) FROM b`,
        [ip, seconds, reason, instanceId, CLUSTER_CHANNEL],
      );
      this.pending.delete(ip);
    } catch (error) {
      this.pending.set(ip, { until: Date.now() + seconds * 1000, reason });
      logger.warn({ err: error, ip }, 'ban not shared yet (database away): it holds here, the others learn it once the database answers');
    }
  }

  /** Writes the bans made while the database was away (those not expired meanwhile). */
  async publishPending(): Promise<void> {
    for (const [ip, { until, reason }] of [...this.pending]) {
      const seconds = (until - Date.now()) / 1000;
      if (seconds <= 0) this.pending.delete(ip);
      else await this.publish(ip, reason, seconds);
    }
  }

  /** Imposes every ban still running in the table (start, reconnect); forgets rows expired a day ago. */
  async load(db: Pick<pg.Pool, 'query'> = this.options.db): Promise<number> {
    const { bans } = this.options;
    await this.publishPending();
    const { rows } = await db.query<{ ip: string; seconds: number }>(
      'SELECT ip, extract(epoch FROM banned_until - now())::float8 AS seconds FROM ip_bans WHERE banned_until > now()',
    );
    for (const row of rows) bans.impose(row.ip, row.seconds);
    await db.query(`DELETE FROM ip_bans WHERE banned_until < now() - interval '1 day'`);
    return rows.length;
  }
}
