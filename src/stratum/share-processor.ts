import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { HashrateWindow } from '../ops/api/hashrate.js';
import type { Metrics } from '../ops/metrics.js';
import { HashScheduler } from './hash-scheduler.js';
import { reversed } from '../work/bytes.js';
import { difficultyToTarget, networkDifficultyFromBits } from '../work/difficulty.js';
import { blockHash } from '../work/header.js';
import type { Job, JobAuxChain } from '../work/job.js';
import { serializeAuxPow } from '../work/auxpow.js';
import type { ScryptHasher } from '../work/scrypt.js';
import { blockForShare, buildShareWork, checkShareFields, judgeHash, type RejectReason } from '../work/share.js';
import { ERROR_CODES } from './codec.js';
import type { JobManager } from './job-manager.js';
import type { AcceptedShare } from '../store/share-writer.js';

export type { AcceptedShare };

/** Where accepted shares go; write() resolves once the share is durable. */
export interface ShareSink {
  write(share: AcceptedShare): Promise<void>;
}

export interface FoundBlock {
  job: Job;
  hash: string;
  hex: string;
  address: string;
  worker: string;
  shareDifficulty: number;
  shareId: string;
}

/** Persists and submits found blocks (the most valuable event in the system). */
export interface BlockHandler {
  /**
   * Submits the block to the node at once. The promise (when one is returned) resolves once the block is
   * stored durably (fsync'ed block spool or its row); the share is acknowledged only after that.
   */
  onBlockFound(block: FoundBlock): Promise<void> | void;
}

/** A share whose Scrypt hash met an aux chain's target: the auxpow proving it, ready for submitauxblock. */
export interface FoundAuxBlock {
  job: Job;
  aux: JobAuxChain;
  auxpowHex: string;
  address: string;
  worker: string;
  shareDifficulty: number;
  shareId: string;
}

/** Persists and submits aux blocks (one queue per chain). */
export interface AuxBlockHandler {
  onAuxBlockFound(block: FoundAuxBlock): void;
}

/** What the share processor needs to know about the connection a share came from. */
export interface Submitter {
  readonly subscribed: boolean;
  readonly extranonce1: Buffer;
  readonly ip: string;
  readonly versionMask: number;
  workerFor(name: string): { address: string; worker: string } | undefined;
  /** The difficulty a share for this job is judged at, or undefined if the job was never sent here. */
  difficultyForJob(jobId: string): number | undefined;
  /** False when this exact share was already submitted on this connection. */
  recordSubmission(jobId: string, key: string): boolean;
}

export type SubmitOutcome =
  | { accepted: true; difficulty: number; block: boolean; auxBlocks?: string[] }
  | { accepted: false; reason: RejectReason; code: number; message: string };

export interface ShareProcessorOptions {
  jobs: JobManager;
  hasher: ScryptHasher;
  sink: ShareSink;
  blocks: BlockHandler;
  /** Where aux wins go (merged mining); absent when no aux chain is configured. */
  auxBlocks?: AuxBlockHandler;
  instanceId: number;
  extranonce2Size: number;
  ntimeMaxFutureSeconds: number;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
  /** Hashes handed to the hasher at once (see HashScheduler). Default defaultMaxHashesInFlight(hasher.name). */
  maxHashesInFlight?: number;
}

/**
 * 32 per core: about 5 ms of hashing queued on 2 cores, so a broadcast's pause takes effect quickly and an
 * overload queues here, not in libuv. Measured on 2 cores: notify p99 at 10k connections while 200 miners submit
 * was 1.9x a bare server's unbounded, 1.0-1.4x with this bound; offered more shares than it can hash, the event
 * loop's p99 delay was 450-680 ms unbounded, 36-57 ms bounded. The price: about 7% fewer shares/s at
 * saturation (0.72-0.82 of raw Scrypt bounded, 0.79-0.93 unbounded in alternating runs).
 * The simd hasher hashes about twice as fast per core, so 64 per core is the same few milliseconds of hashing;
 * it also hands the workers larger batches (about 21 instead of 12 headers per message on 2 cores).
 */
export function defaultMaxHashesInFlight(hasherName?: string): number {
  return (hasherName === 'simd' ? 64 : 32) * availableParallelism();
}

