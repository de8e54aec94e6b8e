import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BlockStatus } from '../store/blocks.js';
import { REJECT_REASONS, type RejectReason } from '../work/share.js';
import { LITECOIN_CHAIN } from '../work/chains.js';

/** Every prom-client instrument of the pool. Names are fixed by CONVENTIONS.md ("Metric names"). */

export const METRIC_PREFIX = 'ltcpool_';

export const SHARE_RESULTS = ['accepted', 'rejected', 'stale', 'block'] as const;
export type ShareResult = (typeof SHARE_RESULTS)[number];

/** Why a mining.authorize was refused (label values of ltcpool_authorize_rejects_total). */
export const AUTHORIZE_REJECT_REASONS = ['bad-username', 'bad-worker-name', 'bad-address', 'wrong-network', 'too-many-workers'] as const;
export type AuthorizeRejectReason = (typeof AUTHORIZE_REJECT_REASONS)[number];

/** Label values of ltcpool_blocks_total: a block found, then the statuses of src/store/blocks.ts it reaches. */
export const BLOCK_COUNTER_STATUSES = ['found', 'accepted', 'rejected', 'orphaned', 'confirmed'] as const satisfies readonly ('found' | BlockStatus)[];

/** Any string outside the fixed reason set becomes 'other', so a caller can never blow up label cardinality. */
export function rejectReasonLabel(reason: string): RejectReason {
  return (REJECT_REASONS as readonly string[]).includes(reason) ? (reason as RejectReason) : 'other';
}

/**
 * RPC method names come from our own code, but keep the label safe anyway: a lower-case identifier of at most
 * 40 characters passes, anything else is 'other'.
 */
export function rpcMethodLabel(method: string): string {
  return /^[a-z][a-z0-9_]{0,39}$/.test(method) ? method : 'other';
}

// Seconds. RPC spans a fast getblockcount to a slow getblocktemplate on a full mempool or a wallet send.
export const RPC_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Seconds. One Scrypt (N=1024,r=1,p=1) hash takes ~1 ms in JS, far less natively.
export const SCRYPT_DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
// Seconds. One group-commit transaction to PostgreSQL.
export const COMMIT_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
// Shares per group-commit transaction.
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

export interface CreateMetricsOptions {
  /** Register prom-client's process/Node.js metrics (prefixed ltcpool_, e.g. ltcpool_process_cpu_seconds_total). Default true. */
  defaultMetrics?: boolean;
}

