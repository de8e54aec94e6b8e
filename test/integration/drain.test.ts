import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner, type SubmittedShare } from '../../src/miner/miner.js';
import { freePort } from '../harness/ports.js';
import { HAPROXY, haproxyConfig, instanceOf, startHaproxy, waitForServersUp, writeFile } from '../support/haproxy.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { waitFor } from '../support/pool.js';

/**
 * Draining: SIGTERM to one of three instances behind HAProxy. /readyz answers 404 first (HAProxy: NOLB, no new
 * miners there), then client.reconnect in waves: each miner reconnects once, to another instance, and no miner
 * goes without work for more than a few seconds.
 */

let testbed: Testbed;

beforeAll(async () => {
  testbed = await startTestbed({ tmpPrefix: 'ltcpool-drain-', dbConnections: 1 });
}, 180_000);

afterAll(() => testbed?.stop());

interface Instance { id: number; pool: PoolProcess; stratumPort: number; httpPort: number }

async function start(id: number, payoutAddress: string): Promise<Instance> {
  const [stratumPort, httpPort] = [await freePort(), await freePort()];
  const file = writeJson(path.join(testbed.tmp, `drain-${id}.json`), {
    network: 'regtest',
    instanceId: id,
    instance: { leaseSeconds: 30, startWaitSeconds: 1 },
    pool: { address: payoutAddress },
    node: { rpcUrl: testbed.node.rpcUrl, pollIntervalMs: 250 },
    // drainNoticeMs unset: 1500 ms, since the port takes the PROXY protocol.
    stratum: {
      host: '127.0.0.1',
      ports: [{ port: stratumPort, difficulty: 0.00001, proxyProtocol: true }],
      vardiff: { enabled: false },
      staleGraceMs: 5000,
      shutdown: { waveFraction: 0.34, waveIntervalMs: 300, graceMs: 2000 },
    },
    database: { url: testbed.database.url, spoolDir: path.join(testbed.tmp, `spool-${id}`) },
    http: { host: '127.0.0.1', port: httpPort, dashboard: false },
    alerts: { enabled: false },
    history: { enabled: false },
    log: { level: 'info' },
  });
  return { id, pool: await spawnPool(file, stratumPort), stratumPort, httpPort };
}

/** What a miner lived through: work and accepted shares (times), connection losses, the instances it reached. */
interface Trace { events: number[]; closes: number[]; reached: Array<{ at: number; instance: number }> }

function trace(miner: TestMiner): Trace {
  const t: Trace = { events: [], closes: [], reached: [] };
  miner.on('notify', () => t.events.push(Date.now()));
  miner.on('share', (s: SubmittedShare) => s.accepted && t.events.push(Date.now()));
  miner.on('close', () => t.closes.push(Date.now()));
  miner.on('reconnected', () => t.reached.push({ at: Date.now(), instance: instanceOf(miner.extranonce1) }));
  return t;
}

/** Longest time in [from, to] between two events (work or an accepted share), the edges counting as events. */
function longestGap(events: number[], from: number, to: number): number {
  const inside = [from, ...events.filter((e) => e > from && e < to), to];
  return Math.max(...inside.slice(1).map((e, i) => e - inside[i]));
}

const shareId = (s: SubmittedShare) => `${instanceOf(s.extranonce1)}:${s.extranonce1}:${s.jobId}:${s.extranonce2}${s.ntime}${s.nonce}`;

describe('draining an instance behind HAProxy', () => {
  it.skipIf(!fs.existsSync(HAPROXY))('SIGTERM moves its miners to the other instances in one reconnect each, no miner without work for 5 s', async () => {
    const payoutAddress = await testbed.node.newAddress('bech32');
    const instances = await Promise.all([1, 2, 3].map((id) => start(id, payoutAddress)));
    const [front, stats] = [await freePort(), await freePort()];
    const haproxy = startHaproxy(writeFile(path.join(testbed.tmp, 'haproxy.cfg'), haproxyConfig(front, stats, instances)));
    const miners: TestMiner[] = [];
    const traces = new Map<TestMiner, Trace>();
    try {
      await waitForServersUp(haproxy, stats, 3);

      const address = await testbed.node.newAddress('bech32');
      for (let i = 0; i < 9; i++) {
        // cgminer lineage: client.reconnect is obeyed at once; a dropped connection is retried with back-off.
        const miner = new TestMiner({ host: '127.0.0.1', port: front, username: `${address}.d${i}`, hashrate: 2, autoReconnect: true, habits: { obeyReconnect: true } });
        miners.push(miner);
        traces.set(miner, trace(miner));
        await miner.start();
        miner.startMining();
      }
      await waitFor('every miner has shares accepted', () => miners.every((m) => m.accepted >= 2), 30_000);
      const victim = instances[0];
      const victims = miners.filter((m) => instanceOf(m.extranonce1) === victim.id);
      expect(victims.length, 'leastconn gave the victim miners').toBeGreaterThanOrEqual(2);

      const sigtermAt = Date.now();
      await victim.pool.kill('SIGTERM');
      const exitedAt = Date.now();
      expect(victim.pool.child.exitCode, victim.pool.output().slice(-3000)).toBe(0);
      await waitFor('the drained miners have shares accepted elsewhere', () =>
        victims.every((m) => m.submitted.some((s) => s.accepted && instanceOf(s.extranonce1) !== victim.id)), 15_000, 50);
      // Mining goes on a little after the drain: a miner stuck without work shows as a gap up to the end.
      await new Promise((r) => setTimeout(r, 3000));
      const end = Date.now();

      const gaps = miners.map((m) => longestGap(traces.get(m)!.events, sigtermAt, end));
      const withoutWork = victims.map((m) => {
        const t = traces.get(m)!;
        const closedAt = t.closes.find((c) => c >= sigtermAt)!;
        return Math.min(...t.events.filter((e) => e > closedAt)) - closedAt;
      });
      console.log(
        `drain: instance ${victim.id} exited ${exitedAt - sigtermAt} ms after SIGTERM; its ${victims.length} miners were without work ` +
          `${withoutWork.join(', ')} ms; longest gap without work or an accepted share over all ${miners.length} miners: ${Math.max(...gaps)} ms`,
      );
      for (const m of victims) {
        const reached = traces.get(m)!.reached.filter((r) => r.at >= sigtermAt).map((r) => r.instance);
        expect(reached.length, `miner ${m.options.username}: one reconnect (to ${reached.join(', ')})`).toBe(1);
        expect(reached[0], 'reconnected to another instance, not back to the draining one').not.toBe(victim.id);
      }
      for (const m of miners.filter((m) => !victims.includes(m))) {
        expect(traces.get(m)!.closes.filter((c) => c >= sigtermAt), 'the other instances\' miners stay connected').toEqual([]);
      }
      expect(Math.max(...gaps), 'longest gap without work or an accepted share (ms)').toBeLessThan(5000);
    } finally {
      for (const m of miners) await m.close();
      await haproxy.stop();
      await Promise.all(instances.map((i) => i.pool.kill('SIGTERM')));
    }
    // The drained instance flushed before exiting: every share it answered true is in the database once.
    const drained = miners.flatMap((m) => m.submitted.filter((s) => s.accepted && instanceOf(s.extranonce1) === 1)).map(shareId);
    const stored = await testbed.db.query<{ n: string }>('SELECT count(*) AS n FROM shares WHERE share_id = ANY($1::text[])', [drained]);
    expect(Number(stored.rows[0].n), 'shares the drained instance answered true, in the shares table').toBe(drained.length);
  }, 180_000);
});
