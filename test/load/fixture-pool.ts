/**
 * The Stratum role as src/pool.ts wires it (StratumServer + JobManager + ShareProcessor + the real hasher),
 * without litecoind: JobManager.onTemplate() gets a regtest fixture template with mainnet-like bits, so no
 * share is a block and every hash meets a tiny share difficulty. Used by the hardening tests (fast, no node)
 * and by the load harness.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { loadNodeHasher } from '../../bench/hasher.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { createMetrics, type Metrics } from '../../src/ops/metrics.js';
import { JobManager } from '../../src/stratum/job-manager.js';
import { StratumServer, type StratumServerOptions } from '../../src/stratum/server.js';
import { ShareProcessor, type BlockHandler, type ShareSink } from '../../src/stratum/share-processor.js';
import { decodeAddress } from '../../src/work/address.js';
import type { BlockTemplate } from '../../src/work/template.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, '..', 'fixtures', 'regtest', 'gbt-mweb-with-txs.json');
/** A valid regtest bech32 address (test/fixtures/regtest/addresses.json). */
export const FIXTURE_ADDRESS = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg';
const MAINNET_LIKE_BITS = '1a010ccd';
/** Every hash meets this share target. */
export const TINY_DIFFICULTY = 1e-9;

export interface FixturePool {
  config: Config;
  server: StratumServer;
  jobs: JobManager;
  metrics: Metrics;
  port: number;
  ports: number[];
  accepted: () => number;
  /** A new template on a new block (previous jobs go stale after staleGraceMs). */
  newBlock(): void;
  stop(options?: Parameters<StratumServer['close']>[0]): Promise<void>;
}

export function fixtureTemplate(previousblockhash?: string): BlockTemplate {
  const template = JSON.parse(readFileSync(FIXTURE, 'utf8')) as BlockTemplate;
  return { ...template, bits: MAINNET_LIKE_BITS, previousblockhash: previousblockhash ?? template.previousblockhash };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

export function fixtureConfig(overrides: Record<string, unknown> = {}): Config {
  return parseConfig(
    deepMerge(
      {
        network: 'regtest',
        pool: { address: FIXTURE_ADDRESS, tag: '/ltcpool-hardening/' },
        node: { rpcUrl: 'http://127.0.0.1:1' },
        stratum: { host: '127.0.0.1', ports: [{ port: 0, difficulty: TINY_DIFFICULTY }], vardiff: { enabled: false }, staleGraceMs: 0 },
        http: { enabled: false },
        log: { level: 'silent' },
      },
      overrides,
    ),
  );
}

/** StratumServer options from a Config, the same mapping src/pool.ts makes. */
export function serverOptionsFrom(config: Config, parts: { jobs: JobManager; shares: ShareProcessor; metrics: Metrics; logger: Logger }): StratumServerOptions {
  const { limits, vardiff } = config.stratum;
  return {
    host: config.stratum.host,
    ports: config.stratum.ports,
    instanceId: config.instanceId,
    session: {
      network: config.network,
      extranonce2Size: config.stratum.extranonce2Size,
      vardiff,
      versionRollingMask: parseInt(config.stratum.versionRollingMask, 16) >>> 0,
      maxLineBytes: limits.maxLineBytes,
      maxWorkersPerConnection: limits.maxWorkersPerConnection,
      maxJobsRemembered: config.stratum.maxJobs,
      messagesPerSecond: limits.messagesPerSecond,
      messagesBurst: limits.messagesBurst,
      floodCloseAfter: limits.floodCloseAfter,
      maxWriteBufferBytes: limits.maxWriteBufferBytes,
      rejectEscalation: limits.rejectEscalation,
    },
    ...parts,
    authorizeTimeoutMs: limits.authorizeTimeoutSeconds * 1000,
    idleTimeoutMs: limits.idleTimeoutSeconds * 1000,
    connectionsPerIp: limits.connectionsPerIp,
    bans: config.stratum.bans,
    shutdown: config.stratum.shutdown,
    proxyHeaderTimeoutMs: limits.proxyHeaderTimeoutSeconds * 1000,
  };
}

export async function startFixturePool(overrides: Record<string, unknown> = {}, options: { logger?: Logger } = {}): Promise<FixturePool> {
  const config = fixtureConfig(overrides);
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const { hasher } = await loadNodeHasher();
  let accepted = 0;
  const jobs = new JobManager({
    payoutScript: decodeAddress(config.pool.address, config.network),
    poolTag: Buffer.from(config.pool.tag, 'utf8'),
    extranonce1Size: 4,
    extranonce2Size: config.stratum.extranonce2Size,
    maxJobs: config.stratum.maxJobs,
    staleGraceMs: config.stratum.staleGraceMs,
    rebroadcastMs: config.stratum.jobRebroadcastSeconds * 1000,
  });
  const sink: ShareSink = { write: async () => void accepted++ };
  const blocks: BlockHandler = { onBlockFound: () => undefined };
  const shares = new ShareProcessor({
    jobs,
    hasher,
    sink,
    blocks,
    instanceId: config.instanceId,
    extranonce2Size: config.stratum.extranonce2Size,
    ntimeMaxFutureSeconds: config.stratum.ntimeMaxFutureSeconds,
    metrics,
    logger,
  });
  const server = new StratumServer(serverOptionsFrom(config, { jobs, shares, metrics, logger }));
  jobs.onTemplate(fixtureTemplate());
  await server.listen();
  let blockCounter = 0;
  return {
    config,
    server,
    jobs,
    metrics,
    port: server.boundPorts[0],
    ports: server.boundPorts,
    accepted: () => accepted,
    newBlock: () => {
      blockCounter++;
      jobs.onTemplate(fixtureTemplate(blockCounter.toString(16).padStart(64, 'a')));
    },
    stop: (closeOptions) => server.close(closeOptions ?? { reconnect: false, graceMs: 100 }),
  };
}
