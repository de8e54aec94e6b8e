/**
 * Limits, bans, PROXY protocol, TLS and shutdown waves against a live StratumServer (the real server,
 * job manager and share processor over TCP, fed a fixture template instead of litecoind for speed).
 * Each attacker uses its own 127.0.0.x source address so one ban never touches another case.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { FIXTURE_ADDRESS, fixtureConfig, startFixturePool } from '../load/fixture-pool.js';
import { FIXTURE_USER, fixturesPerTest } from '../support/fixture-clients.js';
import { metricValue, waitFor } from '../support/pool.js';
import type { RawClient } from '../support/raw-client.js';

const USER = FIXTURE_USER;
const { pool, raw, track, forgetPool } = fixturesPerTest();

async function honestMiner(port: number): Promise<TestMiner> {
  const miner = track(new TestMiner({ host: '127.0.0.1', port, username: USER, requestTimeoutMs: 5000 }));
  expect((await miner.start()).result).toBe(true);
  await miner.waitForJob();
  return miner;
}

/** The honest miner still gets answers: a version query and an accepted share. */
async function expectHonestMinerServed(miner: TestMiner): Promise<void> {
  expect((await miner.request('client.get_version', [])).result).toMatch(/ltcpool/);
  const share = await miner.findShare();
  expect((await miner.submit(share)).result).toBe(true);
}

/** Resolves true if the server closed the connection right after accept, without a word. */
async function refusedAtAccept(port: number, source: string): Promise<boolean> {
  let client: RawClient;
  try {
    client = await raw(port, source);
  } catch {
    return true;
  }
  client.send('client.get_version');
  const closed = await client.waitClosed(2000);
  return closed && client.lines.length === 0;
}

