import { isIP } from 'node:net';
import type pg from 'pg';
import pino from 'pino';
import { insertBlockCandidateRow } from './blocks.js';
import { isDatabaseUnavailableError } from './pg-errors.js';
import { insertShareRows, type DuplicateShares } from './share-rows.js';
import { Spool, type ReplayResult, type SpooledShareRow, type SpoolRecord, type SpoolStats } from './spool.js';

export interface AcceptedShare {
  time: Date;
  address: string;
  /** '' when none */
  worker: string;
  /** share difficulty the job was sent with */
  difficulty: number;
  networkDifficulty: number;
  height: number;
  jobId: string;
  /** scrypt pow hash, display hex */
  hash: string;
  isBlock: boolean;
  ip: string;
  instanceId: number;
  /** `${instanceId}:${extranonce1}:${jobId}:${extranonce2}:${ntime}:${nonce}:${versionBits}` */
  shareId: string;
}

/** Structural subsets of prom-client Gauge / Histogram, so tests can pass plain objects. */
export interface GaugeLike { set(value: number): void }
export interface HistogramLike { observe(value: number): void }

export interface ShareWriterMetrics {
  queueDepth?: GaugeLike; // ltcpool_share_queue_depth
  batchSize?: HistogramLike; // ltcpool_share_batch_size
  commitSeconds?: HistogramLike; // ltcpool_share_commit_seconds
  spoolBytes?: GaugeLike; // ltcpool_spool_bytes
  spoolShares?: GaugeLike; // ltcpool_spool_shares
}

export type BatchDestination = 'db' | 'spool';

export interface ShareWriterOptions {
  /** Use createPool() from db.ts: its query timeout keeps a hung server from stalling acknowledgements. */
  pool: pg.Pool;
  /** Directory of this process's spool (one per process; e.g. `.spool/instance-<id>`). */
  spoolDir: string;
  maxBatch?: number; // default 5000
  flushIntervalMs?: number; // default 5
  maxQueue?: number; // default 100000
  /**
   * Full batches (maxBatch shares) committing at the same time, each on its own pool connection; a partial
   * batch waits for the one in flight. Default 2.
   */
  concurrency?: number;
  /**
   * A commit taking longer than this (or 4x the usual commit time, if longer) is not waited for: the batch is
   * fsync'ed to the spool and acknowledged, and the writer spools until a probe answers (a hung database).
   * 0 (default) = wait for the query timeout.
   */
  commitDeadlineMs?: number;
  /** While the database is unreachable, probe it this often. Default 1000. */
  reconnectProbeMs?: number;
  logger?: pino.Logger;
  metrics?: ShareWriterMetrics;
  onBatch?: (info: { size: number; seconds: number; destination: BatchDestination }) => void;
  onSpoolStats?: (stats: SpoolStats) => void;
  onReplay?: (result: ReplayResult) => void;
}

export interface ShareWriterStats {
  queueDepth: number;
  inFlightBatches: number;
  mode: BatchDestination;
  spool: SpoolStats;
}

interface Pending { row: SpooledShareRow; resolve: () => void; reject: (err: Error) => void }

export class ShareValidationError extends Error {}

// isIP is regex work per share; miners come from few addresses, so remember the answers (bounded).
const ipValidity = new Map<string, boolean>();
function validIp(ip: unknown): boolean {
  if (typeof ip !== 'string') return false;
  let ok = ipValidity.get(ip);
  if (ok === undefined) {
    ok = isIP(ip) !== 0;
    if (ipValidity.size >= 50_000) ipValidity.clear();
    ipValidity.set(ip, ok);
  }
  return ok;
}

function invalid(s: AcceptedShare, field: string): never {
  throw new ShareValidationError(`invalid share ${JSON.stringify(s?.shareId)}: ${field}`);
}

const hasNul = (text: string): boolean => text.includes('\u0000');

