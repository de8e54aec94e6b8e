import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  difficultyToWeight,
  feePercentToBps,
  networkDifficultyToWeight,
  pplnsWindowWeight,
} from '../../src/payouts/schemes/units.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/payouts/units.json', import.meta.url), 'utf8')) as {
  difficultyToWeight: Array<{ difficulty: number; weight: string }>;
  feePercentToBps: Array<{ percent: number | string; bps?: string; error?: string }>;
  pplnsWindowWeight: Array<{ networkDifficulty: number | string; factor: number | string; weight: string }>;
};

describe('difficultyToWeight (micro-difficulty)', () => {
  it.each(fixture.difficultyToWeight.map((r) => [r.difficulty, r.weight] as const))('%s -> %s', (difficulty, weight) => {
    expect(difficultyToWeight(difficulty)).toBe(BigInt(weight));
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -0.001, -1])('rejects %s', (bad) => {
    expect(() => difficultyToWeight(bad)).toThrow(RangeError);
  });
});

describe('feePercentToBps', () => {
  it.each(fixture.feePercentToBps.map((r) => [r.percent, r] as const))('%s', (percent, row) => {
    if (row.error !== undefined) expect(() => feePercentToBps(percent)).toThrow(row.error);
    else expect(feePercentToBps(percent)).toBe(BigInt(row.bps as string));
  });
});

describe('pplnsWindowWeight = networkDifficulty x 65536 x factor x 1e6', () => {
  it.each(fixture.pplnsWindowWeight.map((r) => [r.networkDifficulty, r.factor, r.weight] as const))(
    'D=%s factor=%s -> %s',
    (d, factor, weight) => {
      expect(pplnsWindowWeight(d, factor)).toBe(BigInt(weight));
    },
  );

  it('networkDifficultyToWeight is the factor-1 window', () => {
    expect(networkDifficultyToWeight(2)).toBe(131_072_000_000n);
  });

  it('rejects an empty window and bad factors', () => {
    expect(() => pplnsWindowWeight(1, 0)).toThrow(/window is empty/);
    expect(() => pplnsWindowWeight(1, '-2')).toThrow(/window factor/);
  });
});