describe('limits', () => {
  it('answers a message flood with errors, closes the connection, and bans the IP; other IPs and honest miners are unaffected', async () => {
    const p = await pool({
      stratum: { limits: { messagesPerSecond: 20, messagesBurst: 20, floodCloseAfter: 25 }, bans: { threshold: 40, banSeconds: 60 } },
    });
    const honest = await honestMiner(p.port);
    const flooder = await raw(p.port, '127.0.0.2');
    flooder.write(Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: i + 1, method: 'client.get_version', params: [] }) + '\n').join(''));
    expect(await flooder.waitClosed()).toBe(true);
    const answered = flooder.lines.filter((l) => l.result === 'ltcpool/0.1.0').length;
    const limited = flooder.lines.filter((l) => l.error?.[1] === 'Too many messages, slow down');
    // the burst (plus the odd token refilled while the packet arrives), then errors until the close
    expect(answered).toBeGreaterThanOrEqual(20);
    expect(answered).toBeLessThan(30);
    expect(limited.length).toBe(24);
    // answers keep their request ids, in order
    expect(flooder.lines.map((l) => l.id)).toEqual(Array.from({ length: answered + 24 }, (_, i) => i + 1));
    expect(p.server.bans.isBanned('127.0.0.2')).toBe(false);

    const again = await raw(p.port, '127.0.0.2');
    again.write(Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: i, method: 'client.get_version' }) + '\n').join(''));
    expect(await again.waitClosed()).toBe(true);
    expect(p.server.bans.isBanned('127.0.0.2')).toBe(true);
    expect(await metricValue(p.metrics, 'ltcpool_bans_total')).toBe(1);
    expect(await metricValue(p.metrics, 'ltcpool_banned_ips')).toBe(1);
    expect(await refusedAtAccept(p.port, '127.0.0.2')).toBe(true);

    const neighbour = await raw(p.port, '127.0.0.3');
    expect((await neighbour.request('client.get_version')).result).toBe('ltcpool/0.1.0');
    await expectHonestMinerServed(honest);
  });

  it('a ban closes the sessions that IP already holds', async () => {
    const p = await pool({ stratum: { bans: { threshold: 10 } } });
    const idle = await raw(p.port, '127.0.0.12');
    await idle.subscribeAndAuthorize(USER);
    const noisy = await raw(p.port, '127.0.0.12');
    noisy.write('garbage\n'.repeat(12)); // the score decays a little between lines: 12 × 1 point passes 10
    expect(await idle.waitClosed()).toBe(true);
    expect(await noisy.waitClosed()).toBe(true);
    expect(noisy.lines.filter((l) => l.error?.[1] === 'malformed JSON').length).toBeGreaterThan(0);
  });

  it('never bans an allow-listed IP, however much it floods', async () => {
    const p = await pool({
      stratum: { limits: { messagesPerSecond: 20, messagesBurst: 20, floodCloseAfter: 25 }, bans: { threshold: 10, allowList: ['127.0.0.4/32', '10.0.0.0/8', '::1'] } },
    });
    for (let round = 0; round < 4; round++) {
      const c = await raw(p.port, '127.0.0.4');
      c.write('not json\n'.repeat(20) + Array.from({ length: 100 }, () => '{"id":1,"method":"client.get_version"}\n').join(''));
      expect(await c.waitClosed()).toBe(true); // the flood still closes that connection
    }
    expect(p.server.bans.isBanned('127.0.0.4')).toBe(false);
    expect(await metricValue(p.metrics, 'ltcpool_bans_total')).toBe(0);
    const after = await raw(p.port, '127.0.0.4');
    expect((await after.request('client.get_version')).result).toBe('ltcpool/0.1.0');
  });

  it('bans an IP that keeps sending malformed messages, after error answers', async () => {
    const p = await pool({ stratum: { bans: { threshold: 15 } } });
    const c = await raw(p.port, '127.0.0.5');
    for (const line of ['{', '[]', '"x"', '{"id":7,"method":5}', '{"id":8,"method":"mining.subscribe","params":{}}']) c.write(line + '\n');
    await c.waitFor((l) => l.id === 8);
    expect(c.lines.map((l) => l.error?.[0])).toEqual([20, 20, 20, 20, 20]);
    expect(c.lines[3].id).toBe(7);
    expect(p.server.bans.isBanned('127.0.0.5')).toBe(false);
    c.write('nonsense\n'.repeat(20));
    expect(await c.waitClosed()).toBe(true);
    expect(p.server.bans.isBanned('127.0.0.5')).toBe(true);
  });

  it('closes a connection whose line passes maxLineBytes, and scores it', async () => {
    const p = await pool({ stratum: { limits: { maxLineBytes: 1024 }, bans: { threshold: 100 } } });
    const c = await raw(p.port, '127.0.0.6');
    c.write('{"id":1,"method":"mining.subscribe","params":["' + 'a'.repeat(2000));
    expect(await c.waitClosed()).toBe(true);
    expect(p.server.bans.score('127.0.0.6')).toBeGreaterThanOrEqual(19);
    // a line just under the limit is fine
    const ok = await raw(p.port, '127.0.0.7');
    const answer = await ok.request('mining.subscribe', ['x'.repeat(900)]);
    expect(Array.isArray(answer.result)).toBe(true);
  });

  it('refuses connections past connectionsPerIp at accept, per IP', async () => {
    const p = await pool({ stratum: { limits: { connectionsPerIp: 3 } } });
    const held = [await raw(p.port, '127.0.0.8'), await raw(p.port, '127.0.0.8'), await raw(p.port, '127.0.0.8')];
    await waitFor('3 sessions', () => p.server.connectionCount === 3, 2000);
    expect(await refusedAtAccept(p.port, '127.0.0.8')).toBe(true);
    const other = await raw(p.port, '127.0.0.9');
    expect((await other.request('client.get_version')).result).toBe('ltcpool/0.1.0');
    held[0].destroy();
    await waitFor('a slot frees', () => p.server.connectionCount === 3, 2000);
    const fourth = await raw(p.port, '127.0.0.8');
    expect((await fourth.request('client.get_version')).result).toBe('ltcpool/0.1.0');
  });

  it('closes connections that do not subscribe and authorize in time, and idle ones', async () => {
    const p = await pool({ stratum: { limits: { authorizeTimeoutSeconds: 0.6, idleTimeoutSeconds: 1.5 } } });
    const started = Date.now();
    const silent = await raw(p.port, '127.0.0.10');
    const subscribedOnly = await raw(p.port, '127.0.0.10');
    await subscribedOnly.request('mining.subscribe');
    const authorized = await raw(p.port, '127.0.0.11');
    await authorized.subscribeAndAuthorize(USER);
    expect(await silent.waitClosed(3000)).toBe(true);
    expect(await subscribedOnly.waitClosed(3000)).toBe(true);
    expect(silent.closedAt - started).toBeGreaterThanOrEqual(600);
    expect(authorized.closed).toBe(false);
    // the authorized one is silent from now on: the idle timeout takes it
    expect(await authorized.waitClosed(4000)).toBe(true);
    expect(authorized.closedAt - started).toBeGreaterThanOrEqual(1500);
  });

  it('refuses workers past maxWorkersPerConnection', async () => {
    const p = await pool({ stratum: { limits: { maxWorkersPerConnection: 2 } } });
    const c = await raw(p.port, '127.0.0.13');
    await c.request('mining.subscribe');
    expect((await c.request('mining.authorize', [`${FIXTURE_ADDRESS}.a`, 'x'])).result).toBe(true);
    expect((await c.request('mining.authorize', [`${FIXTURE_ADDRESS}.b`, 'x'])).result).toBe(true);
    const third = await c.request('mining.authorize', [`${FIXTURE_ADDRESS}.c`, 'x']);
    expect(third.result).toBe(false);
    expect(third.error?.[1]).toMatch(/too many workers/);
    // re-authorizing a known worker is fine
    expect((await c.request('mining.authorize', [`${FIXTURE_ADDRESS}.a`, 'x'])).result).toBe(true);
  });

  it('closes a client that never reads its answers once maxWriteBufferBytes is queued', async () => {
    const p = await pool({ stratum: { limits: { maxWriteBufferBytes: 16 * 1024, messagesPerSecond: 100000, messagesBurst: 100000 } } });
    const c = await raw(p.port, '127.0.0.14');
    c.socket.pause();
    // mining.configure answers each unknown extension by name: answers as big as the requests
    const extensions = Array.from({ length: 100 }, (_, i) => `x-${i}-${'e'.repeat(80)}`);
    const line = JSON.stringify({ id: 1, method: 'mining.configure', params: [extensions, {}] }) + '\n';
    const deadline = Date.now() + 15_000;
    let sent = 0;
    while (!c.closed && p.server.connectionCount > 0 && Date.now() < deadline) {
      if (c.socket.writableLength < 1_000_000) {
        c.write(line.repeat(20));
        sent += line.length * 20;
      }
      await new Promise((r) => setImmediate(r));
    }
    await waitFor('the server drops the non-reader', () => p.server.connectionCount === 0, 5000);
    expect(sent).toBeLessThan(200 * 1024 * 1024);
  });
});