const REJECT_CODES: Record<RejectReason, number> = {
  'job-not-found': ERROR_CODES.jobNotFound,
  stale: ERROR_CODES.jobNotFound,
  duplicate: ERROR_CODES.duplicate,
  'low-difficulty': ERROR_CODES.lowDifficulty,
  unauthorized: ERROR_CODES.unauthorized,
  'not-subscribed': ERROR_CODES.notSubscribed,
  'bad-extranonce2': ERROR_CODES.other,
  'bad-ntime': ERROR_CODES.other,
  'bad-nonce': ERROR_CODES.other,
  'bad-version': ERROR_CODES.other,
  malformed: ERROR_CODES.other,
  other: ERROR_CODES.other,
};

const REJECT_MESSAGES: Partial<Record<RejectReason, string>> = {
  'job-not-found': 'Job not found',
  stale: 'Stale share: the block changed',
  duplicate: 'Duplicate share',
  'low-difficulty': 'Low difficulty share',
  unauthorized: 'Unauthorized worker',
  'not-subscribed': 'Not subscribed',
};


/**
 * Judges mining.submit: cheapest checks first, then Scrypt, then durable storage before the answer.
 */
export class ShareProcessor {
  private readonly now: () => number;
  private readonly difficultyWindow: HashrateWindow;
  /** Shares answered true since start (the instance lease heartbeat derives shares/s from it). */
  acceptedCount = 0;
  private readonly networkDifficultyCache = new Map<string, number>();
  private readonly hashing: HashScheduler;

  constructor(private readonly options: ShareProcessorOptions) {
    this.now = options.now ?? Date.now;
    this.difficultyWindow = new HashrateWindow(this.now);
    this.hashing = new HashScheduler(options.maxHashesInFlight ?? defaultMaxHashesInFlight(options.hasher.name));
    options.metrics.setScryptQueueSource(() => this.hashing.stats().waiting);
  }

  /** Holds new Scrypt hashes back (running ones finish) until the returned function is called: for broadcasts. */
  pauseHashing(): () => void {
    return this.hashing.pause();
  }

  async submit(submitter: Submitter, params: unknown[]): Promise<SubmitOutcome> {
    const outcome = await this.judge(submitter, params);
    const { metrics } = this.options;
    if (outcome.accepted) {
      this.acceptedCount++;
      metrics.sharesTotal.inc({ result: outcome.block ? 'block' : 'accepted' });
      metrics.acceptedDifficultyTotal.inc(outcome.difficulty);
      this.difficultyWindow.record(outcome.difficulty);
    } else {
      metrics.recordReject(outcome.reason);
    }
    return outcome;
  }

  /** Pool hashrate over the last `windowSeconds` (or the time since start when shorter), from accepted share difficulty. */
  hashrate(windowSeconds = 600): number {
    return this.difficultyWindow.hashrate(windowSeconds);
  }

  private reject(reason: RejectReason, message?: string): SubmitOutcome {
    return { accepted: false, reason, code: REJECT_CODES[reason], message: message ?? REJECT_MESSAGES[reason] ?? reason };
  }

