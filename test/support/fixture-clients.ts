import { afterEach } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { FIXTURE_ADDRESS, startFixturePool, type FixturePool } from '../load/fixture-pool.js';
import { RawClient } from './raw-client.js';

/** `address.worker` on the fixture pool's network. */
export const FIXTURE_USER = `${FIXTURE_ADDRESS}.rig`;

/** The fixture pools and clients a test starts; everything still open is closed after each test. */
export interface FixtureSet {
  pool(overrides?: Record<string, unknown>): Promise<FixturePool>;
  raw(port: number, source?: string, options?: Parameters<typeof RawClient.connect>[2]): Promise<RawClient>;
  /** A client made elsewhere (a TestMiner), closed after the test. */
  track<T extends RawClient | TestMiner>(client: T): T;
  /** A pool started elsewhere, stopped after the test. */
  trackPool(pool: FixturePool): FixturePool;
  /** A pool the test stopped itself. */
  forgetPool(pool: FixturePool): void;
}

/** Registers the after-each clean-up in the calling test file: call it once, at the top level. */
export function fixturesPerTest(): FixtureSet {
  let pools: FixturePool[] = [];
  let clients: Array<RawClient | TestMiner> = [];
  afterEach(async () => {
    for (const c of clients) (c instanceof TestMiner ? void c.close() : c.destroy());
    clients = [];
    await Promise.all(pools.map((p) => p.stop()));
    pools = [];
  });
  const set: FixtureSet = {
    async pool(overrides = {}) {
      return set.trackPool(await startFixturePool(overrides));
    },
    async raw(port, source = '127.0.0.1', options = {}) {
      return set.track(await RawClient.connect(port, source, options));
    },
    track(client) {
      clients.push(client);
      return client;
    },
    trackPool(pool) {
      pools.push(pool);
      return pool;
    },
    forgetPool(pool) {
      pools = pools.filter((p) => p !== pool);
    },
  };
  return set;
}
