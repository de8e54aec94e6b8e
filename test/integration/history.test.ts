import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStoreTestbed, type StoreTestbed } from '../support/store.js';
import { startHttpServer, type HttpServer } from '../../src/ops/http.js';
import { HASHES_PER_SHARE_DIFF1 } from '../../src/work/difficulty.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { computeBlockEfforts, HistoryWriter, recomputeBuckets, rollUp } from '../../src/store/history.js';
import { ShareWriter, type AcceptedShare } from '../../src/store/share-writer.js';

const MINER = 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw';
const OTHER = 'rltc1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqc6h8ge';

let seq = 0;
function share(time: number, over: Partial<AcceptedShare> = {}): AcceptedShare {
  const i = seq++;
  return {
    time: new Date(time), address: i % 3 === 0 ? OTHER : MINER, worker: `rig${i % 4}`, difficulty: 0.25 * (1 + (i % 5)),
    networkDifficulty: 0.001, height: 500, jobId: `j${i}`, hash: i.toString(16).padStart(64, '0'),
    isBlock: false, ip: '127.0.0.1', instanceId: 1, shareId: `1:h:${i}`, ...over,
  };
}

async function json(url: string): Promise<any> {
  return (await fetch(url)).json();
}

interface Agg { shares: number; difficulty: number }
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

