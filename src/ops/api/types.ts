import type { NetworkName } from '../../work/address.js';
import type { SqlQueryable } from './readiness.js';

export type { SqlQueryable };

/** Live, in-memory figures the stratum layer knows better than the database. */
export interface PoolSummary {
  /** Hashes per second, from recently accepted share difficulty (see hashrate.ts). */
  hashrate: number;
  /** Distinct payout addresses with an authorized worker. */
  miners: number;
  workers: number;
  connections: number;
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
  /** Workers of the address connected now and their IPs; without it every worker shows offline. */
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
  /** Window for per-worker hashrate on /api/miners/:address. Default 600 s. */
  hashrateWindowSeconds?: number;
}
