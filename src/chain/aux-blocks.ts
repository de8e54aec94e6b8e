import type { Logger } from 'pino';
import type { Metrics } from '../ops/metrics.js';
import type { AuxBlockHandler, FoundAuxBlock } from '../stratum/share-processor.js';
import type { BlocksRepo } from '../store/blocks.js';
import { networkDifficultyFromBits } from '../work/difficulty.js';
import { RpcError, RpcTransportError, type RpcClient } from './rpc.js';

export interface AuxChainEndpoint {
  rpc: Pick<RpcClient, 'call'>;
  /** Called after an aux block of ours reached the best chain: fetch the next aux work now. */
  onAccepted: () => void;
}

export interface AuxBlockSubmitterOptions {
  chains: Map<string, AuxChainEndpoint>;
  blocks?: BlocksRepo;
  metrics: Metrics;
  logger: Logger;
  /** How long to keep resubmitting while the aux daemon is unreachable. Default 2 min. */
  giveUpAfterMs?: number;
}

export interface AuxBlockOutcome {
  chain: string;
  hash: string;
  height: number;
  /** On the aux node's best chain after submission. */
  accepted: boolean;
  reason: string;
}

const STALE = 'stale: the node took it as a side branch, not on its best chain';

/**
 * Aux wins: stored in the blocks table (with their chain) before `submitauxblock`, then the verdict is checked on
 * the node's best chain: `true` alone is not trusted (a stale aux hash is accepted as a side branch).
 * One queue per chain; one submission per aux block hash (more shares of one job can meet the same aux target).
 */
export class AuxBlockSubmitter implements AuxBlockHandler {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly submitted = new Set<string>();
  readonly outcomes: AuxBlockOutcome[] = [];

  constructor(private readonly o: AuxBlockSubmitterOptions) {}

  onAuxBlockFound(block: FoundAuxBlock): void {
    const chain = block.aux.chain.name;
    const key = `${chain}:${block.aux.block.hash}`;
    if (this.submitted.has(key)) return;
    this.submitted.add(key);
    if (this.submitted.size > 10_000) this.submitted.delete(this.submitted.values().next().value as string);
    this.o.metrics.auxBlocksTotal.inc({ chain, status: 'found' });
    this.o.metrics.blocksTotal.inc({ chain, status: 'found' });
    this.o.logger.info({ chain, height: block.aux.block.height, hash: block.aux.block.hash, finder: block.address, worker: block.worker }, 'aux block found');
    const persisted = this.persist(block);
    const previous = this.queues.get(chain) ?? Promise.resolve();
    const task = previous.then(() => this.submit(block, persisted));
    this.queues.set(chain, task.then(() => undefined, () => undefined));
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async persist(block: FoundAuxBlock): Promise<number | null> {
    if (!this.o.blocks) return null;
    const aux = block.aux.block;
    try {
      const result = await this.o.blocks.insertCandidate({
        chain: block.aux.chain.name,
        height: aux.height,
        hash: aux.hash,
        prevHash: aux.previousBlockHash,
        finder: block.address,
        worker: block.worker,
        rewardLitoshis: aux.coinbaseValue,
        shareDifficulty: block.shareDifficulty,
        networkDifficulty: /^[0-9a-f]{8}$/i.test(aux.bits) ? networkDifficultyFromBits(aux.bits) : 0,
        blockHex: block.auxpowHex,
        shareId: block.shareId,
      });
      return result.id;
    } catch (error) {
      this.o.logger.error({ err: error, chain: block.aux.chain.name, hash: aux.hash, auxpow: block.auxpowHex }, 'aux block could not be persisted; submitting anyway');
      return null;
    }
  }

  private async submit(block: FoundAuxBlock, persisted: Promise<number | null>): Promise<AuxBlockOutcome> {
    const { logger, metrics } = this.o;
    const chain = block.aux.chain.name;
    const { hash, height } = block.aux.block;
    const endpoint = this.o.chains.get(chain);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([persisted, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    let accepted = false;
    let reason: string;
    if (!endpoint) {
      reason = `no daemon configured for ${chain}`;
    } else {
      try {
        const answer = await this.untilAnswered(endpoint, 'submitauxblock', [hash, block.auxpowHex]);
        if (answer === true || answer === null) {
          // `true` also answers a stale hash taken as a side branch: only the best chain counts.
          const header = await this.untilAnswered(endpoint, 'getblockheader', [hash]) as { confirmations?: number };
          accepted = typeof header?.confirmations === 'number' && header.confirmations >= 1;
          reason = accepted ? 'accepted' : STALE;
        } else {
          reason = answer === false ? 'rejected (the reason is only in the node\'s debug.log)' : `unexpected answer ${JSON.stringify(answer)}`;
        }
      } catch (error) {
        reason = error instanceof RpcError ? `rpc ${error.code}: ${error.rpcMessage}` : `unreachable: ${(error as Error).message}`;
      }
    }
    metrics.auxBlocksTotal.inc({ chain, status: accepted ? 'accepted' : 'rejected' });
    metrics.blocksTotal.inc({ chain, status: accepted ? 'accepted' : 'rejected' });
    const outcome: AuxBlockOutcome = { chain, hash, height, accepted, reason };
    this.outcomes.push(outcome);
    if (this.outcomes.length > 1000) this.outcomes.shift();
    if (accepted) {
      logger.info({ chain, height, hash }, 'aux block accepted: on the node\'s best chain');
      endpoint?.onAccepted();
    } else {
      logger.warn({ chain, height, hash, reason }, 'aux block not accepted');
    }
    await this.record(hash, await persisted, accepted ? 'accepted' : 'rejected', reason);
    return outcome;
  }

  private async record(hash: string, id: number | null, status: 'accepted' | 'rejected', result: string): Promise<void> {
    const repo = this.o.blocks;
    if (!repo) return;
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        if (id !== null) await repo.updateStatus(id, status, result);
        else await repo.updateStatusByHash(hash, status, result);
        return;
      } catch (error) {
        if (attempt === 7) this.o.logger.error({ err: error, hash, status }, 'aux block status could not be recorded');
        else await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  /** Retries while the daemon is unreachable (a node answer, even an error, is final). */
  private async untilAnswered(endpoint: AuxChainEndpoint, method: string, params: unknown[]): Promise<unknown> {
    const deadline = Date.now() + (this.o.giveUpAfterMs ?? 120_000);
    for (;;) {
      try {
        return await endpoint.rpc.call<unknown>(method, params);
      } catch (error) {
        if (!(error instanceof RpcTransportError) || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}
