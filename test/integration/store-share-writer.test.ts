import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStoreTestbed, type StoreTestbed } from '../support/store.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { BlocksRepo, type BlockCandidate } from '../../src/store/blocks.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { ShareWriter, type AcceptedShare } from '../../src/store/share-writer.js';
import { encodeSpoolLine, Spool, type SpooledShareRow } from '../../src/store/spool.js';


const T0 = Date.UTC(2031, 0, 2, 3, 4, 5, 678);
function share(i: number, over: Partial<AcceptedShare> = {}): AcceptedShare {
  return {
    time: new Date(T0 + i), address: `ltc1qminer${i % 50}`, worker: `rig${i % 3}`, difficulty: 0.5 + (i % 4),
    networkDifficulty: 1.25e7, height: 2_900_000 + (i % 2), jobId: `j${i >> 6}`, hash: i.toString(16).padStart(64, '0'),
    isBlock: false, ip: i % 2 ? '192.0.2.7' : '2001:db8::1', instanceId: 3, shareId: `3:e1:j:${i}`, ...over,
  };
}

async function count(pool: pg.Pool, where = 'true'): Promise<number> {
  return (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM shares WHERE ${where}`)).rows[0].n;
}

describe('ShareWriter against PostgreSQL', () => {
  let store: StoreTestbed;
  let pool: pg.Pool;
  let spoolDir: string;

  beforeAll(async () => {
    store = await startStoreTestbed({ partitionsFrom: new Date(T0) });
    pool = store.pool;
  });
  afterAll(async () => {
    await store?.stop();
  });
  beforeEach(async () => {
    const fresh = await store.fresh('shares, miners, workers, blocks');
    spoolDir = fresh.spoolDir;
    return fresh.remove;
  });

  it('20,000 concurrent writes all resolve after commit, exactly once; rewriting the same share ids adds nothing', async () => {
    const batches: { size: number; destination: string }[] = [];
    const observed = { depth: [] as number[], sizes: [] as number[], seconds: [] as number[] };
    const writer = new ShareWriter({
      pool, spoolDir,
      onBatch: (b) => batches.push(b),
      metrics: {
        queueDepth: { set: (v) => observed.depth.push(v) },
        batchSize: { observe: (v) => observed.sizes.push(v) },
        commitSeconds: { observe: (v) => observed.seconds.push(v) },
      },
    });
    await writer.start();
    const results = await Promise.allSettled(Array.from({ length: 20_000 }, (_, i) => writer.write(share(i))));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await count(pool)).toBe(20_000);
    expect(batches.every((b) => b.destination === 'db')).toBe(true);
    expect(batches.reduce((s, b) => s + b.size, 0)).toBe(20_000);
    expect(Math.max(...batches.map((b) => b.size))).toBe(5000); // group commit, not one row per transaction
    expect(observed.sizes.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(observed.seconds.every((s) => s > 0)).toBe(true);
    expect(Math.max(...observed.depth)).toBeGreaterThan(0);

    await Promise.all(Array.from({ length: 20_000 }, (_, i) => writer.write(share(i))));
    expect(await count(pool)).toBe(20_000);
    // A batch of stored and new shares: the plain insert hits the unique key, the retry skips only the stored.
    await Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(share(19_990 + i))));
    await writer.close();
    expect(await count(pool)).toBe(20_010);

    const miners = await pool.query(`SELECT count(*)::int AS n, min(first_seen) AS first, max(last_seen) AS last FROM miners`);
    expect(miners.rows[0]).toEqual({ n: 50, first: new Date(T0), last: new Date(T0 + 20_009) });
    expect((await pool.query(`SELECT count(*)::int AS n FROM workers`)).rows[0].n).toBe(150);
    const w = await pool.query(`SELECT first_seen, last_seen FROM workers WHERE address = 'ltc1qminer7' AND name = 'rig1'`);
    // i = 7 (mod 50) and i = 1 (mod 3): first i = 7, last i = 19957
    expect(w.rows[0]).toEqual({ first_seen: new Date(T0 + 7), last_seen: new Date(T0 + 19_957) });
  });

  it('stores every column exactly (awkward strings, ms time, inet, is_block)', async () => {
    const writer = new ShareWriter({ pool, spoolDir });
    await writer.start();
    const odd = share(1, { worker: 'we"ird,{w}\\ NULL ü✓𝄞', jobId: 'NULL', isBlock: true, ip: '::ffff:10.1.2.3', shareId: 'id "with" , {braces}' });
    const noIp = share(2, { ip: 'not-an-ip', worker: '' });
    await Promise.all([writer.write(odd), writer.write(noIp)]);
    await writer.close();
    const rows = await pool.query(`SELECT time, share_id, address, worker, difficulty, network_difficulty, height, job_id, hash, is_block,
      host(ip) AS ip, instance_id FROM shares ORDER BY time`);
    expect(rows.rows[0]).toEqual({ time: odd.time, share_id: odd.shareId, address: odd.address, worker: odd.worker, difficulty: odd.difficulty,
      network_difficulty: odd.networkDifficulty, height: odd.height, job_id: 'NULL', hash: odd.hash, is_block: true, ip: '::ffff:10.1.2.3', instance_id: 3 });
    expect(rows.rows[1]).toMatchObject({ share_id: noIp.shareId, worker: '', ip: null });
  });

  it('rejects invalid shares at write() without hurting the rest of the batch', async () => {
    const writer = new ShareWriter({ pool, spoolDir });
    await writer.start();
    const results = await Promise.allSettled([
      writer.write(share(1)),
      writer.write(share(2, { difficulty: Number.NaN })),
      writer.write(share(3, { time: new Date('nope') })),
      writer.write(share(4)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    await writer.close();
    expect(await count(pool)).toBe(2);
  });

  it('a share the database refuses is rejected alone; its batch mates still commit', async () => {
    await pool.query(`ALTER TABLE shares ADD CONSTRAINT test_no_poison CHECK (worker <> 'poison')`);
    try {
      const writer = new ShareWriter({ pool, spoolDir, flushIntervalMs: 20 });
      await writer.start();
      const results = await Promise.allSettled([0, 1, 2, 3].map((i) => writer.write(share(i, i === 2 ? { worker: 'poison' } : {}))));
      await writer.close();
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      expect(await count(pool)).toBe(3);
      expect(existsSync(path.join(spoolDir, 'spool.jsonl'))).toBe(false);
    } finally {
      await pool.query('ALTER TABLE shares DROP CONSTRAINT test_no_poison');
    }
  });

  it('back-pressure: the queue never grows past maxQueue, and every write still resolves', async () => {
    const depths: number[] = [];
    const writer = new ShareWriter({ pool, spoolDir, maxBatch: 100, maxQueue: 300, concurrency: 1, metrics: { queueDepth: { set: (v) => depths.push(v) } } });
    await writer.start();
    await Promise.all(Array.from({ length: 3000 }, (_, i) => writer.write(share(i))));
    await writer.close();
    expect(Math.max(...depths)).toBeLessThanOrEqual(300);
    expect(Math.max(...depths)).toBe(300);
    expect(await count(pool)).toBe(3000);
  });

  it('partial batches commit one at a time (gathering what arrives meanwhile); full batches use every slot', async () => {
    let active = 0;
    const peaks: number[] = [];
    // The real pool, with a counter of share statements in flight around its query().
    const counting = new Proxy(pool, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<pg.Pool['query']>) => {
          active++;
          peaks.push(active);
          try { return await (target.query as (...a: unknown[]) => Promise<unknown>)(...args); } finally { active--; }
        };
      },
    });
    const sizes: number[] = [];
    const writer = new ShareWriter({ pool: counting, spoolDir, maxBatch: 1000, concurrency: 2, flushIntervalMs: 1, onBatch: (b) => sizes.push(b.size) });
    await writer.start();
    peaks.length = 0;
    const trickle: Promise<void>[] = [];
    for (let wave = 0; wave < 40; wave++) {
      for (let i = 0; i < 10; i++) trickle.push(writer.write(share(wave * 10 + i)));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(trickle);
    expect(Math.max(...peaks)).toBe(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(400);
    expect(sizes.length).toBeLessThan(40); // waves arriving during a commit share the next batch

    peaks.length = 0;
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => writer.write(share(1000 + i))));
    expect(Math.max(...peaks)).toBe(2);
    await writer.close();
    expect(await count(pool)).toBe(10_400);
  });

  it('close() commits what is still queued', async () => {
    const writer = new ShareWriter({ pool, spoolDir, flushIntervalMs: 60_000 });
    await writer.start();
    const pending = Array.from({ length: 10 }, (_, i) => writer.write(share(i)));
    await writer.close();
    await Promise.all(pending);
    expect(await count(pool)).toBe(10);
    await expect(writer.write(share(99))).rejects.toThrow(/closed/);
  });

  it('start() replays a spool left behind (torn last line ignored, already-committed shares not doubled), twice is harmless', async () => {
    // Shares 0..9 were committed and ALSO spooled (crash between commit and ack); 10..19 only spooled.
    const first = new ShareWriter({ pool, spoolDir });
    await first.start();
    await Promise.all(Array.from({ length: 10 }, (_, i) => first.write(share(i))));
    await first.close();
    const rows = (from: number, to: number): SpooledShareRow[] => Array.from({ length: to - from }, (_, k) => {
      const s = share(from + k);
      return [s.time.getTime(), s.shareId, s.address, s.worker, s.difficulty, s.networkDifficulty, s.height, s.jobId, s.hash, s.isBlock, s.ip, s.instanceId];
    });
    const block: BlockCandidate = { height: 2_900_001, hash: 'b'.repeat(64), prevHash: 'a'.repeat(64), finder: 'ltc1qminer1', worker: 'rig1',
      rewardLitoshis: 625_000_000n, shareDifficulty: 4.5, networkDifficulty: 1.25e7, blockHex: '00'.repeat(100), shareId: '3:e1:j:11' };
    const { candidateToSpooled } = await import('../../src/store/blocks.js');
    const spoolFile = path.join(spoolDir, 'spool.jsonl');
    const torn = encodeSpoolLine({ kind: 'shares', rows: rows(100, 110) });
    const content = encodeSpoolLine({ kind: 'shares', rows: rows(0, 15) }) + encodeSpoolLine({ kind: 'block', block: candidateToSpooled(block) }) +
      encodeSpoolLine({ kind: 'shares', rows: rows(15, 20) }) + torn.slice(0, torn.length - 7);
    writeFileSync(spoolFile, content);

    const replays: unknown[] = [];
    const second = new ShareWriter({ pool, spoolDir, onReplay: (r) => replays.push(r) });
    await second.start();
    expect(replays).toEqual([{ records: 3, shares: 20, skippedLines: 1 }]);
    expect(await count(pool)).toBe(20);
    expect(await count(pool, `share_id LIKE '3:e1:j:10_'`)).toBe(0);
    expect(existsSync(spoolFile) || existsSync(`${spoolFile}.replaying`)).toBe(false);
    expect(second.stats().spool).toEqual({ bytes: 0, shares: 0, records: 0 });
    const blocks = new BlocksRepo(pool);
    expect(await blocks.getByHash(block.hash)).toMatchObject({ status: 'candidate', rewardLitoshis: 625_000_000n, blockHex: block.blockHex });
    await second.close();

    // The same spool again (e.g. crash after replay, before unlink, as a .replaying file): nothing changes.
    writeFileSync(`${spoolFile}.replaying`, content);
    const third = new ShareWriter({ pool, spoolDir });
    await third.start();
    await third.close();
    expect(await count(pool)).toBe(20);
    expect((await pool.query('SELECT count(*)::int AS n FROM blocks')).rows[0].n).toBe(1);
    expect(existsSync(`${spoolFile}.replaying`)).toBe(false);
  });
});

describe('BlocksRepo', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await startPostgres();
    pool = createPool({ url: db.url });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.stop();
  });

  const candidate = (n: number): BlockCandidate => ({
    height: 100 + n, hash: n.toString(16).padStart(64, 'c'), prevHash: 'd'.repeat(64), finder: 'rltc1qfinder', worker: 'w',
    rewardLitoshis: 9_223_372_036_854_775_807n - BigInt(n), shareDifficulty: 1.5, networkDifficulty: 0.001, blockHex: 'ab'.repeat(200), shareId: `s${n}`,
  });

  it('persists a candidate with its hex before submit, and tracks its status', async () => {
    const repo = new BlocksRepo(pool);
    const first = await repo.insertCandidate(candidate(1));
    expect(first.spooled).toBe(false);
    expect(first.id).toBeGreaterThan(0);
    expect(await repo.insertCandidate(candidate(1))).toEqual(first); // same hash: same row
    const row = await repo.getByHash(candidate(1).hash);
    expect(row).toMatchObject({ ...candidate(1), id: first.id, status: 'candidate', confirmations: 0, submitResult: null });

    await repo.updateStatus(first.id!, 'submitted');
    await repo.updateStatus(first.id!, 'rejected', 'high-hash');
    const second = await repo.insertCandidate(candidate(2));
    await repo.updateStatusByHash(candidate(2).hash, 'accepted', null, 1);
    expect((await repo.listByStatus('rejected')).map((b) => [b.id, b.submitResult])).toEqual([[first.id, 'high-hash']]);
    expect((await repo.listByStatus(['accepted', 'rejected'])).map((b) => b.id)).toEqual([first.id, second.id]);
    expect(await repo.getByHash('f'.repeat(64))).toBeNull();
    await expect(repo.updateStatus(999_999, 'accepted')).rejects.toThrow(/not found/);
    await expect(pool.query(`UPDATE blocks SET status = 'lost' WHERE id = $1`, [first.id])).rejects.toThrow(/check constraint/);
  });

  it('spools the candidate when PostgreSQL is unreachable, and the replay stores it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-blk-'));
    try {
      const deadPool = createPool({ url: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMs: 1000 });
      const spool = new Spool({ dir });
      const repo = new BlocksRepo(deadPool, { spool });
      expect(await repo.insertCandidate(candidate(3))).toEqual({ id: null, spooled: true });
      await deadPool.end();
      await spool.close();
      expect(readFileSync(path.join(dir, 'spool.jsonl'), 'utf8')).toContain(candidate(3).blockHex);
      const writer = new ShareWriter({ pool, spoolDir: dir });
      await writer.start();
      await writer.close();
      expect(await new BlocksRepo(pool).getByHash(candidate(3).hash)).toMatchObject({ height: 103, status: 'candidate', blockHex: candidate(3).blockHex });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
