import crypto from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';

/**
 * Local append-only spool used while PostgreSQL is unreachable.
 *
 * File format: one line per record, each line valid JSON with a fixed-width prefix
 *   {"v":1,"sum":"<sha256 hex of the rec text>","rec":<record JSON>}\n
 * so the checksum covers the exact bytes of the record. A line that fails the check (torn last line after
 * a crash during append, or corruption) is skipped with a warning.
 *
 * Files in `dir`: `spool.jsonl` (appends go here) and `spool.jsonl.replaying` (being replayed). Replay renames
 * the active file to .replaying (atomic), applies every record idempotently (ON CONFLICT DO NOTHING), then
 * unlinks it. A crash mid-replay leaves .replaying in place and the next replay applies it again, which is
 * harmless because applying a record twice changes nothing. One spool directory per process.
 */

/** [timeMs, shareId, address, worker, difficulty, networkDifficulty, height, jobId, hash, isBlock, ip, instanceId] */
export type SpooledShareRow = [number, string, string, string, number, number, number, string, string, boolean, string, number];

export interface SpooledBlock {
  height: number; hash: string; prevHash: string; finder: string; worker: string; rewardLitoshis: string;
  shareDifficulty: number; networkDifficulty: number; blockHex: string; shareId: string | null; createdAtMs: number;
  /** Absent on Litecoin blocks (and on spools written before merged mining). */
  chain?: string;
}

export type SpoolRecord =
  | { kind: 'shares'; rows: SpooledShareRow[] }
  | { kind: 'block'; block: SpooledBlock };

export interface SpoolStats { bytes: number; shares: number; records: number }

export interface SpoolOptions {
  dir: string;
  logger?: pino.Logger;
  /** Called whenever the spool's size changes (for ltcpool_spool_bytes / ltcpool_spool_shares). */
  onStats?: (stats: SpoolStats) => void;
}

export interface ReplayResult { records: number; shares: number; skippedLines: number }

const PREFIX = '{"v":1,"sum":"';
const MIDDLE = '","rec":';
const SUM_LEN = 64;
/** Bytes read from a spool file at a time. */
const READ_CHUNK = 4 << 20;

// One-shot hashing (Node >= 20.12) skips the Hash object per line; the fallback is the same digest.
const sha256Hex: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text).digest('hex');

export function encodeSpoolLine(record: SpoolRecord): string {
  const rec = JSON.stringify(record);
  const sum = sha256Hex(rec);
  return `${PREFIX}${sum}${MIDDLE}${rec}}\n`;
}

/** The record in one line (without its newline), or null when the line is torn or corrupt. */
export function decodeSpoolLine(line: string): SpoolRecord | null {
  const recStart = PREFIX.length + SUM_LEN + MIDDLE.length;
  if (line.length <= recStart + 1 || !line.startsWith(PREFIX) || !line.endsWith('}')) return null;
  if (line.slice(PREFIX.length + SUM_LEN, recStart) !== MIDDLE) return null;
  const sum = line.slice(PREFIX.length, PREFIX.length + SUM_LEN);
  const rec = line.slice(recStart, -1);
  if (sha256Hex(rec) !== sum) return null;
  try {
    const parsed = JSON.parse(rec) as SpoolRecord;
    if (parsed.kind === 'shares' && Array.isArray(parsed.rows)) return parsed;
    if (parsed.kind === 'block' && parsed.block && typeof parsed.block.hash === 'string') return parsed;
    return null;
  } catch {
    return null;
  }
}

function recordShares(record: SpoolRecord): number {
  return record.kind === 'shares' ? record.rows.length : 0;
}

export class Spool {
  readonly activePath: string;
  readonly replayingPath: string;
  private readonly logger: pino.Logger;
  private handle: FileHandle | null = null;
  private activeSize = 0;
  private active: SpoolStats = { bytes: 0, shares: 0, records: 0 };
  private replaying: SpoolStats = { bytes: 0, shares: 0, records: 0 };
  private chain: Promise<unknown> = Promise.resolve();
  private opened = false;
  private rotations = 0;
  private uncounted = false;

  constructor(private readonly options: SpoolOptions) {
    this.activePath = path.join(options.dir, 'spool.jsonl');
    this.replayingPath = `${this.activePath}.replaying`;
    this.logger = options.logger ?? pino({ level: 'silent' });
  }

