import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/devnet/exec.js';
import { TestMiner, type SubmittedShare } from '../../src/miner/miner.js';
import { Spool, type SpooledShareRow } from '../../src/store/spool.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import type { TestDatabase } from '../harness/postgres.js';
import { HAPROXY, haproxyConfig, haproxyServers, instanceOf, startHaproxy, waitForServersUp, writeFile } from '../support/haproxy.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { waitFor } from '../support/pool.js';

let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let tmp: string;
let payoutAddress: string;

let testbed: Testbed | undefined;

beforeAll(async () => {
  testbed = await startTestbed({ tmpPrefix: 'ltcpool-scale-out-', dbConnections: 2 });
  ({ node, database, db, tmp } = testbed);
  payoutAddress = await node.newAddress('bech32');
}, 180_000);

afterAll(() => testbed?.stop());

interface Instance { pool: PoolProcess; stratumPort: number; httpPort: number }

async function instanceConfig(name: string, instanceId: number, leaseSeconds: number, proxyProtocol = false) {
  const [stratumPort, httpPort] = [await freePort(), await freePort()];
  const file = writeJson(path.join(tmp, `${name}.json`), {
    network: 'regtest',
    instanceId,
    instance: { leaseSeconds, startWaitSeconds: 1 },
    pool: { address: payoutAddress },
    node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250 },
    // One oversize line bans (ban tests below); well-behaved miners never score.
    stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001, proxyProtocol }], vardiff: { enabled: false }, staleGraceMs: 5000, bans: { threshold: 20 } },
    database: { url: database.url, spoolDir: path.join(tmp, `spool-${name}`) },
    http: { host: '127.0.0.1', port: httpPort, dashboard: false },
    alerts: { enabled: false },
    history: { enabled: false },
    log: { level: 'info' },
  });
  return { file, stratumPort, httpPort };
}

async function start(name: string, instanceId: number, leaseSeconds: number, proxyProtocol = false): Promise<Instance> {
  const c = await instanceConfig(name, instanceId, leaseSeconds, proxyProtocol);
  return { pool: await spawnPool(c.file, c.stratumPort), stratumPort: c.stratumPort, httpPort: c.httpPort };
}

/** The start is refused: the error the process printed. */
async function refused(name: string, instanceId: number, leaseSeconds: number): Promise<string> {
  const error = await start(name, instanceId, leaseSeconds).then(
    async (i) => {
      await i.pool.kill('SIGKILL');
      return undefined;
    },
    (e: unknown) => (e as Error).message,
  );
  expect(error, `instance ${name} started with a held instanceId`).toBeDefined();
  return error!;
}

describe('instance identity lease', () => {
  it('refuses a second instance with a live id; after the first dies the id is free; a lease of another host is taken only once expired', async () => {
    const first = await start('first', 7, 4);
    let second: Instance | undefined;
    let third: Instance | undefined;
    try {
      const instances = await (await fetch(`http://127.0.0.1:${first.httpPort}/api/instances`)).json() as { instances: Array<Record<string, unknown>> };
      expect(instances.instances).toEqual([
        expect.objectContaining({ instanceId: 7, host: os.hostname(), pid: first.pool.child.pid, live: true, releasedAt: null, connections: 0 }),
      ]);

      const message = await refused('second-early', 7, 2);
      expect(message).toContain(`instanceId 7 is held by a live instance on host ${os.hostname()} (pid ${first.pool.child.pid}), last heartbeat`);
      expect(message).toMatch(/Stop that instance or give this one another instanceId/);

      // Heartbeats keep it live well past the lease.
      await new Promise((r) => setTimeout(r, 4500));
      expect(await refused('second-still', 7, 2)).toContain('instanceId 7 is held by a live instance');

      await first.pool.kill('SIGKILL');
      second = await start('second', 7, 2);
      const row = await db.query<{ pid: number; released_at: Date | null }>('SELECT pid, released_at FROM instance_leases WHERE instance_id = 7');
      expect(row.rows).toEqual([{ pid: second.pool.child.pid, released_at: null }]);

      // A lease held by a process on another host (its liveness is unknown here): refused while its heartbeat is
      // younger than its lease, taken once it is older. (Aged by hand: a spawn takes longer than a short lease.)
      await db.query(`INSERT INTO instance_leases (instance_id, token, host, pid, lease_seconds) VALUES (8, gen_random_uuid(), 'pool-b.example', 4242, 60)`);
      expect(await refused('third-early', 8, 2)).toContain('instanceId 8 is held by a live instance on host pool-b.example (pid 4242)');
      await db.query(`UPDATE instance_leases SET heartbeat_at = now() - interval '61 s' WHERE instance_id = 8`);
      third = await start('third', 8, 10);

      // A clean shutdown releases the lease at once; the row stays for /api/instances.
      await second.pool.kill('SIGTERM');
      const released = await db.query<{ released_at: Date | null }>('SELECT released_at FROM instance_leases WHERE instance_id = 7');
      expect(released.rows[0].released_at).not.toBeNull();
      const listed = await (await fetch(`http://127.0.0.1:${third.httpPort}/api/instances`)).json() as { instances: Array<Record<string, unknown>> };
      expect(listed.instances.map((i) => [i.instanceId, i.live])).toEqual([[7, false], [8, true]]);
    } finally {
      await first.pool.kill('SIGKILL');
      await second?.pool.kill('SIGKILL');
      await third?.pool.kill('SIGKILL');
    }
  }, 120_000);
});