describe('hashrate history against PostgreSQL', () => {
  let store: StoreTestbed;
  let pool: pg.Pool;
  let spoolDir: string;

  beforeAll(async () => {
    store = await startStoreTestbed();
    pool = store.pool;
  });
  afterAll(async () => {
    await store?.stop();
  });
  beforeEach(async () => {
    const fresh = await store.fresh('shares, miners, workers, worker_history, pool_history, block_effort, blocks');
    spoolDir = fresh.spoolDir;
    return fresh.remove;
  });

  async function sharesBy(groupSql: string, where = 'true'): Promise<Map<string, Agg>> {
    const { rows } = await pool.query(`SELECT ${groupSql} AS k, count(*)::int AS n, sum(difficulty)::float8 AS d FROM shares WHERE ${where} GROUP BY 1`);
    return new Map(rows.map((r) => [String(r.k), { shares: r.n, difficulty: r.d }]));
  }

  it('buckets written while shares stream in equal the shares table, per worker and for the pool', async () => {
    const now = Date.now();
    const writer = new ShareWriter({ pool, spoolDir });
    await writer.start();
    const history = new HistoryWriter({ pool, recomputeMinutes: 40 });
    // 6,000 shares over the last 35 minutes, written in rounds while the history writer runs between them.
    let ticks = 0;
    for (let round = 0; round < 6; round++) {
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 1000; i++) writes.push(writer.write(share(now - 35 * 60_000 + Math.floor(Math.random() * 35 * 60_000))));
      const tick = history.tick().then(() => void ticks++);
      await Promise.all([...writes, tick]);
    }
    await writer.close();
    await history.tick();
    expect(ticks).toBe(6);

    const expected = await sharesBy(`address || '/' || worker || '/' || extract(epoch from date_bin('600 seconds', time, '2000-01-01Z'))::bigint`);
    const { rows } = await pool.query(`SELECT address || '/' || worker || '/' || extract(epoch from bucket_start)::bigint AS k, shares::int AS n, difficulty_sum AS d, bucket_seconds FROM worker_history`);
    expect([...expected.keys()].filter((k) => !rows.some((r) => r.k === k))).toEqual([]);
    expect(rows.length).toBe(expected.size);
    for (const row of rows) {
      expect(row.bucket_seconds).toBe(600);
      const e = expected.get(row.k)!;
      expect(e, row.k).toBeDefined();
      expect(row.n).toBe(e.shares);
      expect(close(row.d, e.difficulty)).toBe(true);
    }
    const poolRows = await pool.query(`SELECT sum(shares)::int AS n, sum(difficulty_sum) AS d, max(miners) AS miners, max(workers) AS workers FROM pool_history`);
    const total = await pool.query(`SELECT count(*)::int AS n, sum(difficulty)::float8 AS d FROM shares`);
    expect(total.rows[0].n).toBe(6000);
    expect(poolRows.rows[0].n).toBe(6000);
    expect(close(poolRows.rows[0].d, total.rows[0].d)).toBe(true);
    expect(poolRows.rows[0].miners).toBe(2);
    expect(poolRows.rows[0].workers).toBe(8);
  });

  it('roll-up to hours keeps the sums, leaves no ten-minute rows behind the cutoff, and retention drops old rows', async () => {
    const now = Date.now();
    const writer = new ShareWriter({ pool, spoolDir });
    await writer.start();
    // 30 h back to 20 h back: some hours will be rolled, the rest stays in ten-minute buckets.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 3000; i++) writes.push(writer.write(share(now - 30 * 3_600_000 + Math.floor(Math.random() * 10 * 3_600_000))));
    await Promise.all(writes);
    await writer.close();
    await recomputeBuckets(pool, new Date(now - 31 * 3_600_000), new Date(now));
    const before = await pool.query(`SELECT sum(shares)::int AS n, sum(difficulty_sum) AS d FROM worker_history`);
    expect(before.rows[0].n).toBe(3000);

    const cutoff = new Date(now - 24 * 3_600_000);
    const result = await rollUp(pool, cutoff);
    expect(result!.rolled).toBeGreaterThan(0);
    const hourCutoff = new Date(Math.floor(cutoff.getTime() / 3_600_000) * 3_600_000);
    const left = await pool.query(`SELECT count(*)::int AS n FROM worker_history WHERE bucket_seconds = 600 AND bucket_start < $1`, [hourCutoff]);
    expect(left.rows[0].n).toBe(0);
    const hours = await pool.query(`SELECT count(*)::int AS n FROM worker_history WHERE bucket_seconds = 3600`);
    expect(hours.rows[0].n).toBeGreaterThan(0);

    // per address, worker and hour: hour rows equal the shares table
    const expected = await sharesBy(`address || '/' || worker || '/' || extract(epoch from date_bin('3600 seconds', time, '2000-01-01Z'))::bigint`, `time < '${hourCutoff.toISOString()}'`);
    const { rows } = await pool.query(`SELECT address || '/' || worker || '/' || extract(epoch from bucket_start)::bigint AS k, shares::int AS n, difficulty_sum AS d FROM worker_history WHERE bucket_seconds = 3600`);
    expect(rows.length).toBe(expected.size);
    for (const row of rows) {
      expect(row.n).toBe(expected.get(row.k)!.shares);
      expect(close(row.d, expected.get(row.k)!.difficulty)).toBe(true);
    }
    const after = await pool.query(`SELECT sum(shares)::int AS n, sum(difficulty_sum) AS d FROM worker_history`);
    expect(after.rows[0].n).toBe(3000);
    expect(close(after.rows[0].d, before.rows[0].d)).toBe(true);
    const poolAfter = await pool.query(`SELECT sum(shares)::int AS n, sum(difficulty_sum) AS d FROM pool_history`);
    expect(poolAfter.rows[0].n).toBe(3000);
    expect(close(poolAfter.rows[0].d, before.rows[0].d)).toBe(true);
    const poolHour = await pool.query(`SELECT miners, workers FROM pool_history WHERE bucket_seconds = 3600 ORDER BY shares DESC LIMIT 1`);
    expect(poolHour.rows[0]).toEqual({ miners: 2, workers: 8 });

    // A second roll-up adds nothing; recomputing recent buckets never touches rolled hours.
    await rollUp(pool, cutoff);
    await new HistoryWriter({ pool, recomputeMinutes: 30, retentionDays: 1 }).tick();
    const retained = await pool.query(`SELECT min(bucket_start) AS m FROM worker_history`);
    expect(new Date(retained.rows[0].m).getTime()).toBeGreaterThanOrEqual(now - 86_400_000 - 3_600_000);
  });

  it('effort per block: shares since the previous block against the network difficulty; the API serves series and effort', async () => {
    const now = Date.now();
    const t = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
    const writer = new ShareWriter({ pool, spoolDir });
    await writer.start();
    // 10 shares of difficulty 1 before block A (t-50), 4 of difficulty 2 between A and B (t-20), 3 after.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) writes.push(writer.write(share(t(55).getTime() + i, { difficulty: 1, address: MINER, worker: 'a' })));
    for (let i = 0; i < 4; i++) writes.push(writer.write(share(t(30).getTime() + i, { difficulty: 2, address: MINER, worker: 'b' })));
    for (let i = 0; i < 3; i++) writes.push(writer.write(share(t(5).getTime() + i, { difficulty: 1, address: MINER, worker: 'a' })));
    await Promise.all(writes);
    await writer.close();
    const insert = (hash: string, at: Date, netDiff: number, status = 'accepted', chain = 'litecoin') =>
      pool.query(`INSERT INTO blocks (height, hash, prev_hash, status, finder, reward_litoshis, share_difficulty, network_difficulty, block_hex, created_at, chain)
                  VALUES (1, $1, '00', $4, $5, 1, 1, $3, '', $2, $6) RETURNING id`, [hash, at, netDiff, status, MINER, chain]);
    // merged mining: aux blocks count their effort from the previous block of their own chain
    await insert('d1', t(52), 2 / 65536, 'accepted', 'dogecoin');
    await insert('aa', t(50), 10 / 65536);
    await insert('d2', t(25), 2 / 65536, 'accepted', 'dogecoin');
    await insert('rr', t(40), 1, 'rejected');
    await insert('bb', t(20), 4 / 65536);
    await insert('cc', new Date(now), 1); // too young: not settled yet
    expect(await computeBlockEfforts(pool, 60)).toBe(4);
    const efforts = await pool.query(`SELECT b.hash, e.shares::int AS shares, e.difficulty_sum AS d, e.effort FROM block_effort e JOIN blocks b ON b.id = e.block_id ORDER BY b.hash`);
    expect(efforts.rows).toEqual([
      { hash: 'aa', shares: 10, d: 10, effort: 1 },
      { hash: 'bb', shares: 4, d: 8, effort: 2 },
      { hash: 'd1', shares: 10, d: 10, effort: 5 },
      { hash: 'd2', shares: 4, d: 8, effort: 4 },
    ]);
    expect(await computeBlockEfforts(pool, 60)).toBe(0);

    await new HistoryWriter({ pool, recomputeMinutes: 60, effortSettleSeconds: 60 }).tick();
    const server: HttpServer = await startHttpServer({
      port: 0, readiness: [], registry: createMetrics({ defaultMetrics: false }).registry,
      api: { db: pool, network: 'regtest', stats: { poolSummary: () => ({ network: null, feePercent: 1, scheme: 'PPLNS' }) } },
    });
    try {
      const blocks = await json(`${server.url}/api/blocks`);
      expect(blocks.blocks.map((b: { hash: string; effort: number | null }) => [b.hash, b.effort])).toEqual(
        expect.arrayContaining([['aa', 1], ['bb', 2], ['cc', null], ['d2', 4]]));
      expect(blocks.blocks.find((b: { hash: string }) => b.hash === 'd2').chain).toBe('dogecoin');

      const poolSeries = await json(`${server.url}/api/pool/history?range=24h`);
      expect(poolSeries.bucketSeconds).toBe(600);
      expect(poolSeries.points).toHaveLength(145);
      expect(poolSeries.points.reduce((s: number, p: { shares: number }) => s + p.shares, 0)).toBe(17);
      const full = poolSeries.points.find((p: { shares: number }) => p.shares === 10);
      expect(full.hashrate).toBeCloseTo((10 * HASHES_PER_SHARE_DIFF1) / 600, 6);
      expect(full.miners).toBe(1);

      const minerSeries = await json(`${server.url}/api/miners/${MINER}/history?range=1h`);
      expect(minerSeries.points).toHaveLength(7);
      expect(minerSeries.points.reduce((s: number, p: { shares: number }) => s + p.shares, 0)).toBe(17);
      expect(minerSeries.workers.map((w: { name: string }) => w.name)).toEqual(['a', 'b']);
      const b = minerSeries.workers.find((w: { name: string }) => w.name === 'b');
      expect(b.points.reduce((s: number, p: { shares: number }) => s + p.shares, 0)).toBe(4);
      const onlyA = await json(`${server.url}/api/miners/${MINER}/history?range=1h&worker=a`);
      expect(onlyA.workers.map((w: { name: string }) => w.name)).toEqual(['a']);

      const week = await json(`${server.url}/api/pool/history?range=7d`);
      expect(week.bucketSeconds).toBe(3600);
      expect(week.points).toHaveLength(169);
      expect(week.points.reduce((s: number, p: { shares: number }) => s + p.shares, 0)).toBe(17);
      expect((await fetch(`${server.url}/api/pool/history?range=2y`)).status).toBe(400);
      expect((await fetch(`${server.url}/api/miners/notanaddress/history`)).status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