  private async judge(submitter: Submitter, params: unknown[]): Promise<SubmitOutcome> {
    if (!submitter.subscribed) return this.reject('not-subscribed');
    if (params.length < 5 || params.length > 6 || params.some((p) => typeof p !== 'string')) {
      return this.reject('malformed', 'mining.submit takes 5 or 6 string params: worker, job_id, extranonce2, ntime, nonce[, version_bits]');
    }
    const [workerName, jobId, extranonce2, ntime, nonce, versionBits] = params as string[];
    const worker = submitter.workerFor(workerName);
    if (!worker) return this.reject('unauthorized');
    const found = this.options.jobs.lookup(jobId);
    const sentDifficulty = submitter.difficultyForJob(jobId);
    if (!found || sentDifficulty === undefined) return this.reject('job-not-found');
    if (found.state === 'stale') return this.reject('stale');
    const { job } = found;

    const fields = checkShareFields(job, { extranonce2, ntime, nonce, versionBits }, {
      extranonce2Size: this.options.extranonce2Size,
      versionMask: submitter.versionMask,
      now: Math.floor(this.now() / 1000),
      maxFutureSeconds: this.options.ntimeMaxFutureSeconds,
    });
    if (!fields.ok) return this.reject(fields.reason, fields.message);
    const key = `${extranonce2}${ntime}${nonce}${versionBits ?? ''}`.toLowerCase();
    if (!submitter.recordSubmission(jobId, key)) return this.reject('duplicate');

    const work = buildShareWork(job, submitter.extranonce1, fields.share);
    const pow = await this.hashing.run(async () => {
      const started = performance.now();
      const hash = await this.options.hasher.hash(work.header);
      this.options.metrics.scryptDurationSeconds.observe((performance.now() - started) / 1000);
      return hash;
    });
    const shareTarget = difficultyToTarget(sentDifficulty);
    const verdict = judgeHash(pow, shareTarget, job.networkTarget);
    // The same hash against every aux chain's target. A strict chain refuses a parent whose version carries its
    // own chain id (nVersion >> 16), which version rolling can produce: such a share is not submitted there.
    let auxWins: JobAuxChain[] | undefined;
    for (const aux of job.aux) {
      if (verdict.hashValue > aux.block.target || fields.share.version >>> 16 === aux.chain.chainId) continue;
      if (!this.options.jobs.isCurrentAux(aux.chain.name, aux.block.hash)) {
        // The aux tip moved since this job: the node would take it as a side branch at best. Not a found block.
        this.options.metrics.auxBlocksTotal.inc({ chain: aux.chain.name, status: 'stale' });
        continue;
      }
      (auxWins ??= []).push(aux);
    }
    // A hash under the network target (or an aux target) is a block even when a miner's share difficulty sits above it.
    if (!verdict.meetsShareTarget && !verdict.meetsNetworkTarget && !auxWins) return this.reject('low-difficulty');

    const e1 = submitter.extranonce1.toString('hex');
    const shareId = `${this.options.instanceId}:${e1}:${jobId}:${key}`;
    const isBlock = verdict.meetsNetworkTarget;
    if (auxWins && this.options.auxBlocks) {
      for (const aux of auxWins) {
        this.options.auxBlocks.onAuxBlockFound({
          job,
          aux,
          auxpowHex: serializeAuxPow({
            coinbase: work.coinbase,
            coinbaseBranch: job.merkleBranch,
            auxBranch: aux.branch,
            auxIndex: aux.slot,
            parentHeader: work.header,
          }).toString('hex'),
          address: worker.address,
          worker: worker.worker,
          shareDifficulty: sentDifficulty,
          shareId,
        });
      }
    }
    const blockStored = !isBlock
      ? undefined
      : this.options.blocks.onBlockFound({
        job,
        hash: blockHash(work.header),
        hex: blockForShare(job, work).toString('hex'),
        address: worker.address,
        worker: worker.worker,
        shareDifficulty: sentDifficulty,
        shareId,
      });
    try {
      await this.options.sink.write({
        time: new Date(this.now()),
        address: worker.address,
        worker: worker.worker,
        difficulty: sentDifficulty,
        networkDifficulty: this.networkDifficulty(job.template.bits),
        height: job.height,
        jobId,
        hash: reversed(pow).toString('hex'),
        isBlock,
        ip: submitter.ip,
        instanceId: this.options.instanceId,
        shareId,
      });
    } catch (error) {
      this.options.logger.error({ err: error, shareId }, 'share could not be recorded; answering with an error');
      return this.reject('other', 'Share could not be recorded, please resubmit');
    }
    // A block share is acknowledged only once the block itself is durable too (it went to the node first).
    if (blockStored) await blockStored;
    return { accepted: true, difficulty: sentDifficulty, block: isBlock, ...(auxWins ? { auxBlocks: auxWins.map((a) => a.chain.name) } : {}) };
  }

  private networkDifficulty(bits: string): number {
    let value = this.networkDifficultyCache.get(bits);
    if (value === undefined) {
      value = networkDifficultyFromBits(bits);
      if (this.networkDifficultyCache.size > 64) this.networkDifficultyCache.clear();
      this.networkDifficultyCache.set(bits, value);
    }
    return value;
  }
}
