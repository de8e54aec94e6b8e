/**
 * `npm run bench`: prints figures for the pool's hot paths on this machine, then a summary table.
 * Loopback only, bounded in time (~1.5 min), and it never fails: a missed target or a broken section is printed,
 * the exit code stays 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { redactUrl } from '../src/ops/logger.js';
import { createPool } from '../src/store/db.js';
import { migrate } from '../src/store/migrations.js';
import { ensureSharePartitions } from '../src/store/partitions.js';
import { ShareWriter } from '../src/store/share-writer.js';
import { scratchDatabase, type ScratchDatabase } from './pg-scratch.js';
import { benchPplns } from './pplns.js';
import { SimdScryptPool } from '../src/hash/simd-pool.js';
import { benchCpuminer, benchKernelOneThread, benchKernelPool, benchOpensslOneThread } from './scrypt-kernel.js';
import { benchScryptJs, benchScryptNode, threadPoolSize } from './scrypt-raw.js';
import { benchShareWriter, writerTuningFromEnv } from './share-writer.js';
import { benchSpoolReplay } from './spool-replay.js';
import { benchConfig, runLoadProcess, startBenchPool, type BenchPool, type PathRun } from './stratum-path.js';

const CONNECTIONS = 50;
/** Closed loop: submits outstanding per connection (bounded, like a miner's queue). */
const IN_FLIGHT_PER_CONNECTION = 8;
const WARMUP_MS = 1_500;
const MEASURE_MS = 5_000;
const OFFERED_LOAD = 5_000;
const HARD_LIMIT_MS = 290_000;

type Status = 'ok' | 'below' | 'error' | 'info';
interface Row {
  figure: string;
  measured: string;
  target: string;
  status: Status;
}
const rows: Row[] = [];
const notes: string[] = [];
/** Machine-readable figures, written to the file named by LTCPOOL_BENCH_JSON (section 6's keys and a few more). */
const json: Record<string, number | string | null> = {};

// Figures cross the load client's IPC as JSON, where NaN arrives as null.
const fmt = (n: number | null, digits = 0): string =>
  typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
const ms = (n: number | null): string => (typeof n === 'number' && Number.isFinite(n) ? `${fmt(n, n < 10 ? 2 : 1)} ms` : 'n/a');
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function row(figure: string, measured: string, target: string, ok: boolean | undefined): void {
  rows.push({ figure, measured, target, status: ok === undefined ? 'info' : ok ? 'ok' : 'below' });
}

