import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { NetworkName } from '../work/address.js';
import { decodeAddress } from '../work/address.js';
import { notifyParams, type Job } from '../work/job.js';
import {
  ERROR_CODES,
  LineDecoder,
  LineTooLongError,
  encodeNotification,
  encodeResponse,
  parseMessage,
  type RequestId,
  type StratumError,
  type StratumRequest,
} from './codec.js';
import type { ShareProcessor, Submitter, SubmitOutcome } from './share-processor.js';
import { TokenBucket } from './rate-limit.js';
import { Vardiff, roundDifficulty, type VardiffOptions } from './vardiff.js';

export const POOL_VERSION = 'ltcpool/0.1.0';

export interface SessionSettings {
  network: NetworkName;
  extranonce2Size: number;
  startDifficulty: number;
  vardiff: VardiffOptions & { enabled: boolean };
  versionRollingMask: number;
  maxLineBytes: number;
  maxWorkersPerConnection: number;
  maxJobsRemembered: number;
  /** Token bucket over every message received; undefined = no rate limit. */
  messagesPerSecond?: number;
  messagesBurst?: number;
  /** Over-rate messages answered with an error before the connection is closed. */
  floodCloseAfter?: number;
  /** Output queued for a client that doesn't read: past this the connection is closed. */
  maxWriteBufferBytes?: number;
  /** Consecutive rejected shares: resend work, then client.reconnect, then close. */
  rejectEscalation?: RejectEscalation;
}

export interface RejectEscalation {
  resendWorkAfter: number;
  reconnectAfter: number;
  closeAfter: number;
}

/** Why a session misbehaved; the server turns these into ban score. */
export type ProtocolErrorReason = 'malformed' | 'line-too-long' | 'flood' | 'slow-reader' | 'too-many-pending';

/** The clean notify line of a job, encoded once for every miner that authorizes while it is current. */
const cleanNotifyLines = new WeakMap<Job, string>();
function cleanNotifyLine(job: Job): string {
  let line = cleanNotifyLines.get(job);
  if (line === undefined) {
    line = encodeNotification('mining.notify', notifyParams(job, true));
    cleanNotifyLines.set(job, line);
  }
  return line;
}

/** Payout addresses already decoded (farms authorize thousands of workers to one address). Bounded. */
const knownAddresses = new Map<string, true>();
function checkAddress(address: string, network: NetworkName): void {
  const key = `${network}:${address}`;
  if (knownAddresses.has(key)) return;
  decodeAddress(address, network);
  if (knownAddresses.size >= 10_000) knownAddresses.clear();
  knownAddresses.set(key, true);
}

/** In-flight answers per connection (shares hashing); more than this is a flood the bucket let through. */
const MAX_PENDING_REPLIES = 1024;

export interface SessionHooks {
  currentJob(): Job | undefined;
  shares: ShareProcessor;
  onAuthorized(session: Session, address: string): void;
  onSubmitResult(session: Session, outcome: SubmitOutcome): void;
  onProtocolError(session: Session, reason: ProtocolErrorReason): void;
  onClose(session: Session): void;
}

interface WorkerIdentity {
  address: string;
  worker: string;
}

type Reply = string | Promise<string>;

/**
 * One miner connection: Stratum state machine, difficulty, and in-order answers. Requests are handled
 * concurrently (shares hash in parallel) but answered in the order they arrived.
 */
