import type { Logger } from 'pino';
import type pg from 'pg';

/**
 * What one instance learns, the others learn: events on one PostgreSQL NOTIFY channel, the state they announce
 * kept in tables (ip_bans, blocks), so an instance that (re)connects reads it back instead of having missed it.
 * No message bus: the database every instance already depends on carries it.
 */

export const CLUSTER_CHANNEL = 'ltcpool_events';

/** Held by each serving instance on its listener connection: PostgreSQL frees it the moment the process dies. */
export const PRESENCE_LOCK_CLASS = 0x6c74_6370; // 'ltcp'

export type ClusterEvent =
  /** An IP banned for `seconds` more (from the database's clock at the ban). */
  | { kind: 'ban'; from: number; ip: string; seconds: number; reason: string }
  /** A block accepted by its chain's node: fetch new work now. */
  | { kind: 'block'; from: number; chain: string; height?: number; hash?: string }
  /** The operator reloaded the configuration of one instance (SIGHUP): the others re-read theirs. */
  | { kind: 'reload'; from: number };

export function parseClusterEvent(payload: string | undefined): ClusterEvent | undefined {
  if (!payload) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Record<string, unknown>;
  if (typeof e.from !== 'number') return undefined;
  if (e.kind === 'ban' && typeof e.ip === 'string' && typeof e.seconds === 'number' && typeof e.reason === 'string') return e as ClusterEvent;
  if (e.kind === 'block' && typeof e.chain === 'string') return e as ClusterEvent;
  if (e.kind === 'reload') return e as ClusterEvent;
  return undefined;
}

/** Sends `event` to every listening instance (this one too: listeners skip their own). */
export async function publishClusterEvent(db: Pick<pg.Pool, 'query'>, event: ClusterEvent): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [CLUSTER_CHANNEL, JSON.stringify(event)]);
}

export interface ClusterChannelOptions {
  /** A pool of its own (max 1): its one connection stays checked out for LISTEN and the presence lock. */
  pool: pg.Pool;
  instanceId: number;
  /** Another instance's event (own events are not delivered). */
  onEvent: (event: ClusterEvent) => void;
  /**
   * After every (re)connect, once listening: read the tables' state (an event may have been missed meanwhile), on
   * the listening connection itself (never queued behind the share writer's connections).
   */
  onSync: (client: pg.PoolClient) => Promise<void>;
  logger: Logger;
  /** A ping this often finds a connection that died silently. Default 10 s. */
  pingMs?: number;
  /** Reconnect back-off bounds. Default 250 ms .. 5 s. */
  retryMs?: { min: number; max: number };
}

/**
 * The listener: one connection that LISTENs, holds the instance's presence lock, and reconnects (with back-off)
 * when the database goes away, then listens again and calls onSync.
 */
export class ClusterChannel {
  private stopped = false;
  private client: pg.PoolClient | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Successful (re)connects, each followed by a sync. */
  syncs = 0;
  private readonly syncWaiters: Array<(synced: boolean) => void> = [];

  constructor(private readonly options: ClusterChannelOptions) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** True once the first sync is done, false if `timeoutMs` passed first (the database is away: carry on). */
  firstSync(timeoutMs: number): Promise<boolean> {
    if (this.syncs > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.syncWaiters.push(resolve);
      setTimeout(() => resolve(false), timeoutMs).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { pool, instanceId, logger } = this.options;
    const retry = this.options.retryMs ?? { min: 250, max: 5000 };
    let delay = retry.min;
    let failures = 0;
    while (!this.stopped) {
      let client: pg.PoolClient | undefined;
      try {
        client = await pool.connect();
        const lost = new Promise<string>((resolve) => {
          client!.once('error', (error: Error) => resolve(error.message));
          client!.once('end', () => resolve('connection ended'));
        });
        client.on('notification', (message) => {
          if (message.channel !== CLUSTER_CHANNEL) return;
          const event = parseClusterEvent(message.payload);
          if (!event) return void logger.warn({ payload: message.payload?.slice(0, 200) }, 'cluster event not understood: ignored');
          if (event.from === instanceId) return;
          try {
            this.options.onEvent(event);
          } catch (error) {
            logger.error({ err: error, event }, 'cluster event handler failed');
          }
        });
        await client.query(`LISTEN ${CLUSTER_CHANNEL}`);
        const present = await this.holdPresence(client);
        this.client = client;
        await this.options.onSync(client);
        this.syncs++;
        for (const resolve of this.syncWaiters.splice(0)) resolve(true);
        if (failures > 0) logger.info({ after: failures }, 'cluster listener reconnected: listening again, state reloaded');
        else logger.info('cluster listener: listening');
        failures = 0;
        delay = retry.min;
        const reason = await Promise.race([lost, this.pingUntilFailure(client, present)]);
        if (!this.stopped) logger.warn({ reason }, 'cluster listener lost its connection: reconnecting');
      } catch (error) {
        if (!this.stopped && failures === 0) logger.warn({ err: error }, 'cluster listener cannot connect: retrying');
      } finally {
        // Released here only (also when stopping mid-connect): a client left checked out would hang pool.end().
        this.client = undefined;
        client?.release(true);
      }
      if (this.stopped) break;
      failures++;
      await this.sleep(delay);
      delay = Math.min(retry.max, delay * 2);
    }
  }

  /**
   * The presence lock: a session lock PostgreSQL releases when this process's connection ends (SIGKILL included),
   * so views count a dead instance out at once instead of when its lease expires. A stale backend of this very
   * instance may still hold it for a while (a connection the server has not noticed is gone): retried on each ping.
   */
  private async holdPresence(client: pg.PoolClient): Promise<boolean> {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [PRESENCE_LOCK_CLASS, this.options.instanceId]);
    return rows[0].ok;
  }

  private async pingUntilFailure(client: pg.PoolClient, present: boolean): Promise<string> {
    const pingMs = this.options.pingMs ?? 10_000;
    while (!this.stopped) {
      await this.sleep(pingMs);
      if (this.stopped) return 'stopped';
      try {
        if (!present) present = await this.holdPresence(client);
        else await client.query('SELECT 1');
      } catch (error) {
        return (error as Error).message;
      }
    }
    return 'stopped';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
