import type pg from 'pg';
import { RpcClient } from '../chain/rpc.js';
import { owedLitoshis } from '../payouts/ledger.js';
import { RpcPayoutWallet, walletRpcUrl } from '../payouts/wallet.js';
import { hashrateFromDifficulty } from './api/hashrate.js';
import type { Config } from './config.js';
import { formatHashrate, formatLtc } from './format.js';

/**
 * `ltcpool status`: a one-screen summary for the operator's terminal, from the database (instances with recent
 * shares, miners, hashrate, last block, payouts), each instance's /metrics (template age, share queue, spool,
 * connections) and the payout wallet (spendable balance). A source that cannot be reached is shown as such.
 */

const WINDOW_SECONDS = 600;

export interface InstanceStatus {
  url: string;
  error?: string;
  connections?: number;
  templateAgeSeconds?: number;
  shareQueue?: number;
  spoolShares?: number;
  spoolBytes?: number;
  height?: number;
}

export interface StatusReport {
  time: Date;
  database: { ok: boolean; error?: string };
  /** instance_id of the shares of the last 10 minutes, with their share count. */
  instances: { id: number; shares: number; lastShareAt: Date }[];
  miners: number;
  workers: number;
  hashrate: number;
  /**
   * confirmations: from the node (getblockheader) when it answered, else the count the last payout run stored
   * (confirmationsFrom says which; storedBecause why the node's count is missing). -1 = not in the node's best chain.
   */
  lastBlock: {
    height: number; hash: string; status: string; foundAt: Date; effort: number | null; confirmations: number;
    confirmationsFrom: 'chain' | 'stored'; storedBecause?: string;
  } | null;
  blocks: Record<string, number>;
  payouts: { owed: bigint; paid: bigint; pending: bigint; lastPaymentAt: Date | null } | null;
  notifications: { pending: number; failed: number } | null;
  wallet: { spendable?: bigint; error?: string };
  endpoints: InstanceStatus[];
}

/** Reads `ltcpool_*` gauges from a Prometheus text page. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('ltcpool_')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

async function endpointStatus(url: string, timeoutMs: number): Promise<InstanceStatus> {
  try {
    const response = await fetch(`${url.replace(/\/$/, '')}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return { url, error: `HTTP ${response.status}` };
    const m = parseMetrics(await response.text());
    return {
      url,
      connections: m.get('ltcpool_connections'),
      templateAgeSeconds: m.get('ltcpool_template_age_seconds'),
      shareQueue: m.get('ltcpool_share_queue_depth'),
      spoolShares: m.get('ltcpool_spool_shares'),
      spoolBytes: m.get('ltcpool_spool_bytes'),
      height: m.get('ltcpool_network_height'),
    };
  } catch (error) {
    return { url, error: error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error) };
  }
}

/**
 * A block's confirmations as the node counts them now. The blocks table's count is only written by payout runs
 * (0 for a new block until then), so it is the fallback, said so.
 */
async function chainConfirmations(config: Config, hash: string): Promise<{ confirmations: number; confirmationsFrom: 'chain' } | { confirmationsFrom: 'stored'; storedBecause: string }> {
  const rpc = new RpcClient({ url: config.node.rpcUrl, cookieFile: config.node.cookieFile, timeoutMs: 3000 });
  try {
    const header = await rpc.call<{ confirmations: number }>('getblockheader', [hash, true]);
    return { confirmations: header.confirmations, confirmationsFrom: 'chain' };
  } catch (error) {
    return { confirmationsFrom: 'stored', storedBecause: `node: ${(error as Error).message}` };
  } finally {
    rpc.close?.();
  }
}

