import { LIVE_INSTANCE, connectedWorkersOf } from '../../store/connected-workers.js';
import { effectiveWindowSeconds, hashrateFromDifficulty } from './hashrate.js';
import type { SqlQueryable } from './types.js';

/** What every instance of the pool answers alike: read from the database, never from the serving process's memory. */
export interface PoolWideFigures {
  /** Hashes per second from the shares table over the window (or the time since the first share in it, when shorter). */
  hashrate: number;
  /** Distinct addresses with a worker connected to a live instance. */
  miners: number;
  /**
   * Distinct workers (address, worker name, IP) connected to live instances. Distinct, so the workers of an
   * instance that died without a goodbye (SIGKILL) are not counted twice once they reconnect elsewhere, while its
   * rows wait for its lease to expire.
   */
  workers: number;
  /** Open Stratum connections of live instances, as of their last heartbeat (a dead instance's until its lease expires). */
  connections: number;
  /** Live instances (lease held, heartbeat fresh). */
  instances: number;
}

export async function readPoolWideFigures(db: SqlQueryable, windowSeconds: number): Promise<PoolWideFigures> {
  const { rows } = await db.query(
    `WITH live AS (SELECT l.instance_id, l.connections FROM instance_leases l WHERE ${LIVE_INSTANCE}),
          online AS (SELECT c.address, c.worker, c.ip FROM connected_workers c WHERE c.instance_id IN (SELECT instance_id FROM live)),
          recent AS (SELECT coalesce(sum(difficulty), 0)::float8 AS d, extract(epoch FROM now() - min(time))::float8 AS observed
                       FROM shares WHERE time >= now() - make_interval(secs => $1))
     SELECT (SELECT count(*)::int FROM live) AS instances,
            (SELECT coalesce(sum(connections), 0)::int FROM live) AS connections,
            (SELECT count(DISTINCT (address, worker, ip))::int FROM online) AS workers,
            (SELECT count(DISTINCT address)::int FROM online) AS miners,
            recent.d, recent.observed
       FROM recent`,
    [windowSeconds],
  );
  const row = rows[0] as { instances: number; connections: number; workers: number; miners: number; d: number; observed: number | null };
  return {
    hashrate: hashrateFromDifficulty(row.d, effectiveWindowSeconds(windowSeconds, row.observed ?? windowSeconds)),
    miners: row.miners,
    workers: row.workers,
    connections: row.connections,
    instances: row.instances,
  };
}

/**
 * The last answer of `load`, reused for `ttlMs`: /api/pool and the hashrate gauge read pool-wide aggregates, and
 * many dashboard clients on many instances must not each cost a scan of the last ten minutes of shares. One load
 * at a time; a failed load is not kept.
 */
export class Cached<T> {
  private value: { at: number; data: T } | undefined;
  private loading: Promise<T> | undefined;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A bound function: pass `cache.get` where a loader is expected. */
  readonly get = (): Promise<T> => {
    if (this.value && this.now() - this.value.at < this.ttlMs) return Promise.resolve(this.value.data);
    return (this.loading ??= this.load()
      .then((data) => {
        this.value = { at: this.now(), data };
        return data;
      })
      .finally(() => (this.loading = undefined)));
  };
}

/**
 * Workers of `address` connected to any live instance, with their IPs: the serving instance's own from its memory
 * (exact at once), the others' from connected_workers (written within a second of a change).
 */
export async function connectedWorkersPoolWide(
  db: SqlQueryable,
  address: string,
  local: { instanceId?: number; connectedWorkers?: (address: string) => { worker: string; ip: string }[] },
): Promise<{ worker: string; ip: string }[]> {
  const own = local.connectedWorkers?.(address) ?? [];
  const others = await connectedWorkersOf(db, address, local.connectedWorkers ? local.instanceId : undefined);
  const seen = new Set(own.map((w) => `${w.worker}\0${w.ip}`));
  return [...own, ...others.filter((w) => !seen.has(`${w.worker}\0${w.ip}`))];
}
