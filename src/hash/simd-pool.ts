import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { kernelModule } from './kernel.js';
import { SELF_CHECK_VECTORS } from './self-check.js';
import type { ScryptHasher } from '../work/scrypt.js';

/**
 * The SIMD Scrypt kernel on worker threads (one per core by default). hash() queues the header; everything
 * queued in one turn of the event loop is cut into batches, each batch one message carrying one ArrayBuffer
 * (80 bytes per header) to a worker, which writes the 32-byte results into the same buffer and transfers it
 * back. Each worker holds up to PIPELINE batches so it never waits for a round trip. The main thread's part
 * is a queue push, one copy of the header and one promise per share.
 *
 * Every worker checks the kernel on SELF_CHECK_VECTORS before it takes work; start() rejects if any differs
 * (createScryptHasher then falls back to OpenSSL, loudly). A worker that dies has its batches requeued and is
 * replaced (up to RESPAWNS times in all); with none left, queued hashes go to the fallback hasher.
 */

/** Batches a worker holds at once: one running, one waiting. */
const PIPELINE = 2;
/** Headers per message at most (the kernel's per-call limit). */
const MAX_BATCH = 256;
const RESPAWNS = 4;

// Runs as a CommonJS script in the worker (eval), so the pool needs no file of its own at run time.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const instance = new WebAssembly.Instance(workerData.module, {});
const e = instance.exports;
const inPtr = e.in_ptr(), outPtr = e.out_ptr(), max = e.max_batch();
function hashInPlace(buf, count) {
  // results overwrite the buffer's front: 32 * i never passes 80 * i, and each call's input is copied first
  const mem = new Uint8Array(e.memory.buffer);
  for (let done = 0; done < count; ) {
    const n = Math.min(max, count - done);
    mem.set(buf.subarray(80 * done, 80 * (done + n)), inPtr);
    e.scrypt_batch(n);
    buf.set(mem.subarray(outPtr, outPtr + 32 * n), 32 * done);
    done += n;
  }
}
const vectors = workerData.vectors;
const check = new Uint8Array(80 * vectors.length);
vectors.forEach(([h], i) => check.set(Buffer.from(h, 'hex'), 80 * i));
hashInPlace(check, vectors.length);
const mismatches = [];
vectors.forEach(([h, want], i) => {
  const got = Buffer.from(check.subarray(32 * i, 32 * i + 32)).toString('hex');
  if (got !== want) mismatches.push({ header: h, want, got });
});
parentPort.postMessage({ type: 'ready', lanes: e.lanes(), mismatches });
parentPort.on('message', (m) => {
  const buf = new Uint8Array(m.buffer);
  hashInPlace(buf, m.count);
  parentPort.postMessage({ type: 'done', id: m.id, buffer: m.buffer }, [m.buffer]);
});
`;

export interface SimdPoolOptions {
  threads?: number;
  /** Defaults to the committed kernel. */
  module?: WebAssembly.Module;
  /** Defaults to SELF_CHECK_VECTORS; a test passes wrong answers to see the check fail. */
  vectors?: ReadonlyArray<readonly [string, string]>;
  /** Hashes headers when no worker is left. */
  fallback?: { hash(header: Buffer): Promise<Buffer> };
  /** Told when a worker fails (it is replaced) or none is left. */
  onWorkerError?: (err: Error, workersLeft: number) => void;
}

interface Pending {
  header: Buffer;
  resolve: (hash: Buffer) => void;
  reject: (err: Error) => void;
}

interface Batch {
  id: number;
  items: Pending[];
}

interface Slot {
  worker: Worker;
  batches: Map<number, Batch>;
  ready: boolean;
}

export class SelfCheckError extends Error {
  constructor(readonly mismatches: Array<{ header: string; want: string; got: string }>) {
    super(
      `scrypt kernel self-check failed: ${mismatches.length} known vector(s) differ, first ${mismatches[0]?.header.slice(0, 16)}...: ` +
        `want ${mismatches[0]?.want}, got ${mismatches[0]?.got}`,
    );
    this.name = 'SelfCheckError';
  }
}

export class SimdScryptPool implements ScryptHasher {
  readonly name = 'simd';
  readonly threads: number;
  lanes = 0;
  private readonly slots: Slot[] = [];
  private queue: Pending[] = [];
  private head = 0;
  private scheduled = false;
  private nextId = 1;
  private respawnsLeft = RESPAWNS;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly module: WebAssembly.Module;
  private readonly vectors: ReadonlyArray<readonly [string, string]>;
  /** Batches and headers sent, and the spare lanes the kernel hashed to fill its last group, for tests and the bench. */
  readonly counters = { batches: 0, headers: 0, padded: 0 };

  constructor(private readonly options: SimdPoolOptions = {}) {
    this.threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new Error(`threads must be an integer >= 1, got ${this.threads}`);
    this.module = options.module ?? kernelModule();
    this.vectors = options.vectors ?? SELF_CHECK_VECTORS;
  }

  /** Starts the workers; resolves when every one has passed the self-check. */
  async start(): Promise<this> {
    try {
      await Promise.all(Array.from({ length: this.threads }, () => this.spawn()));
    } catch (err) {
      await this.close();
      throw err;
    }
    return this;
  }

  hash(header: Buffer): Promise<Buffer> {
    if (this.closing) return Promise.reject(new Error('scrypt pool is closed'));
    if (header.length !== 80) return Promise.reject(new Error(`scrypt kernel: header is ${header.length} bytes, not 80`));
    return new Promise((resolve, reject) => {
      this.queue.push({ header, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /** Headers waiting for a worker, and headers handed to workers. */
  stats(): { queued: number; inWorkers: number; workers: number } {
    let inWorkers = 0;
    for (const s of this.slots) for (const b of s.batches.values()) inWorkers += b.items.length;
    return { queued: this.queue.length - this.head, inWorkers, workers: this.slots.length };
  }

  /**
   * Takes no new headers; lets those already queued or in a worker finish (a share in flight at shutdown may be
   * a block) for at most drainMs, then rejects what is left and stops the workers.
   */
  close(drainMs = 2000): Promise<void> {
    this.closing ??= this.drainAndStop(drainMs);
    return this.closing;
  }

  private async drainAndStop(drainMs: number): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.slots.some((s) => s.ready) && Date.now() < deadline) {
      const { queued, inWorkers } = this.stats();
      if (queued + inWorkers === 0) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    this.closed = true;
    const err = new Error('scrypt pool closed');
    for (const s of this.slots) for (const b of s.batches.values()) for (const p of b.items) p.reject(err);
    for (let i = this.head; i < this.queue.length; i++) this.queue[i].reject(err);
    this.queue = [];
    this.head = 0;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: this.module, vectors: this.vectors } });
      const slot: Slot = { worker, batches: new Map(), ready: false };
      this.slots.push(slot);
      worker.on('message', (m: { type: 'ready'; lanes: number; mismatches: Array<{ header: string; want: string; got: string }> } | { type: 'done'; id: number; buffer: ArrayBuffer }) => {
        if (m.type === 'ready') {
          if (m.mismatches.length > 0) {
            reject(new SelfCheckError(m.mismatches));
            return;
          }
          this.lanes = m.lanes;
          slot.ready = true;
          this.idleRef(slot);
          resolve();
          this.pump();
          return;
        }
        const batch = slot.batches.get(m.id);
        if (!batch) return;
        slot.batches.delete(m.id);
        const out = Buffer.from(m.buffer);
        batch.items.forEach((p, i) => p.resolve(out.subarray(32 * i, 32 * i + 32)));
        this.idleRef(slot);
        this.pump();
      });
      const fail = (err: Error): void => {
        const at = this.slots.indexOf(slot);
        if (at < 0) return; // closed, or already handled
        this.slots.splice(at, 1);
        if (!slot.ready) {
          reject(err);
          return;
        }
        // Its batches go back to the front of the queue, in order.
        const back = [...slot.batches.values()].flatMap((b) => b.items);
        this.queue = [...back, ...this.queue.slice(this.head)];
        this.head = 0;
        this.options.onWorkerError?.(err, this.slots.length);
        if (!this.closed && this.respawnsLeft > 0) {
          this.respawnsLeft--;
          this.spawn().catch((e: Error) => {
            this.options.onWorkerError?.(e, this.slots.length);
            this.pump();
          });
        }
        this.pump();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`scrypt worker exited with code ${code}`)));
    });
  }

  /** A worker keeps the process alive only while it holds work. */
  private idleRef(slot: Slot): void {
    if (slot.batches.size > 0) slot.worker.ref();
    else slot.worker.unref();
  }

  private pump(): void {
    if (this.closed) return;
    let queued = this.queue.length - this.head;
    if (queued === 0) return;
    const ready = this.slots.filter((s) => s.ready);
    if (ready.length === 0) {
      if (this.slots.length > 0) return; // a worker is starting
      const fallback = this.options.fallback;
      const rest = this.queue.slice(this.head);
      this.queue = [];
      this.head = 0;
      for (const p of rest) {
        if (fallback) fallback.hash(p.header).then(p.resolve, p.reject);
        else p.reject(new Error('no scrypt worker left'));
      }
      return;
    }
    let free = 0;
    for (const s of ready) free += PIPELINE - s.batches.size;
    // Least-loaded worker first, batches spread evenly over the free places, in whole lane groups.
    ready.sort((a, b) => a.batches.size - b.batches.size);
    const lanes = Math.max(1, this.lanes);
    for (const slot of ready) {
      while (queued > 0 && slot.batches.size < PIPELINE) {
        let n = Math.ceil(queued / Math.max(1, free));
        n = Math.min(MAX_BATCH, Math.ceil(n / lanes) * lanes, queued);
        free--;
        const items = this.queue.slice(this.head, this.head + n);
        this.head += n;
        queued -= n;
        const buffer = new ArrayBuffer(80 * n);
        const view = new Uint8Array(buffer);
        items.forEach((p, i) => view.set(p.header, 80 * i));
        const id = this.nextId++;
        slot.batches.set(id, { id, items });
        slot.worker.ref();
        slot.worker.postMessage({ id, buffer, count: n }, [buffer]);
        this.counters.batches++;
        this.counters.headers += n;
        this.counters.padded += (lanes - (n % lanes)) % lanes;
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
