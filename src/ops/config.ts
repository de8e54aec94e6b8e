import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { decodeAddress, type NetworkName } from '../work/address.js';
import { isValidAllowEntry } from '../stratum/bans.js';
import { isValidPattern } from '../stratum/device-classes.js';
import { feePercentToBps } from '../payouts/schemes/units.js';
import { maxPoolTagBytes } from '../work/auxpow.js';
import { decodeAuxAddress, resolveAuxChain, type AuxChainParams } from '../work/chains.js';

const difficulty = z.number().positive().finite();
/** 0 lets the OS pick a free port (tests, demo). */
const port = z.number().int().min(0).max(65535);

const vardiffSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    targetSeconds: z.number().positive().default(10),
    retargetSeconds: z.number().positive().default(60),
    variancePercent: z.number().min(0).max(100).default(30),
    minDifficulty: difficulty.default(0.0001),
    maxDifficulty: difficulty.default(1e12),
    /** A miner silent this long gets its difficulty lowered (halved, repeatedly). */
    idleSeconds: z.number().positive().default(90),
  })
  .refine((v) => v.minDifficulty <= v.maxDifficulty, { message: 'minDifficulty must not exceed maxDifficulty', path: ['minDifficulty'] });

const stratumPortSchema = z.strictObject({
  port,
  difficulty: difficulty.default(65536),
  /**
   * No difficulty below this on the port: `d=`, suggestions, vardiff and device classes are all clamped to it.
   * Default: the lower of the port's difficulty and vardiff's minDifficulty.
   */
  minDifficulty: difficulty.optional(),
  name: z.string().optional(),
  /** Expect a PROXY protocol v1/v2 header (HAProxy `send-proxy`/`send-proxy-v2`) before Stratum bytes. */
  proxyProtocol: z.boolean().default(false),
  /** Serve Stratum over TLS on this port, with a PEM certificate chain and key read from these paths. */
  tls: z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      /** Also plain Stratum: a connection whose first bytes are a TLS record gets TLS, any other plain text. */
      optional: z.boolean().default(false),
    })
    .optional(),
}).refine((p) => !(p.proxyProtocol && p.tls), { message: 'proxyProtocol and tls on one port are not supported yet', path: ['tls'] })
  .refine((p) => p.minDifficulty === undefined || p.minDifficulty <= p.difficulty, { message: 'must not exceed the port difficulty', path: ['minDifficulty'] });

const limitsSchema = z.strictObject({
  maxLineBytes: z.number().int().min(256).default(16 * 1024),
  messagesPerSecond: z.number().positive().default(100),
  connectionsPerIp: z.number().int().positive().default(1000),
  authorizeTimeoutSeconds: z.number().positive().default(60),
  idleTimeoutSeconds: z.number().positive().default(600),
  maxWorkersPerConnection: z.number().int().positive().default(64),
  /** Token-bucket burst on top of messagesPerSecond (configure+subscribe+authorize arrive together). */
  messagesBurst: z.number().int().positive().default(200),
  /** Messages over the rate that are answered with an error before the connection is closed. */
  floodCloseAfter: z.number().int().positive().default(50),
  /** A client that doesn't read its answers: close once this much output is queued for it. */
  maxWriteBufferBytes: z.number().int().min(16 * 1024).default(1024 * 1024),
  /** Time to send a complete PROXY header on proxyProtocol ports. */
  proxyHeaderTimeoutSeconds: z.number().positive().default(10),
  /** Only-rejected shares (stuck on old work): escalate per connection, never ban (farms share NAT IPs). */
  rejectEscalation: z
    .strictObject({
      resendWorkAfter: z.number().int().positive().default(10),
      reconnectAfter: z.number().int().positive().default(30),
      closeAfter: z.number().int().positive().default(50),
    })
    .refine((r) => r.resendWorkAfter <= r.reconnectAfter && r.reconnectAfter <= r.closeAfter, {
      message: 'resendWorkAfter <= reconnectAfter <= closeAfter',
    })
    .prefault({}),
});

const bansSchema = z.strictObject({
  enabled: z.boolean().default(true),
  threshold: z.number().positive().default(100),
  banSeconds: z.number().positive().default(600),
  scoreHalfLifeSeconds: z.number().positive().default(60),
  allowList: z.array(z.string().refine(isValidAllowEntry, { message: 'must be an IP address or CIDR (IPv4 or IPv6)' })).default([]),
});

