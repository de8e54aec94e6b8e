import path from 'node:path';
import type { Logger } from 'pino';
import type pg from 'pg';
import { AuxBlockSubmitter, type AuxChainEndpoint } from './chain/aux-blocks.js';
import { AuxWorkSource } from './chain/aux-source.js';
import { FoundBlockHandler, type FoundBlockStore } from './chain/found-blocks.js';
import { RpcClient } from './chain/rpc.js';
import { TemplateSource, type TemplateUpdate } from './chain/template-source.js';
import { checkPoolCannotSpend } from './chain/wallet-probe.js';
import { auxChainsOf, drainNoticeMs, type Config } from './ops/config.js';
import { databaseCheck, litecoindCheck, startHttpServer, templateFreshCheck, type HttpServer, type ReadinessCheck } from './ops/http.js';
import { createLogger } from './ops/logger.js';
import { metrics as defaultMetrics, rpcMethodLabel, type Metrics } from './ops/metrics.js';
import type { JobManager } from './stratum/job-manager.js';
import type { StratumServer } from './stratum/server.js';
import type { AcceptedShare, ShareProcessor, ShareSink } from './stratum/share-processor.js';
import { createStratumStack } from './stratum/stack.js';
import { BlocksRepo } from './store/blocks.js';
import { createPool, setPoolPassword } from './store/db.js';
import { checkSchema } from './store/migrations.js';
import { isDatabaseUnavailableError } from './store/pg-errors.js';
import { startSharePartitionMaintenance } from './store/partitions.js';
import { HistoryWriter } from './store/history.js';
import { InstanceLease, type InstanceFigures } from './store/instance-lease.js';
import { ConnectedWorkersPublisher } from './store/connected-workers.js';
import { ClusterChannel, publishClusterEvent, type ClusterEvent } from './store/cluster-events.js';
import { SharedBans } from './store/shared-bans.js';
import { Cached, readPoolWideFigures } from './ops/api/pool-view.js';
import { Notifier } from './ops/alerts/notifier.js';
import { ShareWriter } from './store/share-writer.js';
import { Spool } from './store/spool.js';
import { networkDifficultyFromBits } from './work/difficulty.js';
import { createScryptHasher } from './hash/hasher.js';

/** Without a database (regtest only): shares are logged, not kept. */
class LogOnlyShareSink implements ShareSink {
  constructor(private readonly logger: Logger) {}
  async write(share: AcceptedShare): Promise<void> {
    this.logger.debug({ shareId: share.shareId, address: share.address, difficulty: share.difficulty }, 'share accepted (not recorded: no database)');
  }
}

export interface RunningPool {
  stratumPorts: number[];
  httpUrl: string | undefined;
  server: StratumServer;
  jobs: JobManager;
  shares: ShareProcessor;
  blocks: FoundBlockHandler;
  templates: TemplateSource;
  /** Merged mining: one work source per aux chain, and the aux block submitter. */
  aux: { sources: AuxWorkSource[]; blocks: AuxBlockSubmitter };
  db: pg.Pool | undefined;
  history: HistoryWriter | undefined;
  notifier: Notifier | undefined;
  writer: ShareWriter | undefined;
  /**
   * Applies a re-read configuration (SIGHUP) without dropping miners: RPC credentials (node.rpcUrl,
   * node.cookieFile), the database password. Other changes are listed as needing a restart.
   */
  reload(next: Config, options?: { fromCluster?: boolean }): ReloadResult;
  /** What this instance shares with the others through PostgreSQL (bans, found blocks, reloads); undefined without a database. */
  cluster: ClusterChannel | undefined;
  stop(): Promise<void>;
}

export interface ReloadResult {
  /** Field paths applied now (never values). */
  applied: string[];
  /** Field paths that changed but take effect only after a restart. */
  restartNeeded: string[];
}

/** Applied by RunningPool.reload; every other field needs a restart. */
const RELOADABLE = new Set(['node.rpcUrl', 'node.cookieFile', 'database.url']);