// Runs once per share on the hot path: no closures or temporary arrays here (they showed up as GC time).
function toRow(s: AcceptedShare): SpooledShareRow {
  if (!(s.time instanceof Date) || Number.isNaN(s.time.getTime())) invalid(s, 'time');
  if (typeof s.shareId !== 'string' || s.shareId.length === 0) invalid(s, 'shareId');
  if (typeof s.address !== 'string' || s.address.length === 0) invalid(s, 'address');
  if (typeof s.worker !== 'string') invalid(s, 'worker');
  if (!Number.isFinite(s.difficulty) || s.difficulty <= 0) invalid(s, 'difficulty');
  if (!Number.isFinite(s.networkDifficulty)) invalid(s, 'networkDifficulty');
  if (!Number.isInteger(s.height) || s.height < 0 || s.height > 0x7fffffff) invalid(s, 'height');
  if (typeof s.jobId !== 'string') invalid(s, 'jobId');
  if (typeof s.hash !== 'string') invalid(s, 'hash');
  if (!Number.isInteger(s.instanceId) || Math.abs(s.instanceId) > 0x7fffffff) invalid(s, 'instanceId');
  if (hasNul(s.shareId) || hasNul(s.address) || hasNul(s.worker) || hasNul(s.jobId) || hasNul(s.hash)) invalid(s, 'NUL character');
  // An unparseable ip would fail the whole batch at the database; keep the share, drop the ip.
  const ip = validIp(s.ip) ? s.ip : '';
  return [s.time.getTime(), s.shareId, s.address, s.worker, s.difficulty, s.networkDifficulty, s.height, s.jobId, s.hash,
    Boolean(s.isBlock), ip, s.instanceId];
}

const RETRY_NOW_SQLSTATES = new Set(['40001', '40P01']);
const UNIQUE_VIOLATION = '23505';

/**
 * Group commit of accepted shares. write() resolves only after the batch holding the share committed in
 * PostgreSQL, or — when PostgreSQL is unreachable — after it was appended and fsync'ed to the local spool,
 * which is replayed (idempotently) when the database is back. It rejects only when the share could be
 * stored nowhere (or is invalid): then the miner must not be told `true`.
 */
export class ShareWriter {
  private readonly pool: pg.Pool;
  private readonly spool: Spool;
  private readonly logger: pino.Logger;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly concurrency: number;
  private readonly probeMs: number;
  private queue: Pending[] = [];
  private spaceWaiters: (() => void)[] = [];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private replaying: Promise<void> | null = null;
  private mode: BatchDestination = 'db';
  private readonly commitDeadlineMs: number;
  /** Moving average of commit times (ms) of batches that made the deadline. */
  private usualCommitMs = 0;
  private recovering = false;
  private replayHeld = false;
  /** Set by the first conflict of a replay: the rest of it inserts with ON CONFLICT DO NOTHING. */
  private replaySkipsDuplicates = false;
  /** True until databaseReady(): everything goes to the spool, no probe, no replay. */
  private gated = false;
  private lastReplayResult: (ReplayResult & { seconds: number; recordsPerSecond: number }) | undefined;
  private started = false;
  private closing = false;

  constructor(private readonly options: ShareWriterOptions) {
    this.pool = options.pool;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.maxBatch = options.maxBatch ?? 5000;
    this.flushIntervalMs = options.flushIntervalMs ?? 5;
    this.maxQueue = Math.max(options.maxQueue ?? 100_000, this.maxBatch);
    this.concurrency = options.concurrency ?? 2;
    this.probeMs = options.reconnectProbeMs ?? 1000;
    this.commitDeadlineMs = options.commitDeadlineMs ?? 0;
    this.spool = new Spool({
      dir: options.spoolDir,
      logger: this.logger,
      onStats: (stats) => {
        options.metrics?.spoolBytes?.set(stats.bytes);
        options.metrics?.spoolShares?.set(stats.shares);
        options.onSpoolStats?.(stats);
      },
    });
  }

  /** The spool, shared with BlocksRepo so a block candidate found during an outage is kept too. */
  get spoolFile(): Spool {
    return this.spool;
  }

  stats(): ShareWriterStats {
    return { queueDepth: this.queue.length, inFlightBatches: this.inFlight, mode: this.mode, spool: this.spool.stats() };
  }

  /**
   * Opens the spool and replays whatever a previous process left in it before resolving. When the database
   * is unreachable, start() still resolves: shares go to the spool and replay happens on reconnect.
   * - `replayInBackground`: resolve once the spool is open; the replay runs behind (shares are taken meanwhile).
   * - `databaseReady: false`: every share goes to the spool, the database is not touched until databaseReady()
   *   is called (the schema has not been checked yet).
   */
  async start(options: { replayInBackground?: boolean; databaseReady?: boolean } = {}): Promise<void> {
    if (this.started) return;
    // Counting what a previous run left (metrics only) waits for releaseReplay() too: nothing spool-related
    // beyond two stat() calls on the way to an open port.
    await this.spool.open({ countLater: options.replayInBackground });
    this.started = true;
    if (options.databaseReady === false) {
      this.gated = true;
      this.mode = 'spool';
      return;
    }
    if (this.spool.hasPending()) {
      if (options.replayInBackground) {
        // Started by releaseReplay() (the pool calls it once its ports are open: the replay's CPU must not
        // delay them), or by the first probe after an outage.
        this.replayHeld = true;
        return;
      }
      this.logger.info(this.spool.stats(), 'replaying share spool left by a previous run');
      await this.recover(true);
    }
  }