const deviceClassSchema = z
  .strictObject({
    name: z.string().min(1),
    /** Case-insensitive regular expression tested against the user agent of mining.subscribe. */
    match: z.string().min(1).refine(isValidPattern, { message: 'must be a regular expression' }),
    startDifficulty: difficulty.optional(),
    minDifficulty: difficulty.optional(),
    maxDifficulty: difficulty.optional(),
  })
  .refine((c) => c.minDifficulty === undefined || c.maxDifficulty === undefined || c.minDifficulty <= c.maxDifficulty, {
    message: 'minDifficulty must not exceed maxDifficulty',
    path: ['minDifficulty'],
  });

const shutdownSchema = z.strictObject({
  /** On SIGTERM, this share of the miners is asked to reconnect every waveIntervalMs. */
  waveFraction: z.number().gt(0).max(1).default(0.1),
  waveIntervalMs: z.number().int().min(0).default(500),
  /** After the last wave, time left for miners to go before the rest are dropped. */
  graceMs: z.number().int().min(0).default(2000),
  /**
   * Before the first wave, /readyz answers 404 "draining" this long, so a load balancer checking it stops sending
   * new miners here and the waves' miners reconnect to the other instances. Unset: 1500 ms when a Stratum port
   * takes the PROXY protocol (a load balancer is in front), else 0.
   */
  drainNoticeMs: z.number().int().min(0).max(60_000).optional(),
  /** `host:port` named in client.reconnect (another instance); unset: no host, miners come back to the same address. */
  reconnectTo: z
    .string()
    .refine((v) => parseHostPort(v) !== undefined, { message: 'must be host:port (IPv6 in brackets), port 1-65535' })
    .optional(),
});

/** `host:port` or `[v6]:port`; undefined when it is neither. */
export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2], port };
}

const NETWORKS = ['mainnet', 'testnet', 'regtest'] as const;
const FEE_PERCENT_DEFAULT = 0;

/** One merge-mined AuxPoW chain: a preset name (dogecoin) or any name with chainId, unit, maturity, addressVersions. */
const mergedChainSchema = z.strictObject({
  chain: z.string().regex(/^[a-z][a-z0-9_]{1,31}$/, 'lower-case letters, digits and _ (2..32), e.g. "dogecoin"'),
  /** http://user:pass@host:port of the chain's daemon (createauxblock, submitauxblock). */
  rpcUrl: z.string().url(),
  /** The pool's address on that chain: createauxblock pays the aux coinbase to it. */
  address: z.string().min(1),
  chainId: z.number().int().min(1).max(0x7fffffff).optional(),
  unit: z.string().regex(/^[A-Za-z0-9]{1,10}$/).optional(),
  maturity: z.number().int().min(1).optional(),
  addressVersions: z
    .strictObject({ pubKeyHash: z.number().int().min(0).max(255), scriptHash: z.number().int().min(0).max(255), bech32: z.string().min(1).optional() })
    .optional(),
  timeoutMs: z.number().int().positive().default(5000),
  /** getbestblockhash poll: a new aux tip reaches miners within about this long. */
  pollIntervalMs: z.number().int().min(50).max(1000).default(500),
  /** createauxblock at least this often even without a new tip (new transactions). */
  refreshSeconds: z.number().positive().max(60).default(30),
  /** Paying this chain's credits (`ltcpool payouts`): its node's wallet, and the minimum in its 1e-8 units. */
  payouts: z
    .strictObject({
      walletName: z.string().optional(),
      walletRpcUrl: z.string().url().optional(),
      minimumPayout: z.string().regex(/^\d+$/, "1e-8 units of the chain's coin as a decimal string").default('100000000'),
      /** This chain's scheme (pplns, prop, solo); default the pool's, PPLNS when the pool's is PPS/FPPS. */
      scheme: z.enum(['pplns', 'prop', 'solo', 'pps', 'fpps']).optional(),
      /** PPLNS window factor on this chain (window = factor x this chain's difficulty); default payouts.pplnsWindowFactor. */
      pplnsWindowFactor: z.number().positive().optional(),
    })
    .prefault({}),
});

