import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFields, drainNoticeMs, editDistance, environmentVariables, envName, loadConfig, parseConfig } from '../../src/ops/config.js';

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

  it('drains with a notice to the load balancer when a Stratum port takes the PROXY protocol (or as configured)', () => {
    const port = (proxyProtocol: boolean) => ({ port: proxyProtocol ? 3334 : 3333, difficulty: 1, proxyProtocol });
    expect(drainNoticeMs(parseConfig(minimal))).toBe(0);
    expect(drainNoticeMs(parseConfig({ ...minimal, stratum: { ports: [port(false), port(true)] } }))).toBe(1500);
    expect(drainNoticeMs(parseConfig({ ...minimal, stratum: { ports: [port(true)], shutdown: { drainNoticeMs: 0 } } }))).toBe(0);
    expect(drainNoticeMs(parseConfig({ ...minimal, stratum: { shutdown: { drainNoticeMs: 3000 } } }))).toBe(3000);
  });

  it('fills safe defaults', () => {
    const config = parseConfig(minimal);
    expect(config.stratum.host).toBe('127.0.0.1');
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.stratum.extranonce2Size).toBe(4);
    expect(config.node.longpoll).toBe(false); // issue 10: long polls wedged litecoind's RPC threads across restarts
    expect(config.node.pollIntervalMs).toBe(250);
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
      LTCPOOL_WALLET_RPC_URL: 'http://wallet:w@127.0.0.1:19332',
    });
    expect(config.network).toBe('testnet');
    expect(config.payouts.walletRpcUrl).toBe('http://wallet:w@127.0.0.1:19332');
    expect(config.node.rpcUrl).toBe('http://u:p@127.0.0.1:19332');
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
    expect(problems).toContain('LTCPOOL_HTTP_PORT: must be a number, got "eighty" (sets http.port)');
  });

  // Issue 10: compose configures only through the environment, and there was no variable for the fee recipients.
  it('has an environment variable for every field', () => {
    const names = new Set(environmentVariables().map((v) => v.name));
    const missing = configFields().filter((f) => !f.path.includes('[]') && !names.has(envName(f.path)));
    expect(missing).toEqual([]);
    expect(envName('payouts.feePercent')).toBe('LTCPOOL_PAYOUTS_FEE_PERCENT');
    expect(envName('stratum.limits.maxLineBytes')).toBe('LTCPOOL_STRATUM_LIMITS_MAX_LINE_BYTES');
  });

  it('reads numbers, booleans, lists and fee recipients from the environment', () => {
    const config = parseConfig(minimal, {
      LTCPOOL_PAYOUTS_FEE_PERCENT: '1.5',
      LTCPOOL_PAYOUTS_FEE_ADDRESSES: `${minimal.pool.address}:3, rltc1q0t7jyc8ppfny7zf8dq48mtv9s5tc22jz9erwnz`,
      LTCPOOL_NODE_LONGPOLL: 'true',
      LTCPOOL_STRATUM_BANS_ALLOW_LIST: '10.0.0.0/8,127.0.0.1',
      LTCPOOL_STRATUM_PORTS: '[{"port": 3340, "difficulty": 8}]',
      LTCPOOL_PAYOUTS_MINIMUM_PAYOUT: '5000',
    });
    expect(config.payouts.feePercent).toBe(1.5);
    expect(config.payouts.feeAddresses).toEqual([{ address: minimal.pool.address, weight: 3 }, { address: 'rltc1q0t7jyc8ppfny7zf8dq48mtv9s5tc22jz9erwnz', weight: 1 }]);
    expect(config.node.longpoll).toBe(true);
    expect(config.stratum.bans.allowList).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(config.stratum.ports).toMatchObject([{ port: 3340, difficulty: 8 }]);
    expect(config.payouts.minimumPayout).toBe('5000');
  });

  it('names the variable of a bad environment value', () => {
    expect(problemsOf(() => parseConfig(minimal, { LTCPOOL_NODE_LONGPOLL: 'maybe' }))).toEqual(['LTCPOOL_NODE_LONGPOLL: must be true or false, got "maybe" (sets node.longpoll)']);
  });

  it('rejects a bad environment value by name', () => {
    expect(problemsOf(() => parseConfig(minimal, { LTCPOOL_HTTP_PORT: 'eighty' }))).toContain('LTCPOOL_HTTP_PORT: must be a number, got "eighty" (sets http.port)');
  });

  it('reports unreadable and malformed files', () => {
    expect(problemsOf(() => loadConfig('/nonexistent/ltcpool.json', {}))[0]).toMatch(/cannot be read \(ENOENT\)/);
    expect(problemsOf(() => loadConfig('package-lock.json', {})).join()).toMatch(/network: /);
  });

  // Issue 10: unknown keys used to be dropped silently ("feePercnt" kept the default fee, "prots" the default port).
  it.each([
    [{ ...minimal, payouts: { feePercnt: 0 } }, 'payouts.feePercnt: unknown key (did you mean "feePercent"?)'],
    [{ ...minimal, stratum: { prots: [{ port: 3333 }] } }, 'stratum.prots: unknown key (did you mean "ports"?)'],
    [{ ...minimal, stratum: { ports: [{ port: 3333, difficulty: 1, proxyprotocol: true }] } }, 'stratum.ports.0.proxyprotocol: unknown key (did you mean "proxyProtocol"?)'],
    [{ ...minimal, stratum: { limits: { rejectEscalation: { closeAfterr: 9 } } } }, 'stratum.limits.rejectEscalation.closeAfterr: unknown key (did you mean "closeAfter"?)'],
    [{ ...minimal, node: { ...minimal.node, longPoll: false } }, 'node.longPoll: unknown key (did you mean "longpoll"?)'],
    [{ ...minimal, feePercent: 0 }, 'feePercent: unknown key (did you mean "payouts.feePercent"?)'],
    [{ ...minimal, log: { level: 'info', format: 'json' } }, 'log.format: unknown key'],
  ])('refuses an unknown key with its path and a suggestion: %#', (raw, expected) => {
    const problems = problemsOf(() => parseConfig(raw));
    expect(problems.some((p) => p.startsWith(expected)), problems.join('; ')).toBe(true);
    if (!expected.includes('did you mean')) expect(problems.join()).not.toMatch(/did you mean/);
  });

  it('lists the keys known where an unknown one was found', () => {
    const problems = problemsOf(() => parseConfig({ ...minimal, http: { prot: 1 } }));
    expect(problems).toEqual(['http.prot: unknown key (did you mean "port"?); known keys here: host, port, enabled, dashboard']);
  });

  it('edit distance', () => {
    expect(editDistance('feePercnt', 'feePercent')).toBe(1);
    expect(editDistance('prots', 'ports')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  // Issue 10: serve accepted a fee that `payouts` refused days later.
  it.each([
    [{ payouts: { feePercent: 1 } }, /^payouts\.feeAddresses: a fee of 1% needs at least one fee address/],
    [{ payouts: { feePercent: 1.255, feeAddresses: [{ address: minimal.pool.address }] } }, /^payouts\.feePercent: .*not a whole number of basis points/],
  ])('validates the fee in every command: %#', (extra, pattern) => {
    const problems = problemsOf(() => parseConfig({ ...minimal, ...extra }));
    expect(problems.some((p) => pattern.test(p)), problems.join('; ')).toBe(true);
  });

  it('defaults to no fee, so a configuration without fee addresses is whole', () => {
    expect(parseConfig(minimal).payouts.feePercent).toBe(0);
  });

  it('reports every problem of a configuration at once, one per field', () => {
    const problems = problemsOf(() => parseConfig({
      ...minimal,
      stratum: { prots: [], extranonce2Size: 1 },
      payouts: { feePercent: 2.001 },
      http: { port: -1 },
    }));
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['http.port', 'payouts.feePercent', 'stratum.extranonce2Size', 'stratum.prots']);
  });
});