export function createMetrics(options: CreateMetricsOptions = {}) {
  const registry = new Registry();
  const registers = [registry];

  // Set by the template source owner; the gauge reads it on every scrape so the age keeps growing
  // while no new template arrives (which is exactly when the alert must fire).
  let templateReceivedAt: (() => number | undefined) | undefined;
  let scryptQueueSource: (() => number) | undefined;
  // Per aux chain: when its current work was fetched (0 = no work: daemon down or not ready).
  const auxWorkSources = new Map<string, () => number>();

  const instruments = {
    connections: new Gauge({ name: 'ltcpool_connections', help: 'Open Stratum TCP connections', registers }),
    minersAuthorized: new Gauge({ name: 'ltcpool_miners_authorized', help: 'Distinct payout addresses with at least one authorized worker', registers }),
    workersAuthorized: new Gauge({ name: 'ltcpool_workers_authorized', help: 'Authorized Stratum workers (sessions)', registers }),
    sharesTotal: new Counter({
      name: 'ltcpool_shares_total',
      help: 'Submitted shares by result (block = share that also met the network target)',
      labelNames: ['result'] as const,
      registers,
    }),
    shareRejectsTotal: new Counter({
      name: 'ltcpool_share_rejects_total',
      help: `Rejected shares by reason (one of: ${REJECT_REASONS.join(', ')})`,
      labelNames: ['reason'] as const,
      registers,
    }),
    acceptedDifficultyTotal: new Counter({
      name: 'ltcpool_accepted_difficulty_total',
      help: 'Sum of the share difficulty of accepted shares (Scrypt diff1 = 0xffff*2^224); rate()*2^32/0xffff = hashes/s',
      registers,
    }),
    poolHashrate: new Gauge({
      name: 'ltcpool_pool_hashrate',
      help: 'Pool-wide hashrate (every instance) from the shares table over the last 10 minutes, hashes per second: the same on every instance (aggregate with max, not sum)',
      registers,
    }),
    instanceHashrate: new Gauge({ name: 'ltcpool_instance_hashrate', help: "This instance's hashrate from the shares it accepted, hashes per second (sum over instances = the pool)", registers }),
    blocksTotal: new Counter({
      name: 'ltcpool_blocks_total',
      help: `Block events by chain (litecoin or an aux chain name) and status (${BLOCK_COUNTER_STATUSES.join(', ')})`,
      labelNames: ['chain', 'status'] as const,
      registers,
    }),
    networkDifficulty: new Gauge({ name: 'ltcpool_network_difficulty', help: 'Network difficulty as litecoind reports it (Bitcoin diff1)', registers }),
    networkHeight: new Gauge({ name: 'ltcpool_network_height', help: 'Height of the block the current template builds on top of + 1', registers }),
    templateAgeSeconds: new Gauge({
      name: 'ltcpool_template_age_seconds',
      help: 'Seconds since the last block template was received from litecoind',
      registers,
      collect() {
        const receivedAt = templateReceivedAt?.();
        if (receivedAt !== undefined && receivedAt > 0) this.set(Math.max(0, (Date.now() - receivedAt) / 1000));
      },
    }),
    templateErrorsTotal: new Counter({ name: 'ltcpool_template_errors_total', help: 'Failed getblocktemplate fetches', registers }),
    auxBlocksTotal: new Counter({
      name: 'ltcpool_aux_blocks_total',
      help: 'Merge-mined (aux chain) block events by chain and status (found, accepted, rejected; stale: a share met the target of aux work already replaced, not submitted)',
      labelNames: ['chain', 'status'] as const,
      registers,
    }),
    auxRpcErrorsTotal: new Counter({
      name: 'ltcpool_aux_rpc_errors_total',
      help: 'Failed RPC calls to an aux chain daemon, by chain and method',
      labelNames: ['chain', 'method'] as const,
      registers,
    }),
    auxWorkAgeSeconds: new Gauge({
      name: 'ltcpool_aux_work_age_seconds',
      help: 'Seconds since the aux work of a chain was fetched (createauxblock); -1 while the chain has no work (daemon down)',
      labelNames: ['chain'] as const,
      registers,
      collect() {
        for (const [chain, fetchedAt] of auxWorkSources) {
          const at = fetchedAt();
          this.set({ chain }, at > 0 ? Math.max(0, (Date.now() - at) / 1000) : -1);
        }
      },
    }),
    rpcDurationSeconds: new Histogram({
      name: 'ltcpool_rpc_duration_seconds',
      help: 'litecoind JSON-RPC call duration by method',
      labelNames: ['method'] as const,
      buckets: RPC_DURATION_BUCKETS,
      registers,
    }),
    rpcErrorsTotal: new Counter({
      name: 'ltcpool_rpc_errors_total',
      help: 'litecoind JSON-RPC calls that failed (RPC error or transport error) by method',
      labelNames: ['method'] as const,
      registers,
    }),
    scryptDurationSeconds: new Histogram({
      name: 'ltcpool_scrypt_duration_seconds',
      help: 'Duration of one Scrypt proof-of-work hash',
      buckets: SCRYPT_DURATION_BUCKETS,
      registers,
    }),
    scryptQueueDepth: new Gauge({
      name: 'ltcpool_scrypt_queue_depth',
      help: 'Shares waiting for Scrypt: for a free slot (stratum.maxHashesInFlight) or for a broadcast to end',
      registers,
      collect() {
        const waiting = scryptQueueSource?.();
        if (waiting !== undefined) this.set(waiting);
      },
    }),
    scryptKernelFallback: new Gauge({
      name: 'ltcpool_scrypt_kernel_fallback',
      help: '1 when stratum.hasher is simd but shares are hashed with OpenSSL (no WebAssembly SIMD, or the kernel failed its start-up self-check)',
      registers,
    }),
    shareQueueDepth: new Gauge({ name: 'ltcpool_share_queue_depth', help: 'Accepted shares waiting for the next group commit', registers }),
    shareBatchSize: new Histogram({
      name: 'ltcpool_share_batch_size',
      help: 'Shares written per group-commit transaction',
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    shareCommitSeconds: new Histogram({
      name: 'ltcpool_share_commit_seconds',
      help: 'Duration of one group-commit transaction',
      buckets: COMMIT_DURATION_BUCKETS,
      registers,
    }),
    spoolBytes: new Gauge({ name: 'ltcpool_spool_bytes', help: 'Size of the local share spool (shares kept while PostgreSQL is unreachable)', registers }),
    spoolShares: new Gauge({ name: 'ltcpool_spool_shares', help: 'Shares in the local spool waiting for replay', registers }),
    payoutsPaidLitoshisTotal: new Counter({
      name: 'ltcpool_payouts_paid_litoshis_total',
      help: "Paid out to miners by chain, in 1e-8 units of the chain's coin (litoshis for litecoin)",
      labelNames: ['chain'] as const,
      registers,
    }),
    payoutsPendingLitoshis: new Gauge({
      name: 'ltcpool_payouts_pending_litoshis',
      help: "Credited and not yet paid, by chain, in 1e-8 units of the chain's coin",
      labelNames: ['chain'] as const,
      registers,
    }),
    payoutsFailedTotal: new Counter({ name: 'ltcpool_payouts_failed_total', help: 'Payout runs or payments that failed, by chain', labelNames: ['chain'] as const, registers }),
    walletShortfallLitoshis: new Gauge({
      name: 'ltcpool_wallet_shortfall_litoshis',
      help: "Owed to miners beyond the chain's wallet balance, in 1e-8 units of its coin (0 when the wallet covers all pending payments)",
      labelNames: ['chain'] as const,
      registers,
    }),
    payoutsReserveBreached: new Gauge({
      name: 'ltcpool_payouts_reserve_breached',
      help: "1 while a chain's payouts are stopped because its wallet spendable balance minus what is owed is below the reserve (litecoin: payouts.reserveLitoshis; aux chains: 0)",
      labelNames: ['chain'] as const,
      registers,
    }),
    payoutsReserveHeadroomLitoshis: new Gauge({
      name: 'ltcpool_payouts_reserve_headroom_litoshis',
      help: "A chain's wallet spendable balance minus what is owed to miners (negative: a shortfall), in 1e-8 units of its coin",
      labelNames: ['chain'] as const,
      registers,
    }),
    authorizeRejectsTotal: new Counter({
      name: 'ltcpool_authorize_rejects_total',
      help: `Refused mining.authorize by reason (one of: ${AUTHORIZE_REJECT_REASONS.join(', ')})`,
      labelNames: ['reason'] as const,
      registers,
    }),
    bansTotal: new Counter({ name: 'ltcpool_bans_total', help: 'IP bans issued', registers }),
    bannedIps: new Gauge({ name: 'ltcpool_banned_ips', help: 'IPs currently banned', registers }),
    tlsProbesTotal: new Counter({
      name: 'ltcpool_tls_probes_total',
      help: 'TLS ClientHellos on plain Stratum ports (clients probing for TLS), closed without ban score',
      registers,
    }),
  };

  // Zero every fixed label value so each series exists from the start: rate() and absent-based alerts work
  // before the first event, and dashboards show 0 rather than "no data".
  for (const result of SHARE_RESULTS) instruments.sharesTotal.inc({ result }, 0);
  for (const reason of REJECT_REASONS) instruments.shareRejectsTotal.inc({ reason }, 0);
  for (const reason of AUTHORIZE_REJECT_REASONS) instruments.authorizeRejectsTotal.inc({ reason }, 0);
  /** Series of a chain's blocks and payouts, all at 0 from the start. */
  const addChainSeries = (chain: string): void => {
    for (const status of BLOCK_COUNTER_STATUSES) instruments.blocksTotal.inc({ chain, status }, 0);
    instruments.payoutsPaidLitoshisTotal.inc({ chain }, 0);
    instruments.payoutsFailedTotal.inc({ chain }, 0);
  };
  addChainSeries(LITECOIN_CHAIN);

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  return {
    registry,
    ...instruments,
    /** Lets ltcpool_template_age_seconds be computed at scrape time from the template source's last success (ms epoch). */
    setTemplateAgeSource(receivedAt: () => number | undefined): void {
      templateReceivedAt = receivedAt;
    },
    /**
     * Registers an aux chain: its series exist from the start (aux blocks, blocks and payouts by chain), and its
     * work age is read at scrape time (the pool process; the payouts worker has no aux work).
     */
    addAuxChain(chain: string, workFetchedAt?: () => number): void {
      if (workFetchedAt) auxWorkSources.set(chain, workFetchedAt);
      for (const status of ['found', 'accepted', 'rejected', 'stale']) instruments.auxBlocksTotal.inc({ chain, status }, 0);
      addChainSeries(chain);
    },
    /** Lets ltcpool_scrypt_queue_depth be read at scrape time from the share processor's hash scheduler. */
    setScryptQueueSource(waiting: () => number): void {
      scryptQueueSource = waiting;
    },
    /** Times an RPC call into ltcpool_rpc_duration_seconds / ltcpool_rpc_errors_total; fits RpcClientOptions.onCall. */
    observeRpc(method: string, seconds: number, ok: boolean): void {
      const label = rpcMethodLabel(method);
      instruments.rpcDurationSeconds.observe({ method: label }, seconds);
      if (!ok) instruments.rpcErrorsTotal.inc({ method: label });
    },
    /** Counts a rejected share under both ltcpool_shares_total{result} and ltcpool_share_rejects_total{reason}. */
    recordReject(reason: string, result: 'rejected' | 'stale' = reason === 'stale' ? 'stale' : 'rejected'): void {
      instruments.sharesTotal.inc({ result });
      instruments.shareRejectsTotal.inc({ reason: rejectReasonLabel(reason) });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The process-wide instruments. Tests that need isolation call createMetrics() instead. */
export const metrics: Metrics = createMetrics();
export const registry: Registry = metrics.registry;