export const configSchema = z.strictObject({
  network: z.enum(NETWORKS),
  /** 0..255, written into extranonce1 so several instances never hand out the same work. */
  instanceId: z.number().int().min(0).max(255).default(0),
  /** The instanceId's lease in PostgreSQL (table instance_leases): one live process per id. */
  instance: z
    .strictObject({
      /** A lease not heartbeaten for this long is free for another process; heartbeats come every third of it. */
      leaseSeconds: z.number().min(0.5).max(3600).default(30),
      /** A live holder on this host (a previous process shutting down): wait this long for it before refusing. */
      startWaitSeconds: z.number().min(0).max(600).default(30),
    })
    .prefault({}),
  pool: z.strictObject({
    address: z.string().min(1),
    tag: z.string().max(40).default('/ltcpool/'),
  }),
  node: z.strictObject({
    rpcUrl: z.string().url(),
    cookieFile: z.string().optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    /**
     * getblocktemplate long polling besides the poll. Off by default: litecoind parks one RPC thread per long
     * poll until the next block, and does not free it when the pool goes away (restarts wedge its RPC).
     */
    longpoll: z.boolean().default(false),
    /** getbestblockhash poll: how new blocks are found. */
    pollIntervalMs: z.number().int().min(50).max(10_000).default(250),
    refreshSeconds: z.number().positive().default(30),
  }),
  stratum: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      ports: z.array(stratumPortSchema).min(1).default([{ port: 3333, difficulty: 65536, proxyProtocol: false }]),
      extranonce2Size: z.number().int().min(2).max(8).default(4),
      /** Work is resent at least this often; miners drop a pool silent for ~120 s. */
      jobRebroadcastSeconds: z.number().min(5).max(60).default(30),
      /** After a block change, shares on the previous block still count for this long. */
      staleGraceMs: z.number().int().min(0).default(2000),
      maxJobs: z.number().int().min(2).max(256).default(16),
      ntimeMaxFutureSeconds: z.number().int().min(60).max(7000).default(600),
      versionRollingMask: z.string().regex(/^[0-9a-fA-F]{8}$/).default('1fffe000'),
      vardiff: vardiffSchema.prefault({}),
      limits: limitsSchema.prefault({}),
      bans: bansSchema.prefault({}),
      shutdown: shutdownSchema.prefault({}),
      /** User-agent patterns → start/min/max difficulty, first match wins; unset: the built-in table (README). */
      deviceClasses: z.array(deviceClassSchema).optional(),
      /** simd: the WebAssembly SIMD kernel on worker threads (OpenSSL when the engine lacks SIMD or the self-check fails). */
      hasher: z.enum(['simd', 'node', 'scrypt-js']).default('simd'),
      /** Worker threads of the simd hasher; default one per core. */
      hasherThreads: z.number().int().min(1).max(256).optional(),
      /**
       * Scrypt hashes handed to the thread pool at once; more wait in the pool's own queue, where a job
       * broadcast can hold them back. Default 32 per core.
       */
      maxHashesInFlight: z.number().int().min(1).max(100_000).optional(),
    })
    .prefault({}),
  database: z
    .strictObject({
      url: z.string().optional(),
      poolSize: z.number().int().positive().default(10),
      spoolDir: z.string().default('.spool'),
      /**
       * A share commit taking longer than this (or 4x the usual commit time, if longer) is acknowledged through
       * the fsync'ed spool instead of waited for (a hung database); reconciled when the database answers. 0 = off.
       */
      commitDeadlineMs: z.number().int().min(0).default(750),
      shareRetentionDays: z.number().int().positive().default(90),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9100),
      enabled: z.boolean().default(true),
      /** The miners' dashboard at / (needs the database, like the API, and `npm run build`). */
      dashboard: z.boolean().default(true),
    })
    .prefault({}),
  payouts: z
    .strictObject({
      scheme: z.enum(['pplns', 'prop', 'solo', 'pps', 'fpps']).default('pplns'),
      /** FPPS: the expected fees of a share's block are the average fees of this many blocks below the job's height. */
      fppsFeeWindowBlocks: z.number().int().min(1).max(10_000).default(100),
      pplnsWindowFactor: z.number().positive().default(2),
      feePercent: z.number().min(0).max(100).default(FEE_PERCENT_DEFAULT),
      feeAddresses: z.array(z.strictObject({ address: z.string(), weight: z.number().int().positive().default(1) })).default([]),
      minimumPayout: z.string().regex(/^\d+$/, 'litoshis as a decimal string').default('10000000'),
      /**
       * Litoshis the wallet must keep above what it owes: when spendable minus owed falls below this, payouts stop
       * (alert LtcpoolPayoutReserveBreached, /api/payouts/status). The pool's risk under PPS/FPPS.
       */
      reserveLitoshis: z.string().regex(/^\d+$/, 'litoshis as a decimal string').default('0'),
      /** Highest payout threshold a miner may set for the address (litoshis); the lowest is minimumPayout. */
      maxPayoutThreshold: z.string().regex(/^\d+$/, 'litoshis as a decimal string').default('100000000000'),
      /**
       * Confirmations before a block's reward is credited. Consensus lets a coinbase be spent at 100, but
       * litecoind's wallet counts it spendable from 101: crediting at 100 makes the run in that one-block gap
       * see a shortfall (and alert) whenever the wallet holds little besides the pool's coinbases.
       */
      maturity: z.number().int().min(1).default(101),
      /**
       * A block out-raced at its height is declared orphaned only once the block that replaced it has this many
       * confirmations: a short fork can still swing back to ours, and the verdict is final.
       */
      orphanConfirmations: z.number().int().min(1).default(10),
      walletName: z.string().optional(),
      /** RPC URL of the node holding the payout wallet when it is not node.rpcUrl (http://user:pass@host:port). */
      walletRpcUrl: z.string().url().optional(),
      intervalSeconds: z.number().int().positive().default(600),
      /** Most outputs in one sendmany. */
      maxPaymentsPerBatch: z.number().int().positive().max(2000).default(500),
      /** A pending batch the wallet does not know is declared failed (and re-paid later) only after this long. */
      reconcileGraceSeconds: z.number().int().min(0).default(600),
    })
    .prefault({}),
  /** Notifications to miners (worker offline, hashrate drop, block found, payment sent); see src/ops/alerts. */
  alerts: z
    .strictObject({
      /** Detect and send notifications in the pool process (needs database.url). */
      enabled: z.boolean().default(true),
      /** How often events are looked for and due notifications sent. */
      intervalSeconds: z.number().int().min(1).max(3600).default(30),
      /** A worker with no share for this long (after shares in the last day) is reported offline. */
      workerOfflineMinutes: z.number().positive().max(1440).default(10),
      /** A worker whose last hour is below this share of its 24-hour average is reported (once a UTC day). */
      hashrateDropPercent: z.number().gt(0).max(100).default(50),
      /** First retry after this long, doubling per attempt (at most an hour apart). */
      retryBaseSeconds: z.number().positive().default(30),
      /** Attempts before a notification is marked failed. */
      maxAttempts: z.number().int().min(1).max(100).default(10),
      /** Per request to a webhook or ntfy server. */
      timeoutMs: z.number().int().min(100).max(60_000).default(5000),
      /** Accept webhook/ntfy URLs whose host is loopback, private or link-local (tests, a LAN pool). */
      allowPrivateTargets: z.boolean().default(false),
    })
    .prefault({}),
  /** Hashrate history for the dashboard and /api/.../history (src/store/history.ts); needs database.url. */
  history: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** How often the buckets are rewritten from the shares table. */
      intervalSeconds: z.number().int().min(5).max(600).default(60),
      /** Ten-minute buckets this far back are recomputed on every pass (shares committed late are counted). */
      recomputeMinutes: z.number().int().min(10).max(1440).default(30),
      /** Ten-minute buckets older than this are summed into hour buckets. */
      rollupAfterHours: z.number().int().min(2).max(24 * 31).default(24),
      /** History older than this is deleted. */
      retentionDays: z.number().int().min(1).default(90),
      /** A found block's effort is computed once the block is this old (its shares have committed). */
      effortSettleSeconds: z.number().int().min(0).default(30),
    })
    .prefault({}),
  /** Merged mining: AuxPoW chains mined on every Litecoin share (see README "Merged mining"). */
  merged: z.array(mergedChainSchema).default([]),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type StratumPortConfig = z.infer<typeof stratumPortSchema>;
