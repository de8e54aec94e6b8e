import type { NetworkName } from '../../work/address.js';
import type { SqlQueryable } from './readiness.js';

export type { SqlQueryable };

/**
 * What the serving instance knows itself and every instance knows alike (its template, its configuration).
 * Hashrate, miners, workers and connections are pool-wide figures from the database (pool-view.ts), never this.
 */
export interface PoolSummary {
  /** null until the first block template arrived. */
  network: { height: number; difficulty: number } | null;
  /** Pool fee in percent of the block reward (1 = 1 %). */
  feePercent: number;
  /** Reward scheme name, e.g. 'PPLNS'. */
  scheme: string;
  /** Stratum ports for the "how to connect" box (the host is the one the dashboard was loaded from). */
  stratumPorts?: { port: number; difficulty: number; tls: boolean; name?: string }[];
}

export interface PoolStatsProvider {
  poolSummary(): PoolSummary;
  /**
   * Workers of the address connected to this instance now and their IPs (exact, no write delay); the other
   * instances' come from connected_workers. Without it, only the table counts.
   */
  connectedWorkers?(address: string): { worker: string; ip: string }[];
}

export interface ApiDeps {
  /** A pg.Pool (or anything with its query signature); the API only reads. */
  db: SqlQueryable;
  stats: PoolStatsProvider;
  network: NetworkName;
  /** Throws an Error whose message says why the address is invalid. Default: decodeAddress(address, network). */
  validateAddress?: (address: string) => void;
  /** Limits for per-miner settings (/api/miners/:address/settings). Default: 0.1 LTC .. 1000 LTC, public targets only. */
  settings?: import('./settings.js').SettingsPolicy;
  /** Window for per-worker hashrate on /api/miners/:address and the pool's on /api/pool. Default 600 s. */
  hashrateWindowSeconds?: number;
  /** Merged mining: unit of each aux chain by name (dogecoin: DOGE); Litecoin's is LTC. */
  chainUnits?: Record<string, string>;
  /** The serving instance's id: its own connected workers come from `stats.connectedWorkers`, not the table. */
  instanceId?: number;
  /** Pool-wide figures for /api/pool (cached). Default: read from `db` and kept 5 s. */
  poolWide?: () => Promise<import('./pool-view.js').PoolWideFigures>;
}
