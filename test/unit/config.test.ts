import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/ops/config.js';

const minimal = {
  network: 'regtest',
  pool: { address: 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg' },
  node: { rpcUrl: 'http://user:secret@127.0.0.1:19443' },
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it.each(readdirSync('config').filter((f) => f.endsWith('.json')))('example config/%s is valid', (file) => {
    const config = loadConfig(path.join('config', file), {});
    expect(config.stratum.ports.length).toBeGreaterThan(0);
  });

  it('fills safe defaults', () => {
    const config = parseConfig(minimal);
    expect(config.stratum.host).toBe('127.0.0.1');
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.stratum.extranonce2Size).toBe(4);
    expect(config.stratum.vardiff.targetSeconds).toBe(10);
    expect(config.payouts.scheme).toBe('pplns');
    expect(config.payouts.maturity).toBe(101); // the wallet spends a coinbase from its 101st confirmation
    expect(config.payouts.orphanConfirmations).toBe(10);
  });

  it('runs from the environment alone', () => {
    const config = parseConfig({}, {
      LTCPOOL_NETWORK: 'testnet',
      LTCPOOL_RPC_URL: 'http://u:p@127.0.0.1:19332',
      LTCPOOL_POOL_ADDRESS: 'tltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y0gcz5s',
      LTCPOOL_STRATUM_PORT: '3335',
      LTCPOOL_HTTP_PORT: '9200',
      DATABASE_URL: 'postgres://x@127.0.0.1/y',
    });
    expect(config.network).toBe('testnet');
    expect(config.stratum.ports[0].port).toBe(3335);
    expect(config.http.port).toBe(9200);
    expect(config.database.url).toBe('postgres://x@127.0.0.1/y');
  });

  it.each([
    [{ ...minimal, network: 'dogecoin' }, /^network: /],
    [{ ...minimal, pool: { address: 'ltc1qvjppdf5w4vt5h3ju85le236up4vqfd3yc6mt86' } }, /^pool\.address: .*not a regtest address/],
    [{ ...minimal, pool: { address: 'tmweb1qq04yl4kuaeds98rsm27xt0ng52nrvvaccfxzlrxnp5h3n3qdnxyykqum63hk6xv8dk0y0ku29s3q9ylyecgfma0k5j8d2zsqey43ng6c7y8kn32n' } }, /^pool\.address: .*MWEB/],
    [{ ...minimal, node: { rpcUrl: 'not a url' } }, /^node\.rpcUrl: /],
    [{ ...minimal, stratum: { ports: [{ port: 70000 }] } }, /^stratum\.ports\.0\.port: /],
    [{ ...minimal, stratum: { ports: [{ port: 3333 }, { port: 3333 }] } }, /^stratum\.ports\.1\.port: port 3333 is listed twice/],
    [{ ...minimal, stratum: { ports: [{ port: 3333, difficulty: 0 }] } }, /^stratum\.ports\.0\.difficulty: /],
    [{ ...minimal, stratum: { vardiff: { minDifficulty: 10, maxDifficulty: 1 } } }, /^stratum\.vardiff\.minDifficulty: /],
    [{ ...minimal, network: 'mainnet', pool: { address: 'ltc1qvjppdf5w4vt5h3ju85le236up4vqfd3yc6mt86' } }, /^database\.url: required on mainnet/],
    [{ ...minimal, payouts: { minimumPayout: '0.1' } }, /^payouts\.minimumPayout: /],
  ])('names the field and the reason: %#', (raw, pattern) => {
    const problems = problemsOf(() => parseConfig(raw));
    expect(problems.some((p) => pattern.test(p)), problems.join('; ')).toBe(true);
  });

  it('reports a bad address together with the other problems, not in a second round', () => {
    const problems = problemsOf(() => parseConfig({
      ...minimal,
      pool: { address: 'ltc1qvjppdf5w4vt5h3ju85le236up4vqfd3yc6mt86' }, // a mainnet address on regtest
      stratum: { extranonce2Size: 99 },
      payouts: { feePercent: 1, feeAddresses: [{ address: 'not-an-address', weight: 1 }] },
    }, { LTCPOOL_HTTP_PORT: 'eighty' }));
    expect(problems.some((p) => /^stratum\.extranonce2Size: /.test(p)), problems.join('; ')).toBe(true);
    expect(problems.some((p) => /^pool\.address: /.test(p)), problems.join('; ')).toBe(true);
    expect(problems.some((p) => /^payouts\.feeAddresses\.0\.address: /.test(p)), problems.join('; ')).toBe(true);
    expect(problems).toContain('LTCPOOL_HTTP_PORT: must be a whole number, got "eighty"');
  });

  it('rejects a bad environment value by name', () => {
    expect(problemsOf(() => parseConfig(minimal, { LTCPOOL_HTTP_PORT: 'eighty' }))).toContain('LTCPOOL_HTTP_PORT: must be a whole number, got "eighty"');
  });

  it('reports unreadable and malformed files', () => {
    expect(problemsOf(() => loadConfig('/nonexistent/ltcpool.json', {}))[0]).toMatch(/cannot be read \(ENOENT\)/);
    expect(problemsOf(() => loadConfig('package-lock.json', {})).join()).toMatch(/network: /);
  });
});
