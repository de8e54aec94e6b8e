import type { Logger } from 'pino';
import { auxChainsOf, EXTRANONCE1_SIZE, parseHostPort, type Config } from '../ops/config.js';
import type { Metrics } from '../ops/metrics.js';
import { decodeAddress } from '../work/address.js';
import type { ScryptHasher } from '../work/scrypt.js';
import { compileDeviceClasses, DEFAULT_DEVICE_CLASSES } from './device-classes.js';
import { JobManager } from './job-manager.js';
import { StratumServer, type StratumServerOptions } from './server.js';
import { ShareProcessor, type AuxBlockHandler, type BlockHandler, type ShareSink } from './share-processor.js';

export { EXTRANONCE1_SIZE };

export interface StratumStackParts {
  hasher: ScryptHasher;
  /** Where accepted shares go (the ShareWriter in the pool). */
  sink: ShareSink;
  /** Where block-meeting shares go (the FoundBlockHandler in the pool). */
  blocks: BlockHandler;
  /** Where aux wins go (merged mining). */
  auxBlocks?: AuxBlockHandler;
  /** A miner gave aux chain addresses in its password. */
  onAuxAddresses?: (address: string, entries: Array<[string, string]>) => void;
  metrics: Metrics;
  logger: Logger;
}

/** The Stratum role: jobs handed out, sockets served, shares judged. Templates come in through jobs.onTemplate(). */
export interface StratumStack {
  jobs: JobManager;
  shares: ShareProcessor;
  server: StratumServer;
}

/**
 * Builds the Stratum role from a Config, the one mapping of config fields to these classes: the pool, the
 * benchmark and the load/hardening fixtures all use it, so what they measure is what runs.
 */
export function createStratumStack(config: Config, parts: StratumStackParts): StratumStack {
  const jobs = new JobManager({
    payoutScript: decodeAddress(config.pool.address, config.network),
    poolTag: Buffer.from(config.pool.tag, 'utf8'),
    extranonce1Size: EXTRANONCE1_SIZE,
    extranonce2Size: config.stratum.extranonce2Size,
    maxJobs: config.stratum.maxJobs,
    staleGraceMs: config.stratum.staleGraceMs,
    rebroadcastMs: config.stratum.jobRebroadcastSeconds * 1000,
  });
  const shares = new ShareProcessor({
    jobs,
    hasher: parts.hasher,
    sink: parts.sink,
    blocks: parts.blocks,
    auxBlocks: parts.auxBlocks,
    instanceId: config.instanceId,
    extranonce2Size: config.stratum.extranonce2Size,
    ntimeMaxFutureSeconds: config.stratum.ntimeMaxFutureSeconds,
    maxHashesInFlight: config.stratum.maxHashesInFlight,
    metrics: parts.metrics,
    logger: parts.logger.child({ module: 'shares' }),
  });
  const server = new StratumServer(
    { ...stratumServerOptions(config, { jobs, shares, metrics: parts.metrics, logger: parts.logger.child({ module: 'stratum' }) }), onAuxAddresses: parts.onAuxAddresses },
  );
  return { jobs, shares, server };
}

/** StratumServer options from a Config. */
export function stratumServerOptions(
  config: Config,
  parts: { jobs: JobManager; shares: ShareProcessor; metrics: Metrics; logger: Logger },
): StratumServerOptions {
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
      deviceClasses: compileDeviceClasses(config.stratum.deviceClasses ?? DEFAULT_DEVICE_CLASSES),
      auxChains: auxChainsOf(config),
    },
    ...parts,
    authorizeTimeoutMs: limits.authorizeTimeoutSeconds * 1000,
    idleTimeoutMs: limits.idleTimeoutSeconds * 1000,
    connectionsPerIp: limits.connectionsPerIp,
    bans: config.stratum.bans,
    shutdown: {
      waveFraction: config.stratum.shutdown.waveFraction,
      waveIntervalMs: config.stratum.shutdown.waveIntervalMs,
      graceMs: config.stratum.shutdown.graceMs,
      reconnectTo: config.stratum.shutdown.reconnectTo === undefined ? undefined : parseHostPort(config.stratum.shutdown.reconnectTo),
    },
    proxyHeaderTimeoutMs: limits.proxyHeaderTimeoutSeconds * 1000,
  };
}
