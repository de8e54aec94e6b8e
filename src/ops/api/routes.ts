import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { decodeAddress } from '../../work/address.js';
import { HttpError } from './errors.js';
import { networkHashrate } from './hashrate.js';
import { HISTORY_RANGES, type HistoryRange, minerHistory, poolHistory } from './history.js';
import { BLOCK_STATUSES, type BlockStatus } from '../../store/blocks.js';
import { Cached, connectedWorkersPoolWide, readPoolWideFigures } from './pool-view.js';
import { blockCountsByChain, blockCountsByStatus, findMiner, withChainConfirmations, hasShares, minerAuxBalances, minerBalance, payoutStatus, recentBlocks, recentPayments, workerStats } from './queries.js';
import { settingsRoutes } from './settings.js';
import { listInstances } from '../../store/instance-lease.js';
import type { ApiDeps } from './types.js';

const LAST_BLOCKS_ON_POOL_PAGE = 10;
const PAYMENTS_ON_MINER_PAGE = 20;

const limitSchema = { type: 'integer', minimum: 1, maximum: 500, default: 50 } as const;
// Cheap shape check before the real decode: base58 / bech32 characters only, bounded length.
const addressSchema = { type: 'string', minLength: 1, maxLength: 130, pattern: '^[A-Za-z0-9]+$' } as const;
const rangeSchema = { type: 'string', enum: Object.keys(HISTORY_RANGES), default: '24h' } as const;
const addressParams = { type: 'object', properties: { address: addressSchema }, required: ['address'] } as const;
const chainSchema = { type: 'string', pattern: '^[a-z][a-z0-9_]{1,31}$' } as const;

