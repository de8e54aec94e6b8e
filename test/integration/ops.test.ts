import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { startPoolTestbed, waitFor, type PoolTestbed, type TestPool } from '../support/pool.js';

const minerAddress = 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw';
let testbed: PoolTestbed;
let node: RegtestNode;
let pool: TestPool;

beforeAll(async () => {
  testbed = await startPoolTestbed();
  ({ node, pool } = testbed);
}, 180_000);

afterAll(async () => {
  await testbed?.stop();
});

async function get(path: string): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(pool.httpUrl + path);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
}

function sample(metricsText: string, series: string): number {
  const line = metricsText.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : Number.NaN;
}

describe('operations endpoints over HTTP during a regtest run', () => {
  it('/healthz and /readyz report litecoind, template and database', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.map((c: { name: string }) => c.name).sort()).toEqual(['database', 'litecoind', 'template']);
    expect(ready.body.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  });

  it('an accepted share moves the counters; a found block appears in the API', async () => {
    const before = (await get('/metrics')).text;
    const acceptedBefore = sample(before, 'ltcpool_shares_total{result="accepted"}') + sample(before, 'ltcpool_shares_total{result="block"}');
    expect(sample(before, 'ltcpool_network_height')).toBeGreaterThan(100);

    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${minerAddress}.api`, hashrate: 4 });
    await miner.start();
    miner.startMining();
    await waitFor('an accepted block', () => pool.blocks.outcomes.some((o) => o.accepted), 60_000);
    await miner.close();
    const block = pool.blocks.outcomes.find((o) => o.accepted)!;

    const after = (await get('/metrics')).text;
    const acceptedAfter = sample(after, 'ltcpool_shares_total{result="accepted"}') + sample(after, 'ltcpool_shares_total{result="block"}');
    expect(acceptedAfter).toBeGreaterThanOrEqual(acceptedBefore + miner.accepted);
    expect(sample(after, 'ltcpool_blocks_total{chain="litecoin",status="accepted"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'ltcpool_accepted_difficulty_total')).toBeGreaterThan(0);

    await waitFor('the block in /api/blocks', async () => {
      const blocks = await get('/api/blocks?limit=50');
      return blocks.body.blocks.some((b: { hash: string; status: string }) => b.hash === block.hash && b.status === 'accepted');
    }, 10_000);
    // Its confirmations come from the chain (the stored count stays 0 until a payout run): two more blocks on top.
    await node.mine(2, await node.newAddress());
    const nodeCount = (await node.rpc<{ confirmations: number }>('getblockheader', [block.hash])).confirmations;
    expect(nodeCount).toBeGreaterThanOrEqual(3);
    await waitFor("the node's confirmations in /api/blocks", async () => {
      const listed = (await get('/api/blocks?limit=50')).body.blocks.find((b: { hash: string }) => b.hash === block.hash);
      return listed.confirmations === nodeCount;
    }, 10_000);
    const summary = await get('/api/pool');
    expect(summary.status).toBe(200);
    expect(summary.body.scheme).toBe('PPLNS');
    expect(summary.body.blocks.last.some((b: { hash: string }) => b.hash === block.hash)).toBe(true);
    expect(summary.body.network.height).toBeGreaterThan(block.height - 1);

    const minerPage = await get(`/api/miners/${minerAddress}`);
    expect(minerPage.status).toBe(200);
    // a share committed just as the miner hung up counts, though its answer never arrived
    expect(minerPage.body.shares).toBeGreaterThanOrEqual(miner.accepted);
    expect(minerPage.body.shares).toBeLessThanOrEqual(miner.accepted + 2);
    const apiWorker = minerPage.body.workers.find((w: { name: string }) => w.name === 'api');
    expect(apiWorker, JSON.stringify(minerPage.body.workers)).toBeDefined();
    expect(apiWorker.shares).toBeGreaterThanOrEqual(miner.accepted);
    expect(apiWorker).not.toHaveProperty('worker');
  });

  it('bad input gets JSON errors with status codes', async () => {
    const bad = await get('/api/miners/ltc1qvjppdf5w4vt5h3ju85le236up4vqfd3yc6mt86');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/not a regtest address/);
    const garbage = await get('/api/miners/not-an-address!');
    expect(garbage.status).toBe(400);
    expect(garbage.body.statusCode).toBe(400);
    const unknown = await get('/api/miners/rltc1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqc6h8ge');
    expect(unknown.status).toBe(404);
    expect((await get('/api/blocks?limit=100000')).status).toBe(400);
    expect((await get('/api/blocks?status=bogus')).status).toBe(400);
  });
});