const shareId = (s: SubmittedShare) => `${instanceOf(s.extranonce1)}:${s.extranonce1}:${s.jobId}:${s.extranonce2}${s.ntime}${s.nonce}`;

describe('scale-out behind HAProxy', () => {
  it.skipIf(!fs.existsSync(HAPROXY))('three instances on one PostgreSQL: one is SIGKILLed, its miners mine on the others within 10 s, every share answered true is recorded once; a ban on one refuses the IP on all; the pool API answers alike; every instance\'s blocks are credited once', async () => {
    // proxyProtocol: true on every Stratum port: each instance only speaks Stratum after HAProxy's PROXY v2 header.
    const instances = await Promise.all([1, 2, 3].map((id) => start(`ha-${id}`, id, 30, true)));
    const [front, stats] = [await freePort(), await freePort()];
    const haproxy = startHaproxy(writeFile(path.join(tmp, 'haproxy.cfg'), haproxyConfig(front, stats, instances)));
    const miners: TestMiner[] = [];
    try {
      await waitForServersUp(haproxy, stats, 3);

      const address = await node.newAddress('bech32');
      for (let i = 0; i < 6; i++) {
        const miner = new TestMiner({ host: '127.0.0.1', port: front, username: `${address}.ha${i}`, hashrate: 4, autoReconnect: true });
        miners.push(miner);
        await miner.start();
        miner.startMining();
      }
      await waitFor('every miner has shares accepted', () => miners.every((m) => m.accepted >= 2), 30_000);
      // Blocks found by every instance, before one of them dies.
      await waitFor('every instance has found a block the node accepted', async () =>
        (await blockFinders(db)).length === 3, 60_000, 250);
      const byInstance = new Map<number, TestMiner[]>();
      for (const m of miners) byInstance.set(instanceOf(m.extranonce1), [...(byInstance.get(instanceOf(m.extranonce1)) ?? []), m]);
      expect([...byInstance.keys()].sort(), 'leastconn spreads the miners over the three instances').toEqual([1, 2, 3]);

      const victimId = 1;
      const victims = byInstance.get(victimId)!;
      const before = new Map(victims.map((m) => [m, m.submitted.length]));
      const killedAt = Date.now();
      await instances[victimId - 1].pool.kill('SIGKILL');
      await waitFor('the killed instance\'s miners have shares accepted by the others', () =>
        victims.every((m) => m.submitted.slice(before.get(m)).some((s) => s.accepted && instanceOf(s.extranonce1) !== victimId)), 15_000, 50);
      const moved = Date.now() - killedAt;
      console.log(`scale-out: ${victims.length} miners of instance ${victimId} had shares accepted elsewhere ${moved} ms after its SIGKILL`);
      expect(moved, 'miners mining elsewhere after the SIGKILL (ms)').toBeLessThan(10_000);
      await waitFor('HAProxy marks the killed instance down', async () => (await haproxyServers(stats)).get('pool1')?.startsWith('DOWN'), 10_000, 200);
      const beforeMore = miners.reduce((n, m) => n + m.accepted, 0);
      await waitFor('mining goes on', () => miners.reduce((n, m) => n + m.accepted, 0) >= beforeMore + 6, 20_000);

      await Promise.all(miners.map((m) => m.stopMining()));
      const survivorIds = [1, 2, 3].filter((id) => id !== victimId);

      // A ban made on one instance refuses the IP on the others. HAProxy passes the client's address (PROXY v2):
      // an oversize line from 127.0.0.7 through it bans 127.0.0.7 on whichever instance took the connection.
      const banned = '127.0.0.7';
      await oversizeLine(front, banned);
      const ban = await waitFor('the ban is in ip_bans', async () =>
        (await db.query<{ instance_id: number }>('SELECT instance_id FROM ip_bans WHERE ip = $1', [banned])).rows[0], 10_000, 100);
      expect(survivorIds).toContain(ban.instance_id);
      for (const id of survivorIds) {
        const port = instances[id - 1].stratumPort;
        await waitFor(`instance ${id} refuses ${banned}`, async () => (await stratumAnswer(port, banned)) === null, 5000, 100);
        expect(await stratumAnswer(port, '127.0.0.8'), `instance ${id} serves another IP`).toMatch(/"result"/);
      }
      for (let i = 0; i < 4; i++) expect(await stratumAnswer(front, banned, { throughHaproxy: true }), 'refused through HAProxy').toBeNull();
      // An instance started later (the killed one, back) loads the bans in force before it opens its port.
      instances[victimId - 1] = { ...instances[victimId - 1], pool: await spawnPool(path.join(tmp, `ha-${victimId}.json`), instances[victimId - 1].stratumPort) };
      expect(await stratumAnswer(instances[victimId - 1].stratumPort, banned), 'the restarted instance refuses the banned IP').toBeNull();
      expect(await stratumAnswer(instances[victimId - 1].stratumPort, '127.0.0.8')).toMatch(/"result"/);
      console.log(`scale-out: ${banned} banned by instance ${ban.instance_id}, refused by instances 1, 2, 3 and through HAProxy`);

      // The pool API answers alike through each instance: pool-wide figures from the database, not the serving
      // process's memory (each instance holds only some of the miners; the restarted one none).
      const held = [1, 2, 3].map((id) => miners.filter((m) => instanceOf(m.extranonce1) === id).length);
      expect(held.every((n) => n < miners.length), `each instance holds only some miners (${held})`).toBe(true);
      let answers: PoolAnswer[] = [];
      await waitFor('every instance gives the same pool totals', async () => {
        answers = await Promise.all(instances.map((i) => poolAnswer(i.httpPort, address)));
        return answers.every((a) => a.connections === miners.length && a.instances === 3 && JSON.stringify(comparable(a)) === JSON.stringify(comparable(answers[0])));
      }, 20_000, 250);
      expect(answers[0]).toMatchObject({ miners: 1, workers: miners.length, connections: miners.length, instances: 3, online: miners.map((_, i) => `ha${i}`) });
      for (const a of answers) expect(a.hashrate / answers[0].hashrate, 'hashrate from the same shares (read up to a cache period apart)').toBeCloseTo(1, 0);
      expect(answers[0].hashrate).toBeGreaterThan(0);
      console.log(`scale-out: /api/pool through instances 1, 2, 3: ${JSON.stringify(comparable(answers[0]))}`);
    } finally {
      for (const m of miners) await m.close();
      await haproxy.stop();
      // A clean stop flushes every queued share.
      await Promise.all(instances.map((i) => i.pool.kill('SIGTERM')));
    }

    const acknowledged = miners.flatMap((m) => m.submitted.filter((s) => s.accepted)).map(shareId);
    expect(new Set(acknowledged).size).toBe(acknowledged.length);
    const res = await db.query<{ share_id: string; n: string }>(
      'SELECT share_id, count(*) AS n FROM shares WHERE share_id = ANY($1::text[]) GROUP BY share_id', [acknowledged]);
    const counts = new Map(res.rows.map((r) => [r.share_id, Number(r.n)]));
    const wrong = acknowledged.filter((id) => counts.get(id) !== 1);
    expect(wrong, `shares answered true missing or doubled (${wrong.length} of ${acknowledged.length})`).toEqual([]);
    console.log(`scale-out: ${acknowledged.length} shares answered true, each in the shares table once`);
    expect(new Set(acknowledged.map((id) => Number(id.split(':')[0]))), 'shares from every instance').toEqual(new Set([1, 2, 3]));

    // Blocks found by every instance are credited once, by the one payout runner, once they matured.
    expect((await blockFinders(db)).sort()).toEqual([1, 2, 3]);
    await node.mine(100, await node.newAddress('bech32'));
    const payoutsFile = writeJson(path.join(tmp, 'payouts.json'), {
      network: 'regtest', pool: { address: payoutAddress }, node: { rpcUrl: node.rpcUrl }, database: { url: database.url },
      log: { level: 'warn' }, payouts: { maturity: 100, walletName: node.walletName, minimumPayout: '1000' },
    });
    const payouts = () => run(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'payouts', '--once', '--config', payoutsFile], { timeoutMs: 60_000 });
    const first = await payouts();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const credited = async () => (await db.query<{ id: string; instance: number; reward: string; credited: string; splits: number }>(
      `SELECT b.id::text, split_part(b.share_id, ':', 1)::int AS instance, b.reward_litoshis::text AS reward,
              (SELECT coalesce(sum(c.amount), 0) FROM credits c WHERE c.block_id = b.id)::text AS credited,
              (SELECT count(*) FROM block_splits s WHERE s.block_id = b.id)::int AS splits
         FROM blocks b WHERE b.chain = 'litecoin' AND b.status = 'confirmed' ORDER BY b.id`)).rows;
    const once = await credited();
    expect(new Set(once.map((b) => b.instance)), 'confirmed blocks of every instance').toEqual(new Set([1, 2, 3]));
    for (const b of once) expect([b.splits, b.credited], `block ${b.id} of instance ${b.instance}`).toEqual([1, b.reward]);
    expect((await db.query(`SELECT 1 FROM blocks WHERE chain = 'litecoin' AND status IN ('accepted', 'candidate', 'submitted')`)).rowCount, 'every block has its verdict').toBe(0);
    const second = await payouts();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(await credited(), 'a second run credits nothing again').toEqual(once);
    console.log(`scale-out: ${once.length} blocks of instances 1, 2, 3 confirmed and credited once by payouts --once`);
  }, 240_000);
});

