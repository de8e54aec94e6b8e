/** `ltcpool payouts --once | --interval <s> | --release <address|all>`: wires config to the runner and prints what happened. */
import type pino from 'pino';
import { RpcClient } from '../chain/rpc.js';
import { auxChainsOf, ConfigError, type Config } from '../ops/config.js';
import { startHttpServer } from '../ops/http.js';
import { createLogger } from '../ops/logger.js';
import { metrics as defaultMetrics, type Metrics } from '../ops/metrics.js';
import { createPool } from '../store/db.js';
import { checkSchema } from '../store/migrations.js';
import type { NetworkName } from '../work/address.js';
import { litoshisToLtc } from './amounts.js';
import { auditActor, moneyConfig, readAudit, type AuditRow } from './audit.js';
import { releaseSetAside } from './ledger.js';
import { runPayoutOnce, type PayoutDeps, type PayoutRunSummary } from './runner.js';
import { auxSchemeName, createScheme, isPpsScheme, resolveFeeConfig } from './schemes/index.js';
import { rpcBlockFees } from './pps-crediting.js';
import type { FeeConfig } from './types.js';
import { RpcPayoutWallet, walletRpcUrl } from './wallet.js';

export { runPayoutOnce, type PayoutDeps, type PayoutRunSummary } from './runner.js';

export interface PayoutContext {
  deps: PayoutDeps;
  /** One runner per merged-mining chain: its node, its wallet, its ledger, its own lock. */
  auxDeps: PayoutDeps[];
  close(): Promise<void>;
}

/** Builds the runner's dependencies from config (database pool, node and wallet RPC clients). */
export async function createPayoutContext(config: Config, o: { logger?: pino.Logger; metrics?: Metrics; command?: string } = {}): Promise<PayoutContext> {
  if (!config.database.url) throw new Error('database.url: required for payouts (or set DATABASE_URL)');
  const logger = o.logger ?? createLogger('payouts');
  const metrics = o.metrics ?? defaultMetrics;
  const p = config.payouts;
  let fee: FeeConfig;
  try {
    // PPS/FPPS: the fee is taken off each share's value and stays with the pool (its margin against bad luck),
    // so no fee address is needed.
    fee = resolveFeeConfig({ feePercent: p.feePercent, recipients: isPpsScheme(p.scheme) && p.feeAddresses.length === 0 ? [{ address: config.pool.address }] : p.feeAddresses });
  } catch (error) {
    throw new ConfigError([`payouts.feeAddresses: ${(error as Error).message} (payouts.feePercent is ${p.feePercent})`]);
  }
  const scheme = createScheme(p.scheme, { windowFactor: p.pplnsWindowFactor });
  const db = createPool({ url: config.database.url, max: 3, logger, applicationName: 'ltcpool-payouts' });
  try {
    await checkSchema(db, { logger });
  } catch (error) {
    await db.end();
    throw error;
  }
  const onCall = (method: string, seconds: number, ok: boolean) => metrics.observeRpc(method, seconds, ok);
  const chain = new RpcClient({ url: config.node.rpcUrl, cookieFile: config.node.cookieFile, timeoutMs: config.node.timeoutMs, onCall });
  const walletRpc = new RpcClient({
    url: walletRpcUrl(p.walletRpcUrl ?? config.node.rpcUrl, p.walletName),
    cookieFile: p.walletRpcUrl ? undefined : config.node.cookieFile,
    timeoutMs: config.node.timeoutMs,
    onCall,
  });
  const crashAfterSend = process.env.LTCPOOL_TEST_CRASH_AFTER_SEND === '1';
  const ppsCrediting: PayoutDeps['ppsCrediting'] = isPpsScheme(p.scheme)
    ? {
        scheme: p.scheme, network: config.network as NetworkName, feeBps: fee.bps,
        blockFees: p.scheme === 'fpps' ? rpcBlockFees(chain) : undefined, feeWindowBlocks: p.fppsFeeWindowBlocks,
      }
    : undefined;
  const deps: PayoutDeps = {
    db, chain, wallet: new RpcPayoutWallet(walletRpc), network: config.network as NetworkName, scheme, fee,
    maturity: p.maturity, orphanConfirmations: p.orphanConfirmations, minimumPayout: BigInt(p.minimumPayout), maxPayoutThreshold: BigInt(p.maxPayoutThreshold), maxPaymentsPerBatch: p.maxPaymentsPerBatch,
    reconcileGraceSeconds: p.reconcileGraceSeconds, logger, metrics, ppsCrediting, reserve: BigInt(p.reserveLitoshis),
    audit: { actor: auditActor(o.command ?? 'payouts', config), money: moneyConfig(config) },
    afterSend: crashAfterSend
      ? (label, txid) => {
          logger.warn({ label, txid }, 'LTCPOOL_TEST_CRASH_AFTER_SEND: killing this process before recording the txid');
          process.kill(process.pid, 'SIGKILL');
        }
      : undefined,
  };
  // Aux chains: the same shares and fee, split per aux block by that chain's scheme (merged[].payouts.scheme, else
  // the pool's; PPLNS sized by that chain's difficulty; PPS/FPPS pools split aux blocks PPLNS, as PPS prices
  // Litecoin shares only); matured on and paid from that chain's node.
  const auxClients: RpcClient[] = [];
  const auxDeps: PayoutDeps[] = auxChainsOf(config).map((auxChain, i) => {
    const entry = config.merged[i];
    metrics.addAuxChain(auxChain.name);
    const auxNode = new RpcClient({ url: entry.rpcUrl, timeoutMs: Math.max(entry.timeoutMs, 30_000) });
    const auxWallet = new RpcClient({ url: walletRpcUrl(entry.payouts.walletRpcUrl ?? entry.rpcUrl, entry.payouts.walletName), timeoutMs: 120_000 });
    auxClients.push(auxNode, auxWallet);
    return {
      db, chain: auxNode, wallet: new RpcPayoutWallet(auxWallet, { legacySendMany: true }), network: config.network as NetworkName,
      scheme: createScheme(auxSchemeName(entry.payouts.scheme, p.scheme), { windowFactor: entry.payouts.pplnsWindowFactor ?? p.pplnsWindowFactor }),
      fee: isPpsScheme(p.scheme) ? resolveFeeConfig({ feePercent: p.feePercent, recipients: p.feeAddresses.length ? p.feeAddresses : [{ address: config.pool.address }] }) : fee,
      maturity: auxChain.maturity, orphanConfirmations: p.orphanConfirmations, minimumPayout: BigInt(entry.payouts.minimumPayout),
      maxPaymentsPerBatch: p.maxPaymentsPerBatch, reconcileGraceSeconds: p.reconcileGraceSeconds, logger: logger.child({ chain: auxChain.name }),
      aux: { chain: auxChain, feePayee: entry.address }, afterSend: deps.afterSend, metrics,
    };
  });
  return {
    deps,
    auxDeps,
    close: async () => {
      chain.close();
      walletRpc.close();
      for (const c of auxClients) c.close();
      await db.end();
    },
  };
}

