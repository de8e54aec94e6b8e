import { describe, expect, it } from 'vitest';
import { HASHES_PER_NETWORK_DIFF1, HASHES_PER_SHARE_DIFF1 } from '../../src/work/difficulty.js';
import {
  HashrateWindow,
  MIN_OBSERVED_SECONDS,
  effectiveWindowSeconds,
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

// Issue 10: the hashrate was always the difficulty of the last 600 s over 600 s, whatever the uptime: a pool or
// worker a minute old read 10x too low.
describe('hashrate over the window actually observed (tested with a clock)', () => {
  const RATE = 2 ** 20; // hashes per second
  const SHARE_DIFFICULTY = (RATE * 10) / HASHES_PER_SHARE_DIFF1; // one share every 10 s at RATE

  it('a pool one minute up reads its real hashrate, not a tenth of it', () => {
    let now = 1_700_000_000_000;
    const window = new HashrateWindow(() => now);
    for (let s = 10; s <= 60; s += 10) {
      now += 10_000;
      window.record(SHARE_DIFFICULTY);
    }
    expect(window.hashrate(600) / RATE).toBeCloseTo(1, 5);
  });

  it('after the window has passed it is the trailing window, and it decays once shares stop', () => {
    let now = 0;
    const window = new HashrateWindow(() => now);
    for (let i = 0; i < 120; i++) {
      now += 10_000;
      window.record(SHARE_DIFFICULTY);
    }
    expect(window.hashrate(600) / RATE).toBeCloseTo(1, 5); // 60 shares in the last 600 s
    now += 300_000; // the miner left five minutes ago
    expect(window.hashrate(600) / RATE).toBeCloseTo(0.5, 5);
    now += 300_000;
    expect(window.hashrate(600)).toBe(0);
  });

  it.each([
    // window, observed seconds since the first share in it, expected seconds
    [600, 60, 60],
    [600, 5, MIN_OBSERVED_SECONDS],
    [600, 900, 600],
    [20, 5, 20],
    [600, Number.NaN, 600],
  ])('effective window of %d s after %d s observed: %d s', (windowSeconds, observed, expected) => {
    expect(effectiveWindowSeconds(windowSeconds, observed)).toBe(expected);
  });
});