  /**
   * Creates the directory and counts what a previous process left behind. With `countLater`, only the sizes
   * (hasPending() needs no more): records and shares are counted by countInBackground(), for the metrics only.
   */
  async open(options: { countLater?: boolean } = {}): Promise<void> {
    if (this.opened) return;
    await fsp.mkdir(this.options.dir, { recursive: true });
    if (options.countLater) {
      this.active = { bytes: await fileSize(this.activePath), shares: 0, records: 0 };
      this.replaying = { bytes: await fileSize(this.replayingPath), shares: 0, records: 0 };
      this.uncounted = true;
    } else {
      this.active = await this.scan(this.activePath);
      this.replaying = await this.scan(this.replayingPath);
    }
    this.opened = true;
    this.emitStats();
  }

  /** After open({ countLater: true }): counts the records and shares left behind, without delaying anything else. */
  countInBackground(): void {
    if (!this.uncounted) return;
    this.uncounted = false;
    const generation = this.rotations;
    void Promise.all([this.scan(this.activePath), this.scan(this.replayingPath)]).then(([active, replaying]) => {
      if (this.rotations !== generation) return; // a replay moved the files meanwhile: its own figures hold
      this.active = { ...this.active, shares: this.active.shares + active.shares, records: this.active.records + active.records };
      this.replaying = { ...this.replaying, shares: replaying.shares, records: replaying.records };
      this.emitStats();
    }, () => undefined);
  }

  stats(): SpoolStats {
    return {
      bytes: this.active.bytes + this.replaying.bytes,
      shares: this.active.shares + this.replaying.shares,
      records: this.active.records + this.replaying.records,
    };
  }

  hasPending(): boolean {
    return this.active.bytes > 0 || this.replaying.bytes > 0;
  }

  /** Appends one record and fsyncs it; resolves only once the record is on disk. Appends are serialised. */
  append(record: SpoolRecord): Promise<void> {
    return this.exclusive(async () => {
      if (!this.opened) await this.open();
      const line = encodeSpoolLine(record);
      const handle = await this.activeHandle();
      const before = this.activeSize;
      try {
        await handle.write(line, before, 'utf8');
        await handle.datasync();
      } catch (err) {
        // Leave no partial line behind for the next append to glue onto.
        await handle.truncate(before).catch(() => undefined);
        await this.closeHandle();
        throw err;
      }
      const bytes = Buffer.byteLength(line);
      this.activeSize += bytes;
      this.active = { bytes: this.active.bytes + bytes, shares: this.active.shares + recordShares(record), records: this.active.records + 1 };
      this.emitStats();
    });
  }

  /**
   * Applies every spooled record (left over .replaying file first, then the active file, which is rotated
   * atomically first). apply must be idempotent. On error the file stays and the error propagates; calling
   * replay again later re-applies from the start of the file (harmless).
   */
  replay(apply: (record: SpoolRecord) => Promise<void>): Promise<ReplayResult> {
    return this.replayBatches(async (records) => {
      for (const record of records) await apply(record);
    }, 1);
  }

  /**
   * Like replay(), handing consecutive records over together: up to `maxRows` shares (a block record counts
   * as one) per call, so a spool of many small batches replays as a few large statements; up to `concurrency`
   * calls at a time (applyBatch must then not depend on the order in which batches finish).
   */
  replayBatches(applyBatch: (records: SpoolRecord[]) => Promise<void>, maxRows: number, concurrency = 1): Promise<ReplayResult> {
    const total: ReplayResult = { records: 0, shares: 0, skippedLines: 0 };
    return (async () => {
      if (!this.opened) await this.open();
      for (let round = 0; round < 100; round++) {
        const rotated = await this.exclusive(async () => {
          if (await exists(this.replayingPath)) return true;
          if (this.active.bytes === 0 && !(await nonEmpty(this.activePath))) return false;
          await this.closeHandle();
          await fsp.rename(this.activePath, this.replayingPath);
          await fsyncDir(this.options.dir);
          this.rotations++;
          this.replaying = this.active;
          this.active = { bytes: 0, shares: 0, records: 0 };
          this.activeSize = 0;
          return true;
        });
        if (!rotated) break;
        const r = await this.applyFile(this.replayingPath, applyBatch, maxRows, concurrency);
        total.records += r.records;
        total.shares += r.shares;
        total.skippedLines += r.skippedLines;
        await fsp.unlink(this.replayingPath);
        await fsyncDir(this.options.dir);
        this.rotations++;
        this.replaying = { bytes: 0, shares: 0, records: 0 };
        this.emitStats();
      }
      return total;
    })();
  }

  async close(): Promise<void> {
    await this.exclusive(() => this.closeHandle());
  }

