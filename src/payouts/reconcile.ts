/**
 * What to do with a batch still 'pending' at the start of a run (the previous runner died, or the wallet call's
 * outcome was unknown). Pure.
 *
 * - The wallet has a send with the batch's label: it was paid. Record it as sent with that txid, whatever we
 *   think of it, because paying again would pay twice; a mismatch between the wallet's outputs and the rows is
 *   reported loudly for an operator.
 * - The wallet has no such send and the batch is older than the grace period: the wallet call never happened (or
 *   failed); mark the batch failed, the amounts return to the balances and are paid in a later batch.
 * - Otherwise wait: a wallet call from a process that just died may still be finishing inside litecoind.
 */
import type { WalletSend } from './wallet.js';

export interface PendingPayment {
  address: string;
  amount: bigint;
}

export interface PendingBatch {
  id: number;
  label: string;
  createdAt: Date;
  payments: readonly PendingPayment[];
}

export type ReconcileAction =
  | { kind: 'sent'; txid: string; fee: bigint; mismatches: string[] }
  | { kind: 'failed'; reason: string }
  | { kind: 'wait'; reason: string };

export function decideReconcile(batch: PendingBatch, found: WalletSend | null, now: Date, graceSeconds: number): ReconcileAction {
  if (found) return { kind: 'sent', txid: found.txid, fee: found.fee, mismatches: compareOutputs(batch.payments, found.outputs) };
  const ageSeconds = (now.getTime() - batch.createdAt.getTime()) / 1000;
  if (ageSeconds >= graceSeconds) {
    return { kind: 'failed', reason: `no wallet transaction with comment ${batch.label} after ${Math.floor(ageSeconds)} s` };
  }
  return { kind: 'wait', reason: `no wallet transaction with comment ${batch.label} yet (batch is ${Math.floor(ageSeconds)} s old, grace ${graceSeconds} s)` };
}

/** Differences between what the batch meant to pay and what the wallet's transaction pays; empty when they agree. */
export function compareOutputs(payments: readonly PendingPayment[], outputs: ReadonlyMap<string, bigint>): string[] {
  const expected = new Map<string, bigint>();
  for (const p of payments) expected.set(p.address, (expected.get(p.address) ?? 0n) + p.amount);
  const problems: string[] = [];
  for (const [address, amount] of expected) {
    const paid = outputs.get(address);
    if (paid === undefined) problems.push(`${address}: expected ${amount}, wallet transaction has no output`);
    else if (paid !== amount) problems.push(`${address}: expected ${amount}, wallet transaction pays ${paid}`);
  }
  for (const [address, paid] of outputs) {
    if (!expected.has(address)) problems.push(`${address}: wallet transaction pays ${paid}, not in the batch`);
  }
  return problems.sort();
}
