import pino from 'pino';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { createMetrics, type Metrics } from '../../src/ops/metrics.js';
import { startPool, type RunningPool } from '../../src/pool.js';
import type { RegtestNode } from '../harness/litecoind.js';
import type { TestDatabase } from '../harness/postgres.js';
import { startTestbed } from './testbed.js';

export interface TestPool extends RunningPool {
  config: Config;
  metrics: Metrics;
  stratumPort: number;
}

/** A pool in this process against a regtest node, on free ports, with an isolated metrics registry. */
export async function startTestPool(node: RegtestNode, payoutAddress: string, overrides: Record<string, unknown> = {}): Promise<TestPool> {
  const base = {
    network: 'regtest',
    pool: { address: payoutAddress, tag: '/ltcpool-test/' },
    node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250, refreshSeconds: 2 },
    stratum: {
      host: '127.0.0.1',
      ports: [{ port: 0, difficulty: 0.00001 }],
      staleGraceMs: 300,
      vardiff: { enabled: false },
    },
    http: { port: 0 },
    log: { level: 'silent' },
  };
  const merged = deepMerge(base, overrides);
  const config = parseConfig(merged);
  // port 0 = any free port; the schema wants a real one.
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const pool = await startPool(config, { metrics, logger });
  return { ...pool, config, metrics, stratumPort: pool.stratumPorts[0] };
}

/** What the tests of one in-process pool share: the testbed (regtest node, migrated database) and the pool on both. */
export interface PoolTestbed {
  node: RegtestNode;
  database: TestDatabase;
  pool: TestPool;
  /** Stops the pool, then the testbed (which removes the pool's spool dir). */
  stop(): Promise<void>;
}

/** `overrides` go to startTestPool over the database URL and a spool dir of its own. */
export async function startPoolTestbed(overrides: Record<string, unknown> = {}): Promise<PoolTestbed> {
  const testbed = await startTestbed({ tmpPrefix: 'ltcpool-spool-', dbConnections: 1 });
  let pool: TestPool;
  try {
    const database = { url: testbed.database.url, spoolDir: testbed.tmp };
    pool = await startTestPool(testbed.node, await testbed.node.newAddress(), deepMerge({ database }, overrides));
  } catch (error) {
    await testbed.stop().catch(() => undefined);
    throw error;
  }
  return {
    node: testbed.node,
    database: testbed.database,
    pool,
    async stop() {
      await pool.stop();
      await testbed.stop();
    },
  };
}

/** `b` over `a`, objects merged key by key (arrays and other values replaced). */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
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

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Current value of a counter/gauge series in a registry. */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  const match = data.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match?.value ?? 0;
}
