import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { leToBigInt } from '../work/bytes.js';
import { SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY, difficultyToTarget } from '../work/difficulty.js';
import { parseNotify, type NotifiedWork } from '../work/job.js';
import { NodeScryptHasher, type ScryptHasher } from '../work/scrypt.js';
import { buildShareWork } from '../work/share.js';

export interface MinerOptions {
  host: string;
  port: number;
  username: string;
  password?: string;
  /** Cap on hashes per second (regtest blocks come every ~2 hashes); undefined = as fast as it can. */
  hashrate?: number;
  /** Hashes in flight at once. */
  concurrency?: number;
  userAgent?: string;
  /** Reconnect after the pool goes away (client.reconnect or a dropped socket). */
  autoReconnect?: boolean;
  hasher?: ScryptHasher;
  requestTimeoutMs?: number;
  /** Habits of real clients (bfgminer, cgminer and the ASIC firmware descended from it), to test the pool against. */
  habits?: MinerHabits;
}

export interface MinerHabits {
  /** bfgminer on a stratum+tcp URL: a TLS ClientHello on a connection of its own before every plain connect. */
  tlsProbeFirst?: boolean;
  /**
   * bfgminer: `mining.suggest_target` with this hex target as a notification (`id: null`) before
   * `mining.subscribe`. Like bfgminer, an answer with `id: null` that arrives while the subscribe is pending is
   * taken for the subscribe answer (and fails: "Failed to get nonce1").
   */
  suggestTargetFirst?: string;
  /**
   * cgminer lineage: a `set_difficulty` below this floor (16) is read in Bitcoin units, so the miner hashes
   * against a target 65,536× harder than the pool's.
   */
  difficultyFloor?: number;
  /** cgminer lineage: on `client.reconnect`, drop the connection and connect at once to the host and port given. */
  obeyReconnect?: boolean;
}

export interface RpcAnswer {
  id: number;
  result: unknown;
  error: [number, string, unknown] | null;
}

export interface SubmittedShare {
  jobId: string;
  extranonce1: string;
  extranonce2: string;
  ntime: string;
  nonce: string;
  hash: string;
  accepted: boolean;
  errorCode?: number;
  /** From sending mining.submit to its answer. */
  answerMs: number;
}

interface PendingRequest {
  resolve: (answer: RpcAnswer) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/**
 * A Stratum v1 miner that hashes with Scrypt over real TCP: for tests, benchmarks and the demo.
 * Events: 'notify' (work), 'difficulty' (number), 'share' (SubmittedShare), 'close'.
 */
export class TestMiner extends EventEmitter {
  socket: Socket | undefined;
  extranonce1 = '';
  extranonce2Size = 4;
  difficulty = 1;
  job: NotifiedWork | undefined;
  readonly submitted: SubmittedShare[] = [];
  hashes = 0;
  private nextId = 1;
  private pending = new Map<number, PendingRequest>();
  private buffer = '';
  private mining = false;
  private stopped = false;
  private extranonce2Counter = 0;
  private readonly hasher: ScryptHasher;
  private loop: Promise<void> | undefined;
  private jobWaiters: Array<() => void> = [];
  private reconnecting = false;
  readonly notifications: Array<{ method: string; params: unknown[] }> = [];
  /** Answers no request of ours was waiting for (`id: null` or an unknown id). A pool must never send these. */
  readonly strayAnswers: unknown[] = [];
  /** TLS probes made (habits.tlsProbeFirst), and how many of them the pool answered as TLS. */
  tlsProbes = 0;
  tlsProbesAnswered = 0;
  /** Where the next connect goes: options.host/port until a client.reconnect names another place. */
  host: string;
  port: number;
  /** client.reconnect targets this miner tried, and whether the connection there succeeded. */
  readonly redirects: Array<{ host: string; port: number; connected: boolean }> = [];
  private redirect: { host: string; port: number } | undefined;
  private subscribing: number | undefined;

  constructor(readonly options: MinerOptions) {
    super();
    this.hasher = options.hasher ?? new NodeScryptHasher();
    this.host = options.host;
    this.port = options.port;
  }

  /**
   * The difficulty this miner actually hashes at: the pool's, except that a client with a difficulty floor
   * reads anything below it in Bitcoin units (65,536× harder).
   */
  get miningDifficulty(): number {
    const floor = this.options.habits?.difficultyFloor;
    return floor !== undefined && this.difficulty < floor ? this.difficulty * Number(SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY) : this.difficulty;
  }

  get accepted(): number {
    return this.submitted.filter((s) => s.accepted).length;
  }

  get rejected(): number {
    return this.submitted.filter((s) => !s.accepted).length;
  }