/** Instances (share id prefix) with a Litecoin block the node accepted (or that matured since). */
async function blockFinders(db: pg.Pool): Promise<number[]> {
  const res = await db.query<{ id: number }>(
    `SELECT DISTINCT split_part(share_id, ':', 1)::int AS id FROM blocks WHERE chain = 'litecoin' AND status IN ('accepted', 'confirmed')`);
  return res.rows.map((r) => r.id);
}

/**
 * The first line a Stratum port answers mining.subscribe with, or null when it closes the connection unanswered.
 * Straight to an instance's port, the PROXY header names `ip` as the client; through HAProxy the connection comes
 * from `ip` (a loopback address) and HAProxy's header says so.
 */
function stratumAnswer(port: number, ip: string, options: { throughHaproxy?: boolean } = {}): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, ...(options.throughHaproxy ? { localAddress: ip } : {}) });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close from port ${port} for ${ip} in 5 s`));
    }, 5000);
    socket.on('connect', () => {
      const header = options.throughHaproxy ? '' : `PROXY TCP4 ${ip} 127.0.0.1 40000 ${port}\r\n`;
      socket.write(`${header}{"id":1,"method":"mining.subscribe","params":["scale-out-test"]}\n`);
    });
    socket.on('data', (chunk) => {
      data += chunk.toString();
      const end = data.indexOf('\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(data.slice(0, end));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

/** A line longer than stratum.limits.maxLineBytes from `ip`, through HAProxy: resolves once the pool hung up. */
function oversizeLine(front: number, ip: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: front, localAddress: ip }, () => socket.write('x'.repeat(20_000)));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

interface PoolAnswer { hashrate: number; miners: number; workers: number; connections: number; instances: number; blocks: unknown; online: string[] }

/** /api/pool and the miner page's online workers of `address`, through one instance's HTTP port. */
async function poolAnswer(httpPort: number, address: string): Promise<PoolAnswer> {
  const pool = await (await fetch(`http://127.0.0.1:${httpPort}/api/pool`)).json() as Omit<PoolAnswer, 'online'> & { blocks: { counts: unknown } };
  const miner = await (await fetch(`http://127.0.0.1:${httpPort}/api/miners/${address}`)).json() as { workers: Array<{ name: string; online: boolean }> };
  return {
    hashrate: pool.hashrate, miners: pool.miners, workers: pool.workers, connections: pool.connections, instances: pool.instances,
    blocks: pool.blocks.counts, online: miner.workers.filter((w) => w.online).map((w) => w.name).sort(),
  };
}

