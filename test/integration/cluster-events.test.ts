import pino from 'pino';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BanList } from '../../src/stratum/bans.js';
import { ClusterChannel, publishClusterEvent, type ClusterEvent } from '../../src/store/cluster-events.js';
import { ConnectedWorkersPublisher } from '../../src/store/connected-workers.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { SharedBans } from '../../src/store/shared-bans.js';
import { startPrivatePostgres, type TestDatabase } from '../harness/postgres.js';
import { waitFor } from '../support/pool.js';

/**
 * Two instances' share of the cluster machinery (ban list, shared bans, listener) on a real PostgreSQL that is
 * stopped and started again: what one instance learns the other learns, also across the outage.
 */

const logger = pino({ level: 'silent' });
let database: TestDatabase;

interface Member { id: number; db: pg.Pool; listenDb: pg.Pool; bans: BanList; shared: SharedBans; channel: ClusterChannel; events: ClusterEvent[] }

function member(id: number): Member {
  const db = createPool({ url: database.url, max: 2, connectionTimeoutMs: 1000, queryTimeoutMs: 2000 });
  const listenDb = createPool({ url: database.url, max: 1, connectionTimeoutMs: 1000, queryTimeoutMs: 2000 });
  const bans = new BanList({ enabled: true, threshold: 20, banSeconds: 600, scoreHalfLifeSeconds: 60, allowList: [] });
  const shared = new SharedBans({ db, instanceId: id, bans, logger });
  bans.onBan = (ip, reason) => void (reason !== 'shared' && shared.publish(ip, reason));
  const events: ClusterEvent[] = [];
  const channel = new ClusterChannel({
    pool: listenDb, instanceId: id, logger, pingMs: 300, retryMs: { min: 100, max: 500 },
    onEvent: (event) => {
      events.push(event);
      if (event.kind === 'ban') bans.impose(event.ip, event.seconds);
    },
    onSync: async (client) => void (await shared.load(client)),
  });
  return { id, db, listenDb, bans, shared, channel, events };
}

const members: Member[] = [];

beforeAll(async () => {
  database = await startPrivatePostgres();
  const db = createPool({ url: database.url, max: 1 });
  await migrate(db);
  await db.end();
}, 120_000);

afterAll(async () => {
  for (const m of members) {
    await m.channel.stop();
    await m.db.end();
    await m.listenDb.end();
  }
  await database?.stop();
});

const presenceLocks = async (db: pg.Pool) =>
  (await db.query<{ objid: number }>(`SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' AND classid = 1819566960 AND granted ORDER BY 1`)).rows.map((r) => r.objid);