  /** Starts the counting and the replay held back by start({ replayInBackground: true }). */
  releaseReplay(): void {
    if (this.closing) return;
    this.spool.countInBackground();
    if (!this.replayHeld || this.gated) return;
    this.replayHeld = false;
    this.logger.info(this.spool.stats(), 'replaying share spool left by a previous run');
    void this.recover(true);
  }

  /** The database may be written now (after start({ databaseReady: false })): probe it, replay the spool, go direct. */
  databaseReady(): void {
    if (!this.gated) return;
    this.gated = false;
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
    void this.recover(false);
  }

  /** Figures of the last spool replay that applied something (records/s included). */
  get lastReplay(): (ReplayResult & { seconds: number; recordsPerSecond: number }) | undefined {
    return this.lastReplayResult;
  }

  // Not an async function: at 100k shares/s the extra promise and resolution ticks of an async wrapper are
  // measurable (allocation -> scavenges with many shares queued). Errors are still returned as rejections.
  write(share: AcceptedShare): Promise<void> {
    let row: SpooledShareRow;
    try {
      if (!this.started) throw new Error('ShareWriter.write() before start()');
      if (this.closing) throw new Error('ShareWriter is closed');
      row = toRow(share);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.queue.length >= this.maxQueue) return this.writeWhenRoom(row);
    return new Promise<void>((resolve, reject) => this.enqueue({ row, resolve, reject }));
  }

