import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/work/difficulty.json' with { type: 'json' };
import headers from '../fixtures/mainnet/headers.json' with { type: 'json' };
import golden from '../fixtures/regtest/stratum-golden.json' with { type: 'json' };
import {
  BITCOIN_DIFF1,
  SCRYPT_DIFF1,
  bitsToTarget,
  difficultyToTarget,
  hashDifficulty,
  networkDifficultyFromBits,
  targetToDifficulty,
} from '../../src/work/difficulty.js';

describe('difficulty <-> target (Scrypt diff1 = 0xffff·2^224)', () => {
  it('diff1 constants', () => {
    expect(SCRYPT_DIFF1.toString(16).padStart(64, '0')).toBe(fixture.diff1Hex);
    expect(SCRYPT_DIFF1 / BITCOIN_DIFF1).toBe(65536n);
  });

  it.each(fixture.cases)('difficulty $difficulty ($note) → exact target', ({ difficulty, targetHex }) => {
    expect(difficultyToTarget(difficulty)).toBe(BigInt('0x' + targetHex));
  });

  it.each(fixture.cases.filter((c) => c.difficulty >= 1e-6))('target → difficulty $difficulty round-trips', ({ difficulty, targetHex }) => {
    const back = targetToDifficulty(BigInt('0x' + targetHex));
    expect(Math.abs(back - difficulty) / difficulty).toBeLessThan(1e-12);
  });

  it('golden share target for difficulty 0.001 matches the captured one', () => {
    expect(difficultyToTarget(golden.job.difficulty).toString(16).padStart(64, '0')).toBe(golden.job.share_target_exact);
  });

  it('rejects zero, negative and non-finite difficulty', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => difficultyToTarget(bad)).toThrow(/difficulty/);
  });

  it.each(headers.map((h) => [h.name, h.bits, h.target] as const))('%s: nBits %s → target', (_name, bits, target) => {
    expect(bitsToTarget(bits).toString(16).padStart(64, '0')).toBe(target);
  });

  it('regtest nBits 207fffff gives the template target', () => {
    expect(bitsToTarget('207fffff').toString(16).padStart(64, '0')).toBe(golden.job.network_target);
  });

  it('network difficulty uses Bitcoin diff1 (genesis bits 1e0ffff0 → 0.000244140625)', () => {
    expect(networkDifficultyFromBits('1e0ffff0')).toBeCloseTo(0.000244140625, 15);
    expect(networkDifficultyFromBits('1d00ffff')).toBe(1);
  });

  it('hashDifficulty of a hash exactly at the diff-2 target is 2', () => {
    expect(hashDifficulty(SCRYPT_DIFF1 / 2n)).toBe(2);
  });
});
