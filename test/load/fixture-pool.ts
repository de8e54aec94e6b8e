/**
 * The Stratum role as src/pool.ts wires it (StratumServer + JobManager + ShareProcessor + the real hasher),
 * without litecoind: JobManager.onTemplate() gets a regtest fixture template with mainnet-like bits, so no
 * share is a block and every hash meets a tiny share difficulty. Used by the hardening tests (fast, no node)
 * and by the load harness; the bench's pool (bench/stratum-path.ts) is this one with counting parts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { loadNodeHasher } from '../../bench/hasher.js';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { createMetrics, type Metrics } from '../../src/ops/metrics.js';
import type { JobManager } from '../../src/stratum/job-manager.js';
import type { StratumServer } from '../../src/stratum/server.js';
import type { BlockHandler, ShareProcessor, ShareSink } from '../../src/stratum/share-processor.js';
import { createStratumStack } from '../../src/stratum/stack.js';
import { deepMerge } from '../support/pool.js';
import type { ScryptHasher } from '../../src/work/scrypt.js';
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
  shares: ShareProcessor;
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

/** What the fixture pool is built with; each part not given is the fixture's (a counting sink, no blocks, the Node hasher). */
export interface FixtureParts {
  logger?: Logger;
  hasher?: ScryptHasher;
  /** Where accepted shares go after they are counted. */
  sink?: ShareSink;
  blocks?: BlockHandler;
}

/** The Stratum role on a fixture configuration (fixtureConfig with `overrides`). */
export function startFixturePool(overrides: Record<string, unknown> = {}, parts: FixtureParts = {}): Promise<FixturePool> {
  return startFixtureStack(fixtureConfig(overrides), parts);
}

/** The Stratum role as src/pool.ts builds it (createStratumStack) on `config`, serving the fixture template. */
export async function startFixtureStack(config: Config, parts: FixtureParts = {}): Promise<FixturePool> {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = parts.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const hasher = parts.hasher ?? (await loadNodeHasher()).hasher;
  let accepted = 0;
  const sink: ShareSink = {
    write: (share) => {
      accepted++;
      return parts.sink ? parts.sink.write(share) : Promise.resolve();
    },
  };
  const blocks: BlockHandler = parts.blocks ?? { onBlockFound: () => undefined };
  const { jobs, shares, server } = createStratumStack(config, { hasher, sink, blocks, metrics, logger });
  jobs.onTemplate(fixtureTemplate());
  await server.listen();
  let blockCounter = 0;
  return {
    config,
    server,
    jobs,
    shares,
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
