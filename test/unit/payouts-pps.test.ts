/**
 * PPS/FPPS math against test/fixtures/payouts/pps-cases.json, whose expected values Python's fractions computed
 * (make-pps-cases.py), not this code.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  blockSubsidy,
  creditShares,
  expectedBlockReward,
  feeWindow,
  HALVING_INTERVAL,
  PPS_UNITS_PER_LITOSHI,
  shareValue,
  toUnits,
  trailingFeeAverage,
  type Fraction,
  type PpsShare,
} from '../../src/payouts/schemes/pps.js';

interface FractionText { num: string; den: string }
const fixture = JSON.parse(readFileSync(new URL('../fixtures/payouts/pps-cases.json', import.meta.url), 'utf8')) as {
  subsidy: Array<{ network: 'mainnet' | 'regtest'; height: number; subsidy: string }>;
  shareValue: Array<{ name: string; blockReward: FractionText; difficulty: number; networkDifficulty: number; feeBps: number; value: FractionText; units: string }>;
  blockFees: Array<{ height: number; coinbaseValue: string; subsidy: string; fee: string }>;
  feeAverage: FractionText;
  templates: Array<{ file: string; height: number; coinbasevalue: string; templateFees: string }>;
  manyShares: {
    miners: string[]; difficulties: number[]; networkDifficulties: number[]; count: number; feeBps: number; blockReward: string;
    credits: Record<string, string>; carry: Record<string, string>; exact: Record<string, FractionText>;
  };
};

const frac = (f: FractionText): Fraction => ({ num: BigInt(f.num), den: BigInt(f.den) });
/** a/b == c/d */
const same = (a: Fraction, b: Fraction): boolean => a.num * b.den === b.num * a.den;

describe('block subsidy', () => {
  it.each(fixture.subsidy.map((r) => [r.network, r.height, r] as const))('%s height %s', (network, height, row) => {
    expect(blockSubsidy(height, HALVING_INTERVAL[network])).toBe(BigInt(row.subsidy));
  });

  it.each(fixture.templates.map((t) => [t.file, t] as const))('subsidy + template fees = coinbasevalue of regtest %s', (_file, t) => {
    expect(blockSubsidy(t.height, HALVING_INTERVAL.regtest) + BigInt(t.templateFees)).toBe(BigInt(t.coinbasevalue));
  });

  it.each(fixture.blockFees.map((b) => [b.height, b] as const))('mainnet block %s: subsidy + fee = coinbase value', (height, b) => {
    expect(blockSubsidy(height, HALVING_INTERVAL.mainnet) + BigInt(b.fee)).toBe(BigInt(b.coinbaseValue));
  });
});

describe('expected value of a share', () => {
  it.each(fixture.shareValue.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const value = shareValue({ difficulty: c.difficulty, networkDifficulty: c.networkDifficulty, blockReward: frac(c.blockReward), feeBps: BigInt(c.feeBps) });
    expect(same(value, frac(c.value))).toBe(true);
    expect(toUnits(value)).toBe(BigInt(c.units));
  });

  it('a share exactly as hard as the block is worth the block reward less the fee', () => {
    const v = shareValue({ difficulty: 65536 * 7.5, networkDifficulty: 7.5, blockReward: { num: 1_250_000_000n, den: 1n }, feeBps: 100n });
    expect(same(v, { num: 1_237_500_000n, den: 1n })).toBe(true);
  });

  it('refuses a zero network difficulty and a fee outside 0..10000 bps', () => {
    const blockReward = { num: 1n, den: 1n };
    expect(() => shareValue({ difficulty: 1, networkDifficulty: 0, blockReward, feeBps: 0n })).toThrow(/network difficulty/);
    expect(() => shareValue({ difficulty: 1, networkDifficulty: 1, blockReward, feeBps: 10_001n })).toThrow(/fee bps/);
  });
});

describe('FPPS fee averaging', () => {
  it('averages the fees of real mainnet blocks exactly', () => {
    const avg = trailingFeeAverage(fixture.blockFees.map((b) => BigInt(b.fee)));
    expect(same(avg, frac(fixture.feeAverage))).toBe(true);
    // subsidy + average, as the FPPS share value case of the fixture uses
    const fppsCase = fixture.shareValue.find((c) => c.name.startsWith('FPPS'))!;
    expect(same(expectedBlockReward(1_250_000_000n, avg), frac(fppsCase.blockReward))).toBe(true);
  });

  it('no blocks averages to 0; PPS (no average) expects the subsidy alone', () => {
    expect(trailingFeeAverage([])).toEqual({ num: 0n, den: 1n });
    expect(expectedBlockReward(625_000_000n, null)).toEqual({ num: 625_000_000n, den: 1n });
  });

  it('the window is the blocks right below the job height', () => {
    expect(feeWindow(1000, 100)).toEqual({ from: 900, to: 999 });
    expect(feeWindow(50, 100)).toEqual({ from: 0, to: 49 });
    expect(feeWindow(0, 100)).toBeNull();
    expect(() => feeWindow(10, 0)).toThrow(/window/);
  });
});

