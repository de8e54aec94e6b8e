import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import type pg from 'pg';

/** Another live instance holds the id: serve must not start (two instances would hand out the same extranonce1s). */
export class InstanceLeaseHeldError extends Error {
  constructor(readonly holder: { instanceId: number; host: string; pid: number; heartbeatAt: Date; ageSeconds: number; leaseSeconds: number }) {
    super(
      `instanceId ${holder.instanceId} is held by a live instance on host ${holder.host} (pid ${holder.pid}), last heartbeat ` +
        `${holder.heartbeatAt.toISOString()} (${holder.ageSeconds.toFixed(1)} s ago); its lease expires ${holder.leaseSeconds} s after its last heartbeat. ` +
        'Stop that instance or give this one another instanceId.',
    );
    this.name = 'InstanceLeaseHeldError';
  }
}

export interface InstanceFigures {
  connections: number;
  sharesPerSecond: number;
  /** Authorized workers on this instance's connections (011_scale_out). */
  workers?: number;
  /** This instance's hashrate from its accepted shares, hashes per second (011_scale_out). */
  hashrate?: number;
}

export interface InstanceLeaseOptions {
  db: pg.Pool;
  instanceId: number;
  /** Without a heartbeat for this long, the lease is free for another process. Heartbeats come every third of it. */
  leaseSeconds: number;
  /** A live holder on this same host (an overlapping restart): wait up to this long for its release. Default 0. */
  startWaitSeconds?: number;
  figures?: () => InstanceFigures;
  /** The row now names another process (it took over while this one could not heartbeat): stop serving. */
  onLost?: (holder: { host: string; pid: number }) => void;
  logger: Logger;
  host?: string;
  pid?: number;
}

interface LeaseRow { host: string; pid: number; heartbeat_at: Date; age: number; lease_seconds: number; token: string }

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** The lease row of `instanceId` in instance_leases (migration 007). */
export class InstanceLease {
  readonly token = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private watcher: NodeJS.Timeout | undefined;
  /** The figures of the last heartbeat that reached the database. */
  private written: InstanceFigures | undefined;
  private lost = false;
  private beating: Promise<void> | undefined;
  private readonly host: string;
  private readonly pid: number;

  constructor(private readonly options: InstanceLeaseOptions) {
    this.host = options.host ?? os.hostname();
    this.pid = options.pid ?? process.pid;
  }