/** The README's configuration table: `| \`path\` | default | meaning |`, one row per schema field. */
function readmeRows(): Map<string, string> {
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('## Configuration reference');
  const end = readme.indexOf('\n## ', start + 1);
  const rows = new Map<string, string>();
  for (const line of readme.slice(start, end).split('\n')) {
    const m = /^\| `([A-Za-z0-9.[\]]+)` \|([^|]*)\|/.exec(line);
    if (m && !m[1].startsWith('LTCPOOL_') && m[1] !== 'DATABASE_URL') rows.set(m[1], m[2].trim());
  }
  return rows;
}

function formatDefault(value: unknown): string {
  return typeof value === 'string' ? `\`${value}\`` : JSON.stringify(value);
}

describe('README configuration reference (kept in step with the schema)', () => {
  const rows = readmeRows();
  const fields = configFields();

  it('has a row for every field of the schema', () => {
    const missing = fields.map((f) => f.path).filter((p) => !rows.has(p));
    expect(missing, 'add these rows to README "Configuration reference"').toEqual([]);
  });

  it('names only fields the schema has', () => {
    const known = new Set(fields.map((f) => f.path));
    expect([...rows.keys()].filter((p) => !known.has(p)), 'README rows for fields the schema does not have').toEqual([]);
  });

  it('gives the schema\'s default for every field', () => {
    const wrong = fields.flatMap((f) => {
      const cell = rows.get(f.path);
      if (cell === undefined) return [];
      const expected = f.required ? '(required)' : 'default' in f ? formatDefault(f.default) : undefined;
      if (expected === undefined) return cell === '(required)' ? [`${f.path}: optional, README says (required)`] : [];
      return cell === expected ? [] : [`${f.path}: README says ${cell}, schema ${expected}`];
    });
    expect(wrong).toEqual([]);
  });
});
