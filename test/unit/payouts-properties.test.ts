import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitPplns, splitProp, splitSolo } from '../../src/payouts/schemes/index.js';
import type { FeeConfig, PayoutShare, SplitResult } from '../../src/payouts/types.js';

const RUNS = 400;

// Short, prefix-sharing and mixed-case addresses so ties and code-unit ordering get exercised.
const addressArb = fc.constantFrom('a', 'b', 'ab', 'B', 'ltc1qaa', 'ltc1qab', 'LTC1QAA', 'M9x', 'pool');

const feeArb: fc.Arbitrary<FeeConfig> = fc
  .record({
    bps: fc.oneof(fc.constant(0n), fc.bigInt(0n, 10_000n), fc.constantFrom(100n, 150n, 10_000n)),
    recipients: fc.array(fc.record({ address: addressArb, weight: fc.bigInt(1n, 7n) }), { minLength: 1, maxLength: 3 }),
  })
  .map((f) => ({ bps: f.bps, recipients: f.recipients }));

// Weights span dust to ASIC sizes; seqs are unique and increasing before the array gets shuffled.
const sharesArb: fc.Arbitrary<PayoutShare[]> = fc
  .array(
    fc.record({
      address: addressArb,
      weight: fc.oneof(fc.bigInt(0n, 10n), fc.bigInt(0n, 10n ** 6n), fc.bigInt(0n, 10n ** 13n)),
      gap: fc.bigInt(1n, 3n),
    }),
    { maxLength: 60 },
  )
  .map((rows) => {
    let seq = 0n;
    return rows.map((r) => ({ address: r.address, weight: r.weight, seq: (seq += r.gap) }));
  });

const rewardArb = fc.oneof(fc.bigInt(0n, 1000n), fc.bigInt(0n, 84_000_000n * 100_000_000n));

