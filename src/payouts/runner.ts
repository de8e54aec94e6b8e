/**
 * One payout run: lock → reconcile pending batches → unlock blocks → check the wallet covers what is owed → pay.
 *
 * Exactly-once: a batch and its payments are committed as 'pending' (with a unique label that becomes the wallet
 * transaction's comment) BEFORE sendmany, and marked 'sent' with the txid after. When the process dies in
 * between, the next run finds the wallet transaction by its comment and records it instead of paying again.
 * Only one runner acts at a time: a session-level pg_try_advisory_lock held for the whole run (released by
 * PostgreSQL if the process dies).
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import pino from 'pino';
import { RpcError, type RpcClient } from '../chain/rpc.js';
import type { Metrics } from '../ops/metrics.js';
import { decodeAddress, type NetworkName } from '../work/address.js';
import { createHash } from 'node:crypto';
import { decodeAuxAddress, type AuxChainParams } from '../work/chains.js';
import { auditConfigIfChanged, type AuditActor, type MoneyConfig } from './audit.js';
import { insertBatch, markBatchFailed, markBatchSent, owedLitoshis, pendingBatches, readBalances, readPayoutThresholds, recordPayoutStatus } from './ledger.js';
import { creditNewShares, type PpsCreditingDeps, type PpsRunSummary } from './pps-crediting.js';
import { planPayments } from './plan.js';
import { decideReconcile } from './reconcile.js';
import type { FeeConfig, RewardScheme } from './types.js';
import { unlockBlocks, type UnlockResult } from './unlocker.js';
import type { PayoutWallet } from './wallet.js';

/** 'ltcpayou' as an int8: the advisory lock key of the payout runner. */
export const PAYOUT_LOCK_KEY = '7815209000474948981';

export interface PayoutDeps {
  db: pg.Pool;
  /** Node RPC for chain calls (getblockcount, getblockhash, getblockheader). */
  chain: Pick<RpcClient, 'call'>;
  wallet: PayoutWallet;
  network: NetworkName;
  scheme: RewardScheme;
  fee: FeeConfig;
  maturity: number;
  /** See UnlockerDeps.orphanConfirmations. */
  orphanConfirmations: number;
  minimumPayout: bigint;
  /** Highest payout threshold a miner may choose (payouts.maxPayoutThreshold). */
  maxPayoutThreshold?: bigint;
  maxPaymentsPerBatch?: number;
  reconcileGraceSeconds?: number;
  logger?: pino.Logger;
  metrics?: Pick<Metrics, 'blocksTotal' | 'payoutsPaidLitoshisTotal' | 'payoutsPendingLitoshis' | 'payoutsFailedTotal' | 'walletShortfallLitoshis'
    | 'payoutsReserveBreached' | 'payoutsReserveHeadroomLitoshis'>;
  /** Litoshis the wallet must hold beyond what it owes, or payouts stop. Default 0. */
  reserve?: bigint;
  now?: () => Date;
  /** PPS/FPPS: credit the shares recorded since the last run, before anything else is looked at. */
  ppsCrediting?: Omit<PpsCreditingDeps, 'db' | 'logger'>;
  /** Who runs (audit rows) and the money-relevant settings in force (a change is audited at the next run). */
  audit?: { actor: AuditActor; money: MoneyConfig };
  /** Test hook: called right after sendmany returned, before the database learns the txid. */
  afterSend?: (label: string, txid: string) => void;
  /**
   * An aux chain's run (merged mining): its blocks on its own node (`chain`), its wallet, its ledger. Balances are
   * keyed by the miner's Litecoin address and paid to the address the miner gave for this chain.
   */
  aux?: {
    chain: AuxChainParams;
    /** Where the fee recipients' credits on this chain go (they give no address by password): the pool's address there. */
    feePayee?: string;
  };
}

export interface PaymentLine {
  batchId: number;
  label: string;
  address: string;
  amount: bigint;
  status: 'sent' | 'failed' | 'pending' | 'set_aside';
  txid?: string;
  error?: string;
}

