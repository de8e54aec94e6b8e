import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { litoshisToLtc, ltcToLitoshis } from '../../src/payouts/amounts.js';
import { planPayments } from '../../src/payouts/plan.js';
import { compareOutputs, decideReconcile, type PendingBatch } from '../../src/payouts/reconcile.js';
import type { WalletSend } from '../../src/payouts/wallet.js';

const batch: PendingBatch = {
  id: 7,
  label: 'ltcpool-payout-20250101T000000-aabbccddeeff',
  createdAt: new Date('2025-01-01T00:00:00Z'),
  payments: [
    { address: 'rltc1qa', amount: 150_000_000n },
    { address: 'rltc1qb', amount: 25_000_001n },
  ],
};

const send = (outputs: Array<[string, bigint]>): WalletSend => ({
  txid: 'ab'.repeat(32), outputs: new Map(outputs), fee: 2260n, confirmations: 0, time: 1735689600,
});

const at = (seconds: number) => new Date(batch.createdAt.getTime() + seconds * 1000);

describe('decideReconcile', () => {
  it('a wallet send with the label is recorded as sent with its txid and fee, never paid again', () => {
    const action = decideReconcile(batch, send([['rltc1qa', 150_000_000n], ['rltc1qb', 25_000_001n]]), at(5), 600);
    expect(action).toEqual({ kind: 'sent', txid: 'ab'.repeat(32), fee: 2260n, mismatches: [] });
  });

  it('still sent (not re-paid) when the wallet transaction differs, but the differences are reported', () => {
    const action = decideReconcile(batch, send([['rltc1qa', 150_000_000n], ['rltc1qc', 1n]]), at(5), 600);
    expect(action.kind).toBe('sent');
    expect(action.kind === 'sent' && action.mismatches).toEqual([
      'rltc1qb: expected 25000001, wallet transaction has no output',
      'rltc1qc: wallet transaction pays 1, not in the batch',
    ]);
  });

  it('no send within the grace period: wait (a dying process may still have a call inside litecoind)', () => {
    expect(decideReconcile(batch, null, at(599), 600).kind).toBe('wait');
    expect(decideReconcile(batch, null, at(0), 600).kind).toBe('wait');
  });

  it('no send after the grace period: failed, so the amounts return to the balances', () => {
    const action = decideReconcile(batch, null, at(600), 600);
    expect(action.kind).toBe('failed');
    expect(action.kind === 'failed' && action.reason).toContain(batch.label);
    expect(decideReconcile(batch, null, at(1), 0).kind).toBe('failed');
  });
});

describe('compareOutputs', () => {
  it('sums payments per address and compares exactly', () => {
    expect(compareOutputs([{ address: 'x', amount: 1n }, { address: 'x', amount: 2n }], new Map([['x', 3n]]))).toEqual([]);
    expect(compareOutputs([{ address: 'x', amount: 3n }], new Map([['x', 2n]]))).toEqual(['x: expected 3, wallet transaction pays 2']);
  });
});

describe('planPayments', () => {
  const invalid = (bad: string[]) => (address: string) => (bad.includes(address) ? 'bad address' : null);

  it('pays balances at or above the minimum, sets bad addresses aside whatever their size, leaves the rest', () => {
    const plan = planPayments(
      [
        { address: 'c', balance: 100n },
        { address: 'a', balance: 99n },
        { address: 'bad', balance: 5n },
        { address: 'b', balance: 500n },
        { address: 'z', balance: 0n },
        { address: 'neg', balance: -3n },
      ],
      { minimum: 100n, maxPerBatch: 10, invalidReason: invalid(['bad']) },
    );
    expect(plan.batches).toEqual([[{ address: 'b', amount: 500n }, { address: 'c', amount: 100n }]]);
    expect(plan.setAside).toEqual([{ address: 'bad', amount: 5n, reason: 'bad address' }]);
    expect(plan.belowMinimum).toEqual([{ address: 'a', amount: 99n }]);
    expect(plan.total).toBe(600n);
  });

  it('splits into batches of at most maxPerBatch, largest balances first, each batch in address order', () => {
    const plan = planPayments(
      [1n, 9n, 5n, 7n, 3n].map((b, i) => ({ address: `addr${i}`, balance: b })),
      { minimum: 1n, maxPerBatch: 2, invalidReason: () => null },
    );
    expect(plan.batches.map((b) => b.map((p) => p.address))).toEqual([['addr1', 'addr3'], ['addr2', 'addr4'], ['addr0']]);
  });

  it('property: every positive balance lands in exactly one of paid / set aside / below minimum, amounts unchanged', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ address: fc.string({ minLength: 1, maxLength: 6 }), balance: fc.bigInt(-10n, 1000n) }), { selector: (r) => r.address }),
        fc.bigInt(0n, 500n),
        fc.integer({ min: 1, max: 4 }),
        (balances, minimum, maxPerBatch) => {
          const plan = planPayments(balances, { minimum, maxPerBatch, invalidReason: (a) => (a.startsWith('x') ? 'x' : null) });
          const seen = [...plan.batches.flat(), ...plan.setAside, ...plan.belowMinimum].map((p) => `${p.address}=${p.amount}`).sort();
          const expected = balances.filter((b) => b.balance > 0n).map((b) => `${b.address}=${b.balance}`).sort();
          expect(seen).toEqual(expected);
          for (const b of plan.batches) expect(b.length).toBeLessThanOrEqual(maxPerBatch);
          for (const p of plan.batches.flat()) expect(p.amount >= minimum).toBe(true);
        },
      ),
    );
  });
});

describe('amounts', () => {
  it('litoshis ⇄ LTC text exactly', () => {
    expect(litoshisToLtc(123_456_789n)).toBe('1.23456789');
    expect(litoshisToLtc(1n)).toBe('0.00000001');
    expect(litoshisToLtc(8_400_000_000_000_000n)).toBe('84000000.00000000');
    expect(ltcToLitoshis(-0.0000226)).toBe(-2260n);
    expect(ltcToLitoshis('50.00000000')).toBe(5_000_000_000n);
    expect(() => ltcToLitoshis('0.000000001')).toThrow(RangeError);
  });

  it('property: a JSON number of at most 8 decimals (below 10M LTC) reads back to the same litoshis; text always does', () => {
    fc.assert(
      fc.property(fc.bigInt(0n, 999_999_999_999_999n), fc.bigInt(0n, 8_400_000_000_000_000n), (litoshis, large) => {
        expect(ltcToLitoshis(Number(litoshisToLtc(litoshis)))).toBe(litoshis);
        expect(ltcToLitoshis(-Number(litoshisToLtc(litoshis)))).toBe(-litoshis);
        expect(ltcToLitoshis(litoshisToLtc(large))).toBe(large);
      }),
    );
  });
});