/** Dotted paths whose values differ between two configurations (arrays compared whole). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(root)'];
}

/**
 * Wires the roles together, data flowing one way: litecoind → templates → jobs → miners → shares →
 * store, and found blocks → litecoind.
 */
export async function startPool(
  config: Config,
  options: { metrics?: Metrics; logger?: Logger; /** The schema, checked after a start during an outage, was refused, or the instance lease was lost. */ onFatal?: (error: Error) => void;
    /** Another instance's configuration was reloaded (SIGHUP there): re-read this one's (without announcing it again). */
    onClusterReload?: () => void } = {},
): Promise<RunningPool> {
  const logger = options.logger ?? createLogger();
  const metrics = options.metrics ?? defaultMetrics;

  const rpc = new RpcClient({
    url: config.node.rpcUrl,
    cookieFile: config.node.cookieFile,
    timeoutMs: config.node.timeoutMs,
    onCall: (method, seconds, ok) => {
      const label = rpcMethodLabel(method);
      metrics.rpcDurationSeconds.observe({ method: label }, seconds);
      if (!ok) metrics.rpcErrorsTotal.inc({ method: label });
    },
  });

  // Found blocks have their own RPC sockets: a submitblock never queues behind the long poll or template calls.
  const blockRpc = new RpcClient({
    url: config.node.rpcUrl,
    cookieFile: config.node.cookieFile,
    timeoutMs: config.node.timeoutMs,
    maxSockets: 2,
    onCall: (method, seconds, ok) => {
      const label = rpcMethodLabel(method);
      metrics.rpcDurationSeconds.observe({ method: label }, seconds);
      if (!ok) metrics.rpcErrorsTotal.inc({ method: label });
    },
  });

  let db: pg.Pool | undefined;
  let blocksDb: pg.Pool | undefined;
  let writer: ShareWriter | undefined;
  let blockStore: FoundBlockStore | undefined;
  let partitions: { stop(): void } | undefined;
  let history: HistoryWriter | undefined;
  let notifier: Notifier | undefined;
  let schemaOk = false;
  let schemaPending: Promise<unknown> | undefined;
  let afterSchema = (): void => undefined;
  let stopped = false;
  /** Set on stop: /readyz answers 404 "draining" (a load balancer sends no new miners here). */
  let draining = false;
  let lease: InstanceLease | undefined;
  let figures: (() => InstanceFigures) | undefined;
  let presence: ConnectedWorkersPublisher | undefined;
  // Announcements to the other instances; lost (logged) while the database is away: the state is in tables anyway.
  const announce = (event: ClusterEvent): void => {
    if (db) publishClusterEvent(db, event).catch((error: unknown) => logger.debug({ err: error, kind: event.kind }, 'cluster event not sent'));
  };
  // Assigned once everything is wired (the lease's onLost may call it only after that).
  let stop: () => Promise<void> = async () => undefined;
  const spoolDir = path.resolve(config.database.spoolDir, `instance-${config.instanceId}`);
  if (config.database.url) {
    db = createPool({ url: config.database.url, max: config.database.poolSize, logger, applicationName: `ltcpool-${config.instanceId}` });
    // Found blocks: their own connection (never behind share batches) and their own fsync'ed spool file.
    blocksDb = createPool({
      url: config.database.url, max: 2, logger, applicationName: `ltcpool-${config.instanceId}-blocks`,
      connectionTimeoutMs: 2000, queryTimeoutMs: 5000,
    });
    const blockSpool = new Spool({ dir: path.join(spoolDir, 'blocks'), logger: logger.child({ module: 'block-spool' }) });
    await blockSpool.open();
    blockStore = { spool: blockSpool, repo: new BlocksRepo(blocksDb, { logger }) };
    // The schema check must not keep the pool from serving while PostgreSQL is down: a start during an
    // outage (a crash, an upgrade) serves miners on the spool and checks the schema once the database answers.
    // Only a schema known to be behind (or altered) is refused.
    const firstCheck = checkSchema(db).then(() => 'ok' as const, (error: unknown) => error);
    const early = await Promise.race([firstCheck, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 1500).unref())]);
    if (early !== 'ok' && early !== 'pending' && !isDatabaseUnavailableError(early)) throw early;
    schemaOk = early === 'ok';
    if (!schemaOk) logger.warn('database unreachable at start: serving miners on the spool; the schema is checked once it answers');
    schemaPending = schemaOk ? undefined : firstCheck;
    // Two processes with one instanceId would share extranonce1s and a spool directory: the id's lease is taken
    // before the spool is touched (or, after a start during an outage, as soon as the database answers).
    lease = new InstanceLease({
      db,
      instanceId: config.instanceId,
      leaseSeconds: config.instance.leaseSeconds,
      startWaitSeconds: config.instance.startWaitSeconds,
      figures: () => figures?.() ?? { connections: 0, sharesPerSecond: 0 },
      onLost: (holder) => {
        const error = new Error(`instanceId ${config.instanceId} lease lost: host ${holder.host} pid ${holder.pid} holds it now`);
        logger.fatal({ instanceId: config.instanceId, holder }, 'stopping: another process holds this instanceId now');
        if (options.onFatal) options.onFatal(error);
        else void stop();
      },
      logger: logger.child({ module: 'instance' }),
    });
    if (schemaOk) {
      try {
        await lease.acquire();
      } catch (error) {
        await db.end().catch(() => undefined);
        await blocksDb.end().catch(() => undefined);
        await blockSpool.close().catch(() => undefined);
        throw error;
      }
      lease.start();
    }
    writer = new ShareWriter({
      pool: db,
      spoolDir,
      commitDeadlineMs: config.database.commitDeadlineMs,
      logger: logger.child({ module: 'share-writer' }),
      metrics: {
        queueDepth: metrics.shareQueueDepth,
        batchSize: metrics.shareBatchSize,
        commitSeconds: metrics.shareCommitSeconds,
        spoolBytes: metrics.spoolBytes,
        spoolShares: metrics.spoolShares,
      },
    });
    // The spool left by a previous run replays behind the open port, not before it.
    await writer.start({ replayInBackground: true, databaseReady: schemaOk });
    const database = db;
    const shareWriter = writer;
    presence = new ConnectedWorkersPublisher({ db, instanceId: config.instanceId, logger: logger.child({ module: 'connected-workers' }) });
    const workersPublisher = presence;
    afterSchema = () => {
      if (stopped) return;
      shareWriter.databaseReady();
      // After the lease: the first write replaces the rows a previous holder of this id left.
      workersPublisher.start();
      partitions = startSharePartitionMaintenance(database, { daysAhead: 7, retentionDays: config.database.shareRetentionDays, logger: logger.child({ module: 'partitions' }) });
      if (config.history.enabled) {
        const { intervalSeconds, ...historyOptions } = config.history;
        history = new HistoryWriter({ pool: database, intervalMs: intervalSeconds * 1000, ...historyOptions, logger: logger.child({ module: 'history' }) });
        history.start();
      }
      if (config.alerts.enabled) {
        const { intervalSeconds, enabled: _enabled, ...alertOptions } = config.alerts;
        notifier = new Notifier({ db: database, intervalMs: intervalSeconds * 1000, ...alertOptions, logger: logger.child({ module: 'alerts' }) });
        notifier.start();
      }
    };
    if (schemaOk) afterSchema();
  } else {
    logger.warn('no database configured: accepted shares are NOT recorded (regtest only)');
  }

  const templates = new TemplateSource({
    rpc,
    longpoll: config.node.longpoll,
    pollIntervalMs: config.node.pollIntervalMs,
    refreshIntervalMs: config.node.refreshSeconds * 1000,
    logger: logger.child({ module: 'templates' }),
    errorCounter: metrics.templateErrorsTotal,
  });
  templates.on('error', () => undefined);

  const blocks = new FoundBlockHandler({
    rpc: blockRpc,
    store: blockStore,
    onAccepted: () => {
      void templates.refresh().catch(() => undefined);
      announce({ kind: 'block', from: config.instanceId, chain: 'litecoin' });
    },
    metrics,
    logger: logger.child({ module: 'blocks' }),
  });

  const hasher = await createScryptHasher(config.stratum.hasher, {
    threads: config.stratum.hasherThreads,
    logger: logger.child({ module: 'scrypt' }),
    fallbackGauge: metrics.scryptKernelFallback,
  });

  // Merged mining: an aux work source per chain beside the template source; aux wins go to the aux submitter.
  const auxChains = auxChainsOf(config);
  const auxEndpoints = new Map<string, AuxChainEndpoint>();
  const auxSources = config.merged.map((entry, i) => {
    const chain = auxChains[i];
    const auxRpc = new RpcClient({ url: entry.rpcUrl, timeoutMs: entry.timeoutMs });
    const source = new AuxWorkSource({
      chain,
      rpc: auxRpc,
      address: entry.address,
      pollIntervalMs: entry.pollIntervalMs,
      refreshIntervalMs: entry.refreshSeconds * 1000,
      logger: logger.child({ module: 'aux', chain: chain.name }),
      onError: (method) => metrics.auxRpcErrorsTotal.inc({ chain: chain.name, method: rpcMethodLabel(method) }),
    });
    auxEndpoints.set(chain.name, {
      rpc: auxRpc,
      onAccepted: () => {
        source.refresh();
        announce({ kind: 'block', from: config.instanceId, chain: chain.name });
      },
    });
    metrics.addAuxChain(chain.name, () => source.workFetchedAt);
    return { source, rpc: auxRpc };
  });
  const auxBlocks = new AuxBlockSubmitter({ chains: auxEndpoints, blocks: blockStore?.repo, metrics, logger: logger.child({ module: 'aux-blocks' }) });
  const rememberedAux = new Map<string, string>();
  const onAuxAddresses = (address: string, entries: Array<[string, string]>) => {
    if (!db) return;
    for (const [chain, auxAddress] of entries) {
      const key = `${address}\0${chain}`;
      if (rememberedAux.get(key) === auxAddress) continue;
      if (rememberedAux.size > 100_000) rememberedAux.clear();
      rememberedAux.set(key, auxAddress);
      db.query(
        `INSERT INTO miner_aux_addresses (address, chain, aux_address, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (address, chain) DO UPDATE SET aux_address = EXCLUDED.aux_address, updated_at = now()`,
        [address, chain, auxAddress],
      ).catch((error: unknown) => {
        rememberedAux.delete(key);
        logger.warn({ err: error, address, chain }, 'aux address not recorded (the miner gives it again on its next authorize)');
      });
    }
  };

  const { jobs, shares, server } = createStratumStack(config, {
    hasher,
    sink: writer ?? new LogOnlyShareSink(logger),
    blocks,
    auxBlocks: auxSources.length > 0 ? auxBlocks : undefined,
    onAuxAddresses: auxSources.length > 0 ? onAuxAddresses : undefined,
    metrics,
    logger,
  });
  if (presence) server.workerPresence = { online: (a, w, ip) => presence.added(a, w, ip), offline: (a, w, ip) => presence.removed(a, w, ip) };
  for (const { source } of auxSources) {
    source.on('work', (block) => {
      const job = jobs.onAuxWork(source.chain.name, { chain: source.chain, block });
      logger.debug({ chain: source.chain.name, height: block.height, job: job?.id }, 'new aux work');
    });
    source.on('down', () => jobs.onAuxWork(source.chain.name, undefined));
  }

  let lastTemplateAt: number | undefined;
  templates.on('template', (update: TemplateUpdate) => {
    lastTemplateAt = update.receivedAt;
    const { template } = update;
    metrics.networkHeight.set(template.height);
    metrics.networkDifficulty.set(networkDifficultyFromBits(template.bits));
    const job = jobs.onTemplate(template);
    logger.debug({ height: template.height, job: job.id, txs: template.transactions.length, newBlock: update.newBlock }, 'new job');
  });
  metrics.setTemplateAgeSource(() => lastTemplateAt);

  blocks.start();
  await templates.start();
  // The pool faces the internet: it must not be able to spend (warns loudly with the fix when it can).
  await checkPoolCannotSpend(rpc, logger.child({ module: 'least-privilege' }));
  for (const { source } of auxSources) source.start();
  jobs.startRebroadcastTimer();
  // Bans, found blocks and reloads of the other instances; bans in force are loaded before the port opens.
  let cluster: ClusterChannel | undefined;
  let listenDb: pg.Pool | undefined;
  if (db && config.database.url) {
    const sharedBans = new SharedBans({ db, instanceId: config.instanceId, bans: server.bans, logger: logger.child({ module: 'bans' }) });
    const closeSessions = server.bans.onBan;
    server.bans.onBan = (ip, reason) => {
      closeSessions(ip, reason);
      if (reason !== 'shared') void sharedBans.publish(ip, reason);
    };
    listenDb = createPool({ url: config.database.url, max: 1, logger, applicationName: `ltcpool-${config.instanceId}-listen`, connectionTimeoutMs: 3000, queryTimeoutMs: 5000 });
    cluster = new ClusterChannel({
      pool: listenDb,
      instanceId: config.instanceId,
      logger: logger.child({ module: 'cluster' }),
      onEvent: (event) => {
        if (event.kind === 'ban') server.bans.impose(event.ip, event.seconds);
        else if (event.kind === 'block') {
          logger.info({ chain: event.chain, from: event.from }, 'block found by another instance: new work now');
          if (event.chain === 'litecoin') void templates.refresh().catch(() => undefined);
          else auxSources.find((a) => a.source.chain.name === event.chain)?.source.refresh();
        } else if (event.kind === 'reload') {
          logger.info({ from: event.from }, 'configuration reloaded on another instance: reloading this one');
          options.onClusterReload?.();
        }
      },
      // A block found while not listening would otherwise wait for the next poll.
      onSync: async (client) => {
        await sharedBans.load(client);
        void templates.refresh().catch(() => undefined);
      },
    });
  }
  const startCluster = () => {
    if (!stopped) cluster?.start();
  };
  if (schemaOk && cluster) {
    startCluster();
    // The bans in force before the port opens (on the listener's own connection: a spool replaying meanwhile
    // holds the others); a database too slow for that does not keep miners waiting.
    if (!(await cluster.firstSync(3000))) logger.warn('bans of the other instances not loaded yet: the port opens, they follow once the listener connects');
  }
  await server.listen();
  writer?.releaseReplay();

  // Pool-wide figures (every instance) from the database, kept a few seconds: /api/pool and the hashrate gauge.
  const hashrateWindowSeconds = 600;
  const figuresDb = db;
  const poolWide = figuresDb ? new Cached(() => readPoolWideFigures(figuresDb, hashrateWindowSeconds), 5000).get : undefined;

  let http: HttpServer | undefined;
  if (config.http.enabled) {
    const readiness: ReadinessCheck[] = [
      litecoindCheck(rpc),
      templateFreshCheck(() => lastTemplateAt, Math.max(120, config.node.refreshSeconds * 4)),
    ];
    if (db) readiness.push(databaseCheck(db));
    for (const { source } of auxSources) {
      // Detail only: an aux daemon that is down never stops Litecoin mining, so it never makes the pool unready.
      readiness.push({
        name: `aux:${source.chain.name}`,
        check: async () => {
          const failure = source.failure;
          const work = source.current;
          if (work) return { ok: true, detail: `merge-mining ${source.chain.name} height ${work.height}` };
          return {
            ok: true,
            detail: failure
              ? `${source.chain.name} daemon failing since ${new Date(failure.since).toISOString()} (${failure.error}); not merge-mined, Litecoin mining continues`
              : `${source.chain.name}: no aux work yet; Litecoin mining continues`,
          };
        },
      });
    }
    http = await startHttpServer({
      draining: () => draining,
      host: config.http.host,
      port: config.http.port,
      readiness,
      logger: logger.child({ module: 'http' }),
      registry: metrics.registry,
      dashboard: config.http.dashboard,
      api: db
        ? {
            db,
            network: config.network,
            chainUnits: Object.fromEntries(auxChains.map((c) => [c.name, c.unit])),
            instanceId: config.instanceId,
            hashrateWindowSeconds,
            poolWide,
            settings: {
              minPayoutThreshold: BigInt(config.payouts.minimumPayout),
              maxPayoutThreshold: BigInt(config.payouts.maxPayoutThreshold),
              allowPrivateTargets: config.alerts.allowPrivateTargets,
            },
            stats: {
              poolSummary: () => {
                const current = jobs.current;
                return {
                  network: current ? { height: current.height, difficulty: networkDifficultyFromBits(current.template.bits) } : null,
                  feePercent: config.payouts.feePercent,
                  scheme: config.payouts.scheme.toUpperCase(),
                  stratumPorts: config.stratum.ports.map((p, i) => ({ port: server.boundPorts[i] ?? p.port, difficulty: p.difficulty, tls: p.tls !== undefined, name: p.name })),
                };
              },
              connectedWorkers: (address) => server.connectedWorkers(address),
            },
          }
        : undefined,
    });
  }
  // Shares/s over ten-second samples: the lease reads the figures every second (connections moving at once).
  let lastCount = shares.acceptedCount;
  let lastAt = Date.now();
  let sharesPerSecond = 0;
  const rateTimer = setInterval(() => {
    const now = Date.now();
    sharesPerSecond = Math.round(((shares.acceptedCount - lastCount) * 100_000) / Math.max(1, now - lastAt)) / 100;
    lastCount = shares.acceptedCount;
    lastAt = now;
  }, 10_000);
  rateTimer.unref();
  figures = () => {
    const counts = server.stats();
    return { connections: counts.connections, workers: counts.workers, sharesPerSecond, hashrate: shares.hashrate() };
  };
  const updateHashrateGauges = () => {
    metrics.instanceHashrate.set(shares.hashrate());
    poolWide?.().then((f) => metrics.poolHashrate.set(f.hashrate), () => undefined); // database away: the gauge keeps its last value
  };
  const hashrateTimer = setInterval(updateHashrateGauges, 10_000);
  hashrateTimer.unref();
  updateHashrateGauges();

  logger.info({ network: config.network, stratum: server.boundPorts, http: http?.url, height: jobs.current?.height }, 'ltcpool is serving');

  if (db && schemaPending) {
    const database = db;
    let result = schemaPending;
    void (async () => {
      for (;;) {
        const outcome = await result;
        if (stopped) return;
        if (outcome === 'ok') {
          try {
            await lease!.acquire();
          } catch (error) {
            if (isDatabaseUnavailableError(error)) {
              await new Promise((r) => setTimeout(r, 1000));
              result = Promise.resolve('ok');
              continue;
            }
            logger.fatal({ err: error }, 'instance lease refused: shares stay in the spool');
            options.onFatal?.(error as Error);
            return;
          }
          if (stopped) return void lease!.release();
          lease!.start();
          logger.info('database answers and its schema is current: shares go to it, the spool replays');
          afterSchema();
          startCluster();
          return;
        }
        if (!isDatabaseUnavailableError(outcome)) {
          logger.fatal({ err: outcome }, 'database schema refused: shares stay in the spool');
          options.onFatal?.(outcome as Error);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
        result = checkSchema(database).then(() => 'ok' as const, (error: unknown) => error);
      }
    })();
  }

  let current = config;
  const reload = (next: Config, reloadOptions: { fromCluster?: boolean } = {}): ReloadResult => {
    const changed = changedPaths(current, next);
    const applied: string[] = [];
    const restartNeeded = changed.filter((p) => !RELOADABLE.has(p));
    if (changed.includes('node.rpcUrl') || changed.includes('node.cookieFile') || next.node.cookieFile) {
      // setUrl validates first, so a bad URL leaves the clients as they were (and throws).
      const a = rpc.setUrl(next.node.rpcUrl, next.node.cookieFile);
      blockRpc.setUrl(next.node.rpcUrl, next.node.cookieFile);
      if (a) applied.push(...['node.rpcUrl', 'node.cookieFile'].filter((p) => changed.includes(p)));
      if (next.node.cookieFile && !applied.includes('node.cookieFile')) applied.push('node.cookieFile (re-read)');
      templates.wake(); // no waiting out an error back-off with credentials that now work
    }
    if (changed.includes('database.url')) {
      if (!db || !next.database.url) {
        restartNeeded.push('database.url');
      } else {
        const outcome = [db, blocksDb, listenDb].map((pool) => (pool ? setPoolPassword(pool, next.database.url!) : 'unchanged'));
        if (outcome.includes('restart-needed')) restartNeeded.push('database.url (only the password can change without a restart)');
        else if (outcome.includes('rotated')) applied.push('database.url (password)');
      }
    }
    // What was applied is now current; the rest keeps its running value until a restart.
    current = {
      ...current,
      node: { ...current.node, rpcUrl: next.node.rpcUrl, cookieFile: next.node.cookieFile },
      database: restartNeeded.some((p) => p.startsWith('database.url')) ? current.database : { ...current.database, url: next.database.url },
    };
    logger.info({ applied, restartNeeded }, restartNeeded.length ? 'configuration reloaded; some changes need a restart' : 'configuration reloaded');
    // The other instances re-read their configuration too (shared secret files rotate for all of them at once).
    if (!reloadOptions.fromCluster) announce({ kind: 'reload', from: config.instanceId });
    return { applied, restartNeeded };
  };

  let stopping: Promise<void> | undefined;
  stop = () =>
    (stopping ??= (async () => {
      stopped = true;
      logger.info('shutting down: asking miners to reconnect, flushing shares');
      clearInterval(hashrateTimer);
      clearInterval(rateTimer);
      jobs.stopRebroadcastTimer();
      templates.stop();
      for (const { source } of auxSources) source.stop();
      draining = true;
      const notice = drainNoticeMs(config);
      // Miners keep being served meanwhile; a load balancer reads /readyz and stops sending new ones here.
      if (http && notice > 0) await new Promise((r) => setTimeout(r, notice));
      await server.close({ reconnect: true });
      // Listening ports go first: a successor started meanwhile takes them at once (the rest is flushing).
      await http?.close();
      // So is the instanceId: a successor on this host waits for it (instance.startWaitSeconds), and this
      // process no longer hands out work.
      await presence?.stop();
      await cluster?.stop();
      await lease?.release();
      await hasher.close?.();
      await blocks.drain();
      await auxBlocks.drain();
      await writer?.close();
      await history?.stop();
      await notifier?.stop();
      partitions?.stop();
      await blockStore?.spool.close();
      await db?.end();
      await blocksDb?.end();
      await listenDb?.end();
      rpc.close?.();
      blockRpc.close();
      for (const { rpc: auxRpc } of auxSources) auxRpc.close?.();
      logger.info('stopped');
    })());

  return { stratumPorts: server.boundPorts, httpUrl: http?.url, server, jobs, shares, blocks, templates, aux: { sources: auxSources.map((a) => a.source), blocks: auxBlocks }, db, history, notifier, writer, cluster, reload, stop };
}