/** Every chain's run, each under its own lock, in turn (one failing chain does not stop the others). */
export async function runAllChains(context: PayoutContext): Promise<Array<{ chain: string; unit: string; summary: PayoutRunSummary | null; error?: string }>> {
  const out: Array<{ chain: string; unit: string; summary: PayoutRunSummary | null; error?: string }> = [];
  for (const deps of [context.deps, ...context.auxDeps]) {
    const chain = deps.aux?.chain.name ?? 'litecoin';
    const unit = deps.aux?.chain.unit ?? 'LTC';
    try {
      out.push({ chain, unit, summary: await runPayoutOnce(deps) });
    } catch (error) {
      out.push({ chain, unit, summary: null, error: (error as Error).message });
    }
  }
  return out;
}

export function formatSummary(s: PayoutRunSummary, unit = 'LTC'): string {
  if (!s.locked) return 'payouts: another runner holds the lock; nothing done';
  const out: string[] = [];
  const u = s.unlocked;
  out.push(`blocks: ${u.confirmed.length} matured and credited, ${u.orphaned.length} orphaned, ${u.immature} immature, ${u.waiting.length} waiting` +
    (u.contested.length ? `, ${u.contested.length} contested` : ''));
  for (const b of u.confirmed) out.push(`  confirmed  height ${b.height}  ${b.hash}  reward ${litoshisToLtc(b.reward)} ${unit}  ${b.credits} credits`);
  for (const b of u.orphaned) out.push(`  orphaned   height ${b.height}  ${b.hash}`);
  for (const b of u.waiting) out.push(`  waiting    ${b.hash}  ${b.reason}`);
  for (const b of u.contested) out.push(`  contested  height ${b.height}  ${b.hash}  ${b.reason}`);
  if (s.pps) {
    out.push(s.pps.runId === null
      ? `shares (${s.pps.scheme.toUpperCase()}): none credited (${s.pps.skipped ?? 'nothing new'})`
      : `shares (${s.pps.scheme.toUpperCase()}): ${s.pps.shareCount} credited (seq ${s.pps.afterSeq + 1n}..${s.pps.throughSeq}), ${litoshisToLtc(s.pps.credited)} ${unit} to ${s.pps.addresses} address(es)`);
  }
  for (const r of s.reconciled) out.push(`reconciled batch ${r.label}: ${r.action}${r.txid ? ` ${r.txid}` : ''}${r.detail ? ` (${r.detail})` : ''}`);
  out.push(`owed ${litoshisToLtc(s.owed)} ${unit}, wallet spendable ${s.spendable === null ? '?' : litoshisToLtc(s.spendable)} ${unit}, shortfall ${litoshisToLtc(s.shortfall)} ${unit}` +
    (s.headroom === null ? '' : `, headroom ${litoshisToLtc(s.headroom)} ${unit}${s.reserveBreached ? ' (below the reserve: payouts stopped)' : ''}`));
  if (s.payments.length) {
    out.push('payments:');
    const width = Math.max(...s.payments.map((p) => p.address.length));
    out.push(`  ${'address'.padEnd(width)}  ${`amount ${unit}`.padStart(16)}  ${'status'.padEnd(9)}  txid / error`);
    for (const p of s.payments) {
      out.push(`  ${p.address.padEnd(width)}  ${litoshisToLtc(p.amount).padStart(16)}  ${p.status.padEnd(9)}  ${p.txid ?? p.error ?? ''}`);
    }
  } else {
    out.push('payments: none');
  }
  if (s.belowMinimum) out.push(`${s.belowMinimum} balance(s) below the minimum payout wait for later`);
  if (s.awaitingAddress) out.push(`${s.awaitingAddress} balance(s) wait for their miner to give an address on this chain (password option <chain>=<address>)`);
  for (const e of s.errors) out.push(`ERROR: ${e}`);
  out.push(s.ok ? 'result: ok' : 'result: FAILED');
  return out.join('\n');
}