describe('rounding over many shares', () => {
  const m = fixture.manyShares;
  const shares: PpsShare[] = [];
  for (let i = 0; i < m.count; i++) {
    shares.push({
      seq: BigInt(i + 1), address: m.miners[i % 3], difficulty: m.difficulties[i % 7],
      networkDifficulty: m.networkDifficulties[Math.floor(i / 1000) % 2], height: 2383209,
    });
  }
  const blockReward = () => ({ num: BigInt(m.blockReward), den: 1n });

  it(`${m.count.toLocaleString('en')} shares in one run: credits and carry as Python computed, never above the exact total`, () => {
    const r = creditShares({ shares, feeBps: BigInt(m.feeBps), blockReward, carry: new Map() });
    expect(r.shareCount).toBe(m.count);
    for (const address of m.miners) {
      expect(r.credits.get(address), address).toBe(BigInt(m.credits[address]));
      expect(r.carry.get(address), address).toBe(BigInt(m.carry[address]));
      const exact = frac(m.exact[address]);
      const paidUnits = r.credits.get(address)! * PPS_UNITS_PER_LITOSHI + r.carry.get(address)!;
      // paid + carried <= exact, and short of it by less than one unit per share
      expect(paidUnits * exact.den <= exact.num * PPS_UNITS_PER_LITOSHI).toBe(true);
      expect((exact.num * PPS_UNITS_PER_LITOSHI) / exact.den - paidUnits < BigInt(m.count)).toBe(true);
    }
  });

  it('the same shares over 37 runs with the carry give the same credits in total', () => {
    let carry = new Map<string, bigint>();
    const total = new Map<string, bigint>();
    const chunk = Math.ceil(m.count / 37);
    for (let i = 0; i < m.count; i += chunk) {
      const r = creditShares({ shares: shares.slice(i, i + chunk), feeBps: BigInt(m.feeBps), blockReward, carry });
      for (const [a, v] of r.credits) total.set(a, (total.get(a) ?? 0n) + v);
      carry = r.carry;
    }
    for (const address of m.miners) {
      expect(total.get(address), address).toBe(BigInt(m.credits[address]));
      expect(carry.get(address), address).toBe(BigInt(m.carry[address]));
    }
  });

  it('any shares, any split into runs: credited + carried never exceeds the exact rational total', () => {
    const share = fc.record({
      address: fc.constantFrom('a', 'b', 'c'),
      difficulty: fc.constantFrom(0.0001, 0.001, 0.37, 1, 3.3e-5, 65536, 2_400_000, 16_000_000),
      networkDifficulty: fc.constantFrom(4.656542373373228e-10, 20273913.013718836, 50114.955018027795, 1),
      height: fc.constantFrom(433, 2383209),
    });
    fc.assert(fc.property(fc.array(share, { maxLength: 200 }), fc.array(fc.nat(200), { maxLength: 5 }), fc.integer({ min: 0, max: 10_000 }), (raw, cuts, bps) => {
      const list: PpsShare[] = raw.map((s, i) => ({ ...s, seq: BigInt(i + 1) }));
      const reward = (h: number) => expectedBlockReward(blockSubsidy(h, 150), { num: 7n, den: 3n });
      const exact = new Map<string, Fraction>();
      for (const s of list) {
        const v = shareValue({ ...s, blockReward: reward(s.height), feeBps: BigInt(bps) });
        const e = exact.get(s.address) ?? { num: 0n, den: 1n };
        exact.set(s.address, { num: e.num * v.den + v.num * e.den, den: e.den * v.den });
      }
      const bounds = [...new Set([0, ...cuts.map((c) => Math.min(c, list.length)), list.length])].sort((x, y) => x - y);
      let carry = new Map<string, bigint>();
      const credited = new Map<string, bigint>();
      for (let i = 1; i < bounds.length; i++) {
        const r = creditShares({ shares: list.slice(bounds[i - 1], bounds[i]), feeBps: BigInt(bps), blockReward: reward, carry });
        for (const [a, v] of r.credits) credited.set(a, (credited.get(a) ?? 0n) + v);
        carry = r.carry;
      }
      for (const [a, e] of exact) {
        const units = (credited.get(a) ?? 0n) * PPS_UNITS_PER_LITOSHI + (carry.get(a) ?? 0n);
        expect(units * e.den <= e.num * PPS_UNITS_PER_LITOSHI).toBe(true);
        // short by less than a unit per share of the address
        const n = BigInt(list.filter((s) => s.address === a).length);
        expect(e.num * PPS_UNITS_PER_LITOSHI - units * e.den < (n + 1n) * e.den).toBe(true);
      }
    }), { numRuns: 200 });
  });
});
