import type { Socket } from 'node:net';
import type { AuthorizeRejectReason } from '../ops/metrics.js';
import type { Logger } from 'pino';
import type { NetworkName } from '../work/address.js';
import { decodeAddress } from '../work/address.js';
import { SCRYPT_DIFF1, targetToDifficulty } from '../work/difficulty.js';
import { parseAuxAddressOptions, type AuxChainParams } from '../work/chains.js';
import { notifyParams, type Job } from '../work/job.js';
import { jobTransactionsHex } from '../work/transactions.js';
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
import { classifyUserAgent, type DeviceClass } from './device-classes.js';
import { MILLI_TOKEN, refillMilliTokens } from './rate-limit.js';
import { roundDifficulty, vardiffOnShare, vardiffOnTick, type VardiffOptions, type VardiffState } from './vardiff.js';

export const POOL_VERSION = 'ltcpool/0.1.0';

export interface SessionSettings {
  network: NetworkName;
  extranonce2Size: number;
  startDifficulty: number;
  /** The port's floor: no difficulty on this connection goes below it (a d=1e-300 would make every nonce a share). */
  minDifficulty?: number;
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
  /** User-agent classes with their difficulty range (first match wins). */
  deviceClasses?: readonly DeviceClass[];
  /** Merge-mined chains: the password option `<chain>=<address>` (or an alias: doge=) is checked against these. */
  auxChains?: readonly AuxChainParams[];
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

/** The JSON array of a job's transactions, encoded once for every miner that asks. */
const transactionsLines = new WeakMap<Job, string>();
function transactionsJson(job: Job): string {
  let json = transactionsLines.get(job);
  if (json === undefined) {
    json = JSON.stringify(jobTransactionsHex(job));
    transactionsLines.set(job, json);
  }
  return json;
}

/** Payout addresses already decoded (farms authorize thousands of workers to one address), one copy each. Bounded. */
const knownAddresses = new Map<string, string>();
/** A refused address that another Litecoin network would take (a mainnet address on a testnet pool). */
function isAddressOfAnotherNetwork(address: string, network: NetworkName): boolean {
  return (['mainnet', 'testnet', 'regtest'] as const).some((other) => {
    if (other === network) return false;
    try {
      decodeAddress(address, other);
      return true;
    } catch {
      return false;
    }
  });
}

function checkAddress(address: string, network: NetworkName): string {
  const key = `${network}:${address}`;
  const known = knownAddresses.get(key);
  if (known !== undefined) return known;
  decodeAddress(address, network);
  if (knownAddresses.size >= 10_000) knownAddresses.clear();
  const copy = flatCopy(address);
  knownAddresses.set(key, copy);
  return copy;
}

/** In-flight answers per connection (shares hashing); more than this is a flood the bucket let through. */
const MAX_PENDING_REPLIES = 1024;

export interface SessionHooks {
  currentJob(): Job | undefined;
  /** A job the pool still remembers, by id (for mining.get_transactions). */
  findJob?(jobId: string): Job | undefined;
  shares: ShareProcessor;
  /** A worker name new to this session was authorized (re-authorizing the same name doesn't call this). */
  onWorkerAdded(session: Session, address: string): void;
  /** The miner gave aux chain addresses in its password ([chain, address] pairs, already checked). */
  onAuxAddresses?(session: Session, address: string, entries: Array<[string, string]>): void;
  onSubmitResult(session: Session, outcome: SubmitOutcome): void;
  onProtocolError(session: Session, reason: ProtocolErrorReason): void;
  /** mining.authorize refused (counted and logged by the server: failed logins are otherwise invisible). */
  onAuthorizeRejected?(session: Session, reason: AuthorizeRejectReason, username: string, detail: string): void;
  /** The first bytes were a TLS record on a plain port (a client probing for TLS): closed quietly, no score. */
  onTlsProbe?(session: Session): void;
  onClose(session: Session): void;
}

/** What every session on one port shares: one object, so each session holds one pointer for all of it. */
export interface SessionEnvironment {
  settings: SessionSettings;
  hooks: SessionHooks;
  logger: Logger;
}

interface WorkerIdentity {
  address: string;
  worker: string;
}

type Reply = string | Promise<string>;

/**
 * Session times are ms since this module loaded: small integers V8 keeps unboxed in the object (an
 * epoch-ms double would be one more heap number per field per connection). Getters give epoch ms.
 */
const CLOCK_ORIGIN = Date.now();
const clock = (): number => Date.now() - CLOCK_ORIGIN;

// Session flags, one small integer instead of a field per boolean.
const SUBSCRIBED = 1;
const CLOSED = 2;
const CLOSING = 4;
const CLOSE_AFTER_FLUSH = 8;
const FLUSHING = 16;
const FIXED_DIFFICULTY = 32;
const EXTRANONCE_SUBSCRIBED = 64;
/** Some bytes have arrived (the first chunk is checked for a TLS ClientHello). */
const RECEIVED = 128;
/** The miner asked for a difficulty (suggest_difficulty / suggest_target): its device class's start doesn't apply. */
const SUGGESTED = 256;

const kSession = Symbol('ltcpool.session');
type SessionSocket = Socket & { [kSession]?: Session };

/** Payout addresses and user agents repeat across thousands of connections: keep one copy of each. */
const userAgents = new Map<string, string>();
function internUserAgent(agent: string): string {
  const known = userAgents.get(agent);
  if (known !== undefined) return known;
  if (userAgents.size >= 1000) userAgents.clear();
  const copy = flatCopy(agent);
  userAgents.set(copy, copy);
  return copy;
}

/** A string that doesn't point into a bigger one (a slice of a 200-byte line keeps the whole line alive). */
function flatCopy(text: string): string {
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string);
}

