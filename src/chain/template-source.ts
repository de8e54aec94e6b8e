import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { BlockTemplate } from '../work/template.js';
import { type RpcClient, RpcError, RpcTransportError } from './rpc.js';

export interface TemplateUpdate { template: BlockTemplate; newBlock: boolean /* prevhash changed */; receivedAt: number }

export interface TemplateSourceOptions {
  rpc: RpcClient;
  /**
   * Use getblocktemplate long polling too (default false). litecoind keeps one RPC thread in each long poll until
   * the tip changes, also after the client has gone: a pool restarted a few times within one block interval would
   * use up its RPC threads. The getbestblockhash poll runs regardless and is the primary path.
   */
  longpoll?: boolean;
  /** getbestblockhash poll interval, default 250 ms. */
  pollIntervalMs?: number;
  /** Fetch a fresh template this often to pick up new mempool transactions, default 30000 ms. */
  refreshIntervalMs?: number;
  /** Timeout of one long-poll request, default (and at most) 60000 ms. */
  longpollTimeoutMs?: number;
  /** start() gives up after this long without a template, default 60000 ms. */
  startTimeoutMs?: number;
  /** Upper bound of the retry backoff after errors, default 30000 ms. */
  maxBackoffMs?: number;
  logger?: Logger;
  /** e.g. metrics ltcpool_template_errors_total. */
  errorCounter?: { inc(): void };
}

export const GBT_RULES = ['mweb', 'segwit'] as const;
/** A long poll is given up by the pool after this long (litecoind's thread stays until the tip changes). */
export const LONGPOLL_TIMEOUT_MAX_MS = 60_000;

const HEX64 = /^[0-9a-fA-F]{64}$/;
const HEX8 = /^[0-9a-fA-F]{8}$/;

/** Minimal shape check of a getblocktemplate result; throws a clear error on garbage. */
export function validateTemplate(raw: unknown): BlockTemplate {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`invalid getblocktemplate result: expected an object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw}`);
  }
  const t = raw as Record<string, unknown>;
  const bad = (field: string, why: string): never => {
    throw new Error(`invalid getblocktemplate result: ${field} ${why}`);
  };
  if (!Number.isSafeInteger(t.height) || (t.height as number) < 0) bad('height', 'must be a non-negative integer');
  if (typeof t.previousblockhash !== 'string' || !HEX64.test(t.previousblockhash)) bad('previousblockhash', 'must be 64 hex chars');
  if (typeof t.bits !== 'string' || !HEX8.test(t.bits)) bad('bits', 'must be 8 hex chars');
  if (!Number.isSafeInteger(t.coinbasevalue) || (t.coinbasevalue as number) < 0) bad('coinbasevalue', 'must be a non-negative integer');
  if (!Array.isArray(t.transactions)) bad('transactions', 'must be an array');
  if (typeof t.version !== 'number') bad('version', 'must be a number');
  if (typeof t.curtime !== 'number') bad('curtime', 'must be a number');
  return raw as BlockTemplate;
}

/** Fetches, validates and publishes block templates: a getbestblockhash poll, plus long polling when enabled. */
export class TemplateSource extends EventEmitter {
  private readonly rpc: RpcClient;
  private readonly useLongpoll: boolean;
  private readonly pollIntervalMs: number;
  private readonly refreshIntervalMs: number;
  private readonly longpollTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger;
  private readonly errorCounter?: { inc(): void };

  private currentTemplate: BlockTemplate | undefined;
  private successAt = 0;
  private errorAt = 0;
  private stopped = true;
  /** Bumped by start(): loops of an earlier start() that are still unwinding exit instead of running twice. */
  private runId = 0;
  private abort = new AbortController();
  private timers = new Set<NodeJS.Timeout>();
  private wakeups = new Set<() => void>();

  /** Monotonic sequence: request starts and accepted templates share it, so a slow old answer cannot replace a newer one. */
  private seq = 0;
  private currentSeq = 0;
  private inflight: Promise<BlockTemplate> | undefined;
  private queued: Promise<BlockTemplate> | undefined;

  constructor(o: TemplateSourceOptions) {
    super();
    this.rpc = o.rpc;
    this.useLongpoll = o.longpoll ?? false;
    this.pollIntervalMs = o.pollIntervalMs ?? 250;
    this.refreshIntervalMs = o.refreshIntervalMs ?? 30_000;
    this.longpollTimeoutMs = Math.min(o.longpollTimeoutMs ?? LONGPOLL_TIMEOUT_MAX_MS, LONGPOLL_TIMEOUT_MAX_MS);
    this.startTimeoutMs = o.startTimeoutMs ?? 60_000;
    this.maxBackoffMs = o.maxBackoffMs ?? 30_000;
    this.log = o.logger ?? pino({ level: 'silent' });
    this.errorCounter = o.errorCounter;
  }