export async function gatherStatus(config: Config, options: { db?: pg.Pool; urls?: string[]; now?: Date } = {}): Promise<StatusReport> {
  const now = options.now ?? new Date();
  const urls = options.urls?.length ? options.urls : config.http.enabled ? [`http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`] : [];
  const report: StatusReport = {
    time: now, database: { ok: false }, instances: [], miners: 0, workers: 0, hashrate: 0, lastBlock: null, blocks: {},
    payouts: null, notifications: null, wallet: {}, endpoints: [],
  };
  const endpoints = Promise.all(urls.map((u) => endpointStatus(u, 3000)));
  const wallet = (async () => {
    const rpc = new RpcClient({
      url: walletRpcUrl(config.payouts.walletRpcUrl ?? config.node.rpcUrl, config.payouts.walletName),
      cookieFile: config.payouts.walletRpcUrl ? undefined : config.node.cookieFile,
      timeoutMs: 3000,
    });
    try {
      report.wallet.spendable = await new RpcPayoutWallet(rpc).spendableBalance();
    } catch (error) {
      report.wallet.error = (error as Error).message;
    } finally {
      rpc.close?.();
    }
  })();

  const db = options.db;
  if (db) {
    try {
      const since = new Date(now.getTime() - WINDOW_SECONDS * 1000);
      const [instances, recent, last, counts, paid, notes] = await Promise.all([
        db.query(`SELECT instance_id AS id, count(*)::int AS shares, max(time) AS "lastShareAt" FROM shares WHERE time >= $1 GROUP BY 1 ORDER BY 1`, [since]),
        db.query(`SELECT count(DISTINCT address)::int AS miners, count(DISTINCT (address, worker))::int AS workers, coalesce(sum(difficulty), 0)::float8 AS d FROM shares WHERE time >= $1`, [since]),
        db.query(`SELECT b.height, b.hash, b.status, b.created_at AS "foundAt", b.confirmations, e.effort FROM blocks b LEFT JOIN block_effort e ON e.block_id = b.id
                   WHERE b.status <> 'rejected' AND b.chain = 'litecoin' ORDER BY b.created_at DESC, b.id DESC LIMIT 1`),
        db.query(`SELECT status, count(*)::int AS n FROM blocks WHERE chain = 'litecoin' GROUP BY 1`),
        db.query(`SELECT coalesce(sum(amount) FILTER (WHERE status = 'sent'), 0)::text AS paid, coalesce(sum(amount) FILTER (WHERE status = 'pending'), 0)::text AS pending,
                         max(updated_at) FILTER (WHERE status = 'sent') AS last FROM payments`),
        db.query(`SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'failed')::int AS failed FROM notifications`),
      ]);
      report.database.ok = true;
      report.instances = instances.rows;
      report.miners = recent.rows[0].miners;
      report.workers = recent.rows[0].workers;
      report.hashrate = hashrateFromDifficulty(recent.rows[0].d, WINDOW_SECONDS);
      report.lastBlock = last.rows[0] ? { ...last.rows[0], ...(await chainConfirmations(config, last.rows[0].hash)) } : null;
      report.blocks = Object.fromEntries(counts.rows.map((r) => [r.status, r.n]));
      report.payouts = { owed: await owedLitoshis(db), paid: BigInt(paid.rows[0].paid), pending: BigInt(paid.rows[0].pending), lastPaymentAt: paid.rows[0].last };
      report.notifications = notes.rows[0];
    } catch (error) {
      report.database = { ok: false, error: (error as Error).message };
    }
  } else {
    report.database = { ok: false, error: 'no database.url' };
  }
  report.endpoints = await endpoints;
  await wallet;
  return report;
}

function ago(date: Date | null | undefined, now: Date): string {
  if (!date) return 'never';
  const s = Math.max(0, Math.round((now.getTime() - new Date(date).getTime()) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : s < 172_800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86_400)} d ago`;
}

function formatConfirmations(block: NonNullable<StatusReport['lastBlock']>): string {
  if (block.confirmationsFrom === 'stored') return `${block.confirmations} confirmations as of the last payout run (${block.storedBecause})`;
  return block.confirmations < 0 ? 'not in the best chain' : `${block.confirmations} confirmations`;
}

export function formatStatus(r: StatusReport, config: Pick<Config, 'network' | 'instanceId'>): string {
  const lines: string[] = [];
  const pad = (label: string) => `${label}:`.padEnd(14);
  lines.push(`ltcpool status  ${config.network}  ${r.time.toISOString().replace('T', ' ').slice(0, 19)} UTC`);
  lines.push(`${pad('database')}${r.database.ok ? 'ok' : `UNAVAILABLE (${r.database.error})`}`);
  lines.push(`${pad('instances')}${r.instances.length === 0 ? 'none with shares in the last 10 min' : r.instances.map((i) => `#${i.id} ${i.shares} shares, last ${ago(i.lastShareAt, r.time)}`).join('; ')}`);
  for (const e of r.endpoints) {
    lines.push(e.error
      ? `${pad('  endpoint')}${e.url} UNREACHABLE (${e.error})`
      : `${pad('  endpoint')}${e.url} height ${e.height ?? '?'}, template ${e.templateAgeSeconds === undefined ? '?' : `${e.templateAgeSeconds.toFixed(0)} s old`}, ` +
        `${e.connections ?? '?'} connections, share queue ${e.shareQueue ?? '?'}, spool ${e.spoolShares ?? 0} shares (${e.spoolBytes ?? 0} bytes)`);
  }
  lines.push(`${pad('miners')}${r.miners} (${r.workers} workers) in the last 10 min`);
  lines.push(`${pad('hashrate')}${formatHashrate(r.hashrate)}`);
  const counts = Object.entries(r.blocks).map(([s, n]) => `${n} ${s}`).join(', ');
  lines.push(`${pad('last block')}${r.lastBlock
    ? `${r.lastBlock.height} ${r.lastBlock.status}, ${ago(r.lastBlock.foundAt, r.time)}, ${formatConfirmations(r.lastBlock)}, effort ${r.lastBlock.effort === null ? '—' : `${(r.lastBlock.effort * 100).toFixed(1)} %`}`
    : 'none yet'}${counts ? `  (all: ${counts})` : ''}`);
  lines.push(`${pad('payouts')}${r.payouts
    ? `owed ${formatLtc(r.payouts.owed.toString())}, paid ${formatLtc(r.payouts.paid.toString())}, pending ${formatLtc(r.payouts.pending.toString())}, last payment ${ago(r.payouts.lastPaymentAt, r.time)}`
    : '?'}`);
  const shortfall = r.payouts && r.wallet.spendable !== undefined && r.wallet.spendable < r.payouts.owed;
  lines.push(`${pad('wallet')}${r.wallet.spendable !== undefined ? `${formatLtc(r.wallet.spendable.toString())} spendable${shortfall ? '  SHORTFALL: less than owed' : ''}` : `UNREACHABLE (${r.wallet.error})`}`);
  if (r.notifications) lines.push(`${pad('alerts')}${r.notifications.pending} notifications pending, ${r.notifications.failed} failed`);
  return lines.join('\n');
}
