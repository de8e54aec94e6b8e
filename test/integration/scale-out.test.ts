import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killWhenParentDies, run, trackChild } from '../../src/devnet/exec.js';
import { TestMiner, type SubmittedShare } from '../../src/miner/miner.js';
import { Spool, type SpooledShareRow } from '../../src/store/spool.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import type { TestDatabase } from '../harness/postgres.js';
import { spawnPool, startProcessTestbed, writeJson, type PoolProcess, type ProcessTestbed } from '../support/pool-process.js';
import { waitFor } from '../support/pool.js';

const HAPROXY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let tmp: string;
let payoutAddress: string;

let testbed: ProcessTestbed | undefined;

beforeAll(async () => {
  testbed = await startProcessTestbed({ tmpPrefix: 'ltcpool-scale-out-', dbConnections: 2 });
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
    stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001, proxyProtocol }], vardiff: { enabled: false }, staleGraceMs: 5000 },
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
    const first = await start('first', 7, 2);
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
      await new Promise((r) => setTimeout(r, 2500));
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
      third = await start('third', 8, 2);

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

/** docker/haproxy/haproxy.cfg with only its addresses replaced by loopback ports. */
function haproxyConfig(front: number, stats: number, instances: Instance[]): string {
  let cfg = fs.readFileSync('docker/haproxy/haproxy.cfg', 'utf8');
  const replace = (from: RegExp, to: string) => {
    expect(cfg, `docker/haproxy/haproxy.cfg has ${from}`).toMatch(from);
    cfg = cfg.replace(from, to);
  };
  cfg = cfg.replaceAll(/^( {4}maxconn) 100000$/gm, '$1 2000');
  replace(/^ {4}bind :3333$/m, `    bind 127.0.0.1:${front}`);
  replace(/^ {4}bind 127\.0\.0\.1:8404$/m, `    bind 127.0.0.1:${stats}`);
  instances.forEach((instance, i) => {
    replace(new RegExp(`^ {4}server pool${i + 1} pool${i + 1}:3334 check port 9100$`, 'm'), `    server pool${i + 1} 127.0.0.1:${instance.stratumPort} check port ${instance.httpPort}`);
  });
  return cfg;
}

function startHaproxy(configFile: string): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(HAPROXY, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  const dismiss = child.pid ? killWhenParentDies(child.pid) : () => undefined;
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d.toString()).slice(-200_000)));
  child.stderr!.on('data', (d) => (log = (log + d.toString()).slice(-200_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => log,
    stop: async () => {
      dismiss();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Server name -> status (UP, DOWN, ...) from HAProxy's CSV stats. */
async function haproxyServers(stats: number): Promise<Map<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${stats}/;csv`)).text();
  const rows = csv.split('\n').map((l) => l.split(','));
  const status = rows[0].indexOf('status');
  return new Map(rows.filter((r) => r[0] === 'ltcpool' && r[1].startsWith('pool')).map((r) => [r[1], r[status]]));
}

const instanceOf = (extranonce1: string) => Number.parseInt(extranonce1.slice(0, 2), 16);
const shareId = (s: SubmittedShare) => `${instanceOf(s.extranonce1)}:${s.extranonce1}:${s.jobId}:${s.extranonce2}${s.ntime}${s.nonce}`;

describe('scale-out behind HAProxy', () => {
  it.skipIf(!fs.existsSync(HAPROXY))('three instances on one PostgreSQL: one is SIGKILLed, its miners mine on the others within 10 s, every share answered true is recorded once', async () => {
    // proxyProtocol: true on every Stratum port: each instance only speaks Stratum after HAProxy's PROXY v2 header.
    const instances = await Promise.all([1, 2, 3].map((id) => start(`ha-${id}`, id, 30, true)));
    const [front, stats] = [await freePort(), await freePort()];
    const haproxy = startHaproxy(writeFile(path.join(tmp, 'haproxy.cfg'), haproxyConfig(front, stats, instances)));
    const miners: TestMiner[] = [];
    try {
      await waitFor('HAProxy sees the three instances up', async () => {
        if (haproxy.child.exitCode !== null) throw new Error(`haproxy exited:\n${haproxy.output()}`);
        const servers = await haproxyServers(stats).catch(() => new Map<string, string>());
        return servers.size === 3 && [...servers.values()].every((s) => s === 'UP');
      }, 30_000, 200);

      const address = await node.newAddress('bech32');
      for (let i = 0; i < 6; i++) {
        const miner = new TestMiner({ host: '127.0.0.1', port: front, username: `${address}.ha${i}`, hashrate: 4, autoReconnect: true });
        miners.push(miner);
        await miner.start();
        miner.startMining();
      }
      await waitFor('every miner has shares accepted', () => miners.every((m) => m.accepted >= 2), 30_000);
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

      // The pool API answers alike through each instance: pool-wide figures from the database, not the serving
      // process's memory (each survivor holds only some of the miners).
      await Promise.all(miners.map((m) => m.stopMining()));
      const survivorIds = [1, 2, 3].filter((id) => id !== victimId);
      const survivors = survivorIds.map((id) => instances[id - 1]);
      const held = survivorIds.map((id) => miners.filter((m) => instanceOf(m.extranonce1) === id).length);
      expect(held.every((n) => n < miners.length), `each survivor holds only some miners (${held})`).toBe(true);
      let answers: PoolAnswer[] = [];
      await waitFor('every instance gives the same pool totals', async () => {
        answers = await Promise.all(survivors.map((i) => poolAnswer(i.httpPort, address)));
        return answers.every((a) => a.workers === miners.length && JSON.stringify(comparable(a)) === JSON.stringify(comparable(answers[0])));
      }, 20_000, 250);
      expect(answers[0]).toMatchObject({ miners: 1, workers: miners.length, online: miners.map((_, i) => `ha${i}`) });
      for (const a of answers) expect(a.hashrate / answers[0].hashrate, 'hashrate from the same shares (read up to a cache period apart)').toBeCloseTo(1, 0);
      expect(answers[0].hashrate).toBeGreaterThan(0);
      console.log(`scale-out: /api/pool through instances ${survivorIds}: ${JSON.stringify(comparable(answers[0]))}`);
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
  }, 180_000);
});

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

function writeFile(file: string, text: string): string {
  fs.writeFileSync(file, text);
  return file;
}

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
