import type { Logger } from 'pino';
import type { Metrics } from '../ops/metrics.js';
import type { BlockHandler, FoundBlock } from '../stratum/share-processor.js';
import { candidateToSpooled, type BlocksRepo, type BlockRow } from '../store/blocks.js';
import type { Spool, SpooledBlock } from '../store/spool.js';
import { LITECOIN_CHAIN } from '../work/chains.js';
import { networkDifficultyFromBits } from '../work/difficulty.js';
import { submitBlock, type SubmitResult } from './block-submitter.js';
import { RpcError, type RpcClient } from './rpc.js';

/** Where found blocks are kept: their own fsync'ed spool file and the blocks table on their own connection. */
export interface FoundBlockStore {
  spool: Spool;
  /** A BlocksRepo on a database pool of its own: never queued behind share batches. */
  repo: BlocksRepo;
}

export interface FoundBlockHandlerOptions {
  /** An RpcClient of its own (own sockets): a block never waits behind template or share RPC. */
  rpc: RpcClient;
  store?: FoundBlockStore;
  /** Called after litecoind accepted a block: fetch the next template now. */
  onAccepted: () => void;
  metrics: Metrics;
  logger: Logger;
  /** How long to keep resubmitting while litecoind is unreachable. */
  giveUpAfterMs?: number;
  /** Stored candidates (and spooled blocks) not known to the node are resubmitted this often while on the tip. Default 5000. */
  resubmitIntervalMs?: number;
}

const SUPERSEDED = 'superseded: a sibling from this pool was accepted';

export interface BlockOutcome {
  hash: string;
  height: number;
  accepted: boolean;
  reason: string | null;
}

function rowToSpooled(row: BlockRow): SpooledBlock {
  return {
    height: row.height, hash: row.hash, prevHash: row.prevHash, finder: row.finder, worker: row.worker,
    rewardLitoshis: row.rewardLitoshis.toString(), shareDifficulty: row.shareDifficulty, networkDifficulty: row.networkDifficulty,
    blockHex: row.blockHex, shareId: row.shareId, createdAtMs: row.createdAt.getTime(),
  };
}

/**
 * A found block is the most valuable event in the system. It goes to litecoind at once (own RPC sockets),
 * while it is appended to its own fsync'ed spool file and inserted into `blocks` on its own database
 * connection; the share is acknowledged once the block is durable in either. Every few seconds (and at start)
 * the spool is replayed into `blocks`, and stored candidates the node does not know are resubmitted while
 * they are still on the tip: a crash between acknowledgement and submitblock cannot lose a block.
 */
export class FoundBlockHandler implements BlockHandler {
  private readonly inFlight = new Set<Promise<BlockOutcome>>();
  readonly outcomes: BlockOutcome[] = [];
  /** Blocks resubmitted by the periodic check (tests and logs). */
  readonly resubmitted: string[] = [];
  private closing = false;
  private queue: Promise<void> = Promise.resolve();
  /** Parents of blocks litecoind accepted from us: later candidates on them are stale siblings. */
  private readonly acceptedParents = new Set<string>();
  /** Hashes submitted by this process and not answered yet: the periodic check leaves them alone. */
  private readonly submitting = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;

  constructor(private readonly options: FoundBlockHandlerOptions) {}

  /** Starts the background check: now, then every resubmitIntervalMs. */
  start(): void {
    if (this.timer || this.closing) return;
    const run = () => {
      void this.check().finally(() => {
        if (!this.closing) {
          // Spooled blocks waiting for the database: look again soon, they belong in `blocks` as soon as it answers.
          const pending = this.options.store?.spool.hasPending() ?? false;
          this.timer = setTimeout(run, Math.min(pending ? 1000 : Infinity, this.options.resubmitIntervalMs ?? 5000));
          this.timer.unref();
        }
      });
    };
    this.timer = setTimeout(run, 0);
    this.timer.unref();
  }

