/**
 * Which balances get paid in this run. Pure.
 *
 * - Balances below the minimum payout wait (they keep accruing). A miner's own threshold (miner_settings, see
 *   `minimumFor`) replaces the pool's minimum for that address.
 * - An address that does not decode for the network (or that the wallet refuses) is set aside: its whole balance
 *   goes into a 'set_aside' payment row (deducted, not sent, logged) so it neither blocks the batch nor comes
 *   back every run. An operator releases it by marking that row 'failed'.
 * - The rest are paid, largest first, at most `maxPerBatch` addresses per batch, in address order within a batch
 *   (deterministic).
 */
export interface Balance {
  address: string;
  /** Litoshis payable now (matured credits minus sent, pending and set-aside payments). */
  balance: bigint;
}

export interface PaymentPlan {
  batches: Array<Array<{ address: string; amount: bigint }>>;
  setAside: Array<{ address: string; amount: bigint; reason: string }>;
  /** Positive balances below the minimum. */
  belowMinimum: Array<{ address: string; amount: bigint }>;
  total: bigint;
}

export function planPayments(
  balances: readonly Balance[],
  options: { minimum: bigint; maxPerBatch: number; invalidReason: (address: string) => string | null; minimumFor?: (address: string) => bigint | undefined },
): PaymentPlan {
  if (options.maxPerBatch < 1) throw new RangeError('maxPerBatch must be >= 1');
  const payable: Array<{ address: string; amount: bigint }> = [];
  const setAside: PaymentPlan['setAside'] = [];
  const belowMinimum: PaymentPlan['belowMinimum'] = [];
  for (const { address, balance } of balances) {
    if (balance <= 0n) continue;
    const reason = options.invalidReason(address);
    if (reason !== null) setAside.push({ address, amount: balance, reason });
    else if (balance < (options.minimumFor?.(address) ?? options.minimum) || balance === 0n) belowMinimum.push({ address, amount: balance });
    else payable.push({ address, amount: balance });
  }
  payable.sort((a, b) => (a.amount > b.amount ? -1 : a.amount < b.amount ? 1 : a.address < b.address ? -1 : 1));
  const batches: PaymentPlan['batches'] = [];
  for (let i = 0; i < payable.length; i += options.maxPerBatch) {
    batches.push(payable.slice(i, i + options.maxPerBatch).sort((a, b) => (a.address < b.address ? -1 : 1)));
  }
  const total = payable.reduce((s, p) => s + p.amount, 0n);
  const byAddress = (a: { address: string }, b: { address: string }) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
  return { batches, setAside: setAside.sort(byAddress), belowMinimum: belowMinimum.sort(byAddress), total };
}