export class Session implements Submitter {
  subscribed = false;
  versionMask = 0;
  difficulty: number;
  /** Set once a set_difficulty reached the miner; until then only the starting difficulty applies. */
  private fixedDifficulty = false;
  private readonly vardiff: Vardiff | undefined;
  private readonly workers = new Map<string, WorkerIdentity>();
  private readonly jobDifficulty = new Map<string, number>();
  /** Created on the first share: most connections held at once never submit in between broadcasts. */
  private submissions: Map<string, Set<string>> | undefined;
  private readonly decoder: LineDecoder;
  private replies: Reply[] = [];
  private flushing = false;
  private closed = false;
  /** close() was called: input is ignored from here on. */
  private closing = false;
  private closeAfterFlush = false;
  private readonly bucket: TokenBucket | undefined;
  private floodCount = 0;
  /** Rejected shares in a row (reset by an accepted one). */
  consecutiveRejects = 0;
  private extranonceSubscribed = false;
  readonly connectedAt = Date.now();
  lastActivityAt = Date.now();
  lastShareAt = 0;
  userAgent = '';

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly ip: string,
    readonly extranonce1: Buffer,
    private readonly settings: SessionSettings,
    private readonly hooks: SessionHooks,
    private readonly logger: Logger,
  ) {
    this.difficulty = settings.startDifficulty;
    this.vardiff = settings.vardiff.enabled ? new Vardiff(settings.vardiff, Date.now()) : undefined;
    this.decoder = new LineDecoder(settings.maxLineBytes);
    if (settings.messagesPerSecond !== undefined) {
      this.bucket = new TokenBucket(settings.messagesPerSecond, settings.messagesBurst ?? Math.max(20, settings.messagesPerSecond * 2));
    }
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.logger.debug({ err: error, session: this.id }, 'socket error'));
    socket.on('close', () => this.onClosed());
  }

  get authorized(): boolean {
    return this.workers.size > 0;
  }

  get workerCount(): number {
    return this.workers.size;
  }

  addresses(): string[] {
    return [...new Set([...this.workers.values()].map((w) => w.address))];
  }

  workerFor(name: string): WorkerIdentity | undefined {
    return this.workers.get(name);
  }

  /** A share is judged at the difficulty its job was sent with, or the current one if that is lower. */
  difficultyForJob(jobId: string): number | undefined {
    const sent = this.jobDifficulty.get(jobId);
    return sent === undefined ? undefined : Math.min(sent, this.difficulty);
  }

  recordSubmission(jobId: string, key: string): boolean {
    this.submissions ??= new Map();
    let seen = this.submissions.get(jobId);
    if (!seen) {
      seen = new Set();
      this.submissions.set(jobId, seen);
    }
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }

  /**
   * Sends a job (called for broadcasts and after authorization). A broadcast passes the encoded line so
   * thousands of sessions share one JSON.stringify.
   */
  sendJob(job: Job, cleanJobs: boolean, encoded?: string): void {
    if (!this.subscribed || !this.authorized || this.closed || this.closing) return;
    this.write(this.jobLine(job, cleanJobs, encoded));
  }

  private jobLine(job: Job, cleanJobs: boolean, encoded?: string): string {
    this.jobDifficulty.set(job.id, this.difficulty);
    this.forgetOldJobs();
    return encoded ?? (cleanJobs ? cleanNotifyLine(job) : encodeNotification('mining.notify', notifyParams(job, cleanJobs)));
  }

  /** Changes difficulty: set_difficulty now, effective from the next job. */
  setDifficulty(difficulty: number): void {
    if (difficulty === this.difficulty) return;
    this.difficulty = difficulty;
    if (this.subscribed && this.authorized) this.write(encodeNotification('mining.set_difficulty', [difficulty]));
  }

  /** Periodic housekeeping: idle vardiff. Returns the new difficulty if it changed. */
  tick(now: number): void {
    if (!this.vardiff || this.fixedDifficulty || !this.authorized) return;
    const next = this.vardiff.onTick(now, this.difficulty);
    if (next !== undefined) {
      this.setDifficulty(next);
      const job = this.hooks.currentJob();
      if (job) this.sendJob(job, false);
    }
  }

  sendReconnect(host?: string, port?: number, waitSeconds = 0): void {
    this.write(encodeNotification('client.reconnect', host ? [host, port, waitSeconds] : []));
  }

  get isClosing(): boolean {
    return this.closing || this.closed;
  }

  close(reason?: string): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (reason) this.logger.debug({ session: this.id, ip: this.ip, reason }, 'closing connection');
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private write(line: string): void {
    if (this.closed || this.socket.destroyed) return;
    const limit = this.settings.maxWriteBufferBytes;
    if (limit !== undefined && this.socket.writableLength > limit) {
      this.hooks.onProtocolError(this, 'slow-reader');
      this.logger.debug({ session: this.id, ip: this.ip, queued: this.socket.writableLength }, 'closing connection: client does not read');
      this.closing = true;
      this.socket.destroy();
      return;
    }
    this.socket.write(line);
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.onClose(this);
  }

  /** Bytes from the miner (the socket's data events, or what followed a PROXY header). */
  receive(chunk: Buffer): void {
    if (this.closing || this.closed) return;
    this.lastActivityAt = Date.now();
    let lines: string[];
    try {
      lines = this.decoder.push(chunk);
    } catch (error) {
      if (error instanceof LineTooLongError) this.hooks.onProtocolError(this, 'line-too-long');
      else this.logger.error({ err: error, session: this.id }, 'line decoder failed');
      this.close(error instanceof Error ? error.message : 'decoder error');
      return;
    }
    for (const line of lines) {
      if (this.closing) return;
      try {
        this.onLine(line);
      } catch (error) {
        // A handler bug must cost this connection at most, never the process.
        this.logger.error({ err: error, session: this.id }, 'stratum message handling failed');
        this.enqueue(encodeResponse(null, null, [ERROR_CODES.other, 'Internal error', null]));
      }
    }
  }

  private onLine(line: string): void {
    if (this.bucket && !this.bucket.take()) {
      this.floodCount++;
      this.hooks.onProtocolError(this, 'flood');
      if (this.floodCount >= (this.settings.floodCloseAfter ?? 50)) {
        this.close('message flood');
        return;
      }
      const id = parseMessage(line);
      this.enqueue(encodeResponse(id.kind === 'response' ? null : id.kind === 'request' ? id.request.id : id.id, null, [ERROR_CODES.other, 'Too many messages, slow down', null]));
      return;
    }
    if (this.replies.length >= MAX_PENDING_REPLIES) {
      this.hooks.onProtocolError(this, 'too-many-pending');
      this.close('too many requests in flight');
      return;
    }
    const message = parseMessage(line);
    if (message.kind === 'response') return;
    if (message.kind === 'invalid') {
      this.hooks.onProtocolError(this, 'malformed');
      this.enqueue(encodeResponse(message.id, null, [ERROR_CODES.other, message.reason, null]));
      return;
    }
    this.enqueue(this.handle(message.request));
  }

  private enqueue(reply: Reply): void {
    if (!this.flushing && this.replies.length === 0 && typeof reply === 'string') {
      // nothing ahead of it: answer now, without touching the queue
      this.write(reply);
      return;
    }
    this.replies.push(reply);
    if (!this.flushing) void this.flushReplies();
  }

  private async flushReplies(): Promise<void> {
    this.flushing = true;
    try {
      while (this.replies.length > 0) {
        const head = this.replies[0];
        const text = typeof head === 'string' ? head : await head;
        this.replies.shift();
        this.write(text);
      }
    } finally {
      this.flushing = false;
    }
    if (this.closeAfterFlush) this.close('only rejected shares');
  }

  private handle(request: StratumRequest): Reply {
    const { id, method, params } = request;
    switch (method) {
      case 'mining.subscribe':
        return this.onSubscribe(id, params);
      case 'mining.authorize':
        return this.onAuthorize(id, params);
      case 'mining.submit':
        return this.onSubmit(id, params);
      case 'mining.configure':
        return this.onConfigure(id, params);
      case 'mining.extranonce.subscribe':
        this.extranonceSubscribed = true;
        return encodeResponse(id, true);
      case 'mining.suggest_difficulty':
        return this.onSuggestDifficulty(id, params);
      case 'mining.suggest_target':
        return encodeResponse(id, true);
      case 'mining.multi_version':
        return encodeResponse(id, true);
      case 'mining.get_transactions':
        return encodeResponse(id, []);
      case 'client.get_version':
        return encodeResponse(id, POOL_VERSION);
      default:
        return encodeResponse(id, null, [ERROR_CODES.other, `Unknown method ${method.slice(0, 64)}`, null]);
    }
  }

  private onSubscribe(id: RequestId, params: unknown[]): string {
    if (typeof params[0] === 'string') this.userAgent = params[0].slice(0, 80);
    this.subscribed = true;
    const e1 = this.extranonce1.toString('hex');
    return encodeResponse(id, [[['mining.set_difficulty', e1], ['mining.notify', e1]], e1, this.settings.extranonce2Size]);
  }

  private onAuthorize(id: RequestId, params: unknown[]): string {
    const [username, password] = params;
    if (typeof username !== 'string' || username.length === 0 || username.length > 200) {
      return encodeResponse(id, false, [ERROR_CODES.unauthorized, 'username must be a Litecoin address, optionally address.worker', null]);
    }
    const dot = username.indexOf('.');
    const address = dot === -1 ? username : username.slice(0, dot);
    const worker = dot === -1 ? '' : username.slice(dot + 1);
    if (!/^[\w\-.:@]{0,64}$/.test(worker)) {
      return encodeResponse(id, false, [ERROR_CODES.unauthorized, 'worker name may hold letters, digits and - _ . : @ (at most 64)', null]);
    }
    try {
      checkAddress(address, this.settings.network);
    } catch (error) {
      return encodeResponse(id, false, [ERROR_CODES.unauthorized, (error as Error).message, null]);
    }
    if (!this.workers.has(username) && this.workers.size >= this.settings.maxWorkersPerConnection) {
      return encodeResponse(id, false, [ERROR_CODES.unauthorized, 'too many workers on this connection', null]);
    }
    const first = this.workers.size === 0;
    this.workers.set(username, { address, worker });
    this.hooks.onAuthorized(this, address);
    let out = encodeResponse(id, true);
    if (first) {
      const fixed = typeof password === 'string' ? parseFixedDifficulty(password) : undefined;
      if (fixed !== undefined) {
        this.fixedDifficulty = true;
        this.difficulty = fixed;
      }
      // set_difficulty goes before the notify it applies to.
      out += encodeNotification('mining.set_difficulty', [this.difficulty]);
      if (this.subscribed) {
        const job = this.hooks.currentJob();
        if (job) {
          out += this.jobLine(job, true);
        }
      }
    }
    return out;
  }

  private onConfigure(id: RequestId, params: unknown[]): string {
    const extensions = Array.isArray(params[0]) ? params[0] : [];
    const options = typeof params[1] === 'object' && params[1] !== null ? (params[1] as Record<string, unknown>) : {};
    const result: Record<string, unknown> = {};
    for (const extension of extensions) {
      if (extension === 'version-rolling') {
        const requested = typeof options['version-rolling.mask'] === 'string' ? parseInt(options['version-rolling.mask'] as string, 16) : 0xffffffff;
        this.versionMask = (this.settings.versionRollingMask & (Number.isNaN(requested) ? 0 : requested)) >>> 0;
        result['version-rolling'] = this.versionMask !== 0;
        result['version-rolling.mask'] = this.versionMask.toString(16).padStart(8, '0');
      } else if (extension === 'minimum-difficulty') {
        result['minimum-difficulty'] = false;
      } else if (extension === 'subscribe-extranonce') {
        this.extranonceSubscribed = true;
        result['subscribe-extranonce'] = true;
      } else if (typeof extension === 'string') {
        result[extension] = false;
      }
    }
    return encodeResponse(id, result);
  }

  private onSuggestDifficulty(id: RequestId, params: unknown[]): string {
    const suggested = Number(params[0]);
    if (!Number.isFinite(suggested) || suggested <= 0) {
      return encodeResponse(id, false, [ERROR_CODES.other, 'difficulty must be a positive number', null]);
    }
    if (!this.fixedDifficulty) {
      const { minDifficulty, maxDifficulty } = this.settings.vardiff;
      const next = roundDifficulty(Math.min(maxDifficulty, Math.max(minDifficulty, suggested)));
      if (this.authorized) this.setDifficulty(next);
      else this.difficulty = next;
    }
    return encodeResponse(id, true);
  }

  private async onSubmit(id: RequestId, params: unknown[]): Promise<string> {
    let outcome: SubmitOutcome;
    try {
      outcome = await this.hooks.shares.submit(this, params);
    } catch (error) {
      this.logger.error({ err: error, session: this.id }, 'share processing failed');
      return encodeResponse(id, null, [ERROR_CODES.other, 'Internal error', null]);
    }
    this.hooks.onSubmitResult(this, outcome);
    if (!outcome.accepted) {
      const error: StratumError = [outcome.code, outcome.message, null];
      return encodeResponse(id, null, error) + this.escalateRejects();
    }
    this.consecutiveRejects = 0;
    this.lastShareAt = Date.now();
    let out = encodeResponse(id, true);
    if (this.vardiff && !this.fixedDifficulty) {
      const next = this.vardiff.onShare(Date.now(), this.difficulty);
      if (next !== undefined) {
        this.difficulty = next;
        out += encodeNotification('mining.set_difficulty', [next]);
      }
    }
    return out;
  }

  /**
   * A miner sending only rejected shares is usually stuck on old work, and many farms share one NAT
   * address, so it is never banned: it gets fresh work, then is asked to reconnect, then closed.
   */
  private escalateRejects(): string {
    const policy = this.settings.rejectEscalation;
    if (!policy) return '';
    this.consecutiveRejects++;
    const n = this.consecutiveRejects;
    if (n === policy.resendWorkAfter) {
      const job = this.hooks.currentJob();
      if (job && this.subscribed && this.authorized) {
        this.logger.debug({ session: this.id, ip: this.ip, rejects: n }, 'only rejected shares: resending work');
        return this.jobLine(job, true);
      }
    }
    if (n === policy.reconnectAfter) {
      this.logger.debug({ session: this.id, ip: this.ip, rejects: n }, 'only rejected shares: asking to reconnect');
      return encodeNotification('client.reconnect', []);
    }
    if (n >= policy.closeAfter) this.closeAfterFlush = true;
    return '';
  }

  private forgetOldJobs(): void {
    while (this.jobDifficulty.size > this.settings.maxJobsRemembered) {
      const oldest = this.jobDifficulty.keys().next().value as string;
      this.jobDifficulty.delete(oldest);
      this.submissions?.delete(oldest);
    }
  }

  get wantsExtranonceUpdates(): boolean {
    return this.extranonceSubscribed;
  }
}

/** `d=0.5` (alone or among comma-separated options) asks for a fixed difficulty. */
export function parseFixedDifficulty(password: string): number | undefined {
  for (const part of password.split(/[,;\s]/)) {
    const match = /^d=(\d+(?:\.\d+)?(?:e-?\d+)?)$/i.exec(part.trim());
    if (match) {
      const value = Number(match[1]);
      if (Number.isFinite(value) && value > 0) return value;
    }
  }
  return undefined;
}