export interface PayoutRunSummary {
  /** False: another runner held the lock; nothing was done. */
  locked: boolean;
  unlocked: UnlockResult;
  reconciled: Array<{ batchId: number; label: string; action: 'sent' | 'failed' | 'wait'; txid?: string; detail?: string }>;
  /** PPS/FPPS: this run's share crediting (null under PPLNS/PROP/SOLO). */
  pps: PpsRunSummary | null;
  /** Matured credits minus sent payments, litoshis. */
  owed: bigint;
  spendable: bigint | null;
  shortfall: bigint;
  /** Spendable minus owed, when the wallet answered. */
  headroom: bigint | null;
  /** True when payouts stopped because headroom < reserve (a shortfall included). */
  reserveBreached: boolean;
  payments: PaymentLine[];
  belowMinimum: number;
  /** Aux chains: positive balances of miners who gave no address on this chain yet (they wait, nothing is lost). */
  awaitingAddress?: number;
  /** False when anything needs attention: shortfall, failed or unknown wallet calls. */
  ok: boolean;
  errors: string[];
}

const emptyUnlock = (): UnlockResult => ({ confirmed: [], orphaned: [], immature: 0, waiting: [], contested: [] });

/** The advisory lock of one chain's payout runner: Litecoin's is PAYOUT_LOCK_KEY, each aux chain has its own. */
export function payoutLockKey(chain: string): string {
  if (chain === 'litecoin') return PAYOUT_LOCK_KEY;
  return createHash('sha256').update(`ltcpool-payout-${chain}`).digest().readBigInt64BE(0).toString();
}

export async function runPayoutOnce(deps: PayoutDeps): Promise<PayoutRunSummary> {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const summary: PayoutRunSummary = {
    locked: false, unlocked: emptyUnlock(), reconciled: [], pps: null, owed: 0n, spendable: null, shortfall: 0n, headroom: null, reserveBreached: false,
    payments: [], belowMinimum: 0, ok: true, errors: [],
  };
  const lockClient = await deps.db.connect();
  try {
    const lockKey = payoutLockKey(deps.aux?.chain.name ?? 'litecoin');
    const got = await lockClient.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [lockKey]);
    if (!got.rows[0].locked) {
      logger.info('another payout runner holds the lock; skipping this run');
      return summary;
    }
    summary.locked = true;
    try {
      await runLocked(deps, logger, summary);
    } finally {
      await lockClient.query('SELECT pg_advisory_unlock($1::bigint)', [lockKey]).catch(() => undefined);
    }
  } finally {
    lockClient.release();
  }
  if (summary.errors.length) summary.ok = false;
  return summary;
}