describe('miners sending only rejected shares', () => {
  it('get fresh work, then client.reconnect, then a close, and are never banned', async () => {
    const p = await pool({ stratum: { limits: { rejectEscalation: { resendWorkAfter: 3, reconnectAfter: 5, closeAfter: 7 } }, bans: { threshold: 1 } } });
    const c = await raw(p.port, '127.0.0.15');
    await c.subscribeAndAuthorize(USER);
    const oldJob = c.lines.find((l) => l.method === 'mining.notify')!.params![0] as string;
    p.newBlock();
    await c.waitFor((l) => l.method === 'mining.notify' && l.params![0] !== oldJob);
    const marks: string[] = [];
    for (let i = 1; i <= 7; i++) {
      const before = c.lines.length;
      const answer = await c.request('mining.submit', [USER, oldJob, i.toString(16).padStart(8, '0'), '6b045964', '00000000']);
      expect(answer.error?.[0]).toBe(21); // stale
      await new Promise((r) => setTimeout(r, 30));
      const extra = c.lines.slice(before).filter((l) => l.method);
      marks.push(extra.map((l) => `${l.method}${l.method === 'mining.notify' ? `:${String(l.params![8])}` : ''}`).join(',') || '-');
    }
    expect(marks).toEqual(['-', '-', 'mining.notify:true', '-', 'client.reconnect', '-', '-']);
    expect(await c.waitClosed()).toBe(true);
    expect(p.server.bans.isBanned('127.0.0.15')).toBe(false);
    expect(p.server.bans.score('127.0.0.15')).toBe(0);
    const back = await raw(p.port, '127.0.0.15');
    await back.subscribeAndAuthorize(USER);
  });

  it('an accepted share resets the count', async () => {
    const p = await pool({ stratum: { limits: { rejectEscalation: { resendWorkAfter: 3, reconnectAfter: 5, closeAfter: 7 } } } });
    const miner = await honestMiner(p.port);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) expect((await miner.submit({ jobId: 'nosuchjob', extranonce2: '00000001', ntime: '6b045964', nonce: '00000000' })).error?.[0]).toBe(21);
      expect((await miner.submit(await miner.findShare())).result).toBe(true);
    }
    expect(miner.notifications.filter((n) => n.method === 'client.reconnect')).toEqual([]);
    expect(miner.socket?.destroyed).toBe(false);
  });
});

