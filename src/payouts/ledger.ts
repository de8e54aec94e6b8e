/**
 * The payment side of the ledger (002_ledger.sql): credits come from the unlocker, payments are debits.
 * A balance is never stored: it is the `balances` view over credits and payments.
 */
import type pg from 'pg';
import { withTransaction } from '../store/db.js';
import { appendAudit, type AuditActor } from './audit.js';
import type { Balance } from './plan.js';
import type { PendingBatch } from './reconcile.js';

type Db = pg.Pool | pg.PoolClient;

export async function readBalances(db: Db, chain = 'litecoin'): Promise<Balance[]> {
  const res = chain === 'litecoin'
    ? await db.query<{ address: string; balance: string }>('SELECT address, balance::text FROM balances WHERE balance <> 0 ORDER BY address')
    : await db.query<{ address: string; balance: string }>(
      'SELECT address, balance::text FROM chain_balances WHERE chain = $1 AND balance <> 0 ORDER BY address', [chain]);
  return res.rows.map((r) => ({ address: r.address, balance: BigInt(r.balance) }));
}

/**
 * Payout thresholds the miners chose (005_miners_side miner_settings), clamped into the operator's current
 * [minimum, maximum]: an operator who raises the minimum later wins.
 */
export async function readPayoutThresholds(db: Db, minimum: bigint, maximum?: bigint): Promise<Map<string, bigint>> {
  const res = await db.query<{ address: string; t: string }>('SELECT address, payout_threshold::text AS t FROM miner_settings WHERE payout_threshold IS NOT NULL');
  const out = new Map<string, bigint>();
  for (const row of res.rows) {
    let t = BigInt(row.t);
    if (t < minimum) t = minimum;
    if (maximum !== undefined && maximum >= minimum && t > maximum) t = maximum;
    out.set(row.address, t);
  }
  return out;
}

/** What the wallet must still hold for miners: matured credits and PPS share credits minus payments that left the wallet. */
export async function owedLitoshis(db: Db, chain = 'litecoin'): Promise<bigint> {
  const res = await db.query<{ owed: string }>(
    `SELECT ((SELECT COALESCE(sum(c.amount), 0) FROM credits c JOIN blocks b ON b.id = c.block_id WHERE b.status = 'confirmed' AND b.chain = $1)
           + (SELECT COALESCE(sum(amount), 0) FROM share_credits WHERE $1 = 'litecoin')
           - (SELECT COALESCE(sum(amount), 0) FROM payments WHERE status = 'sent' AND chain = $1))::text AS owed`, [chain]);
  return BigInt(res.rows[0].owed);
}

/** The payout run's verdict on the wallet (006_pps payout_status, one row), read by /api/payouts/status. */
export async function recordPayoutStatus(db: Db, s: { spendable: bigint | null; owed: bigint; reserve: bigint; paused: boolean; reason: string | null }): Promise<void> {
  await db.query(
    `INSERT INTO payout_status (id, checked_at, spendable, owed, reserve, paused, reason) VALUES (true, now(), $1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET checked_at = now(), spendable = $1, owed = $2, reserve = $3, paused = $4, reason = $5`,
    [s.spendable?.toString() ?? null, s.owed.toString(), s.reserve.toString(), s.paused, s.reason]);
}

/** Batches of `chain` with pending payments; each payment's address is where the coins go (its payee). */
export async function pendingBatches(db: Db, chain = 'litecoin'): Promise<PendingBatch[]> {
  const res = await db.query<{ id: string; label: string; created_at: Date; address: string; amount: string }>(
    `SELECT b.id::text, b.label, b.created_at, COALESCE(p.payee, p.address) AS address, p.amount::text
       FROM payment_batches b JOIN payments p ON p.batch_id = b.id
      WHERE p.status = 'pending' AND b.chain = $1 ORDER BY b.id, p.address`, [chain]);
  const batches = new Map<number, PendingBatch & { payments: Array<{ address: string; amount: bigint }> }>();
  for (const r of res.rows) {
    const id = Number(r.id);
    let batch = batches.get(id);
    if (!batch) batches.set(id, (batch = { id, label: r.label, createdAt: r.created_at, payments: [] }));
    batch.payments.push({ address: r.address, amount: BigInt(r.amount) });
  }
  return [...batches.values()];
}