export async function payoutsCommand(config: Config, opts: { once: boolean; interval?: string; release?: string; history?: boolean; reloadConfig?: () => Config }): Promise<number> {
  if ([opts.once, opts.interval !== undefined, opts.release !== undefined, opts.history === true].filter(Boolean).length !== 1) {
    console.error('payouts: give exactly one of --once, --interval <seconds>, --release <address|all> or --history');
    return 2;
  }
  const logger = createLogger('payouts');
  if (opts.history) return historyCommand(config, logger);
  if (opts.release !== undefined) return releaseCommand(config, opts.release, logger);
  if (opts.once) {
    const context = await createPayoutContext(config, { logger, command: 'payouts --once' });
    try {
      const results = await runAllChains(context);
      if (results.length === 1 && results[0].summary) {
        console.log(formatSummary(results[0].summary));
        return results[0].summary.ok ? 0 : 1;
      }
      // Merged mining: one result per chain.
      for (const r of results) {
        console.log(`== ${r.chain} (${r.unit})`);
        console.log(r.summary ? formatSummary(r.summary, r.unit) : `ERROR: ${r.error}\nresult: FAILED`);
      }
      return results.every((r) => r.summary?.ok) ? 0 : 1;
    } finally {
      await context.close();
    }
  }
  const seconds = Number(opts.interval);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error(`payouts: --interval must be a positive number of seconds, got "${opts.interval}"`);
    return 2;
  }
  await runForever(config, seconds, logger, opts.reloadConfig);
  return -1;
}

async function releaseCommand(config: Config, which: string, logger: pino.Logger): Promise<number> {
  const context = await createPayoutContext(config, { logger, command: 'payouts --release' });
  try {
    const released = await releaseSetAside(context.deps.db, which === 'all' ? null : which, context.deps.audit?.actor);
    if (released.length === 0) {
      console.log(`payouts: no set-aside payments${which === 'all' ? '' : ` for ${which}`}`);
      return which === 'all' ? 0 : 1;
    }
    for (const r of released) console.log(`released  ${r.address}  ${litoshisToLtc(r.amount)} LTC  (back in the balance; the next run pays it)`);
    logger.warn({ released: released.map((r) => ({ address: r.address, amount: r.amount.toString() })) }, 'set-aside payments released by the operator');
    return 0;
  } finally {
    await context.close();
  }
}

