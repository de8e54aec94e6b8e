import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createScheme, difficultyToWeight, resolveFeeConfig, splitPplns } from '../../src/payouts/schemes/index.js';
import { splitProportionally } from '../../src/payouts/split.js';
import type { BlockContext, PayoutShare, SchemeName, SplitResult } from '../../src/payouts/types.js';

interface CaseRow {
  name: string;
  scheme: SchemeName;
  reward: string;
  fee: { bps?: number; percent?: string | number; recipients: Array<{ address: string; weight: number }> };
  finder: string;
  blockSeq: string;
  previousBlockSeq?: string;
  windowWeight?: string;
  networkDifficulty?: number | string;
  windowFactor?: number | string;
  shares: Array<{ address: string; seq: string; weight?: string; difficulty?: number }>;
  expected: {
    feeAmount: string;
    totalWeight: string;
    windowWeight: string | null;
    shareCount: number;
    firstSeq?: string;
    lastSeq?: string;
    finderFallback?: boolean;
    credits: Array<{ address: string; amount: string; kind: 'miner' | 'fee' }>;
  };
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/payouts/split-cases.json', import.meta.url), 'utf8')) as {
  cases: CaseRow[];
};

function runCase(row: CaseRow): SplitResult {
  const fee = resolveFeeConfig({ feeBps: row.fee.bps, feePercent: row.fee.percent, recipients: row.fee.recipients });
  const shares: PayoutShare[] = row.shares.map((s) => ({
    address: s.address,
    seq: BigInt(s.seq),
    weight: s.weight !== undefined ? BigInt(s.weight) : difficultyToWeight(s.difficulty as number),
  }));
  const block: BlockContext = {
    reward: BigInt(row.reward),
    finder: row.finder,
    fee,
    blockSeq: BigInt(row.blockSeq),
    previousBlockSeq: row.previousBlockSeq === undefined ? null : BigInt(row.previousBlockSeq),
    networkDifficulty: row.networkDifficulty,
  };
  if (row.scheme === 'pplns' && row.windowWeight !== undefined) {
    return splitPplns({ ...block, shares, windowWeight: BigInt(row.windowWeight) });
  }
  return createScheme(row.scheme, { windowFactor: row.windowFactor }).split(block, shares);
}

describe('reward split table (test/fixtures/payouts/split-cases.json)', () => {
  it('has rows', () => {
    expect(fixture.cases.length).toBeGreaterThan(10);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, row) => {
    const result = runCase(row);
    const e = row.expected;
    expect(result.scheme).toBe(row.scheme);
    expect(result.credits).toEqual(e.credits.map((c) => ({ address: c.address, amount: BigInt(c.amount), kind: c.kind })));
    expect(result.feeAmount).toBe(BigInt(e.feeAmount));
    expect(result.minerAmount).toBe(BigInt(row.reward) - BigInt(e.feeAmount));
    expect(result.totalWeight).toBe(BigInt(e.totalWeight));
    expect(result.windowWeight).toBe(e.windowWeight === null ? null : BigInt(e.windowWeight));
    expect(result.shareCount).toBe(e.shareCount);
    if (e.firstSeq !== undefined) expect(result.firstSeq).toBe(BigInt(e.firstSeq));
    if (e.lastSeq !== undefined) expect(result.lastSeq).toBe(BigInt(e.lastSeq));
    expect(result.finderFallback).toBe(e.finderFallback ?? false);
    // the invariant, independently of the expected rows
    const sum = result.credits.reduce((s, c) => s + c.amount, 0n);
    expect(sum).toBe(BigInt(row.reward));
    const feeSum = result.credits.filter((c) => c.kind === 'fee').reduce((s, c) => s + c.amount, 0n);
    expect(feeSum).toBe(result.feeAmount);
  });
});

describe('scheme plumbing', () => {
  const fee = resolveFeeConfig({});
  const block: BlockContext = { reward: 100n, finder: 'a', fee, blockSeq: 10n, previousBlockSeq: 4n, networkDifficulty: 1 };

  it('tells the store which shares each scheme needs', () => {
    expect(createScheme('pplns', { windowFactor: 2 }).sharesNeeded(block)).toEqual({
      kind: 'window',
      throughSeq: 10n,
      weight: 131_072_000_000n,
    });
    expect(createScheme('prop').sharesNeeded(block)).toEqual({ kind: 'range', afterSeq: 4n, throughSeq: 10n });
    expect(createScheme('solo').sharesNeeded(block)).toEqual({ kind: 'none' });
  });

  it('defaults to PPLNS and rejects unknown names', () => {
    expect(createScheme().name).toBe('pplns');
    expect(() => createScheme('pplns2' as SchemeName)).toThrow(/unknown payout scheme "pplns2"/);
    expect(createScheme('pps').name).toBe('pps');
  });

  it('PPLNS without a network difficulty is a clear error', () => {
    expect(() => createScheme('pplns').split({ ...block, networkDifficulty: undefined }, [])).toThrow(/networkDifficulty/);
  });

  it('rejects duplicate seq, negative weights, negative rewards and a fee without recipients', () => {
    const dup: PayoutShare[] = [
      { address: 'a', weight: 1n, seq: 2n },
      { address: 'b', weight: 1n, seq: 1n },
      { address: 'c', weight: 1n, seq: 2n },
    ];
    expect(() => splitPplns({ ...block, shares: dup, windowWeight: 10n })).toThrow(/duplicate share seq 2/);
    expect(() => splitPplns({ ...block, shares: [{ address: 'a', weight: -1n, seq: 1n }], windowWeight: 10n })).toThrow(
      /negative weight/,
    );
    expect(() => splitPplns({ ...block, reward: -1n, shares: [], windowWeight: 10n })).toThrow(/reward is negative/);
    expect(() => resolveFeeConfig({ feeBps: 100 })).toThrow(/fee recipients/);
    expect(() => resolveFeeConfig({ feeBps: 100, feePercent: 1 })).toThrow(/not both/);
    expect(() => splitPplns({ ...block, fee: { bps: 100n, recipients: [] }, shares: [], windowWeight: 10n })).toThrow(
      /no fee recipient/,
    );
  });

  it('orders by seq beyond 2^53 too (bigint sort path)', () => {
    const big = 2n ** 60n;
    const newestFirst: PayoutShare[] = [
      { address: 'c', weight: 5n, seq: big + 3n },
      { address: 'b', weight: 4n, seq: big + 2n },
      { address: 'a', weight: 9n, seq: big + 1n },
    ];
    const scrambled = [newestFirst[1], newestFirst[2], newestFirst[0]];
    const split = (shares: PayoutShare[]) => splitPplns({ ...block, shares, blockSeq: big + 3n, windowWeight: 10n });
    expect(split(scrambled)).toEqual(split(newestFirst));
    expect(split(scrambled).credits).toEqual([
      { address: 'a', amount: 10n, kind: 'miner' },
      { address: 'b', amount: 40n, kind: 'miner' },
      { address: 'c', amount: 50n, kind: 'miner' },
    ]);
  });

  it('splitProportionally breaks equal remainders by code unit order, not locale', () => {
    // 'B' (0x42) sorts before 'a' (0x61) by code unit; localeCompare would put 'a' first
    expect(splitProportionally(1n, new Map([['a', 1n], ['B', 1n]]))).toEqual(new Map([['B', 1n]]));
  });
});
