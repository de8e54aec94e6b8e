import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import headers from '../fixtures/mainnet/headers.json' with { type: 'json' };
import { createScryptHasher } from '../../src/hash/hasher.js';
import { SELF_CHECK_VECTORS } from '../../src/hash/self-check.js';
import { SelfCheckError, SimdScryptPool } from '../../src/hash/simd-pool.js';
import { NodeScryptHasher } from '../../src/work/scrypt.js';
import { availableParallelism } from 'node:os';
import { defaultMaxHashesInFlight } from '../../src/stratum/share-processor.js';
import vectors from '../fixtures/mainnet/scrypt-vectors.json' with { type: 'json' };

const openssl = (h: Buffer): Buffer => scryptSync(h, h, 32, { N: 1024, r: 1, p: 1 });
const numbered = (n: number, salt = 0): Buffer[] =>
  Array.from({ length: n }, (_, i) => {
    const h = Buffer.alloc(80, (i + salt) & 0xff);
    h.writeUInt32LE(i, 0);
    h.writeUInt32LE(salt, 76);
    return h;
  });

function captureLog() {
  const lines: Array<{ level: string; msg: string; obj?: unknown }> = [];
  const log = (level: string) => (a: unknown, b?: string) =>
    lines.push(typeof a === 'string' ? { level, msg: a } : { level, msg: b ?? '', obj: a });
  return { lines, logger: { info: log('info'), error: log('error') } };
}

describe('SIMD Scrypt worker pool', () => {
  it('the self-check vectors are the fixtures\' litecoin proof-of-work vectors', () => {
    const pow = vectors.filter((v) => v.kind === 'litecoin-scrypt-pow').map((v) => [v.inputHeaderHex, v.scryptOutputRawHex]);
    expect(SELF_CHECK_VECTORS).toEqual(pow);
  });

  it('hashes many concurrent shares in a few batches, each result to its own caller', async () => {
    const pool = await new SimdScryptPool({ threads: 2 }).start();
    try {
      expect(pool.lanes).toBe(4);
      const hs = numbered(300, 7);
      const out = await Promise.all(hs.map((h) => pool.hash(h)));
      for (const i of [0, 1, 2, 3, 4, 5, 127, 128, 299]) expect(out[i].toString('hex'), `share ${i}`).toBe(openssl(hs[i]).toString('hex'));
      expect(new Set(out.map((o) => o.toString('hex'))).size).toBe(300);
      // All 300 arrived in one turn of the event loop: 2 workers x 2 pipelined batches.
      expect(pool.counters.headers).toBe(300);
      expect(pool.counters.batches).toBeLessThanOrEqual(4);
      // The mainnet headers one at a time (a batch of 1 each): same answers.
      for (const h of headers) expect((await pool.hash(Buffer.from(h.headerHex, 'hex'))).toString('hex')).toBe(h.scryptHashRawHex);
      expect(pool.stats()).toEqual({ queued: 0, inWorkers: 0, workers: 2 });
    } finally {
      await pool.close();
    }
  });

  it('rejects a header that is not 80 bytes, and hashing after close', async () => {
    const pool = await new SimdScryptPool({ threads: 1 }).start();
    await expect(pool.hash(Buffer.alloc(81))).rejects.toThrow(/80/);
    await pool.close();
    await expect(pool.hash(Buffer.alloc(80))).rejects.toThrow(/closed/);
  });

  it('close() lets the shares already handed over finish (one may be a block), then refuses new ones', async () => {
    const pool = await new SimdScryptPool({ threads: 1 }).start();
    const hs = numbered(40, 13);
    const pending = hs.map((h) => pool.hash(h));
    const closed = pool.close();
    await expect(pool.hash(hs[0])).rejects.toThrow(/closed/);
    const out = await Promise.all(pending);
    for (const i of [0, 17, 39]) expect(out[i].toString('hex')).toBe(openssl(hs[i]).toString('hex'));
    await closed;
    expect(pool.stats().workers).toBe(0);
  });

  it('close(0) rejects what has not been hashed', async () => {
    const pool = await new SimdScryptPool({ threads: 1 }).start();
    const pending = numbered(40, 17).map((h) => pool.hash(h).then(() => 'hashed', (e: Error) => e.message));
    await pool.close(0);
    expect(await Promise.all(pending)).toContain('scrypt pool closed');
  });

  it('a worker that dies has its shares hashed again by the others and is replaced', async () => {
    const errors: Array<{ err: Error; left: number }> = [];
    const pool = await new SimdScryptPool({ threads: 2, onWorkerError: (err, left) => errors.push({ err, left }) }).start();
    try {
      const hs = numbered(200, 11);
      const pending = Promise.all(hs.map((h) => pool.hash(h)));
      await new Promise((r) => setImmediate(r)); // the batches are now in the workers
      expect(pool.stats().inWorkers).toBe(200);
      await (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0].worker.terminate();
      const out = await pending;
      for (const i of [0, 50, 99, 100, 150, 199]) expect(out[i].toString('hex')).toBe(openssl(hs[i]).toString('hex'));
      expect(errors.length).toBe(1);
      await expect.poll(() => pool.stats().workers, { timeout: 15_000, interval: 20 }).toBe(2); // the replacement starts and self-checks
    } finally {
      await pool.close();
    }
  });

  it('start() fails when the kernel gives a wrong answer on a known vector', async () => {
    const wrong = SELF_CHECK_VECTORS.map(([h, want], i) => [h, i === 2 ? want.replace(/^../, 'ff') : want] as const);
    await expect(new SimdScryptPool({ threads: 1, vectors: wrong }).start()).rejects.toThrow(SelfCheckError);
  });
});

