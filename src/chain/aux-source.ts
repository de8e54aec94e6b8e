import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { parseAuxBlock, type AuxBlock } from '../work/auxpow.js';
import type { AuxChainParams } from '../work/chains.js';
import type { RpcClient } from './rpc.js';

export interface AuxSourceOptions {
  chain: AuxChainParams;
  rpc: Pick<RpcClient, 'call'>;
  /** The pool's address on the aux chain (createauxblock pays it). */
  address: string;
  /** getbestblockhash poll, default 500 ms (no ZMQ assumed). */
  pollIntervalMs?: number;
  /** createauxblock at least this often, default 30 000 ms. */
  refreshIntervalMs?: number;
  logger?: Logger;
  /** Counts failed aux RPCs (metrics ltcpool_aux_rpc_errors_total{chain}). */
  onError?: (method: string) => void;
}

/**
 * Aux work for one AuxPoW chain, beside the Litecoin template source: `createauxblock <pool address>` on every
 * aux tip change (getbestblockhash polled) and at least every refresh interval. Emits 'work' (AuxBlock) when the
 * block to merge-mine changed, and 'down' when the daemon stopped answering: its work must then leave new jobs
 * (Litecoin mining never waits for an aux daemon).
 */
export class AuxWorkSource extends EventEmitter {
  private readonly pollIntervalMs: number;
  private readonly refreshIntervalMs: number;
  private readonly log: Logger;
  private work: AuxBlock | undefined;
  private tip: string | undefined;
  private fetchedAt = 0;
  private successAt = 0;
  private failingSince = 0;
  private lastError: string | undefined;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private refreshWanted = false;

  constructor(private readonly o: AuxSourceOptions) {
    super();
    this.pollIntervalMs = o.pollIntervalMs ?? 500;
    this.refreshIntervalMs = o.refreshIntervalMs ?? 30_000;
    this.log = o.logger ?? pino({ level: 'silent' });
  }

  get chain(): AuxChainParams {
    return this.o.chain;
  }
  get current(): AuxBlock | undefined {
    return this.work;
  }
  /** Date.now() of the last answer from the daemon, 0 before the first. */
  get lastSuccessAt(): number {
    return this.successAt;
  }
  /** Date.now() of the last createauxblock that gave the current work, 0 without work. */
  get workFetchedAt(): number {
    return this.work ? this.fetchedAt : 0;
  }
  /** Since when the daemon fails (0 while it answers) and why. */
  get failure(): { since: number; error: string } | undefined {
    return this.failingSince ? { since: this.failingSince, error: this.lastError ?? '' } : undefined;
  }

  /** Starts polling; never throws and never waits for the daemon (Litecoin mining starts regardless). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  /** Ask for new work now (after one of our aux blocks was accepted). */
  refresh(): void {
    this.refreshWanted = true;
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (error) {
        this.fail(error);
      }
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, this.pollIntervalMs);
      });
      this.wake = undefined;
    }
  }

  private async tick(): Promise<void> {
    const tip = await this.call<string>('getbestblockhash', []);
    const due = !this.work || tip !== this.tip || this.refreshWanted || Date.now() - this.fetchedAt >= this.refreshIntervalMs;
    if (!due) {
      this.recovered();
      return;
    }
    this.refreshWanted = false;
    const raw = await this.call<unknown>('createauxblock', [this.o.address]);
    const block = parseAuxBlock(raw);
    if (block.chainId !== this.o.chain.chainId) {
      throw new Error(`createauxblock answered chain id ${block.chainId}, configured ${this.o.chain.chainId}: is rpcUrl the ${this.o.chain.name} daemon?`);
    }
    this.tip = tip;
    this.fetchedAt = Date.now();
    this.recovered();
    if (this.stopped) return;
    const changed = this.work?.hash !== block.hash;
    this.work = block;
    if (changed) {
      this.log.debug({ chain: this.o.chain.name, height: block.height, hash: block.hash }, 'new aux work');
      this.emit('work', block);
    }
  }

  private async call<T>(method: string, params: unknown[]): Promise<T> {
    try {
      return await this.o.rpc.call<T>(method, params);
    } catch (error) {
      this.o.onError?.(method);
      throw error;
    }
  }

  private recovered(): void {
    this.successAt = Date.now();
    if (this.failingSince) {
      this.log.info({ chain: this.o.chain.name, downSeconds: Math.round((Date.now() - this.failingSince) / 1000) }, 'aux daemon answers again; merge-mining it resumes');
    }
    this.failingSince = 0;
    this.lastError = undefined;
  }

  private fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = message;
    if (!this.failingSince) {
      this.failingSince = Date.now();
      this.log.warn({ chain: this.o.chain.name, err: message }, 'aux daemon failing: its work leaves new jobs until it answers again (Litecoin mining goes on)');
    }
    if (this.work) {
      this.work = undefined;
      this.tip = undefined;
      this.emit('down', message);
    }
  }
}
