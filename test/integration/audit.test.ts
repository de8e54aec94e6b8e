/**
 * The audit table on a real PostgreSQL: append-only (UPDATE, DELETE and TRUNCATE refused by the database), one
 * row per payout batch (committed with the batch), per release and per money-relevant config change, and no
 * credential anywhere in it (the config hash ignores passwords).
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/ops/config.js';
import { auditActor, auditConfigIfChanged, configHash, moneyConfig, readAudit } from '../../src/payouts/audit.js';
import { formatHistory } from '../../src/payouts/cli.js';
import { insertBatch, releaseSetAside } from '../../src/payouts/ledger.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';

const A = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg';
const B = 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw';
const RPC_PASSWORD = 'rpc-pass-0f9e8d7c6b5a';
const WALLET_PASSWORD = 'wallet-pass-1a2b3c4d5e';
const DB_PASSWORD = 'db-pass-99887766';

let database: TestDatabase;
let db: pg.Pool;

function config(o: { feePercent?: number; rpcPassword?: string; dbPassword?: string } = {}): Config {
  return parseConfig({
    network: 'regtest',
    pool: { address: A },
    node: { rpcUrl: `http://serve:${o.rpcPassword ?? RPC_PASSWORD}@127.0.0.1:19443` },
    database: { url: `postgres://ltcpool:${o.dbPassword ?? DB_PASSWORD}@db.internal:5432/ltcpool` },
    payouts: { feePercent: o.feePercent ?? 1, feeAddresses: [{ address: B, weight: 1 }], walletRpcUrl: `http://wallet:${WALLET_PASSWORD}@127.0.0.1:19443` },
  });
}

beforeAll(async () => {
  database = await startPostgres();
  db = createPool({ url: database.url, max: 3 });
  await migrate(db);
});

afterAll(async () => {
  await db?.end();
  await database?.stop();
});

const count = async (kind: string): Promise<number> =>
  Number((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit WHERE kind = $1', [kind])).rows[0].n);

describe('audit table', () => {
  it('one row per payout batch, per release and per money-relevant config change; nothing secret in it', async () => {
    const actor = auditActor('payouts --once', config());
    expect(await auditConfigIfChanged(db, actor, moneyConfig(config()))).toBe(true);
    expect(await auditConfigIfChanged(db, actor, moneyConfig(config()))).toBe(false); // unchanged: no row
    // A password change is not a money change (and does not change the config hash either).
    expect(await auditConfigIfChanged(db, actor, moneyConfig(config({ rpcPassword: 'other', dbPassword: 'other2' })))).toBe(false);
    expect(configHash(config({ rpcPassword: 'other', dbPassword: 'other2' }))).toBe(configHash(config()));
    expect(configHash(config({ feePercent: 2 }))).not.toBe(configHash(config()));
    expect(await auditConfigIfChanged(db, auditActor('payouts --interval', config({ feePercent: 2 })), moneyConfig(config({ feePercent: 2 })))).toBe(true);
    expect(await count('config_change')).toBe(2);

    await insertBatch(db, 'ltcpool-payout-test-1', [{ address: A, amount: 150_000_000n, status: 'pending' }, { address: B, amount: 2_000n, status: 'pending' }], actor);
    await insertBatch(db, 'ltcpool-setaside-test-2', [{ address: B, amount: 7_000n, status: 'set_aside', error: 'validateaddress refuses it' }], actor);
    expect(await count('payout_batch')).toBe(2);
    const released = await releaseSetAside(db, null, auditActor('payouts --release', config()));
    expect(released).toEqual([{ address: B, amount: 7_000n }]);
    expect(await releaseSetAside(db, null, actor)).toEqual([]); // nothing released: no row
    expect(await count('release')).toBe(1);

    const rows = await readAudit(db);
    expect(rows.map((r) => r.kind)).toEqual(['release', 'payout_batch', 'payout_batch', 'config_change', 'config_change']);
    const [release, setAside, batch, feeChange] = rows;
    expect(release.process).toMatch(/^payouts --release \(pid \d+\)$/);
    expect(release.host.length).toBeGreaterThan(0);
    expect(release.detail).toMatchObject({ which: 'all', count: 1, total: '7000' });
    expect(batch.detail).toMatchObject({ label: 'ltcpool-payout-test-1', count: 2, total: '150002000' });
    expect(batch.outcome).toEqual({ txid: null, statuses: { pending: 2 } });
    expect(setAside.outcome?.statuses).toEqual({ failed: 1 });
    expect(feeChange.detail).toMatchObject({ changed: ['feePercent'], money: { feePercent: 2 }, previous: { feePercent: 1 } });
    expect(feeChange.configHash).toBe(configHash(config({ feePercent: 2 })));

    const everything = JSON.stringify((await db.query('SELECT * FROM audit')).rows) + formatHistory(rows);
    for (const secret of [RPC_PASSWORD, WALLET_PASSWORD, DB_PASSWORD, 'postgres://', database.url]) expect(everything).not.toContain(secret);
    expect(formatHistory(rows)).toContain('changed feePercent: scheme pplns, fee 2% to');
  });

  it('is append-only: the database refuses UPDATE, DELETE and TRUNCATE', async () => {
    const before = await count('payout_batch');
    expect(before).toBeGreaterThan(0);
    await expect(db.query(`UPDATE audit SET detail = '{}'::jsonb`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(db.query('DELETE FROM audit')).rejects.toThrow(/append-only: DELETE/);
    await expect(db.query('TRUNCATE audit')).rejects.toThrow(/append-only: TRUNCATE/);
    expect(await count('payout_batch')).toBe(before);
  });

  it('a batch that fails to commit leaves no audit row (same transaction)', async () => {
    const before = await count('payout_batch');
    // The label is unique: a second batch with it fails, and its audit row goes with it.
    await expect(insertBatch(db, 'ltcpool-payout-test-1', [{ address: A, amount: 1n, status: 'pending' }], auditActor('payouts --once', config()))).rejects.toThrow();
    expect(await count('payout_batch')).toBe(before);
  });
});
