import type pg from 'pg';
import pino from 'pino';
import { checkTargetUrl } from './targets.js';

/**
 * Alerts to miners (005_miners_side notifications), in two independent loops that never block the pool:
 *
 * - detect(): finds events in the database and inserts one row per event and channel for every miner whose
 *   settings ask for it. Each row's dedup_key names the event (`worker_offline:<address>:<worker>:<last share ms>`,
 *   `hashrate_drop:<address>:<worker>:<UTC day>`, `block_found:<address>:<hash>`, `payment_sent:<address>:<payment
 *   id>`) and is unique per channel, so running it again (another tick, another instance, after a restart) adds
 *   nothing.
 * - deliver(): claims due pending rows (a lease in next_attempt_at, so two instances never send one row at
 *   once), sends them, and marks each sent only after the receiver answered 2xx. A failure is retried with
 *   exponential backoff up to maxAttempts, then marked failed. A crash between the receiver's answer and the mark
 *   sends that one notification again; nothing else repeats, nothing is lost.
 *
 * Webhook: POST of the JSON payload. ntfy: POST of the message text to the topic URL with Title/Tags headers
 * (ntfy.sh or a self-hosted ntfy; any endpoint taking that shape).
 */

export interface NotifierOptions {
  /** A worker with no share for this long (after having shares in the last day) is offline. */
  workerOfflineMinutes: number;
  /** A worker whose last hour is below this percentage of its 24-hour average has dropped. */
  hashrateDropPercent: number;
  retryBaseSeconds: number;
  maxAttempts: number;
  timeoutMs: number;
  allowPrivateTargets: boolean;
}

export const DEFAULT_NOTIFIER_OPTIONS: NotifierOptions = {
  workerOfflineMinutes: 10, hashrateDropPercent: 50, retryBaseSeconds: 30, maxAttempts: 10, timeoutMs: 5000, allowPrivateTargets: false,
};

export type NotificationKind = 'worker_offline' | 'hashrate_drop' | 'block_found' | 'payment_sent';

export interface NotificationPayload {
  kind: NotificationKind;
  address: string;
  title: string;
  message: string;
  /** When the event happened. */
  time: string;
  worker?: string;
  [key: string]: unknown;
}

/** Events of the last day only: turning alerts on does not flood a miner with history. */
const LOOKBACK = `interval '1 day'`;

/** Inserts one notification per (event, channel) for miners whose settings ask for it; returns rows added. */
export async function detectNotifications(db: pg.Pool, options: NotifierOptions, now: Date = new Date()): Promise<number> {
  const offlineSeconds = options.workerOfflineMinutes * 60;
  // Each query yields (address, kind, event key, payload json); the shared INSERT fans it out to the channels.
  const events = `
    WITH events AS (
      -- a worker silent for workerOfflineMinutes after having shares in the last day
      SELECT w.address, 'worker_offline'::text AS kind,
             'worker_offline:' || w.address || ':' || w.name || ':' || (extract(epoch from w.last_seen) * 1000)::bigint AS key,
             jsonb_build_object('worker', w.name, 'lastShareAt', w.last_seen,
               'title', 'Worker ' || CASE WHEN w.name = '' THEN '(default)' ELSE w.name END || ' is offline',
               'message', 'No share from worker ' || CASE WHEN w.name = '' THEN '(default)' ELSE w.name END || ' of ' || w.address ||
                          ' since ' || to_char(w.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC',
               'time', w.last_seen) AS payload
        FROM workers w JOIN miner_settings s ON s.address = w.address AND s.notify_worker_offline
       WHERE w.last_seen < $1::timestamptz - make_interval(secs => $2) AND w.last_seen > $1::timestamptz - ${LOOKBACK}
      UNION ALL
      -- last hour (closed ten-minute buckets) below hashrateDropPercent of the worker's 24-hour average
      SELECT h.address, 'hashrate_drop', 'hashrate_drop:' || h.address || ':' || h.worker || ':' || to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
             jsonb_build_object('worker', h.worker, 'lastHourDifficulty', h.recent, 'dayAverageHourDifficulty', h.day / 24.0,
               'title', 'Hashrate drop on ' || CASE WHEN h.worker = '' THEN '(default)' ELSE h.worker END,
               'message', 'Worker ' || CASE WHEN h.worker = '' THEN '(default)' ELSE h.worker END || ' of ' || h.address || ' ran at ' ||
                          round((100 * h.recent / (h.day / 24.0))::numeric, 0) || ' % of its 24-hour average in the last hour',
               'time', $1::timestamptz)
        FROM (SELECT wh.address, wh.worker,
                     sum(wh.difficulty_sum) FILTER (WHERE wh.bucket_start >= $1::timestamptz - interval '70 minutes'
                                                      AND wh.bucket_start < $1::timestamptz - interval '10 minutes') AS recent,
                     sum(wh.difficulty_sum) AS day
                FROM worker_history wh
               WHERE wh.bucket_start >= $1::timestamptz - ${LOOKBACK}
               GROUP BY 1, 2) h
        JOIN miner_settings s ON s.address = h.address AND s.notify_hashrate_drop
        JOIN workers w ON w.address = h.address AND w.name = h.worker AND w.last_seen >= $1::timestamptz - make_interval(secs => $2)
       WHERE h.day > 0 AND coalesce(h.recent, 0) < h.day / 24.0 * $3 / 100.0
         AND (SELECT min(bucket_start) FROM worker_history x WHERE x.address = h.address AND x.worker = h.worker) < $1::timestamptz - interval '1 day' + interval '1 hour'
      UNION ALL
      SELECT s.address, 'block_found', 'block_found:' || s.address || ':' || b.hash,
             jsonb_build_object('chain', b.chain, 'height', b.height, 'hash', b.hash, 'finder', b.finder,
               'title', initcap(b.chain) || ' block ' || b.height || ' found',
               'message', 'The pool found ' || b.chain || ' block ' || b.height || ' (' || b.hash || ')', 'time', b.created_at)
        FROM blocks b JOIN miner_settings s ON s.notify_block_found
       WHERE b.status IN ('accepted', 'confirmed') AND b.created_at > $1::timestamptz - ${LOOKBACK}
      UNION ALL
      SELECT p.address, 'payment_sent', 'payment_sent:' || p.address || ':' || p.id,
             jsonb_build_object('paymentId', p.id::text, 'amountLitoshis', p.amount::text, 'txid', p.txid,
               'title', 'Payment sent', 'message', 'Sent ' || to_char(p.amount / 1e8, 'FM999999990.00000000') || ' LTC to ' || p.address || ' in ' || p.txid,
               'time', p.updated_at)
        FROM payments p JOIN miner_settings s ON s.address = p.address AND s.notify_payment_sent
       WHERE p.status = 'sent' AND p.updated_at > $1::timestamptz - ${LOOKBACK}
    )`;
  const res = await db.query(
    `${events}
     INSERT INTO notifications (address, kind, dedup_key, channel, target, payload)
     SELECT e.address, e.kind, e.key, c.channel, c.target,
            e.payload || jsonb_build_object('kind', e.kind, 'address', e.address)
       FROM events e
       JOIN miner_settings s ON s.address = e.address
      CROSS JOIN LATERAL (VALUES ('webhook', s.webhook_url), ('ntfy', s.ntfy_url)) AS c (channel, target)
      WHERE c.target IS NOT NULL
     ON CONFLICT (dedup_key, channel) DO NOTHING`,
    [now, offlineSeconds, options.hashrateDropPercent],
  );
  return res.rowCount ?? 0;
}