  /** Reads every record (the file being replayed, then the active one) without changing anything. Meant for small spools. */
  async peek(): Promise<SpoolRecord[]> {
    if (!this.opened) await this.open();
    // Under the append lock: never read a line that is being written.
    return this.exclusive(async () => {
      const records: SpoolRecord[] = [];
      for (const file of [this.replayingPath, this.activePath]) {
        if (!(await exists(file))) continue;
        await this.applyFile(file, async (batch) => { records.push(...batch); }, Number.POSITIVE_INFINITY);
      }
      return records;
    });
  }

  /**
   * Reads `file` in large chunks, checks and parses its lines synchronously, and hands batches of up to `maxRows`
   * shares to applyBatch, in file order, up to `concurrency` of them at a time; later batches are parsed while
   * earlier ones are applied (database round trips), so neither waits on the other.
   */
  private async applyFile(
    file: string, applyBatch: (records: SpoolRecord[]) => Promise<void>, maxRows = 1, concurrency = 1,
  ): Promise<ReplayResult> {
    const result: ReplayResult = { records: 0, shares: 0, skippedLines: 0 };
    const handle = await fsp.open(file, 'r');
    let lineNo = 0;
    let batch: SpoolRecord[] = [];
    let batchRows = 0;
    const applying: Promise<void>[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const records = batch;
      batch = [];
      batchRows = 0;
      if (applying.length >= concurrency) await applying.shift();
      const applied = applyBatch(records).then(() => {
        result.records += records.length;
        for (const record of records) result.shares += recordShares(record);
      });
      // Awaited by a later flush or at the end; until then a failure must not count as unhandled.
      applied.catch(() => undefined);
      applying.push(applied);
    };
    const parse = (line: string): SpoolRecord | null => {
      lineNo++;
      if (line.length === 0) return null;
      const record = decodeSpoolLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (record === null) {
        result.skippedLines++;
        this.logger.warn({ file, line: lineNo, bytes: line.length }, 'spool line failed its checksum (torn write?): skipped');
      }
      return record;
    };
    try {
      // Chunks are cut at their last newline (never inside a UTF-8 sequence); the tail goes with the next read.
      let carry = Buffer.alloc(0);
      const chunk = Buffer.allocUnsafe(READ_CHUNK);
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, null);
        const data = bytesRead === 0 ? carry : carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        const cut = bytesRead === 0 ? data.length : data.lastIndexOf(0x0a) + 1;
        const text = data.toString('utf8', 0, cut);
        carry = Buffer.from(data.subarray(cut));
        let start = 0;
        while (start < text.length) {
          let nl = text.indexOf('\n', start);
          if (nl === -1) nl = text.length;
          const record = parse(text.slice(start, nl));
          start = nl + 1;
          if (record === null) continue;
          const rows = Math.max(1, recordShares(record));
          if (batchRows > 0 && batchRows + rows > maxRows) await flush();
          batch.push(record);
          batchRows += rows;
        }
        if (bytesRead === 0) break;
      }
      await flush();
      await Promise.all(applying);
    } catch (err) {
      // Nothing of this file may still be going on once the caller sees the error (it may replay it again).
      await Promise.allSettled(applying);
      throw err;
    } finally {
      await handle.close();
    }
    return result;
  }

  private async scan(file: string): Promise<SpoolStats> {
    const stats: SpoolStats = { bytes: 0, shares: 0, records: 0 };
    if (!(await exists(file))) return stats;
    stats.bytes = (await fsp.stat(file)).size;
    const r = await this.applyFile(file, async () => undefined, 5000);
    stats.records = r.records;
    stats.shares = r.shares;
    return stats;
  }

  private async activeHandle(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    const existed = await exists(this.activePath);
    const handle = await fsp.open(this.activePath, 'a+');
    let size = (await handle.stat()).size;
    if (size > 0) {
      // A torn last line (crash during append) must not swallow the next record: end it first.
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        await handle.write('\n', size, 'utf8');
        await handle.datasync();
        size += 1;
      }
    }
    if (!existed) await fsyncDir(this.options.dir);
    this.handle = handle;
    this.activeSize = size;
    this.active.bytes = size;
    return handle;
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    if (h) await h.close().catch(() => undefined);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private emitStats(): void {
    this.options.onStats?.(this.stats());
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return 0;
  }
}

async function nonEmpty(file: string): Promise<boolean> {
  try {
    return (await fsp.stat(file)).size > 0;
  } catch {
    return false;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
