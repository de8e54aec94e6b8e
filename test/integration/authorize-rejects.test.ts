// Issue 10: a refused mining.authorize used to leave no trace (no log line, no metric): a farm with a mistyped
// address mined nothing and the operator could not see why. The real Stratum server on the fixture template.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FIXTURE_ADDRESS, startFixturePool } from '../load/fixture-pool.js';
import { fixturesPerTest } from '../support/fixture-clients.js';
import { metricValue } from '../support/pool.js';

const { raw, trackPool } = fixturesPerTest();

const MAINNET_ADDRESS = 'ltc1qvjppdf5w4vt5h3ju85le236up4vqfd3yc6mt86';

describe('refused mining.authorize', () => {
  it('is counted by reason and logged at a sampled rate', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
    const pool = trackPool(await startFixturePool({ stratum: { limits: { maxWorkersPerConnection: 2 } } }, { logger: pino({ level: 'info' }, sink) }));
    const client = await raw(pool.port);
    const refused = async (username: unknown) => {
      const answer = await client.request('mining.authorize', [username, 'x']);
      expect(answer.result, JSON.stringify(answer)).not.toBe(true);
      return answer.error?.[1];
    };
    await client.request('mining.subscribe', []);
    for (let i = 0; i < 5; i++) expect(await refused('not-an-address.rig')).toMatch(/invalid Litecoin address|bad/i);
    expect(await refused(`${MAINNET_ADDRESS}.rig`)).toMatch(/not a regtest address/);
    expect(await refused(`${FIXTURE_ADDRESS}.bad worker!`)).toMatch(/worker name/);
    expect(await refused(42)).toMatch(/username must be/);
    expect((await client.request('mining.authorize', [`${FIXTURE_ADDRESS}.a`, 'x'])).result).toBe(true);
    expect((await client.request('mining.authorize', [`${FIXTURE_ADDRESS}.b`, 'x'])).result).toBe(true);
    expect(await refused(`${FIXTURE_ADDRESS}.c`)).toMatch(/too many workers/);

    const count = (reason: string) => metricValue(pool.metrics, 'ltcpool_authorize_rejects_total', { reason });
    expect(await count('bad-address')).toBe(5);
    expect(await count('wrong-network')).toBe(1);
    expect(await count('bad-worker-name')).toBe(1);
    expect(await count('bad-username')).toBe(1);
    expect(await count('too-many-workers')).toBe(1);

    const logged = lines.filter((l) => l.msg === 'mining.authorize refused');
    // One line per reason within the sampling interval: five bad addresses in a row wrote one line.
    expect(logged.map((l) => l.reason).sort()).toEqual(['bad-address', 'bad-username', 'bad-worker-name', 'too-many-workers', 'wrong-network']);
    expect(logged.find((l) => l.reason === 'wrong-network')).toMatchObject({ username: `${MAINNET_ADDRESS}.rig`, ip: '127.0.0.1' });
  });
});
