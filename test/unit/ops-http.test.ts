import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createMetrics } from '../../src/ops/metrics.js';
import { type ApiDeps, type HttpServer, type ReadinessCheck, startHttpServer } from '../../src/ops/http.js';
import type { SqlQueryable } from '../../src/ops/api/types.js';
import { HASHES_PER_SHARE_DIFF1 } from '../../src/work/difficulty.js';

const addresses = JSON.parse(readFileSync(new URL('../fixtures/regtest/addresses.json', import.meta.url), 'utf8'));
const KNOWN_MINER: string = addresses.wallet_generated_regtest_addresses.bech32;
const UNKNOWN_MINER: string = addresses.wallet_generated_regtest_addresses.legacy;

// pg.Pool must satisfy the API's database dependency (compile-time check).
const _poolFits: (pool: pg.Pool) => SqlQueryable = (pool) => pool;
void _poolFits;

const NOW = new Date('2025-01-01T00:00:00Z');

/** Answers the API's SELECTs by recognising the table they read; records every query. */
function fakeDb() {
  const queries: { text: string; values: unknown[] }[] = [];
  const db: SqlQueryable = {
    async query(text: string, values: unknown[] = []) {
      queries.push({ text, values });
      if (/FROM blocks GROUP BY chain, status/.test(text)) return { rows: [{ chain: 'litecoin', status: 'confirmed', n: 3 }, { chain: 'dogecoin', status: 'accepted', n: 7 }] };
      if (/FROM chain_balances/.test(text)) {
        return { rows: [{ chain: 'dogecoin', balanceLitoshis: '900', immatureLitoshis: '0', pendingLitoshis: '0', paidLitoshis: '100', payTo: null }] };
      }
      if (/FROM blocks\s+WHERE chain = 'litecoin'\s+GROUP BY status/.test(text)) return { rows: [{ status: 'confirmed', n: 3 }, { status: 'orphaned', n: 1 }] };
      if (/FROM blocks/.test(text)) {
        return { rows: [{ height: 432, hash: 'ab'.repeat(32), status: 'confirmed', finder: KNOWN_MINER, worker: 'rig1', rewardLitoshis: '5000000000', shareDifficulty: 2, networkDifficulty: 0.001, confirmations: 101, submitResult: null, foundAt: NOW, updatedAt: NOW }] };
      }
      if (/FROM miners/.test(text)) return { rows: values[0] === KNOWN_MINER ? [{ address: KNOWN_MINER, firstSeen: NOW, lastSeen: NOW }] : [] };
      if (/EXISTS \(SELECT 1 FROM shares/.test(text)) return { rows: [{ found: false }] };
      if (/FROM workers/.test(text)) {
        return { rows: [{ name: 'rig1', lastSeen: NOW, shares: 10, difficultySum: 600, lastShareAt: NOW }, { name: 'rig2', lastSeen: NOW, shares: 0, difficultySum: 0, lastShareAt: null }] };
      }
      if (/FROM instance_leases l WHERE/.test(text)) return { rows: [{ instances: 2, connections: 4, workers: 3, miners: 2, d: 600, observed: 900 }] };
      if (/FROM connected_workers/.test(text)) return { rows: values[0] === KNOWN_MINER ? [{ worker: 'rig2', ip: '192.0.2.7' }] : [] };
      if (/FROM balances/.test(text)) return { rows: [{ balanceLitoshis: '123', immatureLitoshis: '5', pendingLitoshis: '0', paidLitoshis: '456' }] };
      if (/FROM payments/.test(text)) {
        return { rows: [
          { id: '7', address: KNOWN_MINER, amountLitoshis: '456', status: 'sent', txid: 'cd'.repeat(32), createdAt: NOW, updatedAt: NOW, chain: 'litecoin', payee: null },
          { id: '8', address: KNOWN_MINER, amountLitoshis: '100', status: 'sent', txid: 'ef'.repeat(32), createdAt: NOW, updatedAt: NOW, chain: 'dogecoin', payee: 'nDogeAddress' },
        ] };
      }
      throw new Error(`fake db: unexpected query ${text}`);
    },
  };
  return { db, queries };
}

function check(name: string, ok: boolean, detail?: string): ReadinessCheck {
  return { name, check: async () => (detail === undefined ? { ok } : { ok, detail }) };
}

async function get(server: HttpServer, path: string) {
  const response = await fetch(server.url + path);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) };
}

