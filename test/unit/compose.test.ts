// Issue 10: the docker compose stack, checked statically (no Docker here): the file as Compose v2 reads it
// (interpolation, merge keys), its references, and that every ltcpool service's environment is a configuration
// its command accepts. Before, the payout worker crash-looped: compose set no fee recipients and the fee was 1%.
// Prometheus' rules and Alertmanager's config go through promtool / amtool when those are installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, parseConfig, parseDatabaseConfig } from '../../src/ops/config.js';

const DOCKER = 'docker';
type Env = Record<string, string>;

/** Compose's variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(text: string, env: Env, missing: string[]): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, name, op, arg, bare) => {
    if (all === '$$') return '$';
    const key = name ?? bare;
    const value = env[key];
    const unsetOrEmpty = value === undefined || (op?.startsWith(':') && value === '');
    if (op === ':-' || op === '-') return unsetOrEmpty ? arg : value;
    if (op === ':?' || op === '?') {
      if (unsetOrEmpty) missing.push(`${key}: ${arg}`);
      return value ?? '';
    }
    return value ?? '';
  });
}

function deepInterpolate(value: unknown, env: Env, missing: string[]): unknown {
  if (typeof value === 'string') return interpolate(value, env, missing);
  if (Array.isArray(value)) return value.map((v) => deepInterpolate(v, env, missing));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepInterpolate(v, env, missing)]));
  return value;
}

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  depends_on?: string[] | Record<string, unknown>;
  volumes?: string[];
  secrets?: string[];
}

function loadCompose(env: Env): { compose: { name?: string; services: Record<string, Service>; volumes?: Record<string, unknown>; secrets?: Record<string, { file: string }> }; missing: string[] } {
  const missing: string[] = [];
  const raw = parse(readFileSync(path.join(DOCKER, 'compose.yml'), 'utf8'), { merge: true }) as Record<string, unknown>;
  const compose = deepInterpolate(raw, env, missing) as ReturnType<typeof loadCompose>['compose'];
  return { compose, missing };
}

const OPERATOR_ENV: Env = {
  LTCPOOL_POOL_ADDRESS: 'ltc1qvjppdf5w4vt5h3ju85le236up4vqfd3yc6mt86',
  ALERT_WEBHOOK_URL: 'https://hooks.example/ltcpool',
};

const containerEnv = (s: Service): Env => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));

/**
 * Issue 16: the service's environment with its docker secrets where the container sees them: every
 * /run/secrets/<name> must be a secret the service mounts, and is replaced by that secret's file as
 * docker/make-secrets.sh writes it into `secretsDir`.
 */
function containerEnvWithSecrets(name: string, s: Service, compose: ReturnType<typeof loadCompose>['compose'], secretsDir: string): Env {
  const env = containerEnv(s);
  for (const [key, value] of Object.entries(env)) {
    const m = /^\/run\/secrets\/(.+)$/.exec(value);
    if (!m) continue;
    expect(s.secrets ?? [], `${name} mounts the secret ${m[1]} that ${key} names`).toContain(m[1]);
    const declared = compose.secrets?.[m[1]];
    expect(declared, `secret ${m[1]} declared`).toBeDefined();
    env[key] = path.join(secretsDir, path.basename(declared!.file));
  }
  return env;
}