export interface NewPayment {
  address: string;
  amount: bigint;
  status: 'pending' | 'set_aside';
  error?: string;
  /** Where the coins go when not `address` (aux chains: the miner's address there). */
  payee?: string;
}

/** Records a batch and its payments in one transaction (before any wallet call). Returns the batch id. */
export async function insertBatch(db: pg.Pool, label: string, payments: readonly NewPayment[], audit?: AuditActor, chain = 'litecoin'): Promise<number> {
  return withTransaction(db, async (client) => {
    const batch = await client.query<{ id: string }>('INSERT INTO payment_batches (label, chain) VALUES ($1, $2) RETURNING id', [label, chain]);
    const id = Number(batch.rows[0].id);
    await client.query(
      `INSERT INTO payments (batch_id, address, amount, status, error, chain, payee)
         SELECT $1, a, m, s, e, $6, y FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $7::text[]) AS u(a, m, s, e, y)`,
      [id, payments.map((p) => p.address), payments.map((p) => p.amount.toString()), payments.map((p) => p.status),
        payments.map((p) => p.error ?? null), chain, payments.map((p) => p.payee ?? null)]);
    // The audit row commits with the batch, so there is exactly one per batch whatever happens next.
    if (audit) {
      await appendAudit(client, audit, 'payout_batch', {
        label, batchId: id, chain, status: payments[0]?.status ?? 'pending', count: payments.length,
        total: payments.reduce((s, p) => s + p.amount, 0n).toString(),
        payments: payments.map((p) => ({ address: p.address, ...(p.payee ? { payee: p.payee } : {}), amount: p.amount.toString(), ...(p.error ? { reason: p.error.slice(0, 200) } : {}) })),
      });
    }
    return id;
  });
}

export async function markBatchSent(db: pg.Pool, batchId: number, txid: string, fee: bigint | null): Promise<bigint> {
  return withTransaction(db, async (client) => {
    await client.query('UPDATE payment_batches SET txid = $2, tx_fee = $3, sent_at = now() WHERE id = $1',
      [batchId, txid, fee === null ? null : fee.toString()]);
    const res = await client.query<{ amount: string }>(
      `UPDATE payments SET status = 'sent', txid = $2, updated_at = now() WHERE batch_id = $1 AND status = 'pending' RETURNING amount::text`,
      [batchId, txid]);
    return res.rows.reduce((s, r) => s + BigInt(r.amount), 0n);
  });
}

export async function markBatchFailed(db: Db, batchId: number, reason: string): Promise<number> {
  const res = await db.query(
    `UPDATE payments SET status = 'failed', error = $2, updated_at = now() WHERE batch_id = $1 AND status = 'pending'`,
    [batchId, reason.slice(0, 1000)]);
  return res.rowCount ?? 0;
}

/**
 * Returns set-aside payments (all, or one address's) to the balances: they become failed payments with the
 * reason on record, so the next run pays them (or sets them aside again if the cause is still there).
 */
export async function releaseSetAside(db: pg.Pool, address: string | null, audit?: AuditActor): Promise<Array<{ address: string; amount: bigint }>> {
  return withTransaction(db, async (client) => {
    const res = await client.query<{ address: string; amount: string; label: string }>(
      `UPDATE payments p SET status = 'failed', error = left('released by operator; was: ' || coalesce(p.error, ''), 1000), updated_at = now()
         FROM payment_batches b
       WHERE b.id = p.batch_id AND p.status = 'set_aside' AND ($1::text IS NULL OR p.address = $1) RETURNING p.address, p.amount::text, b.label`,
      [address]);
    const released = res.rows.map((r) => ({ address: r.address, amount: BigInt(r.amount), label: r.label }));
    if (audit && released.length > 0) {
      await appendAudit(client, audit, 'release', {
        which: address ?? 'all', count: released.length, total: released.reduce((s, r) => s + r.amount, 0n).toString(),
        payments: released.map((r) => ({ address: r.address, amount: r.amount.toString(), batch: r.label })),
      });
    }
    return released.map(({ address: a, amount }) => ({ address: a, amount }));
  });
}