function withTimeout<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${limitMs / 1000} s`)), limitMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** LTCPOOL_BENCH_SECTIONS=1,2,4 runs only those sections (a figure that needs a skipped section shows NaN). */
const onlySections = process.env.LTCPOOL_BENCH_SECTIONS?.split(',').map((s) => s.trim()).filter(Boolean);

async function section(title: string, figure: string, limitMs: number, fn: () => Promise<void>): Promise<void> {
  if (onlySections && !onlySections.includes(title.split('.')[0])) return;
  console.log(`\n== ${title} ==  (load average ${load()})`);
  const started = performance.now();
  try {
    await withTimeout(fn(), limitMs, title);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    console.log(`  ERROR: ${(error as Error).stack ?? message}`);
    rows.push({ figure, measured: 'error', target: '', status: 'error' });
    notes.push(`${title}: ${message}`);
  }
  console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

function printRun(label: string, run: PathRun): void {
  const { client: c, server: s } = run;
  console.log(
    `  ${label}: ${fmt(c.acceptedPerSec)} accepted/s (${fmt(c.acceptedInWindow)} in ${c.windowSeconds} s, ${c.rejectedInWindow} rejected, ` +
      `${c.connectionsReady} connections, offered ${fmt(c.offeredPerSec)}/s)`,
  );
  console.log(
    `    submit→answer: p50 ${ms(c.latency.p50)}, p90 ${ms(c.latency.p90)}, p99 ${ms(c.latency.p99)}, max ${ms(c.latency.max)} ` +
      `(n=${c.latency.count}${c.unanswered ? `, ${c.unanswered} unanswered after drain` : ''})`,
  );
  console.log(
    `    pool process: CPU ${fmt(s.processCpuPercent)}% of one core (main thread + libuv pool), event-loop utilization ` +
      `${fmt(s.eventLoopUtilization * 100)}%, event-loop delay p99 ${ms(s.eventLoopDelayP99Ms)}, ${fmt(s.cpuMicrosPerShare)} µs CPU per share; ` +
      `load client CPU ${fmt(c.clientCpuPercent)}% (${fmt(clientCpuPerShare(run))} µs per share)`,
  );
  if (c.rejectSamples.length > 0) console.log(`    rejects: ${c.rejectSamples.join('; ')}`);
  if (c.closedEarly > 0) console.log(`    ${c.closedEarly} connections closed by the pool during the run`);
}

function clientCpuPerShare(run: PathRun): number {
  return (run.client.clientCpuPercent * 10_000) / Math.max(1, run.client.acceptedPerSec);
}

function printSummary(): void {
  console.log('\n== Summary ==');
  const header: Row = { figure: 'Figure', measured: 'Measured', target: 'Target', status: 'info' };
  const widths = [
    Math.max(header.figure.length, ...rows.map((r) => r.figure.length)),
    Math.max(header.measured.length, ...rows.map((r) => r.measured.length)),
    Math.max(header.target.length, ...rows.map((r) => r.target.length)),
  ];
  const line = (r: Row, status: string) =>
    `  ${r.figure.padEnd(widths[0])} | ${r.measured.padStart(widths[1])} | ${r.target.padEnd(widths[2])} | ${status}`;
  console.log(line(header, 'Status'));
  console.log(`  ${'-'.repeat(widths[0])}-+-${'-'.repeat(widths[1])}-+-${'-'.repeat(widths[2])}-+-------`);
  for (const r of rows) console.log(line(r, r.status === 'info' ? '-' : r.status));
  if (notes.length > 0) {
    console.log('\nNotes:');
    for (const n of notes) console.log(`  - ${n}`);
  }
}

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  console.log(
    `ltcpool bench — node ${process.version}, ${cores} cores (${os.cpus()[0]?.model ?? '?'}), UV_THREADPOOL_SIZE=${threadPoolSize()}` +
      `${process.env.UV_THREADPOOL_SIZE ? '' : ' (default)'}, load average ${load()}`,
  );
  if (os.loadavg()[0] > cores * 0.5) {
    notes.push(`the machine was busy at the start (load average ${load()} on ${cores} cores): CPU-bound figures are lower than on an idle machine`);
  }

  let rawScrypt = NaN;
  let scryptCpuPerHash = NaN;
  await section('1. Raw Scrypt throughput (N=1024, r=1, p=1, dkLen=32, 80-byte inputs)', 'Raw crypto.scrypt (all cores)', 20_000, async () => {
    const node = await benchScryptNode({ seconds: 3 });
    rawScrypt = node.hashesPerSec;
    console.log(
      `  crypto.scrypt, libuv pool (${node.threadPoolSize} threads, ${node.inFlight} calls in flight): ${fmt(node.hashesPerSec)} H/s ` +
        `(${fmt(node.hashes)} hashes in ${node.seconds.toFixed(2)} s; ${fmt(node.hashesPerSec / cores)} H/s per core; ${fmt(node.cpuMicrosPerHash)} µs CPU per hash)`,
    );
    scryptCpuPerHash = node.cpuMicrosPerHash;
    row('Raw crypto.scrypt (all cores)', `${fmt(node.hashesPerSec)} H/s`, 'reference', undefined);
    const js = await benchScryptJs({ seconds: 1.5 });
    console.log(`  scrypt-js, one thread: ${fmt(js.hashesPerSec)} H/s (${fmt(js.hashes)} hashes)`);
    row('Raw scrypt-js (one thread)', `${fmt(js.hashesPerSec)} H/s`, 'reference', undefined);
  });

  let noDbRate = NaN;
  let barePathMicros = NaN;
  await section('2. Mining core whole path, no database (sink resolves at once)', 'Shares validated/s, no DB', 40_000, async () => {
    const pool = await startBenchPool({ write: async () => undefined });
    if (pool.hasherNote) notes.push(pool.hasherNote);
    try {
      console.log(`  pool on 127.0.0.1:${pool.port}, port difficulty 1e-9, vardiff off; load client: separate process, ${CONNECTIONS} connections × ${IN_FLIGHT_PER_CONNECTION} submits in flight, warm-up ${WARMUP_MS / 1000} s, window ${MEASURE_MS / 1000} s`);
      const run = await runLoadProcess(pool, {
        connections: CONNECTIONS, inFlightPerConnection: IN_FLIGHT_PER_CONNECTION, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, drainMs: 3_000, readyTimeoutMs: 10_000,
      });
      printRun('closed loop', run);
      noDbRate = run.client.acceptedPerSec;
      const ratio = noDbRate / rawScrypt;
      console.log(`  shares validated/s ÷ raw Scrypt H/s (section 1) = ${fmt(noDbRate)} ÷ ${fmt(rawScrypt)} = ${ratio.toFixed(3)} (target ≥ 0.85)`);
      if (pool.counters.blocks > 0) notes.push(`section 2: ${pool.counters.blocks} shares were treated as blocks (expected none)`);
      row('Shares validated/s, no DB', `${fmt(noDbRate)} /s`, '-', undefined);
      row('  ÷ raw Scrypt H/s', ratio.toFixed(3), '≥ 0.85', ratio >= 0.85);
    } finally {
      await pool.stop();
    }
    // Diagnostic: the same path with Scrypt replaced by an instant answer = what the path costs besides Scrypt.
    const bare = await startBenchPool({ write: async () => undefined }, benchConfig(), { scrypt: false });
    try {
      const run = await runLoadProcess(bare, {
        connections: CONNECTIONS, inFlightPerConnection: IN_FLIGHT_PER_CONNECTION, warmupMs: 1_000, measureMs: 2_500, drainMs: 2_000, readyTimeoutMs: 10_000,
      });
      printRun('diagnostic, Scrypt replaced by an instant answer', run);
      diagnosePath(run, scryptCpuPerHash, rawScrypt, cores);
      barePathMicros = run.server.cpuMicrosPerShare + clientCpuPerShare(run);
    } finally {
      await bare.stop();
    }
  });

  let db: ScratchDatabase | undefined;
  await section('3. Share writer alone (ack after commit)', 'Share writer', 40_000, async () => {
    db = await scratchDatabase();
    console.log(`  database: ${redactUrl(db.url)} (${db.source})`);
    const { sharesPerSec } = await benchShareWriter(db.url);
    row('Share writer, committed shares/s', `${fmt(sharesPerSec)} /s`, '≥ 100,000 /s', sharesPerSec >= 100_000);
  });

  await section('4. Whole path with the database (ShareWriter on a migrated temp database)', 'Whole path with DB', 90_000, async () => {
    db ??= await scratchDatabase();
    await wholePathWithDatabase(db, noDbRate, performance.now() + 90_000);
  });
  await db?.stop().catch((error: Error) => console.log(`  could not drop the scratch database: ${error.message}`));

  await section('5. PPLNS split (1,000,000-share window)', 'PPLNS 1M-share window', 30_000, async () => {
    const { ms: took } = await benchPplns();
    row('PPLNS split, 1M-share window', ms(took), '< 1000 ms', took < 1000);
  });

  await section('6. Scrypt kernel (WebAssembly SIMD) and the share path with it', 'Scrypt kernel', 60_000, async () => {
    await scryptKernelSection(cores, rawScrypt, barePathMicros);
  });

  await section('7. Spool replay (one-share records, as an outage at a low share rate leaves them)', 'Spool replay', 45_000, async () => {
    const replayDb = await scratchDatabase();
    try {
      for (const records of [10_000, 100_000]) {
        const figures = await benchSpoolReplay(replayDb.url, records);
        json[`spool_replay_${records}_records_per_sec`] = Math.round(figures.replayRecordsPerSec);
        row(`Spool replay, ${fmt(records)} records`, `${fmt(figures.replayRecordsPerSec)} /s`, '≥ 20,000 /s', figures.replayRecordsPerSec >= 20_000);
      }
    } finally {
      await replayDb.stop();
    }
  });

  await section('8. Merged mining: the share path with 0, 1 and 3 aux chains', 'Share path with aux chains', 45_000, mergedMiningSection);
}

/**
 * The same closed loop with 0, 1 and 3 aux chains in every job (commitment in the coinbase, each share judged
 * against every aux target), back to back in this run. Scrypt is replaced by an instant answer, as in section 2's
 * diagnostic: a real hash costs far more than the aux work, and its noise would hide the difference.
 */
async function mergedMiningSection(): Promise<void> {
  const results: Array<{ chains: number; rate: number; micros: number }> = [];
  for (const chains of [0, 1, 3]) {
    const pool = await startBenchPool({ write: async () => undefined }, benchConfig(chains), { scrypt: false });
    try {
      const run = await runLoadProcess(pool, {
        connections: CONNECTIONS, inFlightPerConnection: IN_FLIGHT_PER_CONNECTION, warmupMs: 1_000, measureMs: 3_000, drainMs: 2_000, readyTimeoutMs: 10_000,
      });
      printRun(`${chains} aux chain${chains === 1 ? '' : 's'}, Scrypt replaced by an instant answer`, run);
      results.push({ chains, rate: run.client.acceptedPerSec, micros: run.server.cpuMicrosPerShare });
    } finally {
      await pool.stop();
    }
  }
  const base = results.find((r) => r.chains === 0);
  for (const r of results) {
    const extra = base && r.chains > 0 ? ` (${r.micros - base.micros >= 0 ? '+' : ''}${fmt(r.micros - base.micros, 1)} µs vs none)` : '';
    row(`Share path, ${r.chains} aux chain${r.chains === 1 ? '' : 's'} (no Scrypt)`, `${fmt(r.rate)} /s, ${fmt(r.micros, 1)} µs CPU/share${extra}`, '-', undefined);
    json[`aux${r.chains}_shares_per_s`] = Math.round(r.rate);
    json[`aux${r.chains}_cpu_us_per_share`] = Number(r.micros.toFixed(1));
  }
}

async function scryptKernelSection(cores: number, rawOpensslAllCores: number, pathMicros: number): Promise<void> {
  // Per core: one thread, hashes per CPU-second of this process (other load on the machine slows the wall
  // clock, not the CPU time a hash takes, as long as caches are not thrashed).
  const openssl = benchOpensslOneThread(3);
  const kernel = benchKernelOneThread(3);
  const perCoreRatio = kernel.perCpuSecond / openssl.perCpuSecond;
  console.log(`  OpenSSL crypto.scryptSync, one thread: ${fmt(openssl.perCpuSecond)} H per CPU-second (${fmt(openssl.perWallSecond)} H/s wall)`);
  console.log(
    `  kernel, one thread (${kernel.wideLanes} lanes, ${kernel.lanes} for a short last group; 64 headers per call): ${fmt(kernel.perCpuSecond)} H per CPU-second ` +
      `(${fmt(kernel.perWallSecond)} H/s wall) = ${perCoreRatio.toFixed(2)}× OpenSSL`,
  );
  const all = await benchKernelPool(4);
  console.log(
    `  kernel, all cores (${all.threads} worker threads fed by hash() calls, ${fmt(all.hashes)} hashes in ${fmt(all.batches)} batches): ` +
      `${fmt(all.hashesPerSec)} H/s = ${fmt(all.hashesPerSec / cores)} H/s per core, ${fmt(all.perCpuSecond)} H per CPU-second` +
      (Number.isFinite(rawOpensslAllCores) ? ` (${(all.hashesPerSec / rawOpensslAllCores).toFixed(2)}× crypto.scrypt on all cores, section 1)` : ''),
  );
  const cpuminer = await benchCpuminer(8);
  if (cpuminer) {
    console.log(`  cpuminer (minerd --benchmark -a scrypt -t 1): ${fmt(cpuminer.hashesPerSec)} H/s per thread ("${cpuminer.line}"); kernel = ${(kernel.perCpuSecond / cpuminer.hashesPerSec).toFixed(2)}× cpuminer`);
  } else {
    console.log('  cpuminer: minerd is not on PATH, no physical reference measured');
  }
  row('OpenSSL, one core', `${fmt(openssl.perCpuSecond)} H/s`, 'reference', undefined);
  row('SIMD kernel, one core', `${fmt(kernel.perCpuSecond)} H/s`, '-', undefined);
  row('  ÷ OpenSSL per core', perCoreRatio.toFixed(2), '≥ 2 (stretch 3)', perCoreRatio >= 2);
  row('SIMD kernel, all cores', `${fmt(all.hashesPerSec)} H/s`, '-', undefined);
  if (cpuminer) row('cpuminer, one thread', `${fmt(cpuminer.hashesPerSec)} H/s`, 'reference', undefined);
  Object.assign(json, {
    openssl_hps_per_core: Math.round(openssl.perCpuSecond),
    kernel_hps_per_core: Math.round(kernel.perCpuSecond),
    kernel_per_core_ratio: Number(perCoreRatio.toFixed(3)),
    kernel_hps_all_cores: Math.round(all.hashesPerSec),
    kernel_lanes: kernel.wideLanes,
    kernel_threads: all.threads,
  });
  if (Number.isFinite(rawOpensslAllCores)) json.openssl_hps_all_cores = Math.round(rawOpensslAllCores);
  if (cpuminer) json.cpuminer_hps_per_core = Math.round(cpuminer.hashesPerSec);

  // The whole share path (TCP, checks, hash, answer) with the simd hasher, closed loop as in section 2.
  const hasher = await new SimdScryptPool().start();
  const pool = await startBenchPool({ write: async () => undefined }, benchConfig(), { hasher });
  try {
    const run = await runLoadProcess(pool, {
      connections: CONNECTIONS, inFlightPerConnection: IN_FLIGHT_PER_CONNECTION, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, drainMs: 3_000, readyTimeoutMs: 10_000,
    });
    printRun('share path, simd hasher, closed loop', run);
    const rate = run.client.acceptedPerSec;
    const ratio = rate / all.hashesPerSec;
    console.log(`  shares validated/s ÷ kernel all-core H/s = ${fmt(rate)} ÷ ${fmt(all.hashesPerSec)} = ${ratio.toFixed(3)} (target ≥ 0.85)`);
    if (Number.isFinite(pathMicros)) {
      // Same cores for everything: the share path's own CPU (section 2's diagnostic, pool + load client) comes
      // out of the kernel's time, so on this machine the ratio cannot exceed hash / (hash + path).
      const hashMicros = 1e6 / all.perCpuSecond;
      const bound = hashMicros / (hashMicros + pathMicros);
      console.log(`  bound on ${cores} shared cores: kernel ${fmt(hashMicros)} µs CPU per hash, path + load client ${fmt(pathMicros)} µs per share (section 2) → ≤ ${bound.toFixed(2)}`);
      json.path_ratio_bound = Number(bound.toFixed(3));
    }
    const batches = hasher.counters;
    console.log(
      `  hand-over: ${fmt(batches.headers)} headers in ${fmt(batches.batches)} messages (${fmt(batches.headers / Math.max(1, batches.batches), 1)} per message), ` +
        `${fmt(batches.padded)} spare lanes hashed (${fmt((100 * batches.padded) / Math.max(1, batches.headers), 1)}% extra work)`,
    );
    json.path_padding_fraction = Number((batches.padded / Math.max(1, batches.headers)).toFixed(3));
    row('Shares validated/s, simd hasher', `${fmt(rate)} /s`, '-', undefined);
    row('  ÷ kernel all-core H/s', ratio.toFixed(3), '≥ 0.85', ratio >= 0.85);
    Object.assign(json, {
      path_shares_per_s: Math.round(rate),
      path_ratio: Number(ratio.toFixed(3)),
      path_cpu_us_per_share: Math.round(run.server.cpuMicrosPerShare),
      path_client_cpu_us_per_share: Math.round(clientCpuPerShare(run)),
      path_p50_ms: run.client.latency.p50,
      path_p99_ms: run.client.latency.p99,
    });
  } finally {
    await pool.stop();
    await hasher.close();
  }
}

function writeJson(): void {
  const file = process.env.LTCPOOL_BENCH_JSON;
  if (!file) return;
  try {
    writeFileSync(file, JSON.stringify({ node: process.version, cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? null, loadavg_end: load(), ...json }, null, 2) + '\n');
    console.log(`figures written to ${file}`);
  } catch (error) {
    console.log(`could not write ${file}: ${(error as Error).message}`);
  }
}

async function wholePathWithDatabase(db: ScratchDatabase, noDbRate: number, deadline: number): Promise<void> {
  const config = benchConfig();
  const pgPool: pg.Pool = createPool({ url: db.url, max: config.database.poolSize, applicationName: 'ltcpool-bench' });
  const spoolDir = mkdtempSync(path.join(os.tmpdir(), 'ltcpool-bench-spool-'));
  let writer: ShareWriter | undefined;
  let pool: BenchPool | undefined;
  try {
    await migrate(pgPool);
    await ensureSharePartitions(pgPool, 1);
    const batches = { count: 0, shares: 0, spooled: 0 };
    writer = new ShareWriter({
      pool: pgPool,
      spoolDir,
      ...writerTuningFromEnv(),
      onBatch: ({ size, destination }) => {
        batches.count++;
        batches.shares += size;
        if (destination === 'spool') batches.spooled += size;
      },
    });
    await writer.start();
    pool = await startBenchPool(writer, config);
    console.log(`  database: ${redactUrl(db.url)}, pg pool max ${config.database.poolSize}, ShareWriter defaults (group commit)`);

    // (a) max throughput
    const a = await runLoadProcess(pool, {
      connections: CONNECTIONS, inFlightPerConnection: IN_FLIGHT_PER_CONNECTION, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, drainMs: 3_000, readyTimeoutMs: 10_000,
    });
    printRun('(a) closed loop, max throughput', a);
    const rate = a.client.acceptedPerSec;
    const vsNoDb = rate / noDbRate;
    console.log(`    with DB ÷ without DB (section 2) = ${fmt(rate)} ÷ ${fmt(noDbRate)} = ${vsNoDb.toFixed(3)} (target ≥ 0.95)`);
    row('Shares validated/s, with DB', `${fmt(rate)} /s`, '-', undefined);
    row('  ÷ no-DB rate (section 2)', vsNoDb.toFixed(3), '≥ 0.95 (within 5%)', vsNoDb >= 0.95);

    // (b) fixed offered load
    const b = await runLoadProcess(pool, {
      connections: CONNECTIONS, inFlightPerConnection: Math.ceil(OFFERED_LOAD / CONNECTIONS), ratePerSec: OFFERED_LOAD, warmupMs: 1_000, measureMs: MEASURE_MS, drainMs: 5_000, readyTimeoutMs: 10_000,
    });
    printRun(`(b) open loop, ${fmt(OFFERED_LOAD)} shares/s offered`, b);
    const p99 = b.client.latency.p99;
    row(`Latency p50 @ ${fmt(OFFERED_LOAD)}/s offered`, ms(b.client.latency.p50), '-', undefined);
    row(`Latency p99 @ ${fmt(OFFERED_LOAD)}/s offered`, ms(p99), '< 50 ms', p99 < 50 && b.client.unanswered === 0);
    row(`Latency max @ ${fmt(OFFERED_LOAD)}/s offered`, ms(b.client.latency.max), '-', undefined);
    if (OFFERED_LOAD > rate) {
      notes.push(
        `4b: ${fmt(OFFERED_LOAD)} shares/s is above what this machine validates at all (${fmt(rate)}/s in 4a, raw Scrypt bound): ` +
          'the queue grows for the whole window, so the latency there measures the backlog, not the pool; see the extra run at 70% of capacity',
      );
    }

    // (c) extra: the same at 70% of the measured capacity, where a queue can drain
    if (Number.isFinite(rate) && rate > 0 && OFFERED_LOAD > 0.7 * rate && deadline - performance.now() > 20_000) {
      const offered = Math.floor((0.7 * rate) / 100) * 100 || 100;
      const c = await runLoadProcess(pool, {
        connections: CONNECTIONS, inFlightPerConnection: Math.max(10, Math.ceil(offered / CONNECTIONS)), ratePerSec: offered, warmupMs: 1_000, measureMs: MEASURE_MS, drainMs: 5_000, readyTimeoutMs: 10_000,
      });
      printRun(`(c) open loop, ${fmt(offered)} shares/s offered (70% of 4a)`, c);
      row(`Latency p50 @ ${fmt(offered)}/s (70% cap.)`, ms(c.client.latency.p50), '-', undefined);
      row(`Latency p99 @ ${fmt(offered)}/s (70% cap.)`, ms(c.client.latency.p99), '< 50 ms', c.client.latency.p99 < 50 && c.client.unanswered === 0);
    }

    const handedToWriter = pool.counters.sinkWrites;
    await pool.stop();
    pool = undefined;
    await writer.close();
    writer = undefined;
    const { rows: counted } = await pgPool.query<{ n: string }>('SELECT count(*)::text AS n FROM shares');
    console.log(
      `  committed: ${fmt(Number(counted[0].n))} rows in shares, ${fmt(batches.count)} batches (avg ${fmt(batches.shares / Math.max(1, batches.count), 1)} shares/batch)` +
        `${batches.spooled ? `, ${fmt(batches.spooled)} shares spooled to disk instead` : ''}; ${fmt(handedToWriter)} accepted shares handed to the writer`,
    );
  } finally {
    await pool?.stop().catch(() => undefined);
    await writer?.close().catch(() => undefined);
    await pgPool.end().catch(() => undefined);
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

/**
 * Where the CPU goes per share, from CPU time (robust to other load on the machine, unlike wall-clock rates):
 * with C cores, shares/s ≈ C·10⁶ / (Scrypt µs + pool path µs + load-client µs), so the best ratio to raw Scrypt on
 * this machine is Scrypt µs / (that sum).
 */
function diagnosePath(bare: PathRun, scryptCpuPerHash: number, rawScrypt: number, cores: number): void {
  const path = bare.server.cpuMicrosPerShare;
  const client = clientCpuPerShare(bare);
  const predicted = scryptCpuPerHash / (scryptCpuPerHash + path + client);
  console.log(
    `  CPU per share: Scrypt ${fmt(scryptCpuPerHash)} µs (section 1) + pool path without Scrypt ${fmt(path)} µs + load client ${fmt(client)} µs ` +
      `→ ratio bound on ${cores} shared cores ≈ ${predicted.toFixed(3)}; the path alone tops out at ~${fmt(1e6 / path)} shares/s per main thread`,
  );
  console.log(`  (raw Scrypt ${fmt(rawScrypt)} H/s; the load client shares the machine's cores with the pool, as the target compares like with like)`);
  notes.push(
    `section 2: besides Scrypt the pool spends ${fmt(path)} µs CPU per share (main thread) and the load client ${fmt(client)} µs on the same ` +
      `${cores} cores; Scrypt costs ${fmt(scryptCpuPerHash)} µs, so ~${predicted.toFixed(2)} of raw Scrypt is the most this machine can show`,
  );
}

const hardLimit = setTimeout(() => {
  console.log(`\nbench stopped after ${HARD_LIMIT_MS / 1000} s (time limit)`);
  notes.push(`bench stopped by its ${HARD_LIMIT_MS / 1000} s time limit`);
  printSummary();
  writeJson();
  process.exit(0);
}, HARD_LIMIT_MS);
hardLimit.unref();
process.on('unhandledRejection', (error) => console.log(`  unhandled rejection: ${(error as Error)?.stack ?? String(error)}`));

try {
  await main();
} catch (error) {
  console.log(`bench failed outside a section: ${(error as Error).stack ?? String(error)}`);
}
console.log(`\nfinished, load average ${load()}`);
printSummary();
writeJson();
process.exit(0);