async function runLocked(deps: PayoutDeps, logger: pino.Logger, summary: PayoutRunSummary): Promise<void> {
  const now = deps.now ?? (() => new Date());
  const fail = (message: string, context: Record<string, unknown> = {}): void => {
    summary.errors.push(message);
    logger.error(context, message);
  };

  // 0. A change of the settings that decide who gets what is audited before they are used.
  if (deps.audit && (await auditConfigIfChanged(deps.db, deps.audit.actor, deps.audit.money))) {
    logger.warn({ money: deps.audit.money, configHash: deps.audit.actor.configHash }, 'money-relevant configuration changed: recorded in the audit table');
  }

  // 1. Settle what a previous run left pending, before anything could pay the same balance again.
  const chainName = deps.aux?.chain.name ?? 'litecoin';
  const chainLabel = { chain: chainName };
  for (const batch of await pendingBatches(deps.db, chainName)) {
    const since = Math.floor(batch.createdAt.getTime() / 1000) - 3600;
    const found = await deps.wallet.findSendByComment(batch.label, since);
    const action = decideReconcile(batch, found, now(), deps.reconcileGraceSeconds ?? 600);
    if (action.kind === 'sent') {
      const amount = await markBatchSent(deps.db, batch.id, action.txid, action.fee);
      deps.metrics?.payoutsPaidLitoshisTotal.inc(chainLabel, Number(amount));
      logger.warn({ batch: batch.label, txid: action.txid }, 'pending batch found in the wallet: recorded as sent (not paid again)');
      if (action.mismatches.length) fail(`batch ${batch.label}: wallet transaction ${action.txid} differs from the ledger`, { mismatches: action.mismatches });
      summary.reconciled.push({ batchId: batch.id, label: batch.label, action: 'sent', txid: action.txid });
    } else if (action.kind === 'failed') {
      await markBatchFailed(deps.db, batch.id, action.reason);
      deps.metrics?.payoutsFailedTotal.inc(chainLabel);
      logger.warn({ batch: batch.label, reason: action.reason }, 'pending batch never reached the wallet: marked failed, amounts return to the balances');
      summary.reconciled.push({ batchId: batch.id, label: batch.label, action: 'failed', detail: action.reason });
    } else {
      fail(`batch ${batch.label} is still pending: ${action.reason}`);
      summary.reconciled.push({ batchId: batch.id, label: batch.label, action: 'wait', detail: action.reason });
    }
  }

  // 2. PPS/FPPS: every share recorded since the last run is credited now, whatever becomes of the blocks.
  if (deps.ppsCrediting) summary.pps = await creditNewShares({ ...deps.ppsCrediting, db: deps.db, logger });

  // 3. Follow found blocks on the chain; credit the matured ones (under PPS/FPPS: to the pool).
  summary.unlocked = await unlockBlocks({
    db: deps.db, rpc: deps.chain, scheme: deps.scheme, fee: deps.fee, maturity: deps.maturity,
    orphanConfirmations: deps.orphanConfirmations, logger, metrics: deps.metrics, chain: chainName,
  });

  // 4. The wallet must hold everything the pool owes, or nothing is paid.
  summary.owed = await owedLitoshis(deps.db, chainName);
  summary.spendable = await deps.wallet.spendableBalance();
  summary.shortfall = summary.owed > summary.spendable ? summary.owed - summary.spendable : 0n;
  // The payout_status row (/api/payouts/status) is Litecoin's; every chain has its gauges.
  deps.metrics?.payoutsPendingLitoshis.set(chainLabel, Number(summary.owed));
  deps.metrics?.walletShortfallLitoshis.set(chainLabel, Number(summary.shortfall));
  const reserve = deps.reserve ?? 0n;
  summary.headroom = summary.spendable - summary.owed;
  summary.reserveBreached = summary.headroom < reserve;
  deps.metrics?.payoutsReserveHeadroomLitoshis.set(chainLabel, Number(summary.headroom));
  deps.metrics?.payoutsReserveBreached.set(chainLabel, summary.reserveBreached ? 1 : 0);
  let reason: string | null = null;
  if (summary.shortfall > 0n) {
    reason = `WALLET SHORTFALL${deps.aux ? ` (${chainName})` : ''}: the pool owes ${summary.owed} litoshis of matured credits but the wallet can spend only ${summary.spendable}; nothing is paid`;
  } else if (summary.reserveBreached) {
    reason = `RESERVE BREACHED: the wallet can spend ${summary.spendable} litoshis, ${summary.headroom} more than the ${summary.owed} owed, below the reserve of ${reserve}; nothing is paid until it is refilled`;
  }
  if (!deps.aux) await recordPayoutStatus(deps.db, { spendable: summary.spendable, owed: summary.owed, reserve, paused: reason !== null, reason });
  if (reason !== null) {
    deps.metrics?.payoutsFailedTotal.inc(chainLabel);
    fail(reason, { owed: summary.owed.toString(), spendable: summary.spendable.toString(), shortfall: summary.shortfall.toString(), reserve: reserve.toString() });
    return;
  }

  // 5. Pay.
  let balances = await readBalances(deps.db, chainName);
  const thresholds = deps.aux ? new Map<string, bigint>() : await readPayoutThresholds(deps.db, deps.minimumPayout, deps.maxPayoutThreshold);
  const minimumFor = (address: string) => thresholds.get(address) ?? deps.minimumPayout;
  const reasons = new Map<string, string>();
  // Aux chains: each balance is paid to the address its miner gave for this chain; without one it waits.
  const payees = new Map<string, string>();
  if (deps.aux) {
    const rows = await deps.db.query<{ address: string; aux_address: string }>(
      'SELECT address, aux_address FROM miner_aux_addresses WHERE chain = $1', [chainName]);
    const taken = new Set<string>();
    for (const row of rows.rows) {
      // sendmany pays an address once per call: two ledgers paying one address wait for separate runs.
      if (taken.has(row.aux_address)) continue;
      taken.add(row.aux_address);
      payees.set(row.address, row.aux_address);
    }
    // The pool fee's recipients are Litecoin addresses that never authorize: their share goes to the pool's aux address.
    // One payee per sendmany output: with several fee recipients, one is paid per run (like two ledgers on one address).
    const feeAddresses = new Set(deps.fee.recipients.map((r) => r.address));
    const feeOwed = balances.find((b) => b.balance > 0n && feeAddresses.has(b.address) && !payees.has(b.address));
    if (deps.aux.feePayee && feeOwed && !taken.has(deps.aux.feePayee)) payees.set(feeOwed.address, deps.aux.feePayee);
    const waiting = balances.filter((b) => b.balance > 0n && !payees.has(b.address));
    summary.awaitingAddress = waiting.length;
    if (waiting.length) logger.info({ chain: chainName, miners: waiting.length }, 'balances waiting for the miner to give an address on this chain');
    balances = balances.filter((b) => b.balance <= 0n || payees.has(b.address));
  }
  const payTo = (address: string) => payees.get(address) ?? address;
  for (const { address, balance } of balances) {
    if (balance <= 0n) continue;
    try {
      if (deps.aux) decodeAuxAddress(deps.aux.chain, payTo(address));
      else decodeAddress(address, deps.network);
    } catch (error) {
      reasons.set(address, (error as Error).message);
      continue;
    }
    if (balance >= minimumFor(address) && !(await deps.wallet.isValidAddress(payTo(address)))) {
      reasons.set(address, `${deps.aux ? `${chainName} node` : 'litecoind'} validateaddress refuses ${payTo(address)}`);
    }
  }
  const plan = planPayments(balances, {
    minimum: deps.minimumPayout,
    minimumFor,
    maxPerBatch: deps.maxPaymentsPerBatch ?? 500,
    invalidReason: (address) => reasons.get(address) ?? null,
  });
  summary.belowMinimum = plan.belowMinimum.length;

  if (plan.setAside.length) {
    const label = newLabel('setaside');
    const batchId = await insertBatch(deps.db, label, plan.setAside.map((p) => ({ address: p.address, amount: p.amount, status: 'set_aside', error: p.reason, payee: payees.get(p.address) })), deps.audit?.actor, chainName);
    for (const p of plan.setAside) {
      logger.error({ address: p.address, amount: p.amount.toString(), reason: p.reason, batch: label }, 'payment set aside: bad address');
      summary.payments.push({ batchId, label, address: p.address, amount: p.amount, status: 'set_aside', error: p.reason });
    }
  }

  for (const batch of plan.batches) {
    const label = newLabel('payout');
    const batchId = await insertBatch(deps.db, label, batch.map((p) => ({ ...p, status: 'pending', payee: payees.get(p.address) })), deps.audit?.actor, chainName);
    const lines = (status: PaymentLine['status'], extra: Partial<PaymentLine> = {}): void => {
      for (const p of batch) summary.payments.push({ batchId, label, address: p.address, amount: p.amount, status, ...extra });
    };
    let txid: string;
    try {
      txid = await deps.wallet.sendMany(new Map(batch.map((p) => [payTo(p.address), p.amount])), label);
    } catch (error) {
      const message = (error as Error).message;
      // The node answered with an error: normally nothing was sent, but look once by comment to be sure.
      const found = error instanceof RpcError ? await deps.wallet.findSendByComment(label, Math.floor(now().getTime() / 1000) - 3600).catch(() => null) : null;
      if (error instanceof RpcError && !found) {
        await markBatchFailed(deps.db, batchId, message);
        deps.metrics?.payoutsFailedTotal.inc(chainLabel);
        fail(`batch ${label}: sendmany failed: ${message}`);
        lines('failed', { error: message });
        continue;
      }
      if (!found) {
        fail(`batch ${label}: outcome of sendmany unknown (${message}); left pending, the next run reconciles it`);
        lines('pending', { error: message });
        continue;
      }
      txid = found.txid;
    }
    deps.afterSend?.(label, txid);
    const fee = await deps.wallet.getSend(txid).then((s) => s.fee, () => null);
    const amount = await markBatchSent(deps.db, batchId, txid, fee);
    deps.metrics?.payoutsPaidLitoshisTotal.inc(chainLabel, Number(amount));
    logger.info({ batch: label, txid, payments: batch.length, amount: amount.toString(), txFee: fee?.toString() }, 'payout batch sent');
    lines('sent', { txid });
  }
  summary.owed = await owedLitoshis(deps.db, chainName);
  deps.metrics?.payoutsPendingLitoshis.set(chainLabel, Number(summary.owed));
}

function newLabel(kind: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `ltcpool-${kind}-${stamp}-${randomBytes(6).toString('hex')}`;
}