  async connect(): Promise<void> {
    if (this.options.habits?.tlsProbeFirst) await this.probeTls();
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.once('error', reject);
      socket.on('data', (data) => this.onData(data));
      socket.on('error', () => undefined);
      socket.on('close', () => this.onClose());
      this.socket = socket;
    });
  }

  /**
   * A TLS handshake attempt on its own connection (bfgminer's probe); resolves when the pool closes it, or when
   * the handshake completes (bfgminer would mine over TLS then; this miner goes on in plain text).
   */
  async probeTls(timeoutMs = 5000): Promise<void> {
    this.tlsProbes++;
    await new Promise<void>((resolve) => {
      const socket = tlsConnect({ host: this.host, port: this.port, rejectUnauthorized: false });
      const timer = setTimeout(() => socket.destroy(), timeoutMs);
      socket.on('error', () => undefined);
      socket.once('secureConnect', () => {
        this.tlsProbesAnswered++;
        socket.destroy();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** connect + subscribe + authorize; returns the authorize answer. */
  async start(): Promise<RpcAnswer> {
    await this.connect();
    const suggested = this.options.habits?.suggestTargetFirst;
    if (suggested !== undefined) this.sendRaw(JSON.stringify({ id: null, method: 'mining.suggest_target', params: [suggested] }) + '\n');
    await this.subscribe();
    return this.authorize();
  }

  async subscribe(): Promise<RpcAnswer> {
    this.subscribing = this.nextId;
    const answer = await this.request('mining.subscribe', [this.options.userAgent ?? 'ltcpool-testminer/1']).finally(() => (this.subscribing = undefined));
    if (Array.isArray(answer.result)) {
      this.extranonce1 = String(answer.result[1]);
      this.extranonce2Size = Number(answer.result[2]);
    }
    return answer;
  }

  authorize(username = this.options.username, password = this.options.password ?? 'x'): Promise<RpcAnswer> {
    return this.request('mining.authorize', [username, password]);
  }

  request(method: string, params: unknown[]): Promise<RpcAnswer> {
    const id = this.nextId++;
    return new Promise<RpcAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${this.options.requestTimeoutMs ?? 15000} ms`));
      }, this.options.requestTimeoutMs ?? 15000);
      this.pending.set(id, { resolve, reject, timer });
      this.sendRaw(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  sendRaw(text: string | Buffer): void {
    if (!this.socket || this.socket.destroyed) throw new Error('not connected');
    this.socket.write(text);
  }

  /** Resolves when a job is known (immediately if one is). */
  waitForJob(timeoutMs = 15000): Promise<NotifiedWork> {
    if (this.job) return Promise.resolve(this.job);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no mining.notify received')), timeoutMs);
      this.jobWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.job!);
      });
    });
  }

  /** Header for a candidate share on the current job (for tests crafting submissions). */
  async hashFor(job: NotifiedWork, extranonce2: string, ntime: string, nonce: string): Promise<bigint> {
    const work = buildShareWork(job, Buffer.from(this.extranonce1, 'hex'), {
      extranonce2: Buffer.from(extranonce2, 'hex'),
      ntime: parseInt(ntime, 16),
      nonce: parseInt(nonce, 16),
      version: job.version,
    });
    return leToBigInt(await this.hasher.hash(work.header));
  }

  /** Searches nonces until a hash meets `difficulty` (default: the one this miner hashes at). */
  async findShare(difficulty = this.miningDifficulty, job?: NotifiedWork): Promise<{ jobId: string; extranonce2: string; ntime: string; nonce: string }> {
    const work = job ?? (await this.waitForJob());
    const target = difficultyToTarget(difficulty);
    const extranonce2 = this.nextExtranonce2();
    const ntime = hex8(work.curtime);
    for (let nonce = 0; nonce < 0xffffffff; nonce++) {
      const n = hex8(nonce);
      this.hashes++;
      if ((await this.hashFor(work, extranonce2, ntime, n)) <= target) return { jobId: work.id, extranonce2, ntime, nonce: n };
    }
    throw new Error('nonce space exhausted');
  }

  submit(share: { jobId: string; extranonce2: string; ntime: string; nonce: string }, worker = this.options.username): Promise<RpcAnswer> {
    return this.request('mining.submit', [worker, share.jobId, share.extranonce2, share.ntime, share.nonce]);
  }

  /** Mines in the background until stop(). */
  startMining(): void {
    if (this.mining) return;
    this.mining = true;
    this.loop = this.mineLoop();
  }

  async stopMining(): Promise<void> {
    this.mining = false;
    await this.loop;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.stopMining();
    this.socket?.destroy();
  }

  private nextExtranonce2(): string {
    this.extranonce2Counter = (this.extranonce2Counter + 1) % 2 ** Math.min(48, this.extranonce2Size * 8);
    return this.extranonce2Counter.toString(16).padStart(this.extranonce2Size * 2, '0');
  }

  private async mineLoop(): Promise<void> {
    const concurrency = this.options.concurrency ?? 2;
    const startedAt = Date.now();
    let hashed = 0;
    while (this.mining) {
      const job = this.job;
      if (!job || !this.socket || this.socket.destroyed || !this.extranonce1) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const extranonce2 = this.nextExtranonce2();
      const ntime = hex8(job.curtime);
      const target = difficultyToTarget(this.miningDifficulty);
      for (let base = 0; this.mining && this.job === job && base < 0x10000; base += concurrency) {
        const nonces = Array.from({ length: concurrency }, (_, i) => hex8(base + i));
        const results = await Promise.all(nonces.map((n) => this.hashFor(job, extranonce2, ntime, n)));
        this.hashes += nonces.length;
        hashed += nonces.length;
        results.forEach((value, i) => {
          if (value <= target) void this.submitFound(job, extranonce2, ntime, nonces[i], value);
        });
        if (this.options.hashrate) {
          const due = startedAt + (hashed / this.options.hashrate) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
    }
  }

  private async submitFound(job: NotifiedWork, extranonce2: string, ntime: string, nonce: string, value: bigint): Promise<void> {
    const extranonce1 = this.extranonce1;
    let answer: RpcAnswer;
    const sentAt = performance.now();
    try {
      answer = await this.submit({ jobId: job.id, extranonce2, ntime, nonce });
    } catch {
      return;
    }
    const share: SubmittedShare = {
      jobId: job.id,
      extranonce1,
      extranonce2,
      ntime,
      nonce,
      hash: value.toString(16).padStart(64, '0'),
      accepted: answer.result === true,
      errorCode: answer.error?.[0],
      answerMs: performance.now() - sentAt,
    };
    this.submitted.push(share);
    this.emit('share', share);
  }

  private onData(data: Buffer): void {
    this.buffer += data.toString('utf8');
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let message: { id?: number | null; method?: string; params?: unknown[]; result?: unknown; error?: RpcAnswer['error'] };
    try {
      message = JSON.parse(line);
    } catch {
      this.emit('garbage', line);
      return;
    }
    if (message.method) {
      const params = message.params ?? [];
      this.notifications.push({ method: message.method, params });
      if (this.notifications.length > 1000) this.notifications.shift();
      if (message.method === 'mining.notify') {
        this.job = parseNotify(params);
        this.emit('notify', this.job);
        for (const wake of this.jobWaiters.splice(0)) wake();
      } else if (message.method === 'mining.set_difficulty') {
        this.difficulty = Number(params[0]);
        this.emit('difficulty', this.difficulty);
      } else if (message.method === 'mining.set_extranonce') {
        this.extranonce1 = String(params[0]);
        this.extranonce2Size = Number(params[1]);
      } else if (message.method === 'client.reconnect') {
        this.emit('reconnect-request', params);
        if (this.options.habits?.obeyReconnect) {
          const host = typeof params[0] === 'string' && params[0] !== '' ? params[0] : this.host;
          const port = params[1] !== undefined && Number(params[1]) > 0 ? Number(params[1]) : this.port;
          this.redirect = { host, port };
        }
        this.socket?.destroy();
      }
      return;
    }
    const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    if (pending && typeof message.id === 'number') {
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      pending.resolve({ id: message.id, result: message.result, error: message.error ?? null });
      return;
    }
    this.strayAnswers.push(message);
    this.emit('stray-answer', message);
    // bfgminer takes an answer with id null for the subscribe answer it waits for, and gives up on the connection
    if (message.id === null && this.options.habits?.suggestTargetFirst !== undefined && this.subscribing !== undefined) {
      const subscribe = this.pending.get(this.subscribing);
      if (subscribe) {
        this.pending.delete(this.subscribing);
        clearTimeout(subscribe.timer);
        subscribe.reject(new Error('Failed to get nonce1'));
      }
    }
  }

  private onClose(): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`connection closed before answer ${id}`));
    }
    this.pending.clear();
    this.job = undefined;
    this.extranonce1 = '';
    this.emit('close');
    const redirect = this.redirect;
    this.redirect = undefined;
    if (redirect && !this.stopped) void this.followRedirect(redirect);
    else if (this.options.autoReconnect && !this.stopped && !this.reconnecting) void this.reconnectLoop();
  }

  /** Obeys client.reconnect at once (no back-off), as cgminer-lineage clients do. */
  private async followRedirect(target: { host: string; port: number }): Promise<void> {
    this.host = target.host;
    this.port = target.port;
    const record = { ...target, connected: false };
    this.redirects.push(record);
    try {
      this.buffer = '';
      await this.start();
      record.connected = true;
      this.emit('reconnected', target);
    } catch (error) {
      this.socket?.destroy();
      this.emit('reconnect-failed', target, error);
      if (this.options.autoReconnect && !this.stopped && !this.reconnecting) void this.reconnectLoop();
    }
  }

  private async reconnectLoop(): Promise<void> {
    this.reconnecting = true;
    try {
      await this.reconnectAttempts();
    } finally {
      this.reconnecting = false;
    }
  }

  private async reconnectAttempts(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      if (this.stopped) return;
      try {
        this.buffer = '';
        await this.start();
        this.emit('reconnected');
        return;
      } catch {
        this.socket?.destroy();
      }
    }
  }
}