  private async writeWhenRoom(row: SpooledShareRow): Promise<void> {
    while (this.queue.length >= this.maxQueue) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      if (this.closing) throw new Error('ShareWriter is closed');
    }
    return new Promise<void>((resolve, reject) => this.enqueue({ row, resolve, reject }));
  }

  private enqueue(pending: Pending): void {
    this.queue.push(pending);
    this.options.metrics?.queueDepth?.set(this.queue.length);
    if (this.queue.length >= this.maxBatch) this.pump();
    else if (this.flushTimer === null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.pump(true);
      }, this.flushIntervalMs);
    }
  }

  /** Stops accepting shares, commits (or spools) everything queued, waits for in-flight work, closes the spool. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const wake of this.spaceWaiters.splice(0)) wake();
    while (this.queue.length > 0 || this.inFlight > 0) {
      this.pump(true);
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
    await this.replaying?.catch(() => undefined);
    await this.spool.close();
  }

  /**
   * Full batches commit up to `concurrency` at a time; a partial batch waits for the commit in flight, gathering
   * the shares that arrive meanwhile (group commit). At a few thousand shares/s that makes a few large
   * statements instead of many small ones, and the database's CPU per share, on the cores Scrypt also needs, drops.
   */
  private pump(timerFired = false): void {
    for (;;) {
      const full = this.queue.length >= this.maxBatch;
      const slots = full || this.closing ? this.concurrency : 1;
      if (this.inFlight >= slots || this.queue.length === 0 || !(timerFired || this.closing || full)) return;
      const batch = this.queue.splice(0, this.maxBatch);
      this.options.metrics?.queueDepth?.set(this.queue.length);
      this.wakeSpaceWaiters();
      this.inFlight++;
      void this.processBatch(batch).finally(() => {
        this.inFlight--;
        // Shares queued while every slot was busy: flush them now rather than waiting for a timer.
        if (this.queue.length > 0) this.pump(true);
        if (this.queue.length === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
        else if (this.closing) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private wakeSpaceWaiters(): void {
    let room = this.maxQueue - this.queue.length;
    while (room-- > 0 && this.spaceWaiters.length > 0) this.spaceWaiters.shift()!();
  }

  private async processBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const rows = batch.map((p) => p.row);
    let destination: BatchDestination = this.mode;
    try {
      if (destination === 'db') {
        let late = false;
        try {
          late = await this.insertWithinDeadline(rows);
        } catch (err) {
          if (!isDatabaseUnavailableError(err)) {
            await this.isolateBadShares(batch, err as Error);
            return;
          }
          this.enterSpoolMode(err as Error);
          destination = 'spool';
          await this.spool.append({ kind: 'shares', rows });
        }
        if (late) {
          // A hung database must not hold the answers: the batch goes to the spool (acknowledged once fsync'ed)
          // while its insert may still finish; the replay skips whatever that insert committed.
          this.enterSpoolMode(new Error(`commit took longer than ${this.currentDeadlineMs()} ms`));
          destination = 'spool';
          await this.spool.append({ kind: 'shares', rows });
        }
      } else {
        await this.spool.append({ kind: 'shares', rows });
        // The database may have come back between reading the mode and this append: make sure a probe
        // (and so a replay) follows every append.
        this.scheduleRecovery();
      }
    } catch (err) {
      this.logger.error({ err, shares: batch.length }, 'could not store a share batch in the database or the spool');
      for (const p of batch) p.reject(err as Error);
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    this.options.metrics?.batchSize?.observe(batch.length);
    this.options.metrics?.commitSeconds?.observe(seconds);
    this.options.onBatch?.({ size: batch.length, seconds, destination });
    for (const p of batch) p.resolve();
  }

  /** The deadline for one commit: the configured one, or 4x the usual commit time when that is longer (a slow but working database). */
  private currentDeadlineMs(): number {
    return Math.max(this.commitDeadlineMs, Math.round(4 * this.usualCommitMs));
  }

  /** Inserts; resolves true when the commit outlived the deadline (it goes on in the background). */
  private async insertWithinDeadline(rows: SpooledShareRow[]): Promise<boolean> {
    const started = performance.now();
    if (this.commitDeadlineMs <= 0) {
      await this.insertWithRetry(rows);
      return false;
    }
    const insert = this.insertWithRetry(rows);
    const done = insert.then(() => false);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.currentDeadlineMs());
    });
    try {
      const late = await Promise.race([done, deadline]);
      if (late) {
        done.catch(() => undefined);
        void insert.then(
          () => this.logger.info({ shares: rows.length, seconds: (performance.now() - started) / 1000 }, 'a late commit finished (its shares are in the spool too; the replay skips them)'),
          (err: Error) => this.logger.warn({ err: { message: err.message }, shares: rows.length }, 'a late commit failed (its shares are in the spool)'),
        );
      } else {
        const ms = performance.now() - started;
        this.usualCommitMs = this.usualCommitMs === 0 ? ms : 0.9 * this.usualCommitMs + 0.1 * ms;
      }
      return late;
    } finally {
      clearTimeout(timer);
    }
  }

  /** With 'fail' (the cheap plain insert), a share already stored makes it retry skipping duplicates (onDuplicate first). */
  private async insertWithRetry(rows: SpooledShareRow[], firstTry: DuplicateShares = 'fail', onDuplicate?: () => void): Promise<number> {
    let duplicates = firstTry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await insertShareRows(this.pool, rows, duplicates);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === UNIQUE_VIOLATION && duplicates === 'fail') {
          onDuplicate?.();
          duplicates = 'skip';
          continue;
        }
        if (attempt >= 3 || code === undefined || !RETRY_NOW_SQLSTATES.has(code)) throw err;
      }
    }
  }

  /** A data error in a batch: store each share alone so one bad share cannot sink the others. */
  private async isolateBadShares(batch: Pending[], batchError: Error): Promise<void> {
    this.logger.warn({ err: batchError, shares: batch.length }, 'share batch rejected by the database; retrying shares one by one');
    const toSpool: Pending[] = [];
    for (const p of batch) {
      if (toSpool.length > 0 || this.mode === 'spool') { toSpool.push(p); continue; }
      try {
        await this.insertWithRetry([p.row]);
        p.resolve();
      } catch (err) {
        if (isDatabaseUnavailableError(err)) {
          this.enterSpoolMode(err as Error);
          toSpool.push(p);
        } else {
          this.logger.error({ err, shareId: p.row[1] }, 'share rejected by the database');
          p.reject(err as Error);
        }
      }
    }
    if (toSpool.length === 0) return;
    try {
      await this.spool.append({ kind: 'shares', rows: toSpool.map((p) => p.row) });
      for (const p of toSpool) p.resolve();
    } catch (err) {
      for (const p of toSpool) p.reject(err as Error);
    }
  }

  private enterSpoolMode(err: Error): void {
    if (this.mode !== 'spool') {
      this.logger.error({ err: { message: err.message, code: (err as { code?: string }).code } },
        'database unreachable: spooling shares to disk until it is back');
    }
    this.mode = 'spool';
    this.scheduleRecovery();
  }

  private scheduleRecovery(): void {
    if (this.recoveryTimer !== null || this.closing || this.gated || this.recovering) return;
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = null;
      void this.recover(false);
    }, this.probeMs);
  }

  /** Probe the database; when it answers, switch back to direct commits and replay the spool. */
  private async recover(initial: boolean): Promise<void> {
    // One probe at a time, with a short timeout of its own: a hung server must not collect stuck probes.
    this.recovering = true;
    try {
      await this.pool.query({ text: 'SELECT 1', query_timeout: Math.max(2000, this.probeMs) } as pg.QueryConfig);
    } catch (err) {
      this.recovering = false;
      if (initial) this.logger.warn({ err: { message: (err as Error).message } }, 'database unreachable at start; spool kept for later');
      this.mode = 'spool';
      this.scheduleRecovery();
      return;
    }
    this.recovering = false;
    if (this.mode === 'spool') this.logger.info('database reachable again');
    this.mode = 'db';
    try {
      await this.replaySpool();
    } catch (err) {
      if (isDatabaseUnavailableError(err)) this.enterSpoolMode(err as Error);
      else {
        this.logger.error({ err }, 'spool replay failed; will retry');
        this.scheduleRecovery();
      }
    }
  }

  /** Replays the spool now (also used by tests and the CLI). Concurrent calls share one replay. */
  replaySpool(): Promise<void> {
    if (this.replaying) return this.replaying;
    const run = (async () => {
      const started = performance.now();
      this.replaySkipsDuplicates = false;
      // As many statements at a time as full batches of live shares: the same load the writer puts on the database.
      const result = await this.spool.replayBatches((records) => this.applySpoolRecords(records), this.maxBatch, this.concurrency);
      if (result.records > 0 || result.skippedLines > 0) {
        const seconds = (performance.now() - started) / 1000;
        this.lastReplayResult = { ...result, seconds, recordsPerSecond: Math.round(result.records / Math.max(seconds, 1e-6)) };
        this.logger.info(this.lastReplayResult, 'share spool replayed');
        this.options.onReplay?.(result);
      }
    })();
    this.replaying = run.finally(() => { this.replaying = null; });
    return this.replaying;
  }

  /** Consecutive spooled records in one statement; when the database refuses it, record by record. */
  private async applySpoolRecords(records: SpoolRecord[]): Promise<void> {
    if (records.length === 1) return this.applySpoolRecord(records[0]);
    const rows: SpooledShareRow[] = [];
    for (const record of records) {
      if (record.kind === 'block') await insertBlockCandidateRow(this.pool, record.block);
      else for (const row of record.rows) rows.push(row);
    }
    if (rows.length === 0) return;
    try {
      // Shares already stored are rare in a spool (a late commit's, or a crash between commit and spool): plain
      // inserts, cheaper for the server, until the first conflict; ON CONFLICT DO NOTHING for the rest of the replay.
      await this.insertWithRetry(rows, this.replaySkipsDuplicates ? 'skip' : 'fail', () => { this.replaySkipsDuplicates = true; });
    } catch (err) {
      if (isDatabaseUnavailableError(err)) throw err;
      for (const record of records) if (record.kind === 'shares') await this.applySpoolRecord(record);
    }
  }

  private async applySpoolRecord(record: SpoolRecord): Promise<void> {
    if (record.kind === 'block') {
      await insertBlockCandidateRow(this.pool, record.block);
      return;
    }
    try {
      // A spooled batch may have landed before (a crash between its commit and the spool's truncation).
      await this.insertWithRetry(record.rows, 'skip');
    } catch (err) {
      if (isDatabaseUnavailableError(err)) throw err;
      // Rows that the database will never accept must not block the rest of the spool forever.
      for (const row of record.rows) {
        try {
          await this.insertWithRetry([row], 'skip');
        } catch (rowErr) {
          if (isDatabaseUnavailableError(rowErr)) throw rowErr;
          this.logger.error({ err: rowErr, row }, 'spooled share rejected by the database; dropped (row logged here)');
        }
      }
    }
  }
}