  onBlockFound(block: FoundBlock): Promise<void> {
    const { logger, metrics } = this.options;
    const { job } = block;
    metrics.blocksTotal.inc({ chain: LITECOIN_CHAIN, status: 'found' });
    logger.info({ height: job.height, hash: block.hash, finder: block.address, worker: block.worker }, 'block found');
    const candidate = candidateToSpooled({
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
    // Submission first: it does not wait for the spool or the database.
    this.enqueueSubmit(candidate);
    return this.persist(candidate);
  }

  /** Stops the periodic check and waits for submissions in progress (shutdown); status updates still failing then are given up (logged). */
  async drain(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.checking?.catch(() => undefined);
    // A last chance for spooled blocks to reach the table (the next start replays them otherwise).
    await this.replaySpool();
    const settle = Promise.allSettled([...this.inFlight]);
    const timer = setTimeout(() => (this.closing = true), 5000);
    await settle;
    clearTimeout(timer);
    this.closing = true;
    await this.checking?.catch(() => undefined);
  }

  /**
   * One round of the background check: spooled blocks into `blocks`, then resubmission of every stored or
   * spooled candidate on the current tip that the node does not know. Exposed for tests.
   */
  check(): Promise<void> {
    if (this.checking) return this.checking;
    this.checking = this.checkOnce()
      .catch((error) => this.options.logger.warn({ err: error }, 'found-block check failed; next round later'))
      .finally(() => (this.checking = null));
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const { store, rpc, logger } = this.options;
    if (!store) return;
    await this.replaySpool();
    const best = await rpc.call<string>('getbestblockhash');
    const candidates = new Map<string, { block: SpooledBlock; stored: boolean }>();
    for (const record of await store.spool.peek()) {
      if (record.kind === 'block' && record.block.prevHash === best) candidates.set(record.block.hash, { block: record.block, stored: false });
    }
    try {
      for (const row of await store.repo.candidatesOn(best)) candidates.set(row.hash, { block: rowToSpooled(row), stored: true });
    } catch (error) {
      logger.debug({ err: { message: (error as Error).message } }, 'stored block candidates not readable (database unreachable?)');
    }
    for (const { block, stored } of candidates.values()) {
      if (this.submitting.has(block.hash) || this.closing) continue;
      const known = await this.nodeKnows(block.hash);
      if (known === 'main') {
        // Submitted before a crash, verdict never recorded.
        if (stored) await store.repo.updateStatusByHash(block.hash, 'accepted', 'accepted (found on the node after a restart)').catch(() => undefined);
        continue;
      }
      if (known === 'side') continue; // the payouts unlocker follows it
      logger.warn({ height: block.height, hash: block.hash }, 'resubmitting a found block the node does not know (still on the tip)');
      this.resubmitted.push(block.hash);
      await this.enqueueSubmit(block);
    }
  }

  private async replaySpool(): Promise<void> {
    const { store, logger } = this.options;
    if (!store?.spool.hasPending()) return;
    try {
      const result = await store.spool.replay(async (record) => {
        if (record.kind === 'block') await store.repo.insert(record.block);
      });
      logger.debug(result, 'block spool replayed into the blocks table');
    } catch (error) {
      logger.debug({ err: { message: (error as Error).message } }, 'block spool not replayed yet (database unreachable?)');
    }
  }

  private async nodeKnows(hash: string): Promise<'main' | 'side' | 'no'> {
    try {
      const header = await this.options.rpc.call<{ confirmations: number }>('getblockheader', [hash, true]);
      return header.confirmations >= 0 ? 'main' : 'side';
    } catch (error) {
      if (error instanceof RpcError && error.code === -5) return 'no';
      throw error;
    }
  }

  private enqueueSubmit(block: SpooledBlock): Promise<BlockOutcome> {
    // One submitblock at a time, in the order found: a burst (regtest, or a reorg race) must not fill
    // litecoind's RPC work queue, and a sibling of an accepted block is recognised as such.
    this.submitting.add(block.hash);
    const submitted = this.queue.then(() => this.submit(block));
    this.queue = submitted.then(
      () => undefined,
      () => undefined,
    );
    const task = submitted.then((outcome) => this.record(block, outcome));
    this.inFlight.add(task);
    void task.finally(() => {
      this.inFlight.delete(task);
      this.submitting.delete(block.hash);
    });
    return task;
  }

  /**
   * Spool append (fsync'ed) and row insert at the same time; resolves as soon as either has the block.
   * Never rejects: the block went to the node anyway, and the miner's share is not at fault.
   */
  private persist(block: SpooledBlock): Promise<void> {
    const { store, logger } = this.options;
    if (!store) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let failures = 0;
      const failed = (where: string) => (error: unknown) => {
        logger.warn({ err: { message: (error as Error).message }, hash: block.hash, where }, 'found block not stored here');
        if (++failures === 2) {
          logger.error({ hash: block.hash, hex: block.blockHex }, 'found block could not be stored in the spool nor the database (hex logged here)');
          resolve();
        }
      };
      store.spool.append({ kind: 'block', block }).then(resolve, failed('spool'));
      store.repo.insert(block).then(() => resolve(), failed('database'));
    });
  }