export type MergedChainConfig = z.infer<typeof mergedChainSchema>;

/** Extranonce1 bytes per connection (4: 2^32 connections per instance before reuse). */
export const EXTRANONCE1_SIZE = 4;

/** Chain parameters of every configured aux chain (the config was validated: this does not throw). */
export function auxChainsOf(config: Pick<Config, 'merged' | 'network'>): AuxChainParams[] {
  return config.merged.map((m) => resolveAuxChain(m.chain, config.network, m));
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, unknown>;

function setPath(target: Raw, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Raw;
  }
  node[path[path.length - 1]] = value;
}

/** Short names kept from before every field had its own variable (README lists them). */
export const ENV_ALIASES: ReadonlyArray<{ name: string; field: string }> = [
  { name: 'LTCPOOL_RPC_URL', field: 'node.rpcUrl' },
  { name: 'LTCPOOL_RPC_COOKIE_FILE', field: 'node.cookieFile' },
  { name: 'LTCPOOL_WALLET_RPC_URL', field: 'payouts.walletRpcUrl' },
  { name: 'DATABASE_URL', field: 'database.url' },
  { name: 'LTCPOOL_STRATUM_PORT', field: 'stratum.ports[0].port' },
];

/** `payouts.feePercent` -> `LTCPOOL_PAYOUTS_FEE_PERCENT`. */
export function envName(field: string): string {
  return `LTCPOOL_${field.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase()}`;
}