describe('ops http server', () => {
  const metrics = createMetrics();
  const database = fakeDb();
  const readiness: ReadinessCheck[] = [check('litecoind', true, 'regtest height 432'), check('template', true), check('database', true)];
  const api: ApiDeps = {
    db: database.db,
    network: 'regtest',
    hashrateWindowSeconds: 600,
    chainUnits: { dogecoin: 'DOGE' },
    stats: {
      poolSummary: () => ({ network: { height: 433, difficulty: 0.5 }, feePercent: 1, scheme: 'PPLNS' }),
    },
  };
  let server: HttpServer;

  beforeAll(async () => {
    server = await startHttpServer({ port: 0, readiness, api, registry: metrics.registry });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('binds to 127.0.0.1 by default', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves ltcpool_ series in the Prometheus text format on /metrics', async () => {
    metrics.sharesTotal.inc({ result: 'accepted' }, 5);
    const res = await get(server, '/metrics');
    expect(res.status).toBe(200);
    expect(res.contentType).toContain('text/plain');
    expect(res.text).toContain('ltcpool_shares_total{result="accepted"} 5');
    expect(res.text).toContain('# TYPE ltcpool_rpc_duration_seconds histogram');
    expect(res.text).toMatch(/^ltcpool_process_cpu_seconds_total /m);
  });

  it('answers /healthz with 200 {status: ok}', async () => {
    const res = await get(server, '/healthz');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 and every check while all pass', async () => {
    const res = await get(server, '/readyz');
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.status).toBe('ready');
    expect(body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([['litecoind', true], ['template', true], ['database', true]]);
    expect(body.checks[0].detail).toBe('regtest height 432');
  });

  it('answers /readyz with 503 and names the failing check', async () => {
    readiness[1] = check('template', false, 'template is 301.0 s old (limit 120 s)');
    readiness[2] = { name: 'database', check: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:5432'); } };
    try {
      const res = await get(server, '/readyz');
      expect(res.status).toBe(503);
      const body = res.json();
      expect(body.status).toBe('not-ready');
      const failing = body.checks.filter((c: { ok: boolean }) => !c.ok);
      expect(failing.map((c: { name: string; detail: string }) => [c.name, c.detail])).toEqual([
        ['template', 'template is 301.0 s old (limit 120 s)'],
        ['database', 'connect ECONNREFUSED 127.0.0.1:5432'],
      ]);
      expect(body.checks.find((c: { name: string }) => c.name === 'litecoind').ok).toBe(true);
    } finally {
      readiness[1] = check('template', true);
      readiness[2] = check('database', true);
    }
  });

  it.each([
    ['a mainnet address on regtest', addresses.samples.mainnet.p2wpkh as string, /not a regtest address|wrong bech32 prefix/],
    ['an MWEB address', addresses.wallet_generated_regtest_addresses.mweb as string, /MWEB/],
    ['a bech32 address with a broken checksum', KNOWN_MINER.slice(0, -1) + (KNOWN_MINER.endsWith('q') ? 'p' : 'q'), /invalid Litecoin address/],
    ['characters outside base58/bech32', 'rltc1q$$$', /address/],
  ])('answers /api/miners/:address with 400 JSON for %s', async (_what, address, message) => {
    const before = database.queries.length;
    const res = await get(server, `/api/miners/${encodeURIComponent(address)}`);
    expect(res.status).toBe(400);
    expect(res.contentType).toContain('application/json');
    const body = res.json();
    expect(body.statusCode).toBe(400);
    expect(body.error).toMatch(message);
    expect(database.queries.length).toBe(before); // rejected before touching the database
  });

  it('answers 404 JSON for a valid address that never mined here', async () => {
    const res = await get(server, `/api/miners/${UNKNOWN_MINER}`);
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ error: `unknown miner ${UNKNOWN_MINER}`, statusCode: 404 });
  });

  it('reports per-worker hashrate, shares, balance and payments of a known miner', async () => {
    const res = await get(server, `/api/miners/${KNOWN_MINER}`);
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.address).toBe(KNOWN_MINER);
    expect(body.workers.map((w: { name: string }) => w.name)).toEqual(['rig1', 'rig2']);
    // online: connected to any live instance (connected_workers), not only to the serving one
    expect(body.workers.map((w: { online: boolean }) => w.online)).toEqual([false, true]);
    expect(body.workers[0].hashrate).toBeCloseTo((600 * HASHES_PER_SHARE_DIFF1) / 600, 6);
    expect(body.workers[1].hashrate).toBe(0);
    expect(body.hashrate).toBeCloseTo(HASHES_PER_SHARE_DIFF1 * 1, 6);
    expect(body.shares).toBe(10);
    expect(body.balanceLitoshis).toBe('123');
    expect(body.paidLitoshis).toBe('456');
    expect(body.immatureLitoshis).toBe('5');
    expect(body.payments.map((p: { amountLitoshis: string; unit: string }) => [p.amountLitoshis, p.unit])).toEqual([['456', 'LTC'], ['100', 'DOGE']]);
    // merged mining: the balance on each aux chain, waiting for an address here
    expect(body.auxChains).toEqual([{ chain: 'dogecoin', unit: 'DOGE', balanceLitoshis: '900', immatureLitoshis: '0', pendingLitoshis: '0', paidLitoshis: '100', payTo: null }]);
    const workerQuery = database.queries.find((q) => /FROM workers/.test(q.text));
    expect(workerQuery?.values).toEqual([KNOWN_MINER, 600]);
  });

  it('summarises the pool from live stats and the blocks table', async () => {
    const res = await get(server, '/api/pool');
    expect(res.status).toBe(200);
    const body = res.json();
    // pool-wide, from the database (every instance): 600 difficulty over the 600 s window
    expect(body).toMatchObject({ miners: 2, workers: 3, connections: 4, instances: 2, feePercent: 1, scheme: 'PPLNS' });
    expect(body.hashrate).toBeCloseTo(HASHES_PER_SHARE_DIFF1, 6);
    expect(body.network).toMatchObject({ height: 433, difficulty: 0.5 });
    expect(body.network.hashrate).toBeCloseTo((0.5 * 2 ** 48) / 0xffff / 150, 3);
    expect(body.blocks.counts).toMatchObject({ confirmed: 3, orphaned: 1, candidate: 0 });
    expect(body.blocks.countsByChain.litecoin).toMatchObject({ confirmed: 3, accepted: 0 });
    expect(body.blocks.countsByChain.dogecoin).toMatchObject({ accepted: 7, confirmed: 0 });
    expect(body.blocks.last[0].rewardLitoshis).toBe('5000000000');
  });

  it('passes limit and status of /api/blocks to SQL and rejects bad values with 400', async () => {
    const ok = await get(server, '/api/blocks?limit=5&status=confirmed');
    expect(ok.status).toBe(200);
    expect(ok.json().blocks).toHaveLength(1);
    const last = database.queries.filter((q) => /FROM blocks/.test(q.text)).at(-1);
    expect(last?.values).toEqual([5, 'confirmed', null]);
    expect((await get(server, '/api/blocks?chain=dogecoin')).status).toBe(200);
    expect(database.queries.filter((q) => /FROM blocks/.test(q.text)).at(-1)?.values).toEqual([50, null, 'dogecoin']);

    for (const query of ['limit=0', 'limit=501', 'limit=abc', 'status=lost', 'chain=Doge%20coin']) {
      const bad = await get(server, `/api/blocks?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.json().statusCode, query).toBe(400);
    }
  });

  it('defaults /api/payments to 50 rows', async () => {
    const res = await get(server, '/api/payments');
    expect(res.status).toBe(200);
    expect(res.json().payments[0].amountLitoshis).toBe('456');
    const last = database.queries.filter((q) => /FROM payments/.test(q.text)).at(-1);
    expect(last?.values).toEqual([50, null, null]);
    expect(res.json().payments.map((p: { chain: string; unit: string }) => [p.chain, p.unit])).toEqual([['litecoin', 'LTC'], ['dogecoin', 'DOGE']]);
    await get(server, '/api/payments?chain=dogecoin');
    expect(database.queries.filter((q) => /FROM payments/.test(q.text)).at(-1)?.values).toEqual([50, null, 'dogecoin']);
  });

  it('answers unknown routes with 404 JSON', async () => {
    const res = await get(server, '/api/nope');
    expect(res.status).toBe(404);
    expect(res.json().statusCode).toBe(404);
  });
});

describe('ops http server when the database fails', () => {
  it('answers 500 JSON without leaking the error text', async () => {
    const failing: SqlQueryable = { query: async () => { throw new Error('relation "blocks" does not exist; password=hunter2'); } };
    const server = await startHttpServer({
      port: 0,
      readiness: [],
      registry: createMetrics({ defaultMetrics: false }).registry,
      api: { db: failing, network: 'regtest', stats: { poolSummary: () => ({ network: null, feePercent: 0, scheme: 'PPLNS' }) } },
    });
    try {
      const res = await get(server, '/api/blocks');
      expect(res.status).toBe(500);
      expect(res.json()).toEqual({ error: 'internal server error', statusCode: 500 });
      expect(res.text).not.toContain('hunter2');
      const api = await get(server, '/api/pool');
      expect(api.status).toBe(500);
      // health does not depend on the database
      expect((await get(server, '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('answers /readyz with 404 "draining" while the process drains (HAProxy disable-on-404: no new miners), 200 before', async () => {
    let draining = false;
    const server = await startHttpServer({ port: 0, readiness: [], draining: () => draining, registry: createMetrics({ defaultMetrics: false }).registry });
    try {
      expect((await get(server, '/readyz')).status).toBe(200);
      draining = true;
      const res = await get(server, '/readyz');
      expect([res.status, res.json()]).toEqual([404, { status: 'draining', checks: [] }]);
      expect((await get(server, '/healthz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('does not mount /api without api deps', async () => {
    const server = await startHttpServer({ port: 0, readiness: [], registry: createMetrics({ defaultMetrics: false }).registry });
    try {
      expect((await get(server, '/api/pool')).status).toBe(404);
      expect((await get(server, '/readyz')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
