import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { redactUrl } from '../src/ops/logger.js';
import { createPool } from '../src/store/db.js';
import { migrate } from '../src/store/migrations.js';
import { ensureSharePartitions } from '../src/store/partitions.js';
import { ShareWriter } from '../src/store/share-writer.js';
import { encodeSpoolLine, Spool, type SpooledShareRow } from '../src/store/spool.js';

export interface SpoolReplayFigures {
  records: number;
  /** Reading and checking the file alone (checksums, JSON), nothing written. */
  parseRecordsPerSec: number;
  /** Into the database through ShareWriter.replaySpool(), as the pool replays at start or after an outage. */
  replayRecordsPerSec: number;
  replaySeconds: number;
  /** This process's CPU per record during the replay (the rest is the database server's). */
  clientCpuMicrosPerRecord: number;
}

/**
 * Spool replay: a spool of `records` one-share records (an outage at a low share rate spools one batch per share,
 * the worst case) replayed into a migrated database. Rows are deleted afterwards; prints figures, never fails on timing.
 */
export async function benchSpoolReplay(url: string, records: number): Promise<SpoolReplayFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-bench-replay-'));
  const pool = createPool({ url, max: 4 });
  const run = `replay:${Date.now().toString(36)}`;
  try {
    await migrate(pool);
    await ensureSharePartitions(pool, 1);
    writeSpool(dir, run, records);

    // Parse only: the same file, read by a spool of its own (nothing renamed: replayBatches would rotate it).
    const parseStarted = performance.now();
    const parsed = await new Spool({ dir }).peek();
    const parseSeconds = (performance.now() - parseStarted) / 1000;
    if (parsed.length !== records) throw new Error(`spool read back ${parsed.length} records of ${records}`);

    const writer = new ShareWriter({ pool, spoolDir: dir });
    await writer.start({ replayInBackground: true });
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await writer.replaySpool();
    const replaySeconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    await writer.close();
    const stored = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM shares WHERE share_id LIKE $1', [`${run}:%`]);
    if (stored.rows[0].n !== records) throw new Error(`replay stored ${stored.rows[0].n} shares of ${records}`);
    await pool.query('DELETE FROM shares WHERE share_id LIKE $1', [`${run}:%`]);
    const figures = {
      records,
      parseRecordsPerSec: records / parseSeconds,
      replayRecordsPerSec: records / replaySeconds,
      replaySeconds,
      clientCpuMicrosPerRecord: (cpu.user + cpu.system) / records,
    };
    console.log(`  spool replay, ${records.toLocaleString('en-US')} one-share records: ${replaySeconds.toFixed(2)} s = ` +
      `${Math.round(figures.replayRecordsPerSec).toLocaleString('en-US')} records/s into the database ` +
      `(${figures.clientCpuMicrosPerRecord.toFixed(1)} µs CPU per record in this process, the rest is the server's); reading and checking alone ` +
      `${Math.round(figures.parseRecordsPerSec).toLocaleString('en-US')} records/s [${redactUrl(url)}]`);
    return figures;
  } finally {
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeSpool(dir: string, run: string, records: number): void {
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 0; i < records; i++) {
    const row: SpooledShareRow = [now - records + i, `${run}:${i}`, `ltc1qreplay${i % 500}`, `rig${i % 7}`, 65536, 2.5e7, 2_800_000,
      (i >>> 8).toString(16), '00000000ffff' + i.toString(16).padStart(52, '0'), false, '127.0.0.1', 1];
    lines.push(encodeSpoolLine({ kind: 'shares', rows: [row] }));
  }
  writeFileSync(path.join(dir, 'spool.jsonl'), lines.join(''));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2] ?? process.env.LTCPOOL_BENCH_PG_URL ?? process.env.DATABASE_URL;
  if (!url) {
    console.error('usage: tsx bench/spool-replay.ts <postgres url of a scratch database> [records]');
    process.exit(2);
  }
  await benchSpoolReplay(url, Number(process.argv[3] ?? 100_000));
}
