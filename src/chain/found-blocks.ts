import type { Logger } from 'pino';
import type { Metrics } from '../ops/metrics.js';
import type { BlockHandler, FoundBlock } from '../stratum/share-processor.js';
import type { BlocksRepo } from '../store/blocks.js';
import { networkDifficultyFromBits } from '../work/difficulty.js';
import { submitBlock, type SubmitResult } from './block-submitter.js';
import type { RpcClient } from './rpc.js';

export interface FoundBlockHandlerOptions {
  rpc: RpcClient;
  blocks?: BlocksRepo;
  /** Called after litecoind accepted a block: fetch the next template now. */
  onAccepted: () => void;
  metrics: Metrics;
  logger: Logger;
  /** How long to keep resubmitting while litecoind is unreachable. */
  giveUpAfterMs?: number;
}

const SUPERSEDED = 'superseded: a sibling from this pool was accepted';

export interface BlockOutcome {
  hash: string;
  height: number;
  accepted: boolean;
  reason: string | null;
}

/**
 * A found block is the most valuable event in the system: persist it with its hex, submit it, retry
 * while the node is unreachable, record the verdict.
 */
export class FoundBlockHandler implements BlockHandler {
  private readonly inFlight = new Set<Promise<BlockOutcome>>();
  readonly outcomes: BlockOutcome[] = [];
  private closing = false;
  private queue: Promise<void> = Promise.resolve();
  /** Parents of blocks litecoind accepted from us: later candidates on them are stale siblings. */
  private readonly acceptedParents = new Set<string>();

  constructor(private readonly options: FoundBlockHandlerOptions) {}

  onBlockFound(block: FoundBlock): void {
    // One submitblock at a time, in the order found: a burst (regtest, or a reorg race) must not fill
    // litecoind's RPC work queue and starve getblocktemplate.
    const persisted = this.persist(block);
    const submitted = this.queue.then(() => this.submit(block, persisted));
    this.queue = submitted.then(
      () => undefined,
      () => undefined,
    );
    const task = submitted.then((outcome) => this.record(block, outcome, persisted));
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** Waits for submissions in progress (shutdown); status updates still failing then are given up (logged). */
  async drain(): Promise<void> {
    const settle = Promise.allSettled([...this.inFlight]);
    const timer = setTimeout(() => (this.closing = true), 5000);
    await settle;
    clearTimeout(timer);
  }

  /** Starts at once, not behind earlier submissions: the candidate and its hex are stored before submitblock. */
  private async persist(block: FoundBlock): Promise<number | null> {
    const { logger, metrics } = this.options;
    const { job } = block;
    metrics.blocksTotal.inc({ status: 'found' });
    logger.info({ height: job.height, hash: block.hash, finder: block.address, worker: block.worker }, 'block found');
    if (!this.options.blocks) return null;
    try {
      const result = await this.options.blocks.insertCandidate({
        height: job.height,
        hash: block.hash,
        prevHash: job.template.previousblockhash,
        finder: block.address,
        worker: block.worker,
        rewardLitoshis: job.reward,
        shareDifficulty: block.shareDifficulty,
        networkDifficulty: networkDifficultyFromBits(job.template.bits),
        blockHex: block.hex,
        shareId: block.shareId,
      });
      return result.id;
    } catch (error) {
      logger.error({ err: error, hash: block.hash, hex: block.hex }, 'block candidate could not be persisted; submitting anyway');
      return null;
    }
  }

  private async submit(block: FoundBlock, persisted: Promise<number | null>): Promise<BlockOutcome> {
    const { logger, metrics } = this.options;
    const { job } = block;
    // The candidate is stored before submitblock; a database that hangs must not cost the block, though.
    let timer: NodeJS.Timeout | undefined;
    const stored = await Promise.race([persisted.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 2000)))]);
    clearTimeout(timer);
    if (!stored) logger.warn({ hash: block.hash }, 'block candidate not stored within 2 s; submitting anyway');
    const prevHash = job.template.previousblockhash;
    if (this.acceptedParents.has(prevHash)) {
      // Another of our blocks on the same parent is already in the chain: this one can only be a stale sibling.
      metrics.blocksTotal.inc({ status: 'orphaned' });
      const outcome: BlockOutcome = { hash: block.hash, height: job.height, accepted: false, reason: SUPERSEDED };
      logger.info({ height: job.height, hash: block.hash }, 'block not submitted: a sibling from this pool is already accepted');
      return outcome;
    }
    const result = await this.submitUntilAnswered(block);
    const accepted = result.accepted || result.reason === 'duplicate';
    const outcome: BlockOutcome = { hash: block.hash, height: job.height, accepted, reason: result.reason };
    this.outcomes.push(outcome);
    if (this.outcomes.length > 1000) this.outcomes.shift();
    metrics.blocksTotal.inc({ status: accepted ? 'accepted' : 'rejected' });
    if (accepted) {
      this.acceptedParents.add(prevHash);
      if (this.acceptedParents.size > 100) this.acceptedParents.delete(this.acceptedParents.values().next().value as string);
      logger.info({ height: job.height, hash: block.hash }, 'block accepted by litecoind');
      this.options.onAccepted();
    } else {
      logger.error({ height: job.height, hash: block.hash, reason: result.reason }, 'block rejected by litecoind');
    }
    return outcome;
  }

  /** Outside the submit queue: a slow or failing database must never hold up the next submitblock. */
  private async record(block: FoundBlock, outcome: BlockOutcome, persisted: Promise<number | null>): Promise<BlockOutcome> {
    if (this.options.blocks) {
      const id = await persisted;
      const status = outcome.accepted ? 'accepted' : outcome.reason === SUPERSEDED ? 'orphaned' : 'rejected';
      await this.recordStatus(block.hash, id, status, outcome.reason ?? 'accepted');
    }
    return outcome;
  }

  /**
   * The verdict must reach the blocks table even when PostgreSQL is down (the candidate may sit in the
   * spool until the database is back), so keep trying for a while.
   */
  private async recordStatus(hash: string, id: number | null, status: 'accepted' | 'rejected' | 'orphaned', result: string): Promise<void> {
    const repo = this.options.blocks!;
    const deadline = Date.now() + (this.options.giveUpAfterMs ?? 30 * 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        if (id !== null) await repo.updateStatus(id, status, result);
        else await repo.updateStatusByHash(hash, status, result);
        return;
      } catch (error) {
        if (Date.now() > deadline || this.closing) {
          this.options.logger.error({ err: error, hash, status }, 'block status could not be recorded');
          return;
        }
        if (attempt === 0) this.options.logger.warn({ err: error, hash, status }, 'block status not recorded yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  private async submitUntilAnswered(block: FoundBlock): Promise<SubmitResult> {
    const deadline = Date.now() + (this.options.giveUpAfterMs ?? 10 * 60_000);
    for (;;) {
      try {
        return await submitBlock(this.options.rpc, block.hex);
      } catch (error) {
        if (Date.now() > deadline) {
          this.options.logger.error({ err: error, hash: block.hash, hex: block.hex }, 'gave up submitting block: node unreachable');
          return { accepted: false, reason: `unreachable: ${(error as Error).message}` };
        }
        this.options.logger.warn({ err: error, hash: block.hash }, 'block submission failed; retrying');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }
}