const caseArb = fc.record({
  reward: rewardArb,
  fee: feeArb,
  finder: addressArb,
  shares: sharesArb,
  blockSeqOffset: fc.integer({ min: -5, max: 5 }),
  previousBlockFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  windowWeight: fc.oneof(fc.bigInt(1n, 100n), fc.bigInt(1n, 10n ** 6n), fc.bigInt(1n, 10n ** 15n)),
  shuffleSeed: fc.integer(),
});
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function blockSeqOf(c: Case): bigint {
  const last = c.shares.length ? c.shares[c.shares.length - 1].seq : 0n;
  return last + BigInt(c.blockSeqOffset);
}
function previousBlockSeqOf(c: Case): bigint | null {
  if (c.previousBlockFraction < 0.2) return null;
  return BigInt(Math.floor(Number(blockSeqOf(c)) * c.previousBlockFraction));
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const schemes = {
  pplns: (c: Case, shares: readonly PayoutShare[]) =>
    splitPplns({ reward: c.reward, fee: c.fee, finder: c.finder, shares, blockSeq: blockSeqOf(c), windowWeight: c.windowWeight }),
  prop: (c: Case, shares: readonly PayoutShare[]) =>
    splitProp({ reward: c.reward, fee: c.fee, finder: c.finder, shares, blockSeq: blockSeqOf(c), previousBlockSeq: previousBlockSeqOf(c) }),
  solo: (c: Case) => splitSolo({ reward: c.reward, fee: c.fee, finder: c.finder }),
};

/** Straightforward reference for the PPLNS window: sort newest first, walk, cut the edge share. */
function referenceWindow(shares: readonly PayoutShare[], blockSeq: bigint, n: bigint): Map<string, bigint> {
  const sorted = shares.filter((s) => s.seq <= blockSeq).sort((a, b) => (a.seq > b.seq ? -1 : 1));
  const out = new Map<string, bigint>();
  let left = n;
  for (const s of sorted) {
    const take = s.weight < left ? s.weight : left;
    if (take > 0n) out.set(s.address, (out.get(s.address) ?? 0n) + take);
    left -= take;
  }
  return out;
}

const sum = (xs: Iterable<bigint>): bigint => {
  let t = 0n;
  for (const x of xs) t += x;
  return t;
};
const creditsOf = (r: SplitResult, kind: 'miner' | 'fee') => r.credits.filter((c) => c.kind === kind);

describe.each(Object.entries(schemes))('%s properties', (_name, run) => {
  it('credits sum to the reward exactly, fee part to floor(reward x bps / 10000)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(c, c.shares);
        expect(sum(r.credits.map((x) => x.amount))).toBe(c.reward);
        expect(r.feeAmount).toBe((c.reward * c.fee.bps) / 10_000n);
        expect(sum(creditsOf(r, 'fee').map((x) => x.amount))).toBe(r.feeAmount);
        expect(sum(creditsOf(r, 'miner').map((x) => x.amount))).toBe(c.reward - r.feeAmount);
      }),
      { numRuns: RUNS },
    );
  });

  it('no credit is zero or negative; output sorted by address then kind, one row per (address, kind)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(c, c.shares);
        for (const credit of r.credits) expect(credit.amount > 0n).toBe(true);
        for (let i = 1; i < r.credits.length; i++) {
          const a = r.credits[i - 1];
          const b = r.credits[i];
          expect(a.address < b.address || (a.address === b.address && a.kind < b.kind)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('does not depend on the order of the share array', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        expect(run(c, shuffled(c.shares, c.shuffleSeed))).toEqual(run(c, c.shares));
        expect(run(c, c.shares.slice().reverse())).toEqual(run(c, c.shares));
      }),
      { numRuns: RUNS },
    );
  });

  it('fee recipients each get within one litoshi of their exact share', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = run(c, c.shares);
        const weights = new Map<string, bigint>();
        for (const f of c.fee.recipients) weights.set(f.address, (weights.get(f.address) ?? 0n) + f.weight);
        const total = sum(weights.values());
        for (const [address, w] of weights) {
          const got = creditsOf(r, 'fee').find((x) => x.address === address)?.amount ?? 0n;
          const floor = (r.feeAmount * w) / total;
          expect(got === floor || got === floor + 1n).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('PPLNS window', () => {
  it('never exceeds N, equals min(N, weight up to the block), and each miner gets floor or floor+1 of the exact share', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const blockSeq = blockSeqOf(c);
        const r = schemes.pplns(c, c.shares);
        const available = sum(c.shares.filter((s) => s.seq <= blockSeq).map((s) => s.weight));
        expect(r.windowWeight).toBe(c.windowWeight);
        expect(r.totalWeight <= c.windowWeight).toBe(true);
        expect(r.totalWeight).toBe(available < c.windowWeight ? available : c.windowWeight);

        const ref = referenceWindow(c.shares, blockSeq, c.windowWeight);
        expect(sum(ref.values())).toBe(r.totalWeight);
        const miners = creditsOf(r, 'miner');
        if (r.totalWeight === 0n) {
          expect(r.finderFallback).toBe(true);
          if (r.minerAmount > 0n) expect(miners).toEqual([{ address: c.finder, amount: r.minerAmount, kind: 'miner' }]);
          return;
        }
        for (const credit of miners) expect(ref.has(credit.address)).toBe(true);
        for (const [address, w] of ref) {
          const got = miners.find((x) => x.address === address)?.amount ?? 0n;
          const floor = (r.minerAmount * w) / r.totalWeight;
          expect(got === floor || got === floor + 1n).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('ignores shares after the block', () => {
    fc.assert(
      fc.property(caseArb, fc.bigInt(1n, 10n ** 12n), (c, lateWeight) => {
        const late: PayoutShare = { address: 'late', weight: lateWeight, seq: blockSeqOf(c) + 1000n };
        const withLate = schemes.pplns(c, [...c.shares.filter((s) => s.seq <= blockSeqOf(c)), late]);
        expect(withLate.credits.some((x) => x.address === 'late')).toBe(false);
        expect(withLate).toEqual(schemes.pplns(c, c.shares.filter((s) => s.seq <= blockSeqOf(c))));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('SOLO', () => {
  it('gives the finder everything but the fee', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const r = schemes.solo(c);
        const miners = creditsOf(r, 'miner');
        const expected = c.reward - (c.reward * c.fee.bps) / 10_000n;
        expect(miners).toEqual(expected > 0n ? [{ address: c.finder, amount: expected, kind: 'miner' }] : []);
      }),
      { numRuns: RUNS },
    );
  });
});
