/**
 * Random and mutated Stratum traffic thrown at a live server: it stays up, an honest miner on another
 * connection keeps getting answers, every hostile connection ends in answers or a clean close, and memory
 * stays bounded.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { FIXTURE_ADDRESS, startFixturePool, type FixturePool } from '../load/fixture-pool.js';
import { waitFor } from '../support/pool.js';
import { RawClient } from '../support/raw-client.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/regtest/stratum-golden.json', import.meta.url), 'utf8')) as {
  transcript_first_lines: Array<{ line: string }>;
};
const GOLDEN = golden.transcript_first_lines.map((l) => l.line);

const mutated = fc
  .tuple(fc.constantFrom(...GOLDEN), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 5 }))
  .map(([line, edits]) => {
    let out = line;
    for (const [position, kind, text] of edits) {
      const at = position % Math.max(1, out.length);
      out = kind === 0 ? out.slice(0, at) + out.slice(at + 1) : kind === 1 ? out.slice(0, at) + text + out.slice(at) : kind === 2 ? out.slice(0, at) : out.slice(0, at) + text + out.slice(at + text.length);
    }
    return out + '\n';
  });

/** One hostile connection's traffic: a few chunks, each random bytes, random JSON, or mutated real lines. */
const traffic = fc.array(
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc.json({ maxDepth: 4 }).map((j) => Buffer.from(j + '\n')),
    fc.array(mutated, { minLength: 1, maxLength: 10 }).map((lines) => Buffer.from(lines.join(''))),
    fc.constantFrom(...GOLDEN).map((l) => Buffer.from(l + '\n')),
    fc.constant(Buffer.from('\n'.repeat(500))),
    fc.constant(Buffer.alloc(20_000, 0x7b)), // an oversize line
  ),
  { minLength: 1, maxLength: 6 },
);

let pool: FixturePool;
let honest: TestMiner;

beforeAll(async () => {
  pool = await startFixturePool({ stratum: { bans: { enabled: false }, limits: { maxLineBytes: 16 * 1024 } } });
  honest = new TestMiner({ host: '127.0.0.1', port: pool.port, username: `${FIXTURE_ADDRESS}.honest`, requestTimeoutMs: 5000 });
  expect((await honest.start()).result).toBe(true);
  await honest.waitForJob();
});

afterAll(async () => {
  await honest?.close();
  await pool?.stop();
});

describe('fuzzing a live Stratum server', () => {
  it('survives random and mutated traffic; the honest miner keeps mining; memory stays bounded', async () => {
    let run = 0;
    let answered = 0;
    let closedByServer = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(traffic, async (chunks) => {
        const source = `127.0.2.${(run++ % 200) + 1}`;
        const client = await RawClient.connect(pool.port, source);
        for (const chunk of chunks) {
          client.write(chunk);
          await new Promise((r) => setImmediate(r));
        }
        // every message gets an answer or the connection is closed: probe with a request of our own
        const probeId = 'probe-' + run;
        client.write('\n' + JSON.stringify({ id: probeId, method: 'client.get_version', params: [] }) + '\n');
        const outcome = await Promise.race([
          client.waitFor((l) => l.id === probeId, 3000).then(() => 'answered' as const),
          client.closedPromise.then(() => 'closed' as const),
        ]).catch(() => (client.closed ? ('closed' as const) : ('stalled' as const)));
        expect(outcome).not.toBe('stalled');
        if (outcome === 'answered') answered++;
        else closedByServer++;
        client.destroy();
        if (run % 25 === 0) {
          // the honest miner still gets answers and accepted shares
          expect((await honest.submit(await honest.findShare())).result).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    expect(answered).toBeGreaterThan(0);
    expect(closedByServer).toBeGreaterThan(0);
    await waitFor('fuzz sessions gone', () => pool.server.connectionCount === 1, 5000);
    expect((await honest.request('client.get_version', [])).result).toMatch(/ltcpool/);
    expect((await honest.submit(await honest.findShare())).result).toBe(true);
    (globalThis as { gc?: () => void }).gc?.();
    const heapDelta = process.memoryUsage().heapUsed - heapBefore;
    console.log(`fuzz: ${run} connections, ${answered} answered the probe, ${closedByServer} closed by the server, heap delta ${(heapDelta / 1e6).toFixed(1)} MB`);
    expect(heapDelta).toBeLessThan(64 * 1024 * 1024);
  });

  it('keeps memory bounded under many garbage connections held open at once', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const held: RawClient[] = [];
    for (let i = 0; i < 400; i++) {
      const c = await RawClient.connect(pool.port, `127.0.3.${(i % 250) + 1}`);
      c.write(Buffer.alloc(15_000, 0x41)); // a partial line just under the limit, never finished
      held.push(c);
    }
    await waitFor('all held', () => pool.server.connectionCount === 401, 5000);
    const heapHeld = process.memoryUsage().heapUsed - heapBefore;
    // 400 × 15 KB pending is ~6 MB of buffers (outside the heap); the heap must not hold copies per byte
    expect(heapHeld).toBeLessThan(48 * 1024 * 1024);
    expect((await honest.request('client.get_version', [])).result).toMatch(/ltcpool/);
    for (const c of held) c.destroy();
    await waitFor('garbage sessions gone', () => pool.server.connectionCount === 1, 5000);
  });
});