describe('PROXY protocol port', () => {
  it('takes the client IP from v1 and v2 headers for bans and limits; a bad header closes', async () => {
    const p = await pool({ stratum: { ports: [{ port: 0, difficulty: 1e-9, proxyProtocol: true }], bans: { threshold: 10 }, limits: { connectionsPerIp: 2 } } });
    const v1 = Buffer.from('PROXY TCP4 198.51.100.7 127.0.0.1 40000 3333\r\n');
    const victim = await raw(p.port, '127.0.0.1', { firstBytes: Buffer.concat([v1, Buffer.from('{"id":1,"method":"client.get_version"}\n')]) });
    expect((await victim.waitFor((l) => l.id === 1)).result).toBe('ltcpool/0.1.0');
    // the same balancer address, another client: v2 IPv6
    const v2 = Buffer.from('0d0a0d0a000d0a515549540a' + '21' + '21' + '0024' + '20010db8000000000000000000000099' + '00000000000000000000000000000001' + '9c40' + '0d05', 'hex');
    const attacker = await raw(p.port, '127.0.0.1', { firstBytes: v2 });
    attacker.write('garbage\n'.repeat(12));
    expect(await attacker.waitClosed()).toBe(true);
    expect(p.server.bans.isBanned('2001:db8::99')).toBe(true);
    expect(p.server.bans.isBanned('127.0.0.1')).toBe(false);
    // the balancer's own address is not banned, but a banned client behind it is, once its header arrives
    const banned = await raw(p.port, '127.0.0.1', { firstBytes: v2 });
    expect(await banned.waitClosed()).toBe(true);
    expect(banned.lines).toEqual([]);
    // per-IP connection limits count real client IPs, not the balancer's
    await raw(p.port, '127.0.0.1', { firstBytes: v1 });
    const third = await raw(p.port, '127.0.0.1', { firstBytes: Buffer.concat([v1, Buffer.from('{"id":1,"method":"client.get_version"}\n')]) });
    expect(await third.waitClosed()).toBe(true);
    const otherClient = await raw(p.port, '127.0.0.1', {
      firstBytes: Buffer.from('PROXY TCP4 203.0.113.50 127.0.0.1 40001 3333\r\n{"id":1,"method":"client.get_version"}\n'),
    });
    expect((await otherClient.waitFor((l) => l.id === 1)).result).toBe('ltcpool/0.1.0');
    // no header, or a broken one: closed without an answer
    for (const bytes of ['{"id":1,"method":"client.get_version"}\n', 'PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n{"id":1}\n']) {
      const bad = await raw(p.port, '127.0.0.1', { firstBytes: Buffer.from(bytes) });
      expect(await bad.waitClosed()).toBe(true);
      expect(bad.lines).toEqual([]);
    }
    expect(victim.closed).toBe(false);
  });

  it('closes a connection that never completes its header', async () => {
    const p = await pool({ stratum: { ports: [{ port: 0, difficulty: 1e-9, proxyProtocol: true }], limits: { proxyHeaderTimeoutSeconds: 0.3 } } });
    const slow = await raw(p.port, '127.0.0.16', { firstBytes: Buffer.from('PROXY TCP4 ') });
    expect(await slow.waitClosed(2000)).toBe(true);
  });
});

describe('TLS port', () => {
  it('serves Stratum over TLS with the configured certificate', async (context) => {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-tls-'));
      const cert = path.join(dir, 'cert.pem');
      const key = path.join(dir, 'key.pem');
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      } catch {
        console.log('openssl is not available: skipping the TLS port test');
        context.skip();
        return;
      }
      const p = await pool({ stratum: { ports: [{ port: 0, difficulty: 1e-9 }, { port: 0, difficulty: 1e-9, tls: { cert, key } }] } });
      const secure = await raw(p.ports[1], '127.0.0.17', { tls: true });
      await secure.subscribeAndAuthorize(USER);
      const peer = (secure.socket as import('node:tls').TLSSocket).getPeerCertificate();
      expect(peer.subject?.CN).toBe('127.0.0.1');
      // plain text on the TLS port is dropped without harm
      const plain = await raw(p.ports[1], '127.0.0.18');
      plain.write('{"id":1,"method":"client.get_version"}\n');
      expect(await plain.waitClosed(12_000)).toBe(true);
      expect((await secure.request('client.get_version')).result).toBe('ltcpool/0.1.0');
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a TLS port with an unreadable certificate fails at start with the file named', async () => {
    await expect(startFixturePool({ stratum: { ports: [{ port: 0, difficulty: 1, tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }] } })).rejects.toThrow(
      /\/nonexistent\/cert\.pem/,
    );
  });
});