/** Everything but the hashrate, which moves with the time of the reading. */
const comparable = ({ hashrate: _h, ...rest }: PoolAnswer) => rest;

describe('ltcpool spool replay --dir', () => {
  const cli = (dir: string) =>
    run(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'spool', 'replay', '--dir', dir], {
      env: { ...process.env, DATABASE_URL: database.url, LTCPOOL_LOG_LEVEL: 'warn' },
      timeoutMs: 60_000,
    });
  const at = Date.now();
  /** A spool as a dead instance 5 left it: one batch of shares and one found block (the same records each call). */
  const writeSpool = async (dir: string) => {
    const spool = new Spool({ dir });
    await spool.open();
    const rows: SpooledShareRow[] = [0, 1, 2].map((i) => [at, `5:0500000${i}:1:aa`, payoutAddress, 'w', 0.5, 1, 200, '1', `${i}`.repeat(64), false, '192.0.2.9', 5]);
    await spool.append({ kind: 'shares', rows });
    await spool.close();
    // Found blocks have their own spool beside it, as the pool keeps them.
    const blockSpool = new Spool({ dir: path.join(dir, 'blocks') });
    await blockSpool.open();
    await blockSpool.append({
      kind: 'block',
      block: {
        height: 201, hash: 'ab'.repeat(32), prevHash: 'cd'.repeat(32), finder: payoutAddress, worker: 'w', rewardLitoshis: '5000000000',
        shareDifficulty: 0.5, networkDifficulty: 1, blockHex: '00', shareId: '5:05000000:1:aa', createdAtMs: at,
      },
    });
    await blockSpool.close();
    return rows.map((r) => r[1]);
  };

  it('replays a dead instance\'s shares and blocks once, refused while the instance is live', async () => {
    const dir = path.join(tmp, 'replay', 'instance-5');
    const ids = await writeSpool(dir);
    await db.query(`INSERT INTO instance_leases (instance_id, token, host, pid, lease_seconds) VALUES (5, gen_random_uuid(), 'pool-c.example', 99, 60)`);
    const refusedRun = await cli(dir);
    expect(refusedRun.code, refusedRun.stdout + refusedRun.stderr).toBe(1);
    expect(refusedRun.stderr).toContain('instanceId 5 is held by a live instance on host pool-c.example (pid 99)');
    expect((await db.query('SELECT 1 FROM shares WHERE share_id = ANY($1::text[])', [ids])).rowCount).toBe(0);

    await db.query(`UPDATE instance_leases SET heartbeat_at = now() - interval '61 s' WHERE instance_id = 5`);
    const first = await cli(dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain('(instance 5): 3 shares in 1 records and 1 found blocks replayed');
    // Again from a copy of the same spool (another operator, another machine): nothing is doubled.
    const again = path.join(tmp, 'replay-again', 'instance-5');
    await writeSpool(again);
    const second = await cli(again);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const counts = await db.query<{ share_id: string; n: string }>('SELECT share_id, count(*) AS n FROM shares WHERE share_id = ANY($1::text[]) GROUP BY share_id ORDER BY share_id', [ids]);
    expect(counts.rows.map((r) => [r.share_id, Number(r.n)])).toEqual(ids.map((id) => [id, 1]));
    expect((await db.query(`SELECT 1 FROM blocks WHERE hash = $1`, ['ab'.repeat(32)])).rowCount).toBe(1);
    // The lease it held meanwhile is released: instance 5 may start at once.
    expect((await db.query('SELECT released_at IS NOT NULL AS released FROM instance_leases WHERE instance_id = 5')).rows).toEqual([{ released: true }]);
  }, 120_000);
});