  private async submit(block: SpooledBlock): Promise<BlockOutcome> {
    const { logger, metrics } = this.options;
    if (this.acceptedParents.has(block.prevHash)) {
      // Another of our blocks on the same parent is already in the chain: this one can only be a stale sibling.
      metrics.blocksTotal.inc({ chain: LITECOIN_CHAIN, status: 'orphaned' });
      logger.info({ height: block.height, hash: block.hash }, 'block not submitted: a sibling from this pool is already accepted');
      return { hash: block.hash, height: block.height, accepted: false, reason: SUPERSEDED };
    }
    const result = await this.submitUntilAnswered(block);
    const accepted = result.accepted || result.reason === 'duplicate';
    const outcome: BlockOutcome = { hash: block.hash, height: block.height, accepted, reason: result.reason };
    this.outcomes.push(outcome);
    if (this.outcomes.length > 1000) this.outcomes.shift();
    metrics.blocksTotal.inc({ chain: LITECOIN_CHAIN, status: accepted ? 'accepted' : 'rejected' });
    if (accepted) {
      this.acceptedParents.add(block.prevHash);
      if (this.acceptedParents.size > 100) this.acceptedParents.delete(this.acceptedParents.values().next().value as string);
      logger.info({ height: block.height, hash: block.hash }, 'block accepted by litecoind');
      this.options.onAccepted();
    } else {
      logger.error({ height: block.height, hash: block.hash, reason: result.reason }, 'block rejected by litecoind');
    }
    return outcome;
  }

  /** Outside the submit queue: a slow or failing database must never hold up the next submitblock. */
  private async record(block: SpooledBlock, outcome: BlockOutcome): Promise<BlockOutcome> {
    // Never answered (node unreachable): the row stays 'candidate' and the periodic check submits it again.
    if (this.options.store && !outcome.reason?.startsWith('unreachable:')) {
      const status = outcome.accepted ? 'accepted' : outcome.reason === SUPERSEDED ? 'orphaned' : 'rejected';
      await this.recordStatus(block.hash, status, outcome.reason ?? 'accepted');
    }
    return outcome;
  }

  /**
   * The verdict must reach the blocks table even when PostgreSQL is down (the candidate may sit in the
   * spool until the database is back), so keep trying for a while.
   */
  private async recordStatus(hash: string, status: 'accepted' | 'rejected' | 'orphaned', result: string): Promise<void> {
    const repo = this.options.store!.repo;
    const deadline = Date.now() + (this.options.giveUpAfterMs ?? 30 * 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        await repo.updateStatusByHash(hash, status, result);
        return;
      } catch (error) {
        if (Date.now() > deadline || this.closing) {
          this.options.logger.error({ err: error, hash, status }, 'block status could not be recorded');
          return;
        }
        if (attempt === 0) this.options.logger.warn({ err: { message: (error as Error).message }, hash, status }, 'block status not recorded yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  private async submitUntilAnswered(block: SpooledBlock): Promise<SubmitResult> {
    const deadline = Date.now() + (this.options.giveUpAfterMs ?? 10 * 60_000);
    for (;;) {
      try {
        return await submitBlock(this.options.rpc, block.blockHex);
      } catch (error) {
        if (Date.now() > deadline || this.closing) {
          this.options.logger.error({ err: error, hash: block.hash, hex: block.blockHex }, 'gave up submitting block: node unreachable');
          return { accepted: false, reason: `unreachable: ${(error as Error).message}` };
        }
        this.options.logger.warn({ err: error, hash: block.hash }, 'block submission failed; retrying');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }
}