describe('the hash scheduler bound with the simd hasher', () => {
  it('is 64 per core (32 for the others): the same few milliseconds of hashing at about twice the speed', () => {
    expect(defaultMaxHashesInFlight('simd')).toBe(64 * availableParallelism());
    expect(defaultMaxHashesInFlight('node-crypto')).toBe(32 * availableParallelism());
    expect(defaultMaxHashesInFlight()).toBe(32 * availableParallelism());
  });
});

describe('createScryptHasher', () => {
  it('simd: the kernel pool when its self-check passes', async () => {
    const { lines, logger } = captureLog();
    const gauge = { value: -1, set(v: number) { this.value = v; } };
    const hasher = await createScryptHasher('simd', { threads: 1, logger, fallbackGauge: gauge });
    try {
      expect(hasher.name).toBe('simd');
      expect(gauge.value).toBe(0);
      expect(lines.map((l) => l.msg)).toEqual(['scrypt: WebAssembly SIMD kernel, self-check passed']);
    } finally {
      await hasher.close?.();
    }
  });

  it('simd: falls back to OpenSSL, loudly, when the self-check fails', async () => {
    const { lines, logger } = captureLog();
    const wrong = SELF_CHECK_VECTORS.map(([h, want]) => [h, want.split('').reverse().join('')] as const);
    const gauge = { value: -1, set(v: number) { this.value = v; } };
    const hasher = await createScryptHasher('simd', { threads: 2, logger, vectors: wrong, fallbackGauge: gauge });
    expect(hasher).toBeInstanceOf(NodeScryptHasher);
    expect(gauge.value, 'ltcpool_scrypt_kernel_fallback').toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0].level).toBe('error');
    expect(lines[0].msg).toMatch(/FALLING BACK to node \(OpenSSL\)/);
    expect(String((lines[0].obj as { err: Error }).err.message)).toMatch(/self-check failed: 6 known vector/);
  });

  it('node and scrypt-js are what they were', async () => {
    expect((await createScryptHasher('node')).name).toBe('node-crypto');
    expect((await createScryptHasher('scrypt-js')).name).toBe('scrypt-js');
  });
});