async function runForever(config: Config, seconds: number, logger: pino.Logger, reloadConfig?: () => Config): Promise<void> {
  // SIGHUP before the context exists must not kill the worker (Node's default); it is applied before the next run.
  let reloadRequested = false;
  process.on('SIGHUP', () => {
    reloadRequested = true;
    logger.info({ signal: 'SIGHUP' }, 'configuration will be re-read before the next payout run');
    if (timer && !running) {
      clearTimeout(timer);
      tick();
    }
  });
  let context = await createPayoutContext(config, { logger, command: 'payouts --interval' });
  const http = config.http.enabled
    ? await startHttpServer({ host: config.http.host, port: config.http.port, readiness: [], logger: logger.child({ module: 'http' }) })
    : undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopping = false;
  /** New credentials (RPC, database password) and settings: a fresh context, built before the old one closes. */
  const reload = async (): Promise<void> => {
    if (!reloadRequested || !reloadConfig) return;
    reloadRequested = false;
    let next: PayoutContext;
    try {
      next = await createPayoutContext(reloadConfig(), { logger, command: 'payouts --interval' });
    } catch (error) {
      logger.error({ problems: error instanceof ConfigError ? error.problems : [(error as Error).message] }, 'configuration NOT reloaded: the running one stays');
      return;
    }
    const old = context;
    context = next;
    await old.close();
    logger.info('configuration reloaded (SIGHUP): credentials and settings in force from this run');
  };
  const tick = (): void => {
    timer = undefined;
    running = reload().then(() => runAllChains(context)).then(
      (results) => {
        for (const { chain, summary, error } of results) {
          if (!summary) {
            defaultMetrics.payoutsFailedTotal.inc({ chain });
            logger.error({ chain, err: error }, 'payout run failed');
          } else if (summary.ok) logger.info({ chain, paid: summary.payments.filter((p) => p.status === 'sent').length, owed: summary.owed.toString() }, 'payout run done');
          else logger.error({ chain, errors: summary.errors }, 'payout run needs attention');
        }
      },
      (error: unknown) => {
        defaultMetrics.payoutsFailedTotal.inc({ chain: 'litecoin' });
        logger.error({ err: error }, 'payout run failed');
      },
    ).finally(() => {
      running = undefined;
      if (!stopping) timer = setTimeout(tick, seconds * 1000);
    });
  };
  const shutdown = (signal: string): void => {
    stopping = true;
    clearTimeout(timer);
    logger.info({ signal }, 'payouts worker stopping');
    void (async () => {
      await running;
      await http?.close();
      await context.close();
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  tick();
}

/** One line per audit row, newest first (`ltcpool payouts --history`). */
export function formatHistory(rows: readonly AuditRow[]): string {
  if (rows.length === 0) return 'audit: no entries yet';
  const out = [`${'id'.padStart(5)}  ${'at (UTC)'.padEnd(19)}  ${'kind'.padEnd(13)}  ${'config'.padEnd(8)}  by / what`];
  for (const r of rows) {
    const d = r.detail as Record<string, unknown>;
    let what: string;
    if (r.kind === 'payout_batch') {
      const statuses = Object.entries(r.outcome?.statuses ?? {}).map(([s, n]) => `${n} ${s}`).join(', ');
      what = `batch ${String(d.label)}: ${String(d.count)} payment(s) ${litoshisToLtc(BigInt(String(d.total)))} LTC, now ${statuses || 'unknown'}` +
        (r.outcome?.txid ? `, txid ${r.outcome.txid}` : '');
    } else if (r.kind === 'release') {
      what = `released ${String(d.which)}: ${String(d.count)} payment(s) ${litoshisToLtc(BigInt(String(d.total)))} LTC back to the balances`;
    } else {
      const m = d.money as Record<string, unknown>;
      const fees = (m.feeAddresses as Array<{ address: string; weight: number }>).map((f) => `${f.address}×${f.weight}`).join(' ') || 'none';
      what = `${d.previous ? `changed ${(d.changed as string[]).join(', ')}` : 'first record'}: scheme ${String(m.scheme)}, fee ${String(m.feePercent)}% to ${fees}, ` +
        `minimum ${litoshisToLtc(BigInt(String(m.minimumPayout)))} LTC, maturity ${String(m.maturity)}`;
    }
    const at = r.at.toISOString().replace('T', ' ').slice(0, 19);
    out.push(`${String(r.id).padStart(5)}  ${at}  ${r.kind.padEnd(13)}  ${r.configHash.slice(0, 8)}  ${r.process} on ${r.host}`);
    out.push(`${' '.repeat(5 + 2 + 19 + 2 + 13 + 2 + 8 + 2)}${what}`);
  }
  return out.join('\n');
}

async function historyCommand(config: Config, logger: pino.Logger): Promise<number> {
  if (!config.database.url) throw new ConfigError(['database.url: required for payouts --history (or set DATABASE_URL)']);
  const db = createPool({ url: config.database.url, max: 1, logger, applicationName: 'ltcpool-payouts-history' });
  try {
    await checkSchema(db, { logger });
    console.log(formatHistory(await readAudit(db, 100)));
    return 0;
  } finally {
    await db.end();
  }
}