describe('cluster events through PostgreSQL LISTEN/NOTIFY', () => {
  it('a ban and a found block reach the other instance; after the database restarts both listen again, and bans made meanwhile are shared', async () => {
    const [a, b] = [member(1), member(2)];
    members.push(a, b);
    a.channel.start();
    b.channel.start();
    await waitFor('both listening', () => a.channel.syncs >= 1 && b.channel.syncs >= 1, 10_000);
    expect(await presenceLocks(a.db), 'each instance holds its presence lock').toEqual([1, 2]);

    expect(a.bans.record('198.51.100.7', 'line-too-long')).toBe(true);
    await waitFor('the ban reaches instance 2', () => b.bans.isBanned('198.51.100.7'), 5000);
    expect(b.events).toContainEqual(expect.objectContaining({ kind: 'ban', from: 1, ip: '198.51.100.7', reason: 'line-too-long' }));
    expect(a.events, 'own events are not delivered back').toEqual([]);
    const row = await a.db.query<{ instance_id: number; left: number }>(`SELECT instance_id, extract(epoch FROM banned_until - now())::float8 AS left FROM ip_bans WHERE ip = '198.51.100.7'`);
    expect(row.rows[0].instance_id).toBe(1);
    expect(row.rows[0].left).toBeGreaterThan(590);

    await publishClusterEvent(b.db, { kind: 'block', from: 2, chain: 'litecoin' });
    await waitFor('the block reaches instance 1', () => a.events.some((e) => e.kind === 'block' && e.from === 2), 5000);

    // The database goes away: a ban made now holds here at once and reaches the other instance once it is back.
    const syncsBefore = [a.channel.syncs, b.channel.syncs];
    await database.stopServer!();
    await waitFor('both listeners notice', () => !a.channel.connected && !b.channel.connected, 10_000);
    expect(b.bans.record('198.51.100.8', 'line-too-long')).toBe(true);
    expect(b.bans.isBanned('198.51.100.8')).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(a.bans.isBanned('198.51.100.8')).toBe(false);
    await database.startServer!();
    await waitFor('both listen again', () => a.channel.syncs > syncsBefore[0] && b.channel.syncs > syncsBefore[1], 20_000);
    await waitFor('the ban made during the outage reaches instance 1', () => a.bans.isBanned('198.51.100.8'), 10_000);
    expect(await presenceLocks(a.db), 'presence locks taken again').toEqual([1, 2]);

    // Listening again: a new event still arrives.
    await publishClusterEvent(a.db, { kind: 'reload', from: 1 });
    await waitFor('the reload reaches instance 2', () => b.events.some((e) => e.kind === 'reload'), 5000);

    // A restarted instance loses nothing: the table gives it every ban in force.
    const fresh = new BanList({ enabled: true, threshold: 20, banSeconds: 600, scoreHalfLifeSeconds: 60, allowList: [] });
    expect(await new SharedBans({ db: a.db, instanceId: 3, bans: fresh, logger }).load()).toBe(2);
    expect(['198.51.100.7', '198.51.100.8'].map((ip) => fresh.isBanned(ip))).toEqual([true, true]);

    // Connected workers written while the database comes and goes: the table ends up equal to what is connected.
    const publisher = new ConnectedWorkersPublisher({ db: a.db, instanceId: 1, intervalMs: 60_000, logger });
    const rows = async () => (await a.db.query<{ worker: string; ip: string; sessions: number }>(
      'SELECT worker, ip, sessions FROM connected_workers WHERE instance_id = 1 ORDER BY worker')).rows;
    await a.db.query(`INSERT INTO connected_workers VALUES (1, 'Qstale', 'left-by-a-previous-process', '192.0.2.1', 1)`);
    publisher.added('QA', 'rig1', '192.0.2.10');
    publisher.added('QA', 'rig2', '192.0.2.10');
    publisher.added('QA', 'rig2', '192.0.2.10');
    await publisher.flush();
    expect(await rows(), 'the first write replaces what the id had').toEqual([
      { worker: 'rig1', ip: '192.0.2.10', sessions: 1 }, { worker: 'rig2', ip: '192.0.2.10', sessions: 2 }]);
    const syncsBeforeSecond = [a.channel.syncs, b.channel.syncs];
    await database.stopServer!();
    publisher.removed('QA', 'rig1', '192.0.2.10');
    publisher.removed('QA', 'rig2', '192.0.2.10');
    await publisher.flush(); // fails: the database is away
    publisher.added('QA', 'rig3', '192.0.2.11');
    await database.startServer!();
    await waitFor('written once the database is back', async () => {
      await publisher.flush();
      return JSON.stringify(await rows().catch(() => [])) === JSON.stringify([{ worker: 'rig2', ip: '192.0.2.10', sessions: 1 }, { worker: 'rig3', ip: '192.0.2.11', sessions: 1 }]);
    }, 20_000, 200);
    await publisher.stop();
    expect(await rows(), 'a clean stop removes the rows').toEqual([]);
    await waitFor('both listen again', () => a.channel.syncs > syncsBeforeSecond[0] && b.channel.syncs > syncsBeforeSecond[1], 20_000);

    // A listener that is stopped gives its presence lock back (when its server process ends, a few ms later).
    await b.channel.stop();
    await waitFor('instance 2 no longer present', async () => JSON.stringify(await presenceLocks(a.db)) === '[1]', 2000, 20);
  }, 90_000);
});
