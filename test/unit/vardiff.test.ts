import { describe, expect, it } from 'vitest';
import { Vardiff, roundDifficulty } from '../../src/stratum/vardiff.js';

const options = { targetSeconds: 10, retargetSeconds: 60, variancePercent: 30, minDifficulty: 0.001, maxDifficulty: 1e9, idleSeconds: 90 };

/**
 * A miner finding `rate` difficulty per second, simulated in 1 s steps with the server's 5 s idle tick;
 * returns the difficulty the vardiff settles on.
 */
function simulate(start: number, rate: number, seconds: number): number {
  const vardiff = new Vardiff(options, 0);
  let difficulty = start;
  let work = 0;
  for (let s = 1; s <= seconds; s++) {
    const t = s * 1000;
    work += rate;
    while (work >= difficulty) {
      work -= difficulty;
      const next = vardiff.onShare(t, difficulty);
      if (next !== undefined) difficulty = next;
    }
    if (s % 5 === 0) {
      const next = vardiff.onTick(t, difficulty);
      if (next !== undefined) difficulty = next;
    }
  }
  return difficulty;
}

describe('vardiff', () => {
  it('raises a fast ASIC from a low start towards one share per target interval', () => {
    // an L9 at ~16 GH/s finds difficulty ~240k per second; aim = 2.4M per 10 s
    const settled = simulate(65536, 240_000, 3600);
    expect(settled).toBeGreaterThan(2.4e6 * 0.7);
    expect(settled).toBeLessThan(2.4e6 * 1.3);
  });

  it('lowers a CPU miner from a high start, into fractions', () => {
    const settled = simulate(16, 0.002, 7200);
    expect(settled).toBeGreaterThan(0.02 * 0.7);
    expect(settled).toBeLessThan(0.02 * 1.3);
  });

  it('stays put inside the variance band', () => {
    const vardiff = new Vardiff(options, 0);
    let changes = 0;
    for (let t = 10_000; t <= 600_000; t += 10_000) if (vardiff.onShare(t, 1000) !== undefined) changes++;
    expect(changes).toBe(0);
  });

  it('changes at most 4x per retarget and respects min/max', () => {
    const vardiff = new Vardiff({ ...options, maxDifficulty: 5000 }, 0);
    let next: number | undefined;
    for (let t = 100; next === undefined; t += 100) next = vardiff.onShare(t, 1000);
    expect(next).toBe(4000);
    const capped = new Vardiff({ ...options, maxDifficulty: 2000 }, 0);
    let n2: number | undefined;
    for (let t = 100; n2 === undefined; t += 100) n2 = capped.onShare(t, 1000);
    expect(n2).toBe(2000);
  });

  it('halves the difficulty of a miner that went silent', () => {
    const vardiff = new Vardiff(options, 0);
    expect(vardiff.onTick(60_000, 100)).toBeUndefined();
    expect(vardiff.onTick(91_000, 100)).toBe(50);
    expect(vardiff.onTick(120_000, 50)).toBeUndefined();
    expect(vardiff.onTick(182_000, 50)).toBe(25);
  });

  it('rounds difficulties to 4 significant digits', () => {
    expect(roundDifficulty(2398765.4)).toBe(2399000);
    expect(roundDifficulty(0.000123456)).toBe(0.0001235);
  });
});
