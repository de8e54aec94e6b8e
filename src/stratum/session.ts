import type { Socket } from 'node:net';
import { notifyParams, type Job } from '../work/job.js';
import { ERROR_CODES, LineDecoder, LineTooLongError, encodeNotification, encodeResponse, parseMessage } from './codec.js';
import type { DeviceClass } from './device-classes.js';
import { cleanNotifyLine } from './job-lines.js';
import { MILLI_TOKEN, refillMilliTokens } from './rate-limit.js';
import { CLOCK_ORIGIN, clock } from './session-clock.js';
import { burstOf, type SessionEnvironment } from './session-environment.js';
import { handleRequest, type Reply } from './session-methods.js';
import type { Submitter } from './share-processor.js';
import { roundDifficulty, vardiffOnTick, type VardiffState } from './vardiff.js';
import { SessionWorkers } from './worker-identity.js';

/** In-flight answers per connection (shares hashing); more than this is a flood the bucket let through. */
const MAX_PENDING_REPLIES = 1024;

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

/**
 * One miner connection: transport (lines in, in-order answers out), its state, the jobs it was sent and its
 * difficulty. Requests are handled concurrently (shares hash in parallel) but answered in the order they
 * arrived. The Stratum methods are answered in session-methods.ts; the workers are kept by SessionWorkers.
 *
 * Tens of thousands are held at once, so the per-connection state is kept flat and small: plain number
 * and string fields (the workers' too: a base class, not an object of their own), socket listeners shared
 * by every session, and objects (line decoder, reply queue, extra workers, per-job difficulties, submitted
 * shares) created only while they are needed.
 */
export class Session extends SessionWorkers implements Submitter, VardiffState {
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
    readonly env: SessionEnvironment,
  ) {
    super();
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

  markSubscribed(): void {
    this.flags |= SUBSCRIBED;
  }

  /** The client asked for mining.set_extranonce (extranonce.subscribe, or configure's subscribe-extranonce). */
  subscribeExtranonce(): void {
    this.flags |= EXTRANONCE_SUBSCRIBED;
  }

  /** An accepted share: the reject streak ends. */
  shareAccepted(now: number): void {
    this.consecutiveRejects = 0;
    this.lastShareMs = now;
  }

  /** Close once the answers already queued are written (the end of the reject escalation). */
  closeAfterReplies(): void {
    this.flags |= CLOSE_AFTER_FLUSH;
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

  /** Ids of the jobs sent here, oldest first. */
  get sentJobIds(): readonly string[] | undefined {
    return this.jobIds;
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

  /** The notify line of a job, remembered as sent here (a broadcast's `encoded` line is used as it is). */
  jobLine(job: Job, cleanJobs: boolean, encoded?: string): string {
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

  /** The class's start difficulty (unless the miner asked for one), and its range for whatever it has. */
  enterDeviceClass(): void {
    const start = this.deviceClass?.startDifficulty;
    const fixed = (this.flags & FIXED_DIFFICULTY) !== 0;
    const wanted = start !== undefined && (this.flags & (SUGGESTED | FIXED_DIFFICULTY)) === 0 ? start : this.difficulty;
    const next = roundDifficulty(this.clampDifficulty(wanted, fixed));
    if (this.authorized) this.setDifficulty(next);
    else this.difficulty = next;
  }

  /** mining.suggest_difficulty / suggest_target: taken unless the miner fixed its difficulty with d=. */
  applySuggestedDifficulty(suggested: number): void {
    if ((this.flags & FIXED_DIFFICULTY) !== 0) return;
    this.flags |= SUGGESTED;
    const next = roundDifficulty(this.clampDifficulty(suggested));
    if (this.authorized) this.setDifficulty(next);
    else this.difficulty = next;
  }

  /** The password's d=: held (within the port's floor and vardiff's maximum) for the whole connection. */
  fixDifficulty(difficulty: number): void {
    this.flags |= FIXED_DIFFICULTY;
    this.difficulty = this.clampDifficulty(difficulty, true);
  }

  get hasFixedDifficulty(): boolean {
    return (this.flags & FIXED_DIFFICULTY) !== 0;
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
      reply = handleRequest(this, message.request);
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

  get wantsExtranonceUpdates(): boolean {
    return (this.flags & EXTRANONCE_SUBSCRIBED) !== 0;
  }
}

/** A TLS record header (handshake 0x16, version 3.x) where Stratum's JSON should start. */
export function isTlsRecordStart(chunk: Buffer): boolean {
  return chunk.length > 0 && chunk[0] === 0x16 && (chunk.length < 2 || chunk[1] === 0x03);
}