export interface EnvironmentVariable {
  name: string;
  field: string;
  /** How the text is read: as is, a number, true/false, JSON, or a comma list. */
  form: string;
}

/** Every environment variable the configuration reads: one per field (arrays as JSON or a comma list) and the aliases. */
export function environmentVariables(): EnvironmentVariable[] {
  const own = configFields()
    .filter((f) => !f.path.includes('[]'))
    .map((f) => ({ name: envName(f.path), field: f.path, form: envForm(f) }));
  const ownNames = new Set(own.map((v) => v.name));
  const aliases = ENV_ALIASES.filter((a) => !ownNames.has(a.name)).map((a) => ({ ...a, form: a.field.endsWith('port') ? 'number' : 'text' }));
  return [...own, ...aliases];
}

function envForm(f: ConfigField): string {
  switch (f.kind) {
    case 'number': return 'number';
    case 'boolean': return 'true|false';
    case 'array': return f.elementFields?.includes('address') ? 'address[:weight],... or JSON' : f.elementFields ? 'JSON' : 'comma list or JSON';
    default: return 'text';
  }
}

function envValue(v: EnvironmentVariable & { kind: ConfigField['kind']; elementFields?: string[] }, text: string, problems: string[]): unknown {
  const bad = (why: string) => {
    problems.push(`${v.name}: ${why}, got "${text}" (sets ${v.field})`);
    return undefined;
  };
  switch (v.kind) {
    case 'number': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) ? n : bad('must be a number');
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text)) return true;
      if (/^(false|0|no)$/i.test(text)) return false;
      return bad('must be true or false');
    case 'array': {
      if (text.trim().startsWith('[')) {
        try {
          return JSON.parse(text);
        } catch {
          return bad('must be a JSON array');
        }
      }
      const items = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
      if (!v.elementFields) return items;
      if (!v.elementFields.includes('address')) return bad('must be a JSON array');
      return items.map((item) => {
        const [address, weight] = item.split(':');
        return weight === undefined ? { address } : { address, weight: Number(weight) };
      });
    }
    default:
      return text;
  }
}

/**
 * `<VARIABLE>_FILE=/path` for every variable: the value is the file's contents (one trailing newline dropped), so
 * secrets (LTCPOOL_RPC_URL_FILE, LTCPOOL_WALLET_RPC_URL_FILE, DATABASE_URL_FILE, ...) come from files such as
 * docker's /run/secrets and never appear in the environment. Read again on every load (SIGHUP).
 */
