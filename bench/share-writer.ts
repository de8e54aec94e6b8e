import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { redactUrl } from '../src/ops/logger.js';
import { createPool } from '../src/store/db.js';
import { migrate } from '../src/store/migrations.js';
import { ensureSharePartitions } from '../src/store/partitions.js';
import { ShareWriter, type AcceptedShare } from '../src/store/share-writer.js';

/**
 * Share writer throughput: `total` shares through write(), each acknowledged only after its batch committed.
 * Runs in a scratch database created on the server of `url` and dropped afterwards (so repeated runs start
 * from the same empty tables); without CREATE DATABASE rights it migrates `url` itself and deletes its
 * bench rows (share ids `bench:<run>:…`) after. Prints figures; never fails on timing.
 */
export async function benchShareWriter(url: string, options: { total?: number; inFlight?: number } = {}): Promise<{ sharesPerSec: number }> {
  const scratch = await createScratchDatabase(url);
  try {
    return await benchInto(scratch?.url ?? url, options);
  } finally {
    await scratch?.drop();
  }
}

async function createScratchDatabase(url: string): Promise<{ url: string; drop(): Promise<void> } | null> {
  const name = `ltcpool_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } catch {
    return null;
  } finally {
    await admin.end();
  }
  const scratchUrl = new URL(url);
  scratchUrl.pathname = `/${name}`;
  return {
    url: scratchUrl.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
}

/**
 * ShareWriter settings to compare against its defaults (unset = the defaults, as the pool runs):
 * LTCPOOL_BENCH_FLUSH_MS, LTCPOOL_BENCH_WRITER_CONCURRENCY, LTCPOOL_BENCH_WRITER_MAX_BATCH.
 */
export function writerTuningFromEnv(env: NodeJS.ProcessEnv = process.env): { flushIntervalMs?: number; concurrency?: number; maxBatch?: number } {
  const number = (name: string) => (env[name] ? Number(env[name]) : undefined);
  const tuning = { flushIntervalMs: number('LTCPOOL_BENCH_FLUSH_MS'), concurrency: number('LTCPOOL_BENCH_WRITER_CONCURRENCY'), maxBatch: number('LTCPOOL_BENCH_WRITER_MAX_BATCH') };
  return Object.fromEntries(Object.entries(tuning).filter(([, v]) => v !== undefined));
}

async function benchInto(url: string, options: { total?: number; inFlight?: number }): Promise<{ sharesPerSec: number }> {
  const total = options.total ?? 200_000;
  // Stratum sessions write concurrently; keep this many write() calls outstanding (bounded, like real traffic).
  const inFlight = options.inFlight ?? 20_000;
  const pool = createPool({ url, max: 4 });
  const spoolDir = mkdtempSync(path.join(tmpdir(), 'ltcpool-bench-spool-'));
  const run = Date.now().toString(36);
  try {
    await migrate(pool);
    await ensureSharePartitions(pool, 1);
    let batches = 0;
    const writer = new ShareWriter({ pool, spoolDir, ...writerTuningFromEnv(), onBatch: () => { batches++; } });
    await writer.start();
    const now = new Date();
    const share = (i: number): AcceptedShare => ({
      time: now, address: `ltc1qbench${i % 500}`, worker: `rig${i % 7}`, difficulty: 65536, networkDifficulty: 2.5e7,
      height: 2_800_000, jobId: (i >>> 8).toString(16), hash: '00000000ffff' + i.toString(16).padStart(52, '0'),
      isBlock: false, ip: '127.0.0.1', instanceId: 1, shareId: `bench:${run}:${i}`,
    });
    // Shares arrive built (the Stratum sessions made them); building them is not the writer's work.
    const shares = Array.from({ length: total }, (_, i) => share(i));
    const t0 = performance.now();
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < total) await writer.write(shares[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
    const seconds = (performance.now() - t0) / 1000;
    await writer.close();
    const sharesPerSec = total / seconds;
    console.log(`share writer: ${total} shares acknowledged after commit in ${seconds.toFixed(2)} s = ${Math.round(sharesPerSec)} shares/s ` +
      `(${batches} batches, avg ${Math.round(total / Math.max(batches, 1))}/batch) [${redactUrl(url)}]`);
    await pool.query(`DELETE FROM shares WHERE share_id LIKE $1`, [`bench:${run}:%`]);
    return { sharesPerSec };
  } finally {
    await pool.end();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const url = process.argv[2] ?? process.env.LTCPOOL_BENCH_PG_URL ?? process.env.DATABASE_URL;
  if (!url) {
    console.error('usage: tsx bench/share-writer.ts <postgres url of a scratch database>');
    process.exit(2);
  }
  await benchShareWriter(url);
}
