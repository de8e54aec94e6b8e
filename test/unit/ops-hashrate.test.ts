import { describe, expect, it } from 'vitest';
import {
  HASHES_PER_NETWORK_DIFF1,
  HASHES_PER_SHARE_DIFF1,
  expectedSecondsPerBlock,
  hashrateFromDifficulty,
  networkHashrate,
} from '../../src/ops/api/hashrate.js';

describe('hashrate from share difficulty (Scrypt diff1 = 0xffff * 2^224)', () => {
  it('expects 2^256 / diff1 hashes per difficulty-1 share', () => {
    const diff1 = 0xffffn << 224n;
    const exact = Number((1n << 256n) * 1_000_000n / diff1) / 1_000_000;
    expect(HASHES_PER_SHARE_DIFF1).toBeCloseTo(exact, 5);
    // i.e. about 2^16 (not 2^32 as with Bitcoin's diff1)
    expect(HASHES_PER_SHARE_DIFF1 / 2 ** 16).toBeCloseTo(1, 4);
  });

  it.each([
    // difficulty sum, window s, expected H/s
    [0, 600, 0],
    [65535, 1, 2 ** 32],
    [600, 600, 2 ** 32 / 0xffff],
    [87 * 65536, 600, 87 * 65536 * (2 ** 32 / 0xffff) / 600],
    [0.5, 10, (0.5 * 2 ** 32) / 0xffff / 10],
  ])('sum %d over %d s -> %d H/s', (sum, window, expected) => {
    expect(hashrateFromDifficulty(sum, window)).toBeCloseTo(expected, 6);
  });

  it('puts an Antminer L7 share stream (9.5 GH/s at difficulty 65536: ~2.2 shares/s) at 9.5 GH/s', () => {
    const sharesIn600s = Math.round((9.5e9 * 600) / (65536 * HASHES_PER_SHARE_DIFF1)); // 1327
    expect(sharesIn600s).toBe(1327);
    expect(hashrateFromDifficulty(sharesIn600s * 65536, 600) / 1e9).toBeCloseTo(9.5, 2);
  });

  it.each([
    [-1, 600],
    [Number.NaN, 600],
    [1, 0],
    [1, -5],
    [1, Number.POSITIVE_INFINITY],
  ])('refuses sum %d / window %d', (sum, window) => {
    expect(() => hashrateFromDifficulty(sum, window)).toThrow(RangeError);
  });
});

describe('network hashrate (litecoind difficulty, Bitcoin diff1 = 0xffff * 2^208)', () => {
  it('expects difficulty * 2^48 / 0xffff hashes per block', () => {
    expect(HASHES_PER_NETWORK_DIFF1).toBeCloseTo(2 ** 48 / 0xffff, 3);
    expect(HASHES_PER_NETWORK_DIFF1 / HASHES_PER_SHARE_DIFF1).toBe(65536);
  });

  it('turns a mainnet-sized difficulty into a plausible network hashrate at 150 s spacing', () => {
    // difficulty ~ 3.2e7 in 2024 corresponds to roughly 0.9-1 PH/s
    const hps = networkHashrate(32_000_000);
    expect(hps).toBeCloseTo((32_000_000 * 2 ** 48) / 0xffff / 150, -3);
    expect(hps / 1e15).toBeGreaterThan(0.9);
    expect(hps / 1e15).toBeLessThan(1.0);
  });

  it('expects a block every 150 s when the pool has all the network hashrate', () => {
    expect(expectedSecondsPerBlock(32_000_000, networkHashrate(32_000_000))).toBeCloseTo(150, 6);
    expect(expectedSecondsPerBlock(1, 0)).toBe(Infinity);
  });
});