describe('shutdown', () => {
  it('asks miners to reconnect in waves while still serving the rest', async () => {
    const p = await pool({ stratum: { shutdown: { waveFraction: 0.25, waveIntervalMs: 300, graceMs: 2000 } } });
    const miners: RawClient[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await raw(p.port, `127.0.1.${i + 1}`);
      await c.subscribeAndAuthorize(USER);
      miners.push(c);
    }
    // miners leave when asked, as real ones do
    for (const c of miners) {
      const check = setInterval(() => {
        if (c.lines.some((l) => l.method === 'client.reconnect')) {
          clearInterval(check);
          c.destroy();
        }
      }, 5);
    }
    const started = Date.now();
    const closing = p.stop({});
    await new Promise((r) => setTimeout(r, 100));
    p.newBlock(); // new work mid-shutdown still reaches the miners not yet asked to go
    await closing;
    const askedAt = miners.map((c) => c.lines.find((l) => l.method === 'client.reconnect')?.at ?? Number.NaN);
    expect(askedAt.every((t) => Number.isFinite(t))).toBe(true);
    // waves: groups of asks separated by the wave interval
    const sorted = [...askedAt].sort((a, b) => a - b);
    const waveSizes = [1];
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i] - sorted[i - 1] > 150) waveSizes.push(1);
      else waveSizes[waveSizes.length - 1]++;
    }
    expect(waveSizes).toEqual([5, 5, 5, 5]);
    expect(sorted[19] - sorted[0]).toBeGreaterThanOrEqual(850);
    expect(sorted[0] - started).toBeLessThan(300);
    const gotNewWork = miners.filter((c) => c.lines.filter((l) => l.method === 'mining.notify').length >= 2);
    expect(gotNewWork.length).toBeGreaterThanOrEqual(15);
    forgetPool(p);
  });
});

describe('broadcast', () => {
  it('to thousands of miners, holds new Scrypt work back until every notify is written; a share sent meanwhile is answered after', async () => {
    const p = await pool({ stratum: { staleGraceMs: 60_000 } });
    const many: RawClient[] = [];
    for (let chunk = 0; chunk < 7; chunk++) {
      many.push(...(await Promise.all(Array.from({ length: 300 }, async () => {
        const c = await raw(p.port, `127.0.3.${chunk + 1}`);
        await c.subscribeAndAuthorize(USER);
        return c;
      }))));
    }
    const miner = await honestMiner(p.port);
    const events: string[] = [];
    const pauseHashing = p.shares.pauseHashing.bind(p.shares);
    vi.spyOn(p.shares, 'pauseHashing').mockImplementation(() => {
      events.push('pause');
      const resume = pauseHashing();
      return () => {
        events.push('resume');
        resume();
      };
    });
    const share = await miner.findShare();
    p.newBlock();
    expect(events).toEqual(['pause']); // taken before the first batch of writes
    const answer = miner.submit(share); // arrives while the broadcast is being written
    await waitFor('the broadcast to end', () => events.includes('resume'), 10_000, 5);
    expect(events).toEqual(['pause', 'resume']);
    await waitFor('every miner to get the new job', () => many.every((c) => c.lines.filter((l) => l.method === 'mining.notify').length >= 2), 10_000);
    expect((await answer).result).toBe(true); // its job is still within the grace after the block change
  });
});

describe('difficulty floor', () => {
  it('d=1e-300 gets the port minimum difficulty (and a share below it is rejected); suggest_difficulty too; d=1e300 stops at vardiff max', async () => {
    const p = await pool({ stratum: { ports: [{ port: 0, difficulty: 1, minDifficulty: 0.5 }], vardiff: { enabled: false, maxDifficulty: 1e9 } } });
    const fixed = track(new TestMiner({ host: '127.0.0.1', port: p.port, username: USER, password: 'x,d=1e-300', requestTimeoutMs: 5000 }));
    expect((await fixed.start()).result).toBe(true);
    await fixed.waitForJob();
    expect(fixed.difficulty).toBe(0.5);
    // The first nonce meets 1e-9 but (all but surely) not 0.5: before the floor it was an accepted, stored share.
    const answer = await fixed.submit(await fixed.findShare(1e-9));
    expect(answer.error?.[0]).toBe(23);

    const suggesting = await raw(p.port, '127.0.0.31');
    await suggesting.subscribeAndAuthorize(USER);
    await suggesting.request('mining.suggest_difficulty', [1e-300]);
    await suggesting.waitFor((l) => l.method === 'mining.set_difficulty' && l.params![0] === 0.5);

    const huge = track(new TestMiner({ host: '127.0.0.1', port: p.port, username: USER, password: 'd=1e300', requestTimeoutMs: 5000 }));
    expect((await huge.start()).result).toBe(true);
    await huge.waitForJob();
    expect(huge.difficulty).toBe(1e9);
  });

  it('a port minDifficulty above the port difficulty is refused, naming the field', () => {
    expect(() => fixtureConfig({ stratum: { ports: [{ port: 0, difficulty: 1, minDifficulty: 2 }] } })).toThrow(/stratum\.ports\.0\.minDifficulty: must not exceed the port difficulty/);
  });
});
