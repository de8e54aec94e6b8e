import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { leToBigInt } from '../work/bytes.js';
import { difficultyToTarget } from '../work/difficulty.js';
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

  constructor(readonly options: MinerOptions) {
    super();
    this.hasher = options.hasher ?? new NodeScryptHasher();
  }

  get accepted(): number {
    return this.submitted.filter((s) => s.accepted).length;
  }

  get rejected(): number {
    return this.submitted.filter((s) => !s.accepted).length;
  }

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: this.options.host, port: this.options.port });
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

  /** connect + subscribe + authorize; returns the authorize answer. */
  async start(): Promise<RpcAnswer> {
    await this.connect();
    await this.subscribe();
    return this.authorize();
  }

  async subscribe(): Promise<RpcAnswer> {
    const answer = await this.request('mining.subscribe', [this.options.userAgent ?? 'ltcpool-testminer/1']);
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

  /** Searches nonces until a hash meets `difficulty` (default: the current one). */
  async findShare(difficulty = this.difficulty, job?: NotifiedWork): Promise<{ jobId: string; extranonce2: string; ntime: string; nonce: string }> {
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
      const target = difficultyToTarget(this.difficulty);
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
        this.socket?.destroy();
      }
      return;
    }
    if (typeof message.id === 'number') {
      const pending = this.pending.get(message.id);
      if (pending) {
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve({ id: message.id, result: message.result, error: message.error ?? null });
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
    if (this.options.autoReconnect && !this.stopped && !this.reconnecting) void this.reconnectLoop();
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
