/**
 * The habits of the clients operators actually run (bfgminer, cgminer and the ASIC firmware descended from
 * it), reproduced by the test miner's habit modes against the real Stratum server (fixture template, no node).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TestMiner, type MinerHabits } from '../../src/miner/miner.js';
import { sha256d } from '../../src/work/bytes.js';
import { difficultyToTarget } from '../../src/work/difficulty.js';
import { merkleBranch } from '../../src/work/merkle.js';
import { freePorts } from '../harness/ports.js';
import { FIXTURE_ADDRESS, startFixturePool, TINY_DIFFICULTY } from '../load/fixture-pool.js';
import { FIXTURE_USER, fixturesPerTest } from '../support/fixture-clients.js';
import { metricValue, waitFor } from '../support/pool.js';

const USER = FIXTURE_USER;
const { pool, raw, track, trackPool } = fixturesPerTest();

function miner(port: number, habits: MinerHabits, extra: Partial<ConstructorParameters<typeof TestMiner>[0]> = {}): TestMiner {
  return track(new TestMiner({ host: '127.0.0.1', port, username: USER, requestTimeoutMs: 3000, habits, ...extra }));
}

function hex64(value: bigint): string {
  return value.toString(16).padStart(64, '0');
}

describe('TLS ClientHello on a plain port (bfgminer on stratum+tcp)', () => {
  it('100 probes from one IP: each closed quietly, no ban score; the IP mines on', async () => {
    const p = await pool({ stratum: { bans: { threshold: 10 } } });
    const prober = miner(p.port, { tlsProbeFirst: true });
    for (let i = 0; i < 99; i++) await prober.probeTls();
    expect((await prober.start()).result).toBe(true); // the 100th probe, then the plain connection
    expect(prober.tlsProbes).toBe(100);
    expect(p.server.bans.score('127.0.0.1')).toBe(0);
    expect(p.server.bans.isBanned('127.0.0.1')).toBe(false);
    expect(await metricValue(p.metrics, 'ltcpool_tls_probes_total')).toBe(100);
    const share = await prober.findShare();
    expect((await prober.submit(share)).result).toBe(true);
    // an unrelated miner on the same address is served
    const neighbour = await raw(p.port);
    expect((await neighbour.request('client.get_version')).result).toBe('ltcpool/0.1.0');
  });
});

describe('a port serving TLS and plain Stratum (tls.optional)', () => {
  it('a ClientHello gets TLS, plain text gets Stratum, on the one port; nothing is scored', async (context) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-tls-optional-'));
    try {
      const cert = path.join(dir, 'cert.pem');
      const key = path.join(dir, 'key.pem');
      try {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      } catch {
        console.log('openssl is not available: skipping the optional-TLS port test');
        context.skip();
        return;
      }
      const p = await pool({ stratum: { ports: [{ port: 0, difficulty: 1e-9, tls: { cert, key, optional: true } }], bans: { threshold: 5 } } });
      const secure = await raw(p.port, '127.0.0.4', { tls: true });
      await secure.subscribeAndAuthorize(USER);
      expect((secure.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN).toBe('127.0.0.1');
      const plain = await raw(p.port, '127.0.0.4');
      await plain.subscribeAndAuthorize(USER);
      // bfgminer's habit on a stratum+tcp URL: the probe is answered as TLS
      const bfg = miner(p.port, { tlsProbeFirst: true });
      for (let i = 0; i < 10; i++) await bfg.probeTls();
      expect(bfg.tlsProbesAnswered).toBe(10);
      expect((await bfg.start()).result).toBe(true);
      expect(p.server.bans.score('127.0.0.4')).toBe(0);
      expect(p.server.bans.score('127.0.0.1')).toBe(0);
      expect((await secure.request('client.get_version')).result).toBe('ltcpool/0.1.0');
      expect((await plain.request('client.get_version')).result).toBe('ltcpool/0.1.0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('notifications (id: null) are never answered', () => {
  it('a raw client sending every kind of notification gets no answer to any', async () => {
    const p = await pool();
    const c = await raw(p.port, '127.0.0.2');
    const notifications = [
      { id: null, method: 'mining.suggest_target', params: [hex64(difficultyToTarget(2))] },
      { id: null, method: 'mining.suggest_difficulty', params: [2] },
      { id: null, method: 'mining.suggest_difficulty', params: ['nonsense'] },
      { id: null, method: 'client.get_version', params: [] },
      { id: null, method: 'mining.no_such_method', params: [] },
      { id: null, method: 'mining.submit', params: [USER, 'nosuchjob', '00000000', '00000000', '00000000'] },
      { id: null, method: 'mining.submit', params: {} },
      { method: 'client.get_version' },
    ];
    c.write(notifications.map((n) => JSON.stringify(n) + '\n').join(''));
    await c.subscribeAndAuthorize(USER);
    await c.request('client.get_version');
    await new Promise((r) => setTimeout(r, 100));
    const answers = c.lines.filter((l) => l.method === undefined);
    expect(answers.map((l) => l.id)).toEqual([1, 2, 3]);
    // the suggest_target notification was acted upon: difficulty 2 before the first job
    expect(c.lines.find((l) => l.method === 'mining.set_difficulty')?.params).toEqual([2]);
  });

  it('bfgminer habit: suggest_target before subscribe gets no answer, subscribes on the first try, and sets the difficulty', async () => {
    const p = await pool();
    const target = hex64(difficultyToTarget(0.001));
    const m = miner(p.port, { suggestTargetFirst: target });
    expect((await m.start()).result).toBe(true);
    await m.waitForJob();
    expect(m.strayAnswers).toEqual([]);
    expect(m.difficulty).toBe(0.001);
    const share = await m.findShare();
    expect((await m.submit(share)).result).toBe(true);
  });
});

describe('mining.get_transactions', () => {
  it("answers the job's transactions: the merkle branch rebuilt from them is the one in mining.notify", async () => {
    const p = await pool();
    const c = await raw(p.port, '127.0.0.3');
    await c.subscribeAndAuthorize(USER);
    const notify = c.lines.find((l) => l.method === 'mining.notify')!;
    const [jobId, , , , branch] = notify.params as [string, string, string, string, string[]];
    expect(branch.length).toBeGreaterThan(0); // the fixture template: segwit sends, a peg-in and the HogEx
    for (const answer of [await c.request('mining.get_transactions', [jobId]), await c.request('mining.get_transactions', [])]) {
      expect(answer.error).toBeNull();
      const transactions = answer.result as string[];
      expect(transactions).toHaveLength(p.jobs.current!.template.transactions.length);
      const txids = transactions.map((hex) => sha256d(Buffer.from(hex, 'hex')));
      expect(merkleBranch(txids).map((h) => h.toString('hex'))).toEqual(branch);
    }
    // only jobs this connection received
    const unknown = await c.request('mining.get_transactions', ['nosuchjob']);
    expect(unknown.error?.[0]).toBe(21);
  });
});

describe('device classes', () => {
  /** A fast idle vardiff: silent miners' difficulty is halved every ~0.2 s (the tick follows the authorize timeout). */
  const idleVardiff = {
    ports: [{ port: 0, difficulty: 0.001 }],
    vardiff: { enabled: true, idleSeconds: 0.2, minDifficulty: 1e-8 },
    limits: { authorizeTimeoutSeconds: 0.8 },
  };

  function difficulties(m: TestMiner): number[] {
    return m.notifications.filter((n) => n.method === 'mining.set_difficulty').map((n) => Number(n.params[0]));
  }

  it('a silent cgminer-lineage miner is never driven below its floor of 16, by the port, vardiff, d= or suggest_target', async () => {
    const p = await pool({ stratum: idleVardiff });
    const bfg = miner(p.port, { difficultyFloor: 16, suggestTargetFirst: hex64(difficultyToTarget(0.0005)) }, { userAgent: 'bfgminer/5.5.0' });
    const fixed = miner(p.port, { difficultyFloor: 16 }, { userAgent: 'cgminer/4.12.1', password: 'd=0.001' });
    const plain = miner(p.port, {}, { userAgent: 'ltcpool-testminer/1' });
    for (const m of [bfg, fixed, plain]) expect((await m.start()).result).toBe(true);
    // vardiff's idle cut works: the classless miner goes below the port's 0.001 within a second
    await new Promise((r) => setTimeout(r, 1200));
    expect(Math.min(...difficulties(plain))).toBeLessThan(0.001);
    for (const m of [bfg, fixed]) {
      expect(difficulties(m).length).toBeGreaterThan(0);
      expect(Math.min(...difficulties(m))).toBe(16);
      expect(m.miningDifficulty).toBe(16); // what the client hashes at is what the pool asks for
    }
  });

  it('a class starts its miners at its start difficulty; a configured table replaces the built-in one', async () => {
    const p = await pool({
      stratum: {
        ...idleVardiff,
        deviceClasses: [{ name: 'l9', match: '^bmminer/2\\.0\\.0 L9', startDifficulty: 2_400_000, minDifficulty: 500_000 }],
      },
    });
    const l9 = miner(p.port, {}, { userAgent: 'bmminer/2.0.0 L9' });
    const cgminer = miner(p.port, {}, { userAgent: 'cgminer/4.12.1' }); // not in the configured table
    for (const m of [l9, cgminer]) expect((await m.start()).result).toBe(true);
    await l9.waitForJob();
    expect(difficulties(l9)[0]).toBe(2_400_000);
    await new Promise((r) => setTimeout(r, 1200));
    expect(Math.min(...difficulties(l9))).toBe(500_000);
    expect(Math.min(...difficulties(cgminer))).toBeLessThan(16);
  });
});

