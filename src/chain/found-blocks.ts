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

  constructor(private readonly options: FoundBlockHandlerOptions) {}

  onBlockFound(block: FoundBlock): void {
    const task = this.handle(block);
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** Waits for submissions in progress (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async handle(block: FoundBlock): Promise<BlockOutcome> {
    const { logger, metrics } = this.options;
    const { job } = block;
    metrics.blocksTotal.inc({ status: 'found' });
    logger.info({ height: job.height, hash: block.hash, finder: block.address, worker: block.worker }, 'block found');
    let id: number | null = null;
    if (this.options.blocks) {
      try {
        id = (
          await this.options.blocks.insertCandidate({
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
          })
        ).id;
      } catch (error) {
        logger.error({ err: error, hash: block.hash, hex: block.hex }, 'block candidate could not be persisted; submitting anyway');
      }
    }
    const result = await this.submitUntilAnswered(block);
    const accepted = result.accepted || result.reason === 'duplicate';
    const outcome: BlockOutcome = { hash: block.hash, height: job.height, accepted, reason: result.reason };
    this.outcomes.push(outcome);
    if (this.outcomes.length > 1000) this.outcomes.shift();
    metrics.blocksTotal.inc({ status: accepted ? 'accepted' : 'rejected' });
    if (accepted) {
      logger.info({ height: job.height, hash: block.hash }, 'block accepted by litecoind');
      this.options.onAccepted();
    } else {
      logger.error({ height: job.height, hash: block.hash, reason: result.reason }, 'block rejected by litecoind');
    }
    if (this.options.blocks) {
      try {
        const status = accepted ? 'accepted' : 'rejected';
        if (id !== null) await this.options.blocks.updateStatus(id, status, result.reason ?? 'accepted');
        else await this.options.blocks.updateStatusByHash(block.hash, status, result.reason ?? 'accepted');
      } catch (error) {
        logger.error({ err: error, hash: block.hash }, 'block status could not be recorded');
      }
    }
    return outcome;
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
