import { describe, expect, it } from 'vitest';
import { Cached } from '../../src/ops/api/pool-view.js';

describe('Cached (pool-wide figures kept a few seconds)', () => {
  it('loads once per ttl, shares one load between concurrent callers, and keeps no failure', async () => {
    let now = 0;
    let loads = 0;
    let fail = false;
    const cache = new Cached(async () => {
      loads++;
      if (fail) throw new Error('database away');
      return loads;
    }, 5000, () => now);
    expect(await Promise.all([cache.get(), cache.get(), cache.get()])).toEqual([1, 1, 1]);
    now = 4999;
    expect(await cache.get()).toBe(1);
    now = 5000;
    fail = true;
    await expect(cache.get()).rejects.toThrow('database away');
    fail = false;
    expect(await cache.get()).toBe(3);
    expect(loads).toBe(3);
  });
});