  get current(): BlockTemplate | undefined { return this.currentTemplate; }
  /** Date.now() of the last template received, 0 before the first. */
  get lastSuccessAt(): number { return this.successAt; }
  /** Date.now() of the last failed RPC, 0 when none. */
  get lastErrorAt(): number { return this.errorAt; }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    const run = ++this.runId;
    const deadline = Date.now() + this.startTimeoutMs;
    let attempt = 0;
    let lastError: unknown;
    while (!this.currentTemplate) {
      if (this.stopped) throw new Error('template source stopped before the first template arrived');
      try {
        await this.fetchJoin();
      } catch (e) {
        lastError = e;
        const wait = Math.min(this.backoff(attempt++), deadline - Date.now());
        if (wait <= 0) {
          this.stop();
          throw new Error(`no block template from litecoind within ${this.startTimeoutMs} ms: ${explainNodeError(lastError)}`, { cause: lastError });
        }
        await this.sleep(wait);
      }
    }
    void this.pollLoop(run);
    if (this.useLongpoll) void this.longpollLoop(run);
  }

  /** Fetch a template now; the fetch starts after this call (joins a queued one if any). Never rejects. */
  async refresh(): Promise<void> {
    try {
      await this.fetchFresh();
    } catch {
      // already reported through 'error'
    }
  }

  /** Ends every back-off wait now (after credentials were rotated, say): the loops try litecoind again at once. */
  wake(): void {
    for (const wake of [...this.wakeups]) wake();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.wakeups) wake();
    this.wakeups.clear();
  }

  // ---- fetching ---------------------------------------------------------------------------------------------

  /** Join the fetch in flight (or queued), else start one. */
  private fetchJoin(): Promise<BlockTemplate> {
    return this.queued ?? this.inflight ?? this.startFetch();
  }

  /** A fetch that starts after now: if one is in flight, queue a single follow-up that all callers share. */
  private fetchFresh(): Promise<BlockTemplate> {
    if (this.queued) return this.queued;
    if (!this.inflight) return this.startFetch();
    const queued = this.inflight
      .catch(() => undefined)
      .then(() => {
        if (this.queued === queued) this.queued = undefined;
        return this.inflight ?? this.startFetch();
      });
    this.queued = queued;
    return queued;
  }

  /** The tip moved to `tip`: make sure a template on top of it gets fetched. */
  private async fetchForTip(tip: string): Promise<void> {
    const t = await this.fetchJoin();
    if (t.previousblockhash !== tip && !this.stopped) await this.fetchFresh();
  }

  private startFetch(): Promise<BlockTemplate> {
    const requestSeq = ++this.seq;
    const p = this.rpc
      .call<unknown>('getblocktemplate', [{ rules: [...GBT_RULES] }], { signal: this.abort.signal })
      .then((raw) => this.accept(raw, requestSeq, 'fetch'))
      .catch((e: unknown) => {
        this.reportError('getblocktemplate', e);
        throw e;
      })
      .finally(() => {
        if (this.inflight === p) this.inflight = undefined;
      });
    this.inflight = p;
    return p;
  }

  /** Validate and publish; returns the template now current. */
  private accept(raw: unknown, requestSeq: number, source: 'fetch' | 'longpoll'): BlockTemplate {
    const template = validateTemplate(raw);
    const previous = this.currentTemplate;
    if (this.stopped) return previous ?? template;
    if (previous && template.height < previous.height && requestSeq < this.currentSeq) {
      // An answer to an older request overtaken by a newer template (e.g. a fetch racing a long poll).
      this.log.debug({ height: template.height, currentHeight: previous.height, source }, 'dropping stale template');
      return previous;
    }
    const newBlock = !previous || previous.previousblockhash !== template.previousblockhash;
    const receivedAt = Date.now();
    this.currentTemplate = template;
    this.currentSeq = ++this.seq;
    this.successAt = receivedAt;
    if (newBlock) {
      this.log.info({ height: template.height, prevhash: template.previousblockhash, txs: template.transactions.length, source }, 'new block template');
    } else {
      this.log.debug({ height: template.height, txs: template.transactions.length, source }, 'template refreshed');
    }
    const update: TemplateUpdate = { template, newBlock, receivedAt };
    try {
      this.emit('template', update);
    } catch (e) {
      this.log.error({ err: e }, 'template listener threw');
    }
    return template;
  }

  private reportError(what: string, e: unknown): void {
    if (this.stopped && isAbort(e)) return;
    this.errorAt = Date.now();
    this.errorCounter?.inc();
    this.log.warn({ what, err: errorText(e), code: e instanceof RpcError ? e.code : undefined }, 'template source error');
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', err);
      } catch (listenerError) {
        this.log.error({ err: listenerError }, 'error listener threw');
      }
    }
  }

  // ---- loops ------------------------------------------------------------------------------------------------

  /** Cheap tip check every pollIntervalMs; periodic refresh for mempool changes. */
  private alive(run: number): boolean {
    return !this.stopped && this.runId === run;
  }

  private async pollLoop(run: number): Promise<void> {
    let failures = 0;
    while (this.alive(run)) {
      await this.sleep(failures === 0 ? this.pollIntervalMs : Math.max(this.pollIntervalMs, this.backoff(failures - 1)));
      if (!this.alive(run)) return;
      try {
        const tip = await this.rpc.call<string>('getbestblockhash', [], { signal: this.abort.signal });
        if (!this.alive(run)) return;
        const current = this.currentTemplate;
        if (!current || tip !== current.previousblockhash) {
          await this.fetchForTip(tip);
        } else if (Date.now() - this.successAt >= this.refreshIntervalMs) {
          await this.fetchJoin();
        }
        failures = 0;
      } catch (e) {
        if (!this.alive(run)) return;
        failures++;
        // getblocktemplate failures were reported by startFetch already.
        if (!(e instanceof Error && isGbtError(e))) this.reportError('getbestblockhash', e);
      }
    }
  }

  private async longpollLoop(run: number): Promise<void> {
    let failures = 0;
    while (this.alive(run)) {
      const current = this.currentTemplate;
      const id = current?.longpollid;
      if (!current || !id) {
        await this.sleep(this.pollIntervalMs);
        continue;
      }
      const requestSeq = ++this.seq;
      try {
        const raw = await this.rpc.call<unknown>('getblocktemplate', [{ rules: [...GBT_RULES], longpollid: id }], {
          timeoutMs: this.longpollTimeoutMs,
          signal: this.abort.signal,
        });
        this.accept(raw, requestSeq, 'longpoll');
        failures = 0;
      } catch (e) {
        if (!this.alive(run)) return;
        if (e instanceof RpcTransportError && e.code === 'ETIMEDOUT') {
          // litecoind keeps an RPC thread parked in that long poll until the tip changes; stacking another would
          // eat its thread pool on a quiet chain, so resume long polling only after polling sees a new tip.
          this.log.debug({ timeoutMs: this.longpollTimeoutMs }, 'long poll timed out; waiting for a new tip before the next');
          await this.waitForPrevhashChange(run, current.previousblockhash);
          continue;
        }
        this.reportError('getblocktemplate longpoll', e);
        // Polling carries on meanwhile; try long polling again later.
        await this.sleep(this.backoff(failures++));
      }
    }
  }

  private async waitForPrevhashChange(run: number, prevhash: string): Promise<void> {
    while (this.alive(run) && this.currentTemplate?.previousblockhash === prevhash) await this.sleep(this.pollIntervalMs);
  }

  private backoff(attempt: number): number {
    return Math.min(this.maxBackoffMs, 1000 * 2 ** Math.min(attempt, 16));
  }

  /** A timer that stop() cancels (resolves early). */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.wakeups.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.timers.add(timer);
      this.wakeups.add(wake);
    });
  }
}

function isAbort(e: unknown): boolean {
  return e instanceof RpcTransportError && e.code === 'ABORT_ERR';
}

function isGbtError(e: Error): boolean {
  return (e instanceof RpcError || e instanceof RpcTransportError) ? e.method === 'getblocktemplate' : e.message.startsWith('invalid getblocktemplate');
}

/** A node error said with what to do: the states in which litecoind refuses getblocktemplate for a while. */
export function explainNodeError(e: unknown): string {
  if (e instanceof RpcError && e.code === -10) {
    return `litecoind is still in initial block download (${e.rpcMessage}); the pool serves work once the node has synced (litecoin-cli getblockchaininfo shows the progress)`;
  }
  if (e instanceof RpcError && e.code === -9) return `litecoind has no peers (${e.rpcMessage}); check its network connection and -connect/-addnode settings`;
  return errorText(e);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