/** True when `name` is `address` or `address.worker`. */
function isUsername(name: string, address: string, worker: string): boolean {
  // `address.` names the same (unnamed) worker as `address`
  if (worker === '') return name.startsWith(address) && (name.length === address.length || (name.length === address.length + 1 && name.endsWith('.')));
  return name.length === address.length + 1 + worker.length && name.startsWith(address) && name.charCodeAt(address.length) === 0x2e && name.endsWith(worker);
}

/**
 * One miner connection: Stratum state machine, difficulty, and in-order answers. Requests are handled
 * concurrently (shares hash in parallel) but answered in the order they arrived.
 *
 * Tens of thousands are held at once, so the per-connection state is kept flat and small: plain number
 * and string fields, socket listeners shared by every session, and objects (line decoder, reply queue,
 * extra workers, per-job difficulties, submitted shares) created only while they are needed.
 */
export class Session implements Submitter, VardiffState {
  versionMask = 0;
  difficulty: number;
  /** Rejected shares in a row (reset by an accepted one). */
  consecutiveRejects = 0;
  userAgent = '';
  /** Index into settings.deviceClasses of this client's class, -1 for none. */
  deviceClassIndex = -1;
  private flags = 0;
  private floodCount = 0;
  private readonly connectedMs: number;
  private activityMs: number;
  private lastShareMs = 0;
  /** Rate limit bucket, in thousandths of a message (refilled on every read). */
  private milliTokens: number;
  // vardiff state (see VardiffState); idle when vardiff is off
  vdWindowStart: number;
  vdShares = 0;
  vdLastShareAt: number;
  vdIdleCutAt = 0;
  /** First authorized worker, inline (nearly every connection has exactly one). */
  private workerAddress: string | undefined;
  private workerName = '';
  private moreWorkers: Map<string, WorkerIdentity> | undefined;
  /** Ids of the jobs sent here, oldest first (at most maxJobsRemembered). */
  private jobIds: string[] | undefined;
  /** The difficulty every job in jobIds was sent at, until they differ: then jobDifficulties holds each. */
  private sentDifficulty = 0;
  private jobDifficulties: number[] | undefined;
  /** Created on the first share: most connections held at once never submit in between broadcasts. */
  private submissions: Map<string, Set<string>> | undefined;
  /** Only while part of a line is pending. */
  private decoder: LineDecoder | undefined;
  /** Only while answers wait for a share being hashed. */
  private replies: Reply[] | undefined;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly ip: string,
    private readonly extranonce1Value: number,
    private readonly env: SessionEnvironment,
  ) {
    const { settings } = env;
    this.difficulty = settings.startDifficulty;
    const now = clock();
    this.connectedMs = now;
    this.activityMs = now;
    this.vdWindowStart = now;
    this.vdLastShareAt = now;
    this.milliTokens = settings.messagesPerSecond === undefined ? 0 : burstOf(settings) * MILLI_TOKEN;
    socket.setNoDelay(true);
    (socket as SessionSocket)[kSession] = this;
    socket.on('data', Session.onSocketData);
    socket.on('error', Session.onSocketError);
    socket.on('close', Session.onSocketClose);
  }

  private static onSocketData(this: SessionSocket, chunk: Buffer): void {
    this[kSession]?.receive(chunk);
  }

  private static onSocketError(this: SessionSocket, error: Error): void {
    const session = this[kSession];
    session?.env.logger.debug({ err: error, session: session.id }, 'socket error');
  }

  private static onSocketClose(this: SessionSocket): void {
    this[kSession]?.onClosed();
  }

  /** Extranonce1 as bytes, made on demand (4 bytes as a Buffer would cost ~200 per connection to keep). */
  get extranonce1(): Buffer {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(this.extranonce1Value);
    return out;
  }

  get extranonce1Hex(): string {
    return this.extranonce1Value.toString(16).padStart(8, '0');
  }

  get subscribed(): boolean {
    return (this.flags & SUBSCRIBED) !== 0;
  }

  get connectedAt(): number {
    return CLOCK_ORIGIN + this.connectedMs;
  }

  get lastActivityAt(): number {
    return CLOCK_ORIGIN + this.activityMs;
  }

  /** Epoch ms of the last accepted share, 0 before the first. */
  get lastShareAt(): number {
    return this.lastShareMs === 0 ? 0 : CLOCK_ORIGIN + this.lastShareMs;
  }

  get authorized(): boolean {
    return this.workerAddress !== undefined;
  }

  get workerCount(): number {
    return this.workerAddress === undefined ? 0 : 1 + (this.moreWorkers?.size ?? 0);
  }

  /** The payout address of every worker on this connection (repeats included). */
  workerAddresses(): string[] {
    if (this.workerAddress === undefined) return [];
    const out = [this.workerAddress];
    if (this.moreWorkers) for (const w of this.moreWorkers.values()) out.push(w.address);
    return out;
  }

  addresses(): string[] {
    return [...new Set(this.workerAddresses())];
  }

  /** Every worker authorized on this connection. */
  workers(): WorkerIdentity[] {
    if (this.workerAddress === undefined) return [];
    const out: WorkerIdentity[] = [{ address: this.workerAddress, worker: this.workerName }];
    if (this.moreWorkers) for (const w of this.moreWorkers.values()) out.push(w);
    return out;
  }

  workerFor(name: string): WorkerIdentity | undefined {
    const address = this.workerAddress;
    if (address === undefined) return undefined;
    if (isUsername(name, address, this.workerName)) return { address, worker: this.workerName };
    return this.moreWorkers?.get(name);
  }

  /** A share is judged at the difficulty its job was sent with, or the current one if that is lower. */
  difficultyForJob(jobId: string): number | undefined {
    const index = this.jobIds === undefined ? -1 : this.jobIds.indexOf(jobId);
    if (index === -1) return undefined;
    const sent = this.jobDifficulties === undefined ? this.sentDifficulty : this.jobDifficulties[index];
    return Math.min(sent, this.difficulty);
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
    if ((this.flags & (SUBSCRIBED | CLOSED | CLOSING)) !== SUBSCRIBED || !this.authorized) return;
    this.write(this.jobLine(job, cleanJobs, encoded));
  }

  private jobLine(job: Job, cleanJobs: boolean, encoded?: string): string {
    this.rememberJob(job.id);
    return encoded ?? (cleanJobs ? cleanNotifyLine(job) : encodeNotification('mining.notify', notifyParams(job, cleanJobs)));
  }

  /** Remembers that a job id was sent at the current difficulty (only the id: no job object is kept). */
  private rememberJob(jobId: string): void {
    const difficulty = this.difficulty;
    if (this.jobIds === undefined) {
      this.jobIds = [jobId];
      this.sentDifficulty = difficulty;
      return;
    }
    const index = this.jobIds.indexOf(jobId);
    if (index === -1) {
      this.jobIds.push(jobId);
    }
    if (this.jobDifficulties === undefined && difficulty !== this.sentDifficulty) {
      const sent = this.sentDifficulty;
      this.jobDifficulties = this.jobIds.map(() => sent);
    }
    if (this.jobDifficulties !== undefined) {
      if (index === -1) this.jobDifficulties[this.jobIds.length - 1] = difficulty;
      else this.jobDifficulties[index] = difficulty;
    }
    while (this.jobIds.length > this.env.settings.maxJobsRemembered) {
      const oldest = this.jobIds.shift() as string;
      this.jobDifficulties?.shift();
      this.submissions?.delete(oldest);
    }
  }

  /** Changes difficulty: set_difficulty now, effective from the next job. */
  setDifficulty(difficulty: number): void {
    if (difficulty === this.difficulty) return;
    this.difficulty = difficulty;
    if (this.subscribed && this.authorized) this.write(encodeNotification('mining.set_difficulty', [difficulty]));
  }

  /** This client's device class, if its user agent matched one. */
  get deviceClass(): DeviceClass | undefined {
    return this.deviceClassIndex === -1 ? undefined : this.env.settings.deviceClasses?.[this.deviceClassIndex];
  }

  /**
   * The one clamp of every difficulty this connection is given (vardiff, suggestions, d=, class start): into
   * the device class's range where the class sets one, else vardiff's (a fixed d= is held only to the port's
   * floor and vardiff's maximum), and never below the port's minDifficulty. The floor wins a conflict: below
   * it the client misreads the difficulty, or every nonce becomes a stored share.
   */
  clampDifficulty(difficulty: number, fixed = false): number {
    const { vardiff, minDifficulty: portFloor = 0 } = this.env.settings;
    const deviceClass = this.deviceClass;
    const min = Math.max(portFloor, deviceClass?.minDifficulty ?? (fixed ? 0 : vardiff.minDifficulty));
    const max = deviceClass?.maxDifficulty ?? vardiff.maxDifficulty;
    return Math.max(min, Math.min(max, difficulty));
  }

  /** Periodic housekeeping: idle vardiff. */
  tick(_now?: number): void {
    const { vardiff } = this.env.settings;
    if (!vardiff.enabled || (this.flags & FIXED_DIFFICULTY) !== 0 || !this.authorized) return;
    const cut = vardiffOnTick(this, vardiff, clock(), this.difficulty);
    const next = cut === undefined ? undefined : this.clampDifficulty(cut);
    if (next !== undefined && next < this.difficulty) {
      this.setDifficulty(next);
      const job = this.env.hooks.currentJob();
      if (job) this.sendJob(job, false);
    }
  }

  sendReconnect(host?: string, port?: number, waitSeconds = 0): void {
    this.write(encodeNotification('client.reconnect', host ? [host, port, waitSeconds] : []));
  }

  get isClosing(): boolean {
    return (this.flags & (CLOSING | CLOSED)) !== 0;
  }

  close(reason?: string): void {
    if (this.isClosing) return;
    this.flags |= CLOSING;
    if (reason) this.env.logger.debug({ session: this.id, ip: this.ip, reason }, 'closing connection');
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private write(line: string): void {
    if ((this.flags & CLOSED) !== 0 || this.socket.destroyed) return;
    const limit = this.env.settings.maxWriteBufferBytes;
    if (limit !== undefined && this.socket.writableLength > limit) {
      this.env.hooks.onProtocolError(this, 'slow-reader');
      this.env.logger.debug({ session: this.id, ip: this.ip, queued: this.socket.writableLength }, 'closing connection: client does not read');
      this.flags |= CLOSING;
      this.socket.destroy();
      return;
    }
    this.socket.write(line);
  }

  private onClosed(): void {
    if ((this.flags & CLOSED) !== 0) return;
    this.flags |= CLOSED;
    // nothing pending is needed any more: let the socket's buffers and ours go
    this.decoder = undefined;
    this.env.hooks.onClose(this);
  }

  /** Bytes from the miner (the socket's data events, or what followed a PROXY header). */
  receive(chunk: Buffer): void {
    if (this.isClosing) return;
    const { settings } = this.env;
    const now = clock();
    if (settings.messagesPerSecond !== undefined) {
      this.milliTokens = refillMilliTokens(this.milliTokens, Math.max(0, now - this.activityMs), settings.messagesPerSecond, burstOf(settings));
    }
    this.activityMs = now;
    if ((this.flags & RECEIVED) === 0) {
      this.flags |= RECEIVED;
      if (isTlsRecordStart(chunk)) {
        // bfgminer (and cgminer's descendants) try TLS first on a stratum+tcp URL: an honest quirk, not garbage.
        this.flags |= CLOSING;
        this.env.hooks.onTlsProbe?.(this);
        this.socket.destroy();
        return;
      }
    }
    let lines: string[];
    const decoder = this.decoder ?? new LineDecoder(settings.maxLineBytes);
    try {
      lines = decoder.push(chunk);
    } catch (error) {
      if (error instanceof LineTooLongError) this.env.hooks.onProtocolError(this, 'line-too-long');
      else this.env.logger.error({ err: error, session: this.id }, 'line decoder failed');
      this.close(error instanceof Error ? error.message : 'decoder error');
      return;
    }
    this.decoder = decoder.hasPending ? decoder : undefined;
    for (const line of lines) {
      if ((this.flags & CLOSING) !== 0) return;
      try {
        this.onLine(line);
      } catch (error) {
        // A handler bug must cost this connection at most, never the process (nothing to answer: the id is unknown here).
        this.env.logger.error({ err: error, session: this.id }, 'stratum message handling failed');
      }
    }
  }

  private onLine(line: string): void {
    const { settings } = this.env;
    if (settings.messagesPerSecond !== undefined) {
      if (this.milliTokens < MILLI_TOKEN) {
        this.floodCount++;
        this.env.hooks.onProtocolError(this, 'flood');
        if (this.floodCount >= (settings.floodCloseAfter ?? 50)) {
          this.close('message flood');
          return;
        }
        const over = parseMessage(line);
        if (over.kind === 'response' || over.notification) return; // never answer a notification
        this.enqueue(encodeResponse(over.kind === 'request' ? over.request.id : over.id, null, [ERROR_CODES.other, 'Too many messages, slow down', null]));
        return;
      }
      this.milliTokens -= MILLI_TOKEN;
    }
    if (this.replies !== undefined && this.replies.length >= MAX_PENDING_REPLIES) {
      this.env.hooks.onProtocolError(this, 'too-many-pending');
      this.close('too many requests in flight');
      return;
    }
    const message = parseMessage(line);
    if (message.kind === 'response') return;
    if (message.kind === 'invalid') {
      this.env.hooks.onProtocolError(this, 'malformed');
      if (!message.notification) this.enqueue(encodeResponse(message.id, null, [ERROR_CODES.other, message.reason, null]));
      return;
    }
    let reply: Reply;
    try {
      reply = this.handle(message.request);
    } catch (error) {
      // A handler bug must cost this connection at most, never the process.
      this.env.logger.error({ err: error, session: this.id, method: message.request.method }, 'stratum message handling failed');
      reply = encodeResponse(message.request.id, null, [ERROR_CODES.other, 'Internal error', null]);
    }
    if (message.notification) {
      // Acted upon, never answered: a client reads an answer with id null as the answer it is waiting for.
      if (typeof reply !== 'string') reply.catch(() => undefined);
      return;
    }
    this.enqueue(reply);
  }

  private enqueue(reply: Reply): void {
    if ((this.flags & FLUSHING) === 0 && (this.replies === undefined || this.replies.length === 0) && typeof reply === 'string') {
      // nothing ahead of it: answer now, without touching the queue
      this.write(reply);
      return;
    }
    (this.replies ??= []).push(reply);
    if ((this.flags & FLUSHING) === 0) void this.flushReplies();
  }

  private async flushReplies(): Promise<void> {
    this.flags |= FLUSHING;
    try {
      const replies = this.replies as Reply[];
      while (replies.length > 0) {
        const head = replies[0];
        const text = typeof head === 'string' ? head : await head;
        replies.shift();
        this.write(text);
      }
    } finally {
      this.flags &= ~FLUSHING;
      // the queue is empty: drop it until the next share
      this.replies = undefined;
    }
    if ((this.flags & CLOSE_AFTER_FLUSH) !== 0) this.close('only rejected shares');
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
        this.flags |= EXTRANONCE_SUBSCRIBED;
        return encodeResponse(id, true);
      case 'mining.suggest_difficulty':
        return this.onSuggestDifficulty(id, params);
      case 'mining.suggest_target':
        return this.onSuggestTarget(id, params);
      case 'mining.multi_version':
        return encodeResponse(id, true);
      case 'mining.get_transactions':
        return this.onGetTransactions(id, params);
      case 'client.get_version':
        return encodeResponse(id, POOL_VERSION);
      default:
        return encodeResponse(id, null, [ERROR_CODES.other, `Unknown method ${method.slice(0, 64)}`, null]);
    }
  }

  private onSubscribe(id: RequestId, params: unknown[]): string {
    if (typeof params[0] === 'string') {
      this.userAgent = internUserAgent(params[0].slice(0, 80));
      this.deviceClassIndex = classifyUserAgent(this.userAgent, this.env.settings.deviceClasses);
      if (this.deviceClassIndex !== -1) this.enterDeviceClass();
    }
    this.flags |= SUBSCRIBED;
    const e1 = this.extranonce1Hex;
    return encodeResponse(id, [[['mining.set_difficulty', e1], ['mining.notify', e1]], e1, this.env.settings.extranonce2Size]);
  }

  /** The class's start difficulty (unless the miner asked for one), and its range for whatever it has. */
  private enterDeviceClass(): void {
    const start = this.deviceClass?.startDifficulty;
    const fixed = (this.flags & FIXED_DIFFICULTY) !== 0;
    const wanted = start !== undefined && (this.flags & (SUGGESTED | FIXED_DIFFICULTY)) === 0 ? start : this.difficulty;
    const next = roundDifficulty(this.clampDifficulty(wanted, fixed));
    if (this.authorized) this.setDifficulty(next);
    else this.difficulty = next;
  }

  private onAuthorize(id: RequestId, params: unknown[]): string {
    const { settings, hooks } = this.env;
    const [username, password] = params;
    const refuse = (reason: AuthorizeRejectReason, message: string): string => {
      hooks.onAuthorizeRejected?.(this, reason, typeof username === 'string' ? username.slice(0, 200) : String(username).slice(0, 200), message);
      return encodeResponse(id, false, [ERROR_CODES.unauthorized, message, null]);
    };
    if (typeof username !== 'string' || username.length === 0 || username.length > 200) {
      return refuse('bad-username', 'username must be a Litecoin address, optionally address.worker');
    }
    const dot = username.indexOf('.');
    const givenAddress = dot === -1 ? username : username.slice(0, dot);
    const worker = dot === -1 ? '' : username.slice(dot + 1);
    if (!/^[\w\-.:@]{0,64}$/.test(worker)) {
      return refuse('bad-worker-name', 'worker name may hold letters, digits and - _ . : @ (at most 64)');
    }
    let address: string;
    try {
      address = checkAddress(givenAddress, settings.network);
    } catch (error) {
      const message = (error as Error).message;
      return refuse(isAddressOfAnotherNetwork(givenAddress, settings.network) ? 'wrong-network' : 'bad-address', message);
    }
    let auxAddresses: Array<[string, string]> | undefined;
    if (settings.auxChains?.length && typeof password === 'string') {
      const parsed = parseAuxAddressOptions(password, settings.auxChains);
      if ('error' in parsed) return encodeResponse(id, false, [ERROR_CODES.unauthorized, parsed.error, null]);
      if (parsed.entries.length > 0) auxAddresses = parsed.entries;
    }
    const first = this.workerAddress === undefined;
    if (this.workerFor(username) === undefined) {
      if (this.workerCount >= settings.maxWorkersPerConnection) {
        return refuse('too-many-workers', 'too many workers on this connection');
      }
      if (first) {
        this.workerAddress = address;
        this.workerName = flatCopy(worker);
      } else {
        (this.moreWorkers ??= new Map()).set(flatCopy(username), { address, worker: flatCopy(worker) });
      }
      hooks.onWorkerAdded(this, address);
    }
    if (auxAddresses) hooks.onAuxAddresses?.(this, address, auxAddresses);
    let out = encodeResponse(id, true);
    if (first) {
      const fixed = typeof password === 'string' ? parseFixedDifficulty(password) : undefined;
      if (fixed !== undefined) {
        this.flags |= FIXED_DIFFICULTY;
        this.difficulty = this.clampDifficulty(fixed, true);
      }
      // set_difficulty goes before the notify it applies to.
      out += encodeNotification('mining.set_difficulty', [this.difficulty]);
      if (this.subscribed) {
        const job = hooks.currentJob();
        if (job) {
          out += this.jobLine(job, true);
        }
      }
    }
    return out;
  }

  /**
   * The transactions of a job this connection received (the newest one when no id is given), in the serialization
   * whose sha256d is the txid the merkle branch was built from: bfgminer rebuilds the branch from them.
   */
  private onGetTransactions(id: RequestId, params: unknown[]): string {
    const jobId = typeof params[0] === 'string' ? params[0] : this.jobIds?.[this.jobIds.length - 1];
    const job = jobId !== undefined && this.jobIds?.includes(jobId) ? this.env.hooks.findJob?.(jobId) : undefined;
    if (job === undefined) return encodeResponse(id, null, [ERROR_CODES.jobNotFound, 'Job not found', null]);
    return `{"id":${JSON.stringify(id)},"result":${transactionsJson(job)},"error":null}\n`;
  }

  private onConfigure(id: RequestId, params: unknown[]): string {
    const extensions = Array.isArray(params[0]) ? params[0] : [];
    const options = typeof params[1] === 'object' && params[1] !== null ? (params[1] as Record<string, unknown>) : {};
    const result: Record<string, unknown> = {};
    for (const extension of extensions) {
      if (extension === 'version-rolling') {
        const requested = typeof options['version-rolling.mask'] === 'string' ? parseInt(options['version-rolling.mask'] as string, 16) : 0xffffffff;
        this.versionMask = (this.env.settings.versionRollingMask & (Number.isNaN(requested) ? 0 : requested)) >>> 0;
        result['version-rolling'] = this.versionMask !== 0;
        result['version-rolling.mask'] = this.versionMask.toString(16).padStart(8, '0');
      } else if (extension === 'minimum-difficulty') {
        result['minimum-difficulty'] = false;
      } else if (extension === 'subscribe-extranonce') {
        this.flags |= EXTRANONCE_SUBSCRIBED;
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
    this.applySuggestedDifficulty(suggested);
    return encodeResponse(id, true);
  }

  /**
   * `mining.suggest_target` (bfgminer sends it, as a notification, before subscribing): a 256-bit target in
   * hex. A target is absolute, so it becomes the share difficulty whose target it is: 0xffff·2^224 / target
   * (the Scrypt diff1 the pool's difficulties use), then treated like `mining.suggest_difficulty`.
   */
  private onSuggestTarget(id: RequestId, params: unknown[]): string {
    const difficulty = typeof params[0] === 'string' ? suggestedTargetDifficulty(params[0]) : undefined;
    if (difficulty === undefined) {
      return encodeResponse(id, false, [ERROR_CODES.other, 'target must be up to 64 hex digits, above zero', null]);
    }
    this.applySuggestedDifficulty(difficulty);
    return encodeResponse(id, true);
  }

  private applySuggestedDifficulty(suggested: number): void {
    if ((this.flags & FIXED_DIFFICULTY) !== 0) return;
    this.flags |= SUGGESTED;
    const next = roundDifficulty(this.clampDifficulty(suggested));
    if (this.authorized) this.setDifficulty(next);
    else this.difficulty = next;
  }

  private async onSubmit(id: RequestId, params: unknown[]): Promise<string> {
    const { settings, hooks, logger } = this.env;
    let outcome: SubmitOutcome;
    try {
      outcome = await hooks.shares.submit(this, params);
    } catch (error) {
      logger.error({ err: error, session: this.id }, 'share processing failed');
      return encodeResponse(id, null, [ERROR_CODES.other, 'Internal error', null]);
    }
    hooks.onSubmitResult(this, outcome);
    if (!outcome.accepted) {
      const error: StratumError = [outcome.code, outcome.message, null];
      return encodeResponse(id, null, error) + this.escalateRejects();
    }
    this.consecutiveRejects = 0;
    const now = clock();
    this.lastShareMs = now;
    let out = encodeResponse(id, true);
    if (settings.vardiff.enabled && (this.flags & FIXED_DIFFICULTY) === 0) {
      const retarget = vardiffOnShare(this, settings.vardiff, now, this.difficulty);
      const next = retarget === undefined ? undefined : this.clampDifficulty(retarget);
      if (next !== undefined && next !== this.difficulty) {
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
    const policy = this.env.settings.rejectEscalation;
    if (!policy) return '';
    this.consecutiveRejects++;
    const n = this.consecutiveRejects;
    if (n === policy.resendWorkAfter) {
      const job = this.env.hooks.currentJob();
      if (job && this.subscribed && this.authorized) {
        this.env.logger.debug({ session: this.id, ip: this.ip, rejects: n }, 'only rejected shares: resending work');
        return this.jobLine(job, true);
      }
    }
    if (n === policy.reconnectAfter) {
      this.env.logger.debug({ session: this.id, ip: this.ip, rejects: n }, 'only rejected shares: asking to reconnect');
      return encodeNotification('client.reconnect', []);
    }
    if (n >= policy.closeAfter) this.flags |= CLOSE_AFTER_FLUSH;
    return '';
  }

  get wantsExtranonceUpdates(): boolean {
    return (this.flags & EXTRANONCE_SUBSCRIBED) !== 0;
  }
}

/** Settings' burst size for the message rate limit. */
function burstOf(settings: SessionSettings): number {
  return settings.messagesBurst ?? Math.max(20, (settings.messagesPerSecond ?? 0) * 2);
}

/** A TLS record header (handshake 0x16, version 3.x) where Stratum's JSON should start. */
export function isTlsRecordStart(chunk: Buffer): boolean {
  return chunk.length > 0 && chunk[0] === 0x16 && (chunk.length < 2 || chunk[1] === 0x03);
}

/** The share difficulty of a suggested target (hex, optional 0x), or undefined when it is not one. */
export function suggestedTargetDifficulty(hex: string): number | undefined {
  const digits = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (!/^[0-9a-fA-F]{1,64}$/.test(digits)) return undefined;
  const target = BigInt(`0x${digits}`);
  if (target === 0n) return undefined;
  return targetToDifficulty(target, SCRYPT_DIFF1);
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