interface Claimed {
  id: string;
  channel: 'webhook' | 'ntfy';
  target: string;
  payload: NotificationPayload;
  attempts: number;
}

async function send(row: Claimed, options: NotifierOptions): Promise<void> {
  checkTargetUrl(row.target, options.allowPrivateTargets);
  const signal = AbortSignal.timeout(options.timeoutMs);
  const response =
    row.channel === 'webhook'
      ? await fetch(row.target, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'ltcpool' }, body: JSON.stringify({ id: row.id, ...row.payload }), signal, redirect: 'error' })
      : await fetch(row.target, {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8', title: row.payload.title, tags: row.payload.kind === 'worker_offline' || row.payload.kind === 'hashrate_drop' ? 'warning' : 'moneybag', 'user-agent': 'ltcpool' },
          body: row.payload.message,
          signal,
          redirect: 'error',
        });
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
}

/** Sends due notifications; returns how many were sent and how many failed this round. */
export async function deliverNotifications(db: pg.Pool, options: NotifierOptions, limit = 50): Promise<{ sent: number; failed: number }> {
  const lease = Math.ceil(options.timeoutMs / 1000) + 30;
  const { rows } = await db.query<Claimed>(
    `UPDATE notifications SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1
      WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING id::text, channel, target, payload, attempts`,
    [limit, lease],
  );
  let sent = 0;
  let failed = 0;
  await Promise.all(
    rows.map(async (row) => {
      try {
        await send(row, options);
        await db.query(`UPDATE notifications SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1`, [row.id]);
        sent++;
      } catch (error) {
        failed++;
        const message = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
        const delay = Math.min(3600, options.retryBaseSeconds * 2 ** (row.attempts - 1));
        await db.query(
          `UPDATE notifications SET last_error = $2, status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
                  next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1`,
          [row.id, message.slice(0, 500), options.maxAttempts, delay],
        );
      }
    }),
  );
  return { sent, failed };
}

export interface NotifierDeps extends Partial<NotifierOptions> {
  db: pg.Pool;
  /** Detection and delivery period. Default 30 s. */
  intervalMs?: number;
  logger?: pino.Logger;
  onDelivered?: (result: { sent: number; failed: number }) => void;
}

export class Notifier {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly options: NotifierOptions;
  private readonly logger: pino.Logger;

  constructor(private readonly deps: NotifierDeps) {
    this.options = { ...DEFAULT_NOTIFIER_OPTIONS, ...Object.fromEntries(Object.entries(deps).filter(([k, v]) => v !== undefined && k in DEFAULT_NOTIFIER_OPTIONS)) };
    this.logger = deps.logger ?? pino({ level: 'silent' });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs ?? 30_000);
    this.timer.unref();
    void this.tick();
  }

  tick(): Promise<void> {
    return (this.running ??= (async () => {
      try {
        const added = await detectNotifications(this.deps.db, this.options);
        if (added > 0) this.logger.info({ added }, 'notifications queued');
        const result = await deliverNotifications(this.deps.db, this.options);
        if (result.failed > 0) this.logger.warn(result, 'some notifications could not be delivered; retrying with backoff');
        this.deps.onDelivered?.(result);
      } catch (error) {
        this.logger.warn({ err: error }, 'notifier pass failed');
      }
    })().finally(() => {
      this.running = undefined;
    }));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