export function withSecretFiles(env: NodeJS.ProcessEnv, problems: string[]): NodeJS.ProcessEnv {
  const known = new Set(environmentVariables().map((v) => v.name));
  const out: NodeJS.ProcessEnv = { ...env };
  for (const [key, file] of Object.entries(env)) {
    if (!key.endsWith('_FILE') || !file) continue;
    const name = key.slice(0, -'_FILE'.length);
    if (!known.has(name)) continue; // LTCPOOL_RPC_COOKIE_FILE and the like are variables of their own
    if (env[name]) {
      problems.push(`${key}: ${name} is set too; set only one of them`);
      continue;
    }
    try {
      out[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      problems.push(`${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
  return out;
}

/** Environment overrides: LTCPOOL_<FIELD> for every field (see environmentVariables), and the aliases; each also as <NAME>_FILE. */
export function applyEnvironment(raw: Raw, environment: NodeJS.ProcessEnv, problems: string[]): Raw {
  const env = withSecretFiles(environment, problems);
  const out = structuredClone(raw);
  const fields = new Map(configFields().map((f) => [f.path, f]));
  const stratumPort = env.LTCPOOL_STRATUM_PORT;
  for (const a of ENV_ALIASES) {
    const text = env[a.name];
    if (!text || a.name === 'LTCPOOL_STRATUM_PORT') continue;
    const f = fields.get(a.field)!;
    const value = envValue({ ...a, form: '', kind: f.kind, elementFields: f.elementFields }, text, problems);
    if (value !== undefined) setPath(out, a.field.split('.'), value);
  }
  for (const f of fields.values()) {
    if (f.path.includes('[]')) continue;
    const name = envName(f.path);
    const text = env[name];
    if (!text) continue;
    const value = envValue({ name, field: f.path, form: '', kind: f.kind, elementFields: f.elementFields }, text, problems);
    if (value !== undefined) setPath(out, f.path.split('.'), value);
  }
  if (stratumPort) {
    const p = /^\d+$/.test(stratumPort) ? Number(stratumPort) : undefined;
    if (p === undefined) problems.push(`LTCPOOL_STRATUM_PORT: must be a whole number, got "${stratumPort}"`);
    else {
      const stratum = (out.stratum ?? {}) as Raw;
      const ports = Array.isArray(stratum.ports) && stratum.ports.length > 0 ? (stratum.ports as Raw[]) : [{}];
      ports[0] = { ...ports[0], port: p };
      setPath(out, ['stratum', 'ports'], ports);
    }
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const field = issue.path.length > 0 ? issue.path.join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    const known = keysAt(issue.path);
    return issue.keys.map((key) => {
      const at = issue.path.length > 0 ? `${issue.path.join('.')}.${key}` : key;
      const hint = suggest(key, known, issue.path);
      return `${at}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; known keys here: ${known.join(', ')}`;
    });
  }
  return [`${field}: ${issue.message}`];
}

type AnySchema = z.core.$ZodType;

/** The schema under default/prefault/optional/nullable wrappers. */
function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: AnySchema };
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') && def.innerType) s = def.innerType;
    else return s;
  }
}

function shapeOf(schema: AnySchema): Record<string, AnySchema> | undefined {
  const def = unwrap(schema)._zod.def as { type: string; shape?: Record<string, AnySchema> };
  return def.type === 'object' ? def.shape : undefined;
}

/** Keys the schema allows at a path of the raw config (array indexes step into the element schema). */
function keysAt(path: readonly PropertyKey[]): string[] {
  let schema: AnySchema | undefined = configSchema;
  for (const step of path) {
    if (!schema) break;
    const inner: AnySchema = unwrap(schema);
    const def = inner._zod.def as { type: string; element?: AnySchema; shape?: Record<string, AnySchema> };
    if (def.type === 'array') schema = def.element;
    else if (def.type === 'object') schema = def.shape?.[String(step)];
    else schema = undefined;
  }
  return schema ? Object.keys(shapeOf(schema) ?? {}) : [];
}

/** Levenshtein distance (small strings only). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length];
}

/** The closest known key at this level, else the same key's home elsewhere in the schema. */
function suggest(key: string, known: string[], path: readonly PropertyKey[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3))) return best;
  const elsewhere = configFields().find((f) => f.path.split('.').at(-1)?.replace('[]', '') === key && !f.path.startsWith(path.join('.') + '.'));
  return elsewhere?.path;
}

export interface ConfigField {
  /** Dotted path; array elements as `[]` (`stratum.ports[].port`). */
  path: string;
  required: boolean;
  kind: 'number' | 'boolean' | 'string' | 'array' | 'other';
  /** For arrays of objects: the element's keys. */
  elementFields?: string[];
  /** The schema's default, if any. */
  default?: unknown;
}

let fieldsCache: ConfigField[] | undefined;

/** Every field of the schema, depth first: objects with defaults list their fields, arrays of objects list the array and its element's fields. */
export function configFields(): ConfigField[] {
  if (fieldsCache) return fieldsCache;
  const out: ConfigField[] = [];
  const walk = (shape: Record<string, AnySchema>, prefix: string) => {
    for (const [key, schema] of Object.entries(shape)) {
      const path = prefix + key;
      const def = schema._zod.def as { type: string; defaultValue?: unknown };
      const hasDefault = def.type === 'default';
      const optional = hasDefault || def.type === 'prefault' || def.type === 'optional';
      const inner = unwrap(schema);
      const innerDef = inner._zod.def as { type: string; element?: AnySchema; shape?: Record<string, AnySchema> };
      if (innerDef.type === 'object' && innerDef.shape) {
        walk(innerDef.shape, `${path}.`);
        continue;
      }
      const elementShape = innerDef.type === 'array' && innerDef.element ? shapeOf(innerDef.element) : undefined;
      const t = innerDef.type;
      const kind = t === 'number' || t === 'boolean' || t === 'array' ? t : t === 'string' || t === 'enum' ? 'string' : 'other';
      out.push({
        path, required: !optional, kind,
        ...(elementShape ? { elementFields: Object.keys(elementShape) } : {}),
        ...(hasDefault ? { default: def.defaultValue } : {}),
      });
      if (elementShape) walk(elementShape, `${path}[].`);
    }
  };
  walk(shapeOf(configSchema)!, '');
  fieldsCache = out;
  return out;
}

/** Validates a raw object (file contents with environment applied) into a Config, or throws ConfigError. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): Config {
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(['(root): must be a JSON object']);
  const merged = applyEnvironment(raw as Raw, env, problems);
  const result = configSchema.safeParse(merged);
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  checkFee(merged, problems);
  checkAddresses(merged, problems); // with the schema's problems, so all come in one round
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  const config = result.data;
  const seen = new Set<number>();
  config.stratum.ports.forEach((p, i) => {
    if (p.port !== 0 && seen.has(p.port)) problems.push(`stratum.ports.${i}.port: port ${p.port} is listed twice`);
    seen.add(p.port);
  });
  if (BigInt(config.payouts.maxPayoutThreshold) < BigInt(config.payouts.minimumPayout)) {
    problems.push(`payouts.maxPayoutThreshold: ${config.payouts.maxPayoutThreshold} is below payouts.minimumPayout ${config.payouts.minimumPayout}`);
  }
  checkMerged(config, problems);
  if (config.network !== 'regtest' && !config.database.url) {
    problems.push(`database.url: required on ${config.network} (set it or DATABASE_URL): accepted shares must be recorded`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The fee as payouts will take it (whole basis points, recipients when not 0), checked for every command. */
function checkFee(raw: Raw, problems: string[]): void {
  const payouts = raw.payouts as Raw | undefined;
  const percent = payouts?.feePercent ?? FEE_PERCENT_DEFAULT;
  if (typeof percent !== 'number' || percent < 0 || percent > 100) return; // the schema reports it
  let bps: bigint;
  try {
    bps = feePercentToBps(percent);
  } catch (error) {
    problems.push(`payouts.feePercent: ${(error as Error).message}`);
    return;
  }
  const recipients = payouts?.feeAddresses;
  // PPS/FPPS: the fee is taken off each share's value and stays in the pool's wallet; no fee address is paid.
  const poolKeepsFee = payouts?.scheme === 'pps' || payouts?.scheme === 'fpps';
  if (bps > 0n && !poolKeepsFee && (!Array.isArray(recipients) || recipients.length === 0)) {
    problems.push(`payouts.feeAddresses: a fee of ${percent}% needs at least one fee address (or set payouts.feePercent to 0)`);
  }
}

/** Aux chains: known parameters, a valid pool address on each, distinct names and chain ids, a tag that fits. */
function checkMerged(config: Config, problems: string[]): void {
  const names = new Map<string, number>();
  const ids = new Map<number, number>();
  config.merged.forEach((m, i) => {
    if (names.has(m.chain)) problems.push(`merged.${i}.chain: "${m.chain}" is already configured (merged.${names.get(m.chain)})`);
    names.set(m.chain, i);
    let params: AuxChainParams;
    try {
      params = resolveAuxChain(m.chain, config.network, m);
    } catch (error) {
      problems.push(`merged.${i}.chain: ${(error as Error).message}`);
      return;
    }
    const other = ids.get(params.chainId);
    if (other !== undefined) {
      problems.push(`merged.${i}.chainId: chain id ${params.chainId} is also merged.${other}'s; two chains with one id cannot be merge-mined together`);
    }
    ids.set(params.chainId, i);
    try {
      decodeAuxAddress(params, m.address);
    } catch (error) {
      problems.push(`merged.${i}.address: ${(error as Error).message} (${config.network})`);
    }
    if (m.payouts.scheme === 'pps' || m.payouts.scheme === 'fpps') {
      problems.push(`merged.${i}.payouts.scheme: "${m.payouts.scheme}" is not available on an aux chain (PPS/FPPS value shares in Litecoin); use pplns, prop or solo`);
    }
  });
  if (config.merged.length > 0) {
    const max = maxPoolTagBytes(EXTRANONCE1_SIZE + config.stratum.extranonce2Size, true);
    const bytes = Buffer.byteLength(config.pool.tag, 'utf8');
    if (bytes > max) {
      problems.push(`pool.tag: ${bytes} bytes; with merged mining the coinbase scriptSig (100 bytes at most) leaves room for ${max} bytes (extranonce2Size ${config.stratum.extranonce2Size})`);
    }
  }
}

/** Address fields that are strings, on a network the schema knows; other shapes are the schema's to report. */
function checkAddresses(raw: Raw, problems: string[]): void {
  const network = raw.network;
  if (typeof network !== 'string' || !(NETWORKS as readonly string[]).includes(network)) return;
  const check = (field: string, address: unknown) => {
    if (typeof address !== 'string' || address.length === 0) return;
    try {
      decodeAddress(address, network as NetworkName);
    } catch (error) {
      problems.push(`${field}: ${(error as Error).message}`);
    }
  };
  check('pool.address', (raw.pool as Raw | undefined)?.address);
  const fees = (raw.payouts as Raw | undefined)?.feeAddresses;
  if (Array.isArray(fees)) fees.forEach((f, i) => check(`payouts.feeAddresses.${i}.address`, (f as Raw | undefined)?.address));
}

/** Reads a JSON config file (optional) and applies the environment. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(readRawConfig(file), env);
}

export type DatabaseConfig = Pick<Config, 'database' | 'log'>;

/**
 * For `migrate`: the database and log sections. Everything present is validated as for the other commands, but
 * the fields only the pool needs (network, pool address, node) may be absent.
 */
export function parseDatabaseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): DatabaseConfig {
  try {
    return parseConfig(raw, env);
  } catch (error) {
    if (!(error instanceof ConfigError) || typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw error;
    const merged = applyEnvironment(raw as Raw, env, []);
    const absent = configFields()
      .filter((f) => f.required && !f.path.includes('[]') && getPath(merged, f.path) === undefined)
      .flatMap((f) => f.path.split('.').map((_, i, parts) => parts.slice(0, i + 1).join('.')))
      .filter((path) => getPath(merged, path) === undefined);
    const rest = error.problems.filter((p) => !absent.some((field) => p.startsWith(`${field}: `)) && !/^database\.url: required on /.test(p));
    if (rest.length > 0) throw new ConfigError(rest);
    return { database: configSchema.shape.database.parse(merged.database ?? {}), log: configSchema.shape.log.parse(merged.log ?? {}) };
  }
}

export function loadDatabaseConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  return parseDatabaseConfig(readRawConfig(file), env);
}

function getPath(raw: Raw, path: string): unknown {
  let node: unknown = raw;
  for (const key of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Raw)[key];
  }
  return node;
}

/** The JSON file's contents ({} without a file). */
function readRawConfig(file: string | undefined): unknown {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`config file ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`config file ${file}: not valid JSON (${(error as Error).message})`]);
  }
}

/** How long /readyz says "draining" before the first reconnect wave (stratum.shutdown.drainNoticeMs). */
export function drainNoticeMs(config: Config): number {
  const configured = config.stratum.shutdown.drainNoticeMs;
  if (configured !== undefined) return configured;
  return config.stratum.ports.some((p) => p.proxyProtocol) ? 1500 : 0;
}
