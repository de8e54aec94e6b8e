/**
 * The mining core's whole path in this process, wired as src/pool.ts wires it (StratumServer + JobManager +
 * ShareProcessor + the real hasher), without litecoind: JobManager.onTemplate() gets the regtest fixture template
 * with mainnet-like bits so no share is a block. The load comes from bench/load-client.ts in a child process.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { address as btcAddress } from 'bitcoinjs-lib';
import { auxChainsOf, type Config } from '../src/ops/config.js';
import type { Metrics } from '../src/ops/metrics.js';
import type { BlockHandler, ShareSink } from '../src/stratum/share-processor.js';
import type { AcceptedShare } from '../src/store/share-writer.js';
import type { ScryptHasher } from '../src/work/scrypt.js';
import { FIXTURE_ADDRESS, fixtureConfig, startFixtureStack } from '../test/load/fixture-pool.js';
import { loadNodeHasher } from './hasher.js';
import type { LoadConfig, LoadResult } from './load-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Diagnostic only: answers at once with a hash that meets the share target but not the network's. */
const NO_SCRYPT: ScryptHasher = { name: 'none (diagnostic)', hash: async () => Buffer.alloc(32, 0x7f) };

export interface BenchPool {
  port: number;
  metrics: Metrics;
  counters: { sinkWrites: number; blocks: number; hashesInFlight: number; writesInFlight: number };
  hasherNote?: string;
  /** Waits (at most maxMs) until no hash or sink write is in progress: a run's backlog must not spill into the next. */
  waitIdle(maxMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Aux chains for the merged-mining runs: the chain ids of the facts file's set (Dogecoin 98 first), as generic
 * entries with regtest-like address versions. Their daemons are never called: the bench hands the JobManager
 * aux work directly, as src/pool.ts does on each aux work source's 'work' event.
 */
const BENCH_AUX_CHAIN_IDS = [98, 16, 63, 8211, 8224, 50, 74];

/** The fixture pool's configuration with the bench's tag and no message rate limit; `auxChains` merge-mined chains. */
export function benchConfig(auxChains = 0): Config {
  if (auxChains > BENCH_AUX_CHAIN_IDS.length) throw new RangeError(`at most ${BENCH_AUX_CHAIN_IDS.length} aux chains`);
  const auxAddress = btcAddress.toBase58Check(Buffer.alloc(20, 7), 111);
  return fixtureConfig({
    merged: BENCH_AUX_CHAIN_IDS.slice(0, auxChains).map((chainId, i) => ({
      chain: `aux${i + 1}`, rpcUrl: 'http://127.0.0.1:1', address: auxAddress, chainId, unit: `AUX${i + 1}`, maturity: 60,
      addressVersions: { pubKeyHash: 111, scriptHash: 196 },
    })),
    pool: { tag: '/ltcpool-bench/' },
    // The load client pipelines hundreds of submits per connection per second: far past a real miner's rate.
    stratum: { limits: { messagesPerSecond: 1_000_000, messagesBurst: 1_000_000 } },
  });
}

/** The fixture pool (test/load/fixture-pool.ts: createStratumStack as src/pool.ts builds it) in front of `sink`, counting. */
export async function startBenchPool(
  sink: ShareSink,
  config: Config = benchConfig(),
  options: { scrypt?: boolean; hasher?: ScryptHasher } = {},
): Promise<BenchPool> {
  const counters = { sinkWrites: 0, blocks: 0, hashesInFlight: 0, writesInFlight: 0 };
  const { hasher: realHasher, note } =
    options.scrypt === false ? { hasher: NO_SCRYPT, note: undefined } : options.hasher ? { hasher: options.hasher, note: undefined } : await loadNodeHasher();
  const hasher: ScryptHasher = {
    name: realHasher.name,
    hash(header: Buffer) {
      counters.hashesInFlight++;
      return realHasher.hash(header).finally(() => counters.hashesInFlight--);
    },
  };

  const blocks: BlockHandler = { onBlockFound: () => void counters.blocks++ };
  const countingSink: ShareSink = {
    write(share: AcceptedShare) {
      counters.sinkWrites++;
      counters.writesInFlight++;
      return sink.write(share).finally(() => counters.writesInFlight--);
    },
  };
  const pool = await startFixtureStack(config, { hasher, sink: countingSink, blocks, logger: pino({ level: 'silent' }) });
  for (const [i, chain] of auxChainsOf(config).entries()) {
    // A mainnet-like aux target (no share meets it, as on a real aux chain nearly none does): every share is
    // still judged against it, and every job carries the aux commitment.
    pool.jobs.onAuxWork(chain.name, {
      chain,
      block: { hash: (i + 1).toString(16).padStart(2, '0').repeat(32), chainId: chain.chainId, previousBlockHash: '00'.repeat(32), height: 1000,
        coinbaseValue: 10_000n * 100_000_000n, bits: '1b00ffff', target: 2n ** 200n },
    });
  }
  return {
    port: pool.port,
    metrics: pool.metrics,
    counters,
    hasherNote: note,
    async waitIdle(maxMs: number) {
      const deadline = Date.now() + maxMs;
      while (counters.hashesInFlight + counters.writesInFlight > 0) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
    stop: () => pool.stop({ reconnect: false, graceMs: 200 }),
  };
}

export interface ServerSideStats {
  /** Main-thread event-loop utilization during the window (1 = never idle). */
  eventLoopUtilization: number;
  eventLoopDelayP99Ms: number;
  /** Pool process CPU (main thread + libuv pool threads) as % of one core. */
  processCpuPercent: number;
  sinkWritesPerSec: number;
  /** Pool process CPU (all threads) per share handed to the sink, microseconds. */
  cpuMicrosPerShare: number;
}

export interface PathRun {
  client: LoadResult;
  server: ServerSideStats;
}

/** Forks bench/load-client.ts (tsx) against `pool`; measures the server side between the client's window-start and window-end messages. */
export async function runLoadProcess(pool: BenchPool, load: Omit<LoadConfig, 'host' | 'port' | 'address'>, timeoutMs = 60_000): Promise<PathRun> {
  const child = fork(path.join(here, 'load-client.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let eluStart = performance.eventLoopUtilization();
  let cpuStart = process.cpuUsage();
  let writesStart = pool.counters.sinkWrites;
  let measuredAt = 0;
  let server: ServerSideStats | undefined;
  const closeServerWindow = (): void => {
    const seconds = (performance.now() - measuredAt) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    const writes = pool.counters.sinkWrites - writesStart;
    server = {
      cpuMicrosPerShare: (cpu.user + cpu.system) / Math.max(1, writes),
      eventLoopUtilization: performance.eventLoopUtilization(eluStart).utilization,
      eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
      processCpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
      sinkWritesPerSec: writes / seconds,
    };
    delay.disable();
  };
  try {
    const result = await new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load client did not finish within ${timeoutMs} ms`)), timeoutMs);
      child.on('message', (message: { type: string; result?: LoadResult; message?: string }) => {
        if (message.type === 'measuring') {
          measuredAt = performance.now();
          eluStart = performance.eventLoopUtilization();
          cpuStart = process.cpuUsage();
          writesStart = pool.counters.sinkWrites;
          delay.enable();
        } else if (message.type === 'window-end') {
          if (!server && measuredAt > 0) closeServerWindow();
        } else if (message.type === 'result') {
          if (!server && measuredAt > 0) closeServerWindow();
          clearTimeout(timer);
          resolve(message.result!);
        } else if (message.type === 'error') {
          clearTimeout(timer);
          reject(new Error(`load client failed: ${message.message}`));
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`load client exited with code ${code} before reporting`));
      });
      child.send({ host: '127.0.0.1', port: pool.port, address: FIXTURE_ADDRESS, ...load } satisfies LoadConfig);
    });
    return {
      client: result,
      server: server ?? { eventLoopUtilization: NaN, eventLoopDelayP99Ms: NaN, processCpuPercent: NaN, sinkWritesPerSec: NaN, cpuMicrosPerShare: NaN },
    };
  } finally {
    delay.disable();
    if (child.exitCode === null) child.kill();
    await pool.waitIdle(15_000);
  }
}