function whichever(tool: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('docker/compose.yml', () => {
  it('names the variables an operator must set, and needs no others', () => {
    const { missing } = loadCompose({});
    expect([...new Set(missing.map((m) => m.split(':')[0]))].sort()).toEqual(Object.keys(OPERATOR_ENV).sort());
    expect(loadCompose(OPERATOR_ENV).missing).toEqual([]);
  });

  it('uses only Compose v2 top-level keys, and every reference resolves', () => {
    const { compose } = loadCompose(OPERATOR_ENV);
    const allowed = new Set(['name', 'services', 'volumes', 'networks', 'configs', 'secrets']);
    expect(Object.keys(compose).filter((k) => !allowed.has(k) && !k.startsWith('x-'))).toEqual([]);
    const services = Object.keys(compose.services);
    const volumes = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.image ?? s.build, `${name}: image or build`).toBeTruthy();
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) expect(services, `${name} depends on ${d}`).toContain(d);
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0];
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(path.join(DOCKER, source)), `${name}: bind mount ${source}`).toBe(true);
        else expect(volumes.has(source), `${name}: volume ${source} declared`).toBe(true);
      }
    }
  });

  it('every ltcpool service starts on the environment compose gives it (the payout worker crash-looped)', () => {
    const { compose } = loadCompose(OPERATOR_ENV);
    const ltcpool = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('ltcpool/ltcpool'));
    expect(ltcpool.map(([n]) => n).sort()).toEqual(['migrate', 'payouts', 'pool1', 'pool2', 'pool3']);
    const secretsDir = mkdtempSync(path.join(tmpdir(), 'ltcpool-compose-secrets-'));
    execFileSync('sh', [path.join(DOCKER, 'make-secrets.sh'), secretsDir], { stdio: 'pipe' });
    for (const [name, s] of ltcpool) {
      const env = containerEnvWithSecrets(name, s, compose, secretsDir);
      const command = s.command?.[0];
      try {
        if (command === 'migrate') parseDatabaseConfig({}, env);
        else {
          expect(['serve', 'payouts'], name).toContain(command);
          const config = parseConfig({}, env);
          expect(config.network).toBe('mainnet');
          if (command === 'payouts') expect(config.payouts.walletName).toBe('pool');
        }
      } catch (error) {
        throw new Error(`${name}: ${error instanceof ConfigError ? error.message : error}`);
      }
    }
    // The fee from the environment, with its recipients, as the comment in compose.yml shows.
    const withFee = loadCompose({ ...OPERATOR_ENV, LTCPOOL_PAYOUTS_FEE_PERCENT: '1', LTCPOOL_PAYOUTS_FEE_ADDRESSES: OPERATOR_ENV.LTCPOOL_POOL_ADDRESS }).compose;
    const pay = containerEnvWithSecrets('payouts', withFee.services.payouts, withFee, secretsDir);
    const payConfig = parseConfig({}, pay);
    expect(payConfig.payouts).toMatchObject({ feePercent: 1, feeAddresses: [{ address: OPERATOR_ENV.LTCPOOL_POOL_ADDRESS, weight: 1 }] });
    // Two RPC identities: the payout worker's wallet user, the restricted user for chain calls (and for serve).
    expect(new URL(payConfig.payouts.walletRpcUrl!).username).toBe('ltcpool-wallet');
    expect(new URL(payConfig.node.rpcUrl).username).toBe('ltcpool-serve');
    rmSync(secretsDir, { recursive: true, force: true });
  });

  it('runs three pool replicas behind HAProxy: distinct instanceIds, hostnames and spools, PROXY ports, as haproxy.cfg names them', () => {
    const { compose } = loadCompose(OPERATOR_ENV);
    const secretsDir = mkdtempSync(path.join(tmpdir(), 'ltcpool-compose-secrets-'));
    try {
      execFileSync('sh', [path.join(DOCKER, 'make-secrets.sh'), secretsDir], { stdio: 'pipe' });
      const replicas = Object.entries(compose.services).filter(([, s]) => s.command?.[0] === 'serve');
      const configs = replicas.map(([name, s]) => ({ name, s, config: parseConfig({}, containerEnvWithSecrets(name, s, compose, secretsDir)) }));
      expect(configs.map((c) => c.config.instanceId)).toEqual([1, 2, 3]);
      expect(new Set(configs.map((c) => (c.s as { hostname?: string }).hostname)).size, 'distinct hostnames (the lease tells hosts apart by them)').toBe(3);
      expect(new Set(configs.map((c) => c.s.volumes?.find((v) => v.endsWith(':/app/.spool')))).size, 'a spool volume each').toBe(3);
      const haproxyCfg = readFileSync(path.join(DOCKER, 'haproxy/haproxy.cfg'), 'utf8');
      const servers = [...haproxyCfg.matchAll(/^ {4}server (\S+) ([a-z0-9-]+):(\d+) check port (\d+)$/gm)];
      expect(servers.map((m) => m[2]).sort()).toEqual(configs.map((c) => c.name).sort());
      for (const { name, config } of configs) {
        const server = servers.find((m) => m[2] === name)!;
        expect(config.stratum.ports, `${name}: the port HAProxy sends to takes the PROXY protocol`).toEqual([expect.objectContaining({ port: Number(server[3]), proxyProtocol: true })]);
        expect(config.http.port, `${name}: HAProxy checks /readyz on http.port`).toBe(Number(server[4]));
        expect(config.stratum.host).toBe('0.0.0.0');
        expect(config.http.host).toBe('0.0.0.0');
      }
      const haproxy = compose.services.haproxy as Service & { ports?: string[] };
      expect(haproxy.volumes).toContain('./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
      const front = /^ {4}bind :(\d+)$/m.exec(haproxyCfg)![1];
      expect(haproxy.ports).toContain(`127.0.0.1:3333:${front}`);
      // miners reach Stratum only through HAProxy
      for (const { name, s } of configs) expect((s as { ports?: string[] }).ports ?? [], name).not.toContainEqual(expect.stringMatching(/:333\d$/));
    } finally {
      rmSync(secretsDir, { recursive: true, force: true });
    }
  });

  it('sends Prometheus alerts to the Alertmanager service, which posts them to ALERT_WEBHOOK_URL', () => {
    const { compose } = loadCompose(OPERATOR_ENV);
    const prometheus = parse(readFileSync(path.join(DOCKER, 'prometheus/prometheus.yml'), 'utf8')) as {
      alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
    };
    const target = prometheus.alerting.alertmanagers[0].static_configs[0].targets[0];
    expect(Object.keys(compose.services)).toContain(target.split(':')[0]);
    const am = compose.services.alertmanager;
    expect(containerEnv(am).ALERT_WEBHOOK_URL).toBe(OPERATOR_ENV.ALERT_WEBHOOK_URL);
    // $${ALERT_WEBHOOK_URL} in compose.yml reaches the container's shell as ${ALERT_WEBHOOK_URL}.
    expect(am.command?.join(' ')).toContain('s|ALERT_WEBHOOK_URL|${ALERT_WEBHOOK_URL}|');
    const config = parse(readFileSync(path.join(DOCKER, 'alertmanager/alertmanager.yml'), 'utf8')) as { receivers: Array<{ webhook_configs: Array<{ url: string }> }> };
    expect(config.receivers[0].webhook_configs[0].url).toBe('ALERT_WEBHOOK_URL');
  });

  it.skipIf(!whichever('promtool'))('alert rules pass promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', path.join(DOCKER, 'prometheus/alerts.yml')], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.skipIf(!whichever('amtool'))('the Alertmanager config (with the URL put in) passes amtool check-config', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-am-'));
    try {
      const file = path.join(dir, 'alertmanager.yml');
      writeFileSync(file, readFileSync(path.join(DOCKER, 'alertmanager/alertmanager.yml'), 'utf8').replace(/ALERT_WEBHOOK_URL/g, OPERATOR_ENV.ALERT_WEBHOOK_URL)); // as the container's sed does
      const out = execFileSync('amtool', ['check-config', file], { encoding: 'utf8' });
      expect(out).toMatch(/SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
