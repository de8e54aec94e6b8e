/**
 * The audit trail of money (008_audit.sql): one append-only row per payout batch, per release of set-aside
 * payments and per change of the money-relevant configuration, with who (process, host) and which configuration
 * (config hash). Nothing secret goes in: the hash is over the configuration with every credential removed, and
 * details hold amounts, addresses, labels and settings only.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';
import { auxChainsOf, type Config } from '../ops/config.js';
import { auxSchemeName } from './schemes/index.js';

export type AuditKind = 'payout_batch' | 'release' | 'config_change';

export interface AuditActor {
  /** Command and pid, e.g. `payouts --interval (pid 4242)`. */
  process: string;
  host: string;
  configHash: string;
}

/** What decides who gets how much. A change of any of these is audited. */
export interface MoneyConfig {
  scheme: string;
  pplnsWindowFactor: number;
  fppsFeeWindowBlocks: number;
  feePercent: number;
  feeAddresses: Array<{ address: string; weight: number }>;
  minimumPayout: string;
  maxPayoutThreshold: string;
  reserveLitoshis: string;
  maturity: number;
  orphanConfirmations: number;
  /** Merged mining: each aux chain's split and payout settings (absent without aux chains). */
  aux?: Array<{ chain: string; scheme: string; pplnsWindowFactor: number; minimumPayout: string; maturity: number }>;
}

export function moneyConfig(config: Config): MoneyConfig {
  const p = config.payouts;
  return {
    scheme: p.scheme,
    pplnsWindowFactor: p.pplnsWindowFactor,
    fppsFeeWindowBlocks: p.fppsFeeWindowBlocks,
    feePercent: p.feePercent,
    feeAddresses: p.feeAddresses.map((f) => ({ address: f.address, weight: f.weight })),
    minimumPayout: p.minimumPayout,
    maxPayoutThreshold: p.maxPayoutThreshold,
    reserveLitoshis: p.reserveLitoshis,
    maturity: p.maturity,
    orphanConfirmations: p.orphanConfirmations,
    // Only with merged mining, so a Litecoin-only pool's record is unchanged.
    ...(config.merged.length > 0 ? {
      aux: auxChainsOf(config).map((chain, i) => {
        const m = config.merged[i].payouts;
        return { chain: chain.name, scheme: auxSchemeName(m.scheme, p.scheme), pplnsWindowFactor: m.pplnsWindowFactor ?? p.pplnsWindowFactor, minimumPayout: m.minimumPayout, maturity: chain.maturity };
      }),
    } : {}),
  };
}

/** A URL without user, password, query or fragment: scheme://host:port/path. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[unparseable url]';
  }
}

/** Keys whose values are credentials or may embed them. */
const URL_KEYS = new Set(['rpcUrl', 'walletRpcUrl', 'url']);
const SECRET_KEYS = /pass(word)?|secret|token|private|key$/i;

/** The configuration with every credential removed (URLs reduced to host and path, secret-named values dropped). */
export function redactConfig(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redactConfig(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (SECRET_KEYS.test(k) && typeof v === 'string') continue;
      out[k] = redactConfig(v, k);
    }
    return out;
  }
  if (typeof value === 'string' && URL_KEYS.has(key)) return withoutCredentials(value);
  return value;
}

/** JSON with keys sorted (jsonb does not keep key order). */
const canonical = (value: unknown): string => JSON.stringify(redactConfig(value));

function sha256(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** sha256 of the credential-free configuration (keys sorted): the same settings always give the same hash. */
export function configHash(config: Config): string {
  return sha256(redactConfig(config));
}

export function moneyConfigHash(money: MoneyConfig): string {
  return sha256(redactConfig(money));
}

export function auditActor(command: string, config: Config): AuditActor {
  return { process: `${command} (pid ${process.pid})`, host: os.hostname(), configHash: configHash(config) };
}

type Db = pg.Pool | pg.PoolClient;

export async function appendAudit(db: Db, actor: AuditActor, kind: AuditKind, detail: Record<string, unknown>): Promise<void> {
  await db.query('INSERT INTO audit (kind, process, host, config_hash, detail) VALUES ($1, $2, $3, $4, $5::jsonb)',
    [kind, actor.process, actor.host, actor.configHash, JSON.stringify(detail, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))]);
}

/**
 * Writes a config_change row when the money-relevant settings differ from the last audited ones (or none were
 * audited yet). Call it under the payout lock so two runners never both write the same change.
 */
export async function auditConfigIfChanged(db: Db, actor: AuditActor, money: MoneyConfig): Promise<boolean> {
  const hash = moneyConfigHash(money);
  const last = await db.query<{ detail: { moneyHash?: string; money?: MoneyConfig } }>(
    `SELECT detail FROM audit WHERE kind = 'config_change' ORDER BY id DESC LIMIT 1`);
  const previous = last.rows[0]?.detail;
  if (previous?.moneyHash === hash) return false;
  const changed = previous?.money
    ? (Object.keys(money) as Array<keyof MoneyConfig>).filter((k) => canonical(money[k]) !== canonical(previous.money![k]))
    : (Object.keys(money) as Array<keyof MoneyConfig>);
  await appendAudit(db, actor, 'config_change', { moneyHash: hash, changed, money, previous: previous?.money ?? null });
  return true;
}

export interface AuditRow {
  id: number;
  at: Date;
  kind: AuditKind;
  process: string;
  host: string;
  configHash: string;
  detail: Record<string, unknown>;
  /** payout_batch rows: the batch's outcome now (from payment_batches/payments). */
  outcome?: { txid: string | null; statuses: Record<string, number> };
}

export async function readAudit(db: Db, limit = 50): Promise<AuditRow[]> {
  const res = await db.query<{ id: string; at: Date; kind: AuditKind; process: string; host: string; config_hash: string; detail: Record<string, unknown>; txid: string | null; statuses: Record<string, number> | null }>(
    `SELECT a.id::text, a.at, a.kind, a.process, a.host, a.config_hash, a.detail, b.txid,
            (SELECT jsonb_object_agg(status, n) FROM (SELECT p.status, count(*)::int AS n FROM payments p WHERE p.batch_id = b.id GROUP BY p.status) s) AS statuses
       FROM (SELECT * FROM audit ORDER BY id DESC LIMIT $1) a
       LEFT JOIN payment_batches b ON a.kind = 'payout_batch' AND b.label = a.detail->>'label'
      ORDER BY a.id DESC`, [limit]);
  return res.rows.map((r) => ({
    id: Number(r.id), at: r.at, kind: r.kind, process: r.process, host: r.host, configHash: r.config_hash, detail: r.detail,
    outcome: r.kind === 'payout_batch' ? { txid: r.txid, statuses: r.statuses ?? {} } : undefined,
  }));
}