/** The read-only JSON API, meant to be registered with { prefix: '/api' }. */
export function apiRoutes(deps: ApiDeps): FastifyPluginAsync {
  const validateAddress = deps.validateAddress ?? ((address: string) => void decodeAddress(address, deps.network));
  const windowSeconds = deps.hashrateWindowSeconds ?? 600;
  // Amounts are in 1e-8 units of their chain's coin: every row names its unit.
  const unitOf = (chain: string | undefined | null): string => (!chain || chain === 'litecoin' ? 'LTC' : deps.chainUnits?.[chain] ?? chain.toUpperCase());
  const withUnit = <T extends { chain?: string | null }>(rows: T[]): Array<T & { unit: string }> => rows.map((r) => ({ ...r, unit: unitOf(r.chain) }));
  const poolWide = deps.poolWide ?? new Cached(() => readPoolWideFigures(deps.db, windowSeconds), 5000).get;

  return async (app: FastifyInstance) => {
    app.get('/pool', async () => {
      const summary = deps.stats.poolSummary();
      const [wide, counts, byChain, stored] = await Promise.all([poolWide(), blockCountsByStatus(deps.db), blockCountsByChain(deps.db), recentBlocks(deps.db, LAST_BLOCKS_ON_POOL_PAGE)]);
      const last = withUnit(withChainConfirmations(stored, summary.network?.height));
      // Pool-wide (every instance, from the database): the same answer whichever instance serves the request.
      return {
        hashrate: wide.hashrate,
        miners: wide.miners,
        workers: wide.workers,
        connections: wide.connections,
        instances: wide.instances,
        network: summary.network && { ...summary.network, hashrate: networkHashrate(summary.network.difficulty) },
        feePercent: summary.feePercent,
        scheme: summary.scheme,
        stratumPorts: summary.stratumPorts ?? [],
        blocks: { counts, countsByChain: byChain, last },
      };
    });

    // Every instance that ever held a lease, from the database: the same answer whichever instance serves it.
    app.get('/instances', async () => ({ instances: await listInstances(deps.db) }));

    app.get<{ Querystring: { range: HistoryRange } }>(
      '/pool/history',
      { schema: { querystring: { type: 'object', properties: { range: rangeSchema }, additionalProperties: false } } },
      async (request) => poolHistory(deps.db, request.query.range),
    );

    const checkAddress = (address: string): void => {
      try {
        validateAddress(address);
      } catch (error) {
        throw new HttpError(400, error instanceof Error ? error.message : `invalid address ${address}`);
      }
    };

    settingsRoutes(app, deps, deps.settings ?? { minPayoutThreshold: 10_000_000n, maxPayoutThreshold: 100_000_000_000n, allowPrivateTargets: false }, checkAddress, addressParams);

    app.get<{ Params: { address: string }; Querystring: { range: HistoryRange; worker?: string } }>(
      '/miners/:address/history',
      {
        schema: {
          params: addressParams,
          querystring: { type: 'object', properties: { range: rangeSchema, worker: { type: 'string', maxLength: 200 } }, additionalProperties: false },
        },
      },
      async (request) => {
        const { address } = request.params;
        checkAddress(address);
        return minerHistory(deps.db, address, request.query.range, { worker: request.query.worker });
      },
    );

    app.get<{ Params: { address: string } }>(
      '/miners/:address',
      { schema: { params: addressParams } },
      async (request) => {
        const { address } = request.params;
        checkAddress(address);
        const miner = await findMiner(deps.db, address);
        if (!miner && !(await hasShares(deps.db, address))) throw new HttpError(404, `unknown miner ${address}`);
        const [known, balance, payments, online, aux] = await Promise.all([
          workerStats(deps.db, address, windowSeconds),
          minerBalance(deps.db, address),
          recentPayments(deps.db, PAYMENTS_ON_MINER_PAGE, address),
          connectedWorkersPoolWide(deps.db, address, { instanceId: deps.instanceId, connectedWorkers: deps.stats.connectedWorkers?.bind(deps.stats) }),
          minerAuxBalances(deps.db, address),
        ]);
        // online = a connection to any instance with this worker authorised now; connected workers without a share yet are listed too
        const connected = new Set(online.map((c) => c.worker));
        const workers = known.map((w) => ({ ...w, online: connected.has(w.name) }));
        for (const name of connected) {
          if (!known.some((w) => w.name === name)) workers.push({ name, hashrate: 0, shares: 0, difficultySum: 0, lastShareAt: null, lastSeen: null, online: true });
        }
        workers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return {
          address,
          firstSeen: miner?.firstSeen ?? null,
          lastSeen: miner?.lastSeen ?? null,
          windowSeconds,
          hashrate: workers.reduce((sum, w) => sum + w.hashrate, 0),
          shares: workers.reduce((sum, w) => sum + w.shares, 0),
          workers,
          ...balance,
          /** Merged mining: the miner's balance on each aux chain, in that chain's units. */
          auxChains: withUnit(aux),
          payments: withUnit(payments),
        };
      },
    );

    app.get<{ Querystring: { limit: number; status?: BlockStatus; chain?: string } }>(
      '/blocks',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: { limit: limitSchema, status: { type: 'string', enum: [...BLOCK_STATUSES] }, chain: chainSchema },
            additionalProperties: false,
          },
        },
      },
      async (request) => ({
        blocks: withUnit(withChainConfirmations(await recentBlocks(deps.db, request.query.limit, request.query.status, request.query.chain), deps.stats.poolSummary().network?.height)),
      }),
    );

    // Whether payouts run or are stopped by the reserve (payouts.reserveLitoshis), and the pool's PPS luck.
    app.get('/payouts/status', async () => ({ scheme: deps.stats.poolSummary().scheme, ...(await payoutStatus(deps.db)) }));

    app.get<{ Querystring: { limit: number; chain?: string } }>(
      '/payments',
      { schema: { querystring: { type: 'object', properties: { limit: limitSchema, chain: chainSchema }, additionalProperties: false } } },
      async (request) => ({ payments: withUnit(await recentPayments(deps.db, request.query.limit, undefined, request.query.chain)) }),
    );
  };
}
