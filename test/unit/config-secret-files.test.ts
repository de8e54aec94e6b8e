/** `<VARIABLE>_FILE`: secrets come from files (docker secrets), are read again on each load, and never echoed. */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { POOL_RPC_METHODS } from '../../src/chain/wallet-probe.js';
import { ConfigError, parseConfig } from '../../src/ops/config.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-secret-files-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
const base = { network: 'regtest', pool: { address: 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg' } };

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(base, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('*_FILE environment variables', () => {
  it('read URLs with credentials from files (one trailing newline dropped), again on every load', () => {
    const rpc = file('pool-rpc-url', 'http://ltcpool-serve:s3cret@127.0.0.1:9332\n');
    const env = {
      LTCPOOL_RPC_URL_FILE: rpc,
      LTCPOOL_WALLET_RPC_URL_FILE: file('wallet-rpc-url', 'http://ltcpool-wallet:w4llet@127.0.0.1:9332\n'),
      DATABASE_URL_FILE: file('database-url', 'postgres://ltcpool:dbpw@db:5432/ltcpool\r\n'),
      LTCPOOL_PAYOUTS_MINIMUM_PAYOUT_FILE: file('minimum', '5000\n'),
    };
    const config = parseConfig(base, env);
    expect(config.node.rpcUrl).toBe('http://ltcpool-serve:s3cret@127.0.0.1:9332');
    expect(config.payouts.walletRpcUrl).toBe('http://ltcpool-wallet:w4llet@127.0.0.1:9332');
    expect(config.database.url).toBe('postgres://ltcpool:dbpw@db:5432/ltcpool');
    expect(config.payouts.minimumPayout).toBe('5000');
    fs.writeFileSync(rpc, 'http://ltcpool-serve:rotated@127.0.0.1:9332\n');
    expect(parseConfig(base, env).node.rpcUrl).toBe('http://ltcpool-serve:rotated@127.0.0.1:9332');
  });

  it('names the variable and the path, never the contents, when something is wrong', () => {
    const missing = path.join(dir, 'nope');
    expect(problems({ LTCPOOL_RPC_URL_FILE: missing })).toContain(`LTCPOOL_RPC_URL_FILE: cannot read ${missing} (ENOENT)`);
    const both = problems({ LTCPOOL_RPC_URL: 'http://u:p@127.0.0.1:1', LTCPOOL_RPC_URL_FILE: file('x', 'http://u:p@127.0.0.1:1') });
    expect(both).toContain("LTCPOOL_RPC_URL_FILE: LTCPOOL_RPC_URL is set too; set only one of them");
    const bad = problems({ LTCPOOL_RPC_URL_FILE: file('bad', 'not a url with p4ssw0rd') });
    expect(bad.join('\n')).toMatch(/node\.rpcUrl/);
    expect(bad.join('\n')).not.toContain('p4ssw0rd');
  });

  it('leaves variables that end in _FILE of their own alone (LTCPOOL_RPC_COOKIE_FILE is a path)', () => {
    const config = parseConfig({ ...base, node: { rpcUrl: 'http://127.0.0.1:9332' } }, { LTCPOOL_RPC_COOKIE_FILE: '/data/.cookie' });
    expect(config.node.cookieFile).toBe('/data/.cookie');
  });
});

describe('docker/make-secrets.sh', () => {
  it('writes URL files and rpcauth lines litecoind will match, with the whitelist of POOL_RPC_METHODS', () => {
    const out = path.join(dir, 'secrets');
    execFileSync('sh', [path.resolve('docker/make-secrets.sh'), out], { stdio: 'pipe' });
    const read = (n: string) => fs.readFileSync(path.join(out, n), 'utf8').trim();
    const conf = read('litecoin-rpc.conf');
    for (const [user, urlFile] of [['ltcpool-serve', 'pool-rpc-url'], ['ltcpool-wallet', 'wallet-rpc-url']]) {
      const url = new URL(read(urlFile));
      expect(url.username).toBe(user);
      expect(url.password).toMatch(/^[0-9a-f]{64}$/);
      const [, salt, hmac] = new RegExp(`^rpcauth=${user}:([0-9a-f]{32})\\$([0-9a-f]{64})$`, 'm').exec(conf) ?? [];
      expect(createHmac('sha256', salt).update(url.password).digest('hex')).toBe(hmac);
      expect(conf).not.toContain(url.password);
    }
    expect(conf).toContain(`rpcwhitelist=ltcpool-serve:${POOL_RPC_METHODS.join(',')}\n`);
    expect(read('database-url')).toBe(`postgres://ltcpool:${read('postgres-password')}@postgres:5432/ltcpool`);
    expect(fs.statSync(out).mode & 0o777).toBe(0o700);
    // A second run keeps the passwords (an existing stack keeps working).
    const before = read('pool-rpc-url');
    execFileSync('sh', [path.resolve('docker/make-secrets.sh'), out], { stdio: 'pipe' });
    expect(read('pool-rpc-url')).toBe(before);
  });
});

describe('docker/compose.yml', () => {
  const yaml = fs.readFileSync(path.resolve('docker/compose.yml'), 'utf8');
  /** Service name -> its block of lines (two-space indented names under `services:`). */
  const services = new Map<string, string>();
  const body = yaml.slice(yaml.indexOf('\nservices:\n'), yaml.indexOf('\nvolumes:\n'));
  for (const block of body.split(/\n(?= {2}[a-z0-9-]+:\n)/).slice(1)) services.set(/^ {2}([a-z0-9-]+):/.exec(block)![1], block);
  /** x-<name>: &<anchor> blocks (shared environment, the pool replicas' common service fields). */
  const anchors = new Map([...yaml.matchAll(/^x-[a-z-]+: &([a-z-]+)\n((?: {2}.*\n)+)/gm)].map((m) => [m[1], m[2]]));
  /** A service's block with the anchors it merges (`*name`), as compose reads it. */
  const envOf = (name: string) => {
    const block = services.get(name)!;
    return block + [...block.matchAll(/\*([a-z-]+)/g)].map((m) => anchors.get(m[1]) ?? '').join('');
  };

  it('holds no secret: credentials only through *_FILE variables naming a secret the service mounts', () => {
    expect(yaml).not.toMatch(/:\/\/[^\s/@]+:[^\s/@]+@/); // no user:password@ URL
    expect(yaml).not.toMatch(/^\s+[A-Z_]*PASSWORD:/m);
    for (const name of ['litecoind', 'postgres', 'migrate', 'pool1', 'pool2', 'pool3', 'payouts', 'grafana']) {
      const text = envOf(name);
      const mounted = /secrets: \[([^\]]*)\]/.exec(text)?.[1].split(',').map((s) => s.trim()) ?? [];
      const used = [...text.matchAll(/_FILE: \/run\/secrets\/([a-z_]+)/g)].map((m) => m[1]);
      expect(used.length, name).toBeGreaterThan(0);
      for (const secret of used) expect(mounted, `${name} mounts ${secret}`).toContain(secret);
      for (const secret of mounted) expect(yaml, `secret ${secret} is declared`).toMatch(new RegExp(`^  ${secret}: \\{ file: \\./secrets/`, 'm'));
    }
  });

  it('gives the wallet user to the payout worker only', () => {
    for (const name of services.keys()) {
      if (name === 'payouts') expect(envOf(name)).toContain('LTCPOOL_WALLET_RPC_URL_FILE: /run/secrets/wallet_rpc_url');
      else expect(envOf(name), name).not.toContain('wallet_rpc_url');
    }
  });
});