  /**
   * Takes the row (free, released or expired), else throws InstanceLeaseHeldError; a live holder on this host
   * is waited for up to startWaitSeconds (a previous process releasing it on shutdown).
   */
  async acquire(): Promise<void> {
    const deadline = Date.now() + (this.options.startWaitSeconds ?? 0) * 1000;
    let logged = false;
    for (;;) {
      try {
        return await this.tryAcquire();
      } catch (error) {
        if (!(error instanceof InstanceLeaseHeldError) || error.holder.host !== this.host || Date.now() >= deadline) throw error;
        if (!logged) this.options.logger.warn({ instanceId: this.options.instanceId, holderPid: error.holder.pid }, 'instanceId held by a live process on this host (a previous process shutting down?): waiting for it');
        logged = true;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async tryAcquire(): Promise<void> {
    const { db, instanceId, leaseSeconds } = this.options;
    const taken = await db.query<{ previous_host: string | null }>(
      `INSERT INTO instance_leases AS l (instance_id, token, host, pid, started_at, heartbeat_at, lease_seconds)
       VALUES ($1, $2, $3, $4, now(), now(), $5)
       ON CONFLICT (instance_id) DO UPDATE SET token = EXCLUDED.token, host = EXCLUDED.host, pid = EXCLUDED.pid,
         started_at = now(), heartbeat_at = now(), lease_seconds = EXCLUDED.lease_seconds, released_at = NULL,
         connections = 0, shares_per_second = 0, workers = 0, hashrate = 0
       WHERE l.released_at IS NOT NULL OR l.heartbeat_at < now() - make_interval(secs => l.lease_seconds)
       RETURNING instance_id`,
      [instanceId, this.token, this.host, this.pid, leaseSeconds],
    );
    if (taken.rowCount === 1) {
      this.options.logger.info({ instanceId, host: this.host, pid: this.pid, leaseSeconds }, 'instance lease taken');
      return;
    }
    const held = await db.query<LeaseRow>(
      `SELECT host, pid, heartbeat_at, extract(epoch FROM now() - heartbeat_at)::float8 AS age, lease_seconds, token
       FROM instance_leases WHERE instance_id = $1`,
      [instanceId],
    );
    const row = held.rows[0];
    if (!row) return this.tryAcquire(); // released and deleted by hand in between: try again
    // On this host the holder's liveness is known at once: a process that is gone (kill -9, crash) or this very
    // process (a pool started again in it) holds nothing; no need to wait for the lease to expire.
    if (row.host === this.host && (row.pid === this.pid || !processAlive(row.pid))) {
      const res = await db.query(
        `UPDATE instance_leases SET token = $3, host = $4, pid = $5, started_at = now(), heartbeat_at = now(), lease_seconds = $6,
           released_at = NULL, connections = 0, shares_per_second = 0, workers = 0, hashrate = 0
         WHERE instance_id = $1 AND token = $2`,
        [instanceId, row.token, this.token, this.host, this.pid, leaseSeconds],
      );
      if (res.rowCount === 1) {
        this.options.logger.warn({ instanceId, previousPid: row.pid, lastHeartbeat: row.heartbeat_at }, 'instance lease taken over from a process on this host that is gone');
        return;
      }
      return this.tryAcquire(); // someone else moved first: look again
    }
    throw new InstanceLeaseHeldError({ instanceId, host: row.host, pid: row.pid, heartbeatAt: row.heartbeat_at, ageSeconds: row.age, leaseSeconds: row.lease_seconds });
  }

  /**
   * Heartbeats every leaseSeconds / 3 with the instance's figures, and within a second when its connections or
   * workers changed (the pool-wide views sum them: they must not lag a whole heartbeat period).
   */
  start(): void {
    const intervalMs = Math.max(100, (this.options.leaseSeconds * 1000) / 3);
    const beat = () => {
      this.beating ??= this.heartbeat().finally(() => (this.beating = undefined));
    };
    this.timer = setInterval(beat, intervalMs);
    this.timer.unref();
    this.watcher = setInterval(() => {
      const f = this.options.figures?.();
      if (f && this.written && (f.connections !== this.written.connections || (f.workers ?? 0) !== (this.written.workers ?? 0))) beat();
    }, Math.min(1000, intervalMs));
    this.watcher.unref();
  }

  async heartbeat(): Promise<void> {
    if (this.lost) return;
    const { db, instanceId, figures, logger } = this.options;
    const f = figures?.() ?? { connections: 0, sharesPerSecond: 0 };
    try {
      const res = await db.query(
        `UPDATE instance_leases SET heartbeat_at = now(), connections = $3, shares_per_second = $4, workers = $5, hashrate = $6
         WHERE instance_id = $1 AND token = $2 AND released_at IS NULL`,
        [instanceId, this.token, f.connections, f.sharesPerSecond, f.workers ?? 0, f.hashrate ?? 0],
      );
      if (res.rowCount === 1) {
        this.written = f;
        return;
      }
      const now = await db.query<LeaseRow>('SELECT host, pid FROM instance_leases WHERE instance_id = $1', [instanceId]);
      const holder = now.rows[0] ?? { host: '(none)', pid: 0 };
      this.lost = true;
      logger.error({ instanceId, holder: { host: holder.host, pid: holder.pid } }, 'instance lease lost: another process took this instanceId while this one could not heartbeat');
      this.options.onLost?.({ host: holder.host, pid: holder.pid });
    } catch (error) {
      // The database is away: keep serving (shares spool); the lease expires only if this lasts leaseSeconds.
      logger.warn({ err: error, instanceId }, 'instance heartbeat failed');
    }
  }

  /** Clean shutdown: the row stays (for /api/instances) but is free at once. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.watcher) clearInterval(this.watcher);
    this.timer = undefined;
    this.watcher = undefined;
    await this.beating;
    if (this.lost) return;
    const { db, instanceId, logger } = this.options;
    try {
      await db.query('UPDATE instance_leases SET released_at = now(), connections = 0, shares_per_second = 0, workers = 0, hashrate = 0 WHERE instance_id = $1 AND token = $2', [instanceId, this.token]);
    } catch (error) {
      logger.warn({ err: error, instanceId }, 'instance lease not released (it expires on its own)');
    }
  }
}

export interface InstanceRow {
  instanceId: number;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string;
  heartbeatAgeSeconds: number;
  live: boolean;
  releasedAt: string | null;
  connections: number;
  sharesPerSecond: number;
  workers: number;
  hashrate: number;
}

/** Every lease row, live or not, for /api/instances. */
export async function listInstances(db: { query(text: string, values?: unknown[]): Promise<{ rows: any[] }> }): Promise<InstanceRow[]> {
  const res: { rows: Array<{
    instance_id: number; host: string; pid: number; started_at: Date; heartbeat_at: Date; age: number; live: boolean; released_at: Date | null;
    connections: number; shares_per_second: number; workers: number; hashrate: number;
  }> } = await db.query(
    `SELECT instance_id, host, pid, started_at, heartbeat_at, extract(epoch FROM now() - heartbeat_at)::float8 AS age,
            (released_at IS NULL AND heartbeat_at >= now() - make_interval(secs => lease_seconds)) AS live,
            released_at, connections, shares_per_second, workers, hashrate
     FROM instance_leases ORDER BY instance_id`,
  );
  return res.rows.map((r) => ({
    instanceId: r.instance_id,
    host: r.host,
    pid: r.pid,
    startedAt: r.started_at.toISOString(),
    heartbeatAt: r.heartbeat_at.toISOString(),
    heartbeatAgeSeconds: Math.round(r.age * 10) / 10,
    live: r.live,
    releasedAt: r.released_at?.toISOString() ?? null,
    connections: r.connections,
    sharesPerSecond: r.shares_per_second,
    workers: r.workers,
    hashrate: r.hashrate,
  }));
}