describe('shutdown: client.reconnect obeyed at once reaches a listening port', () => {
  async function obedientMiners(port: number, count: number): Promise<TestMiner[]> {
    const out: TestMiner[] = [];
    for (let i = 0; i < count; i++) {
      const m = miner(port, { obeyReconnect: true }, { userAgent: 'cgminer/4.12.1' });
      expect((await m.start()).result).toBe(true);
      out.push(m);
    }
    return out;
  }

  it('shutdown.reconnectTo sends every miner, in waves, to the other instance', async () => {
    const target = await pool();
    const p = await startFixturePool({ stratum: { shutdown: { waveFraction: 0.5, waveIntervalMs: 100, graceMs: 1000, reconnectTo: `127.0.0.1:${target.port}` } } });
    const miners = await obedientMiners(p.port, 6);
    await p.stop({ reconnect: true }); // SIGTERM's path: the configured shutdown settings
    // the last wave's miners may still be connecting when stop() returns (seen on a loaded machine)
    await waitFor('every miner reconnected', () => miners.every((m) => m.redirects.some((r) => r.connected)), 5000);
    for (const m of miners) expect(m.redirects).toEqual([{ host: '127.0.0.1', port: target.port, connected: true }]);
    await waitFor('every miner on the other instance', () => target.server.stats().workers === 6, 5000);
  });

  it('without reconnectTo the port keeps accepting until the waves are out: miners coming straight back are served', async () => {
    const p = await startFixturePool({ stratum: { shutdown: { waveFraction: 0.5, waveIntervalMs: 200, graceMs: 300 } } });
    const miners = await obedientMiners(p.port, 4);
    const stopping = p.stop({ reconnect: true });
    await waitFor('every miner to follow client.reconnect', () => miners.every((m) => m.redirects.length > 0), 3000);
    await stopping;
    for (const m of miners) expect(m.redirects).toEqual([{ host: '127.0.0.1', port: p.port, connected: true }]);
    // each was asked once: a miner that came back is not bounced again
    for (const m of miners) expect(m.notifications.filter((n) => n.method === 'client.reconnect')).toHaveLength(1);
  });

  it('a successor started during the waves waits for the port, takes it when released, and the miners land on it', async () => {
    const [port] = await freePorts(1);
    const settings = { stratum: { ports: [{ port, difficulty: TINY_DIFFICULTY }], shutdown: { waveFraction: 0.5, waveIntervalMs: 300, graceMs: 300 } } };
    const old = await startFixturePool(settings);
    const miners: TestMiner[] = [];
    for (let i = 0; i < 4; i++) {
      const m = miner(port, { obeyReconnect: true }, { userAgent: 'cgminer/4.12.1', autoReconnect: true });
      expect((await m.start()).result).toBe(true);
      miners.push(m);
    }
    const stopping = old.stop({ reconnect: true });
    const successor = startFixturePool(settings); // while the old one still listens
    await stopping;
    const next = await successor;
    trackPool(next);
    await waitFor('every miner on the successor', () => next.server.stats().workers === 4, 5000);
  });

  it('a malformed shutdown.reconnectTo is refused with the field named', async () => {
    const { parseConfig } = await import('../../src/ops/config.js');
    const base = { network: 'regtest', pool: { address: FIXTURE_ADDRESS }, node: { rpcUrl: 'http://127.0.0.1:1' } };
    for (const bad of ['pool.example.com', 'host:0', 'host:70000', '::1:3333']) {
      expect(() => parseConfig({ ...base, stratum: { shutdown: { reconnectTo: bad } } })).toThrow(/stratum\.shutdown\.reconnectTo: must be host:port/);
    }
    expect(parseConfig({ ...base, stratum: { shutdown: { reconnectTo: '[::1]:3333' } } }).stratum.shutdown.reconnectTo).toBe('[::1]:3333');
  });
});
