import { describe, expect, it, vi } from 'vitest';
import { HashScheduler } from '../../src/stratum/hash-scheduler.js';

/** A hash that finishes when the test says so. */
function controllable() {
  const started: number[] = [];
  const finish = new Map<number, (v: number) => void>();
  const fail = new Map<number, (e: Error) => void>();
  const task = (id: number) => () =>
    new Promise<number>((resolve, reject) => {
      started.push(id);
      finish.set(id, resolve);
      fail.set(id, reject);
    });
  return { started, finish, fail, task };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('HashScheduler', () => {
  it('runs at most maxInFlight at once, the rest in arrival order as slots free', async () => {
    const s = new HashScheduler(2);
    const c = controllable();
    const results = [1, 2, 3, 4, 5].map((id) => s.run(c.task(id)));
    await tick();
    expect(c.started).toEqual([1, 2]);
    expect(s.stats()).toEqual({ inFlight: 2, waiting: 3, paused: false });
    c.finish.get(2)!(2);
    await tick();
    expect(c.started).toEqual([1, 2, 3]);
    c.finish.get(1)!(1);
    c.finish.get(3)!(3);
    await tick();
    expect(c.started).toEqual([1, 2, 3, 4, 5]);
    c.finish.get(4)!(4);
    c.finish.get(5)!(5);
    expect(await Promise.all(results)).toEqual([1, 2, 3, 4, 5]);
    expect(s.stats()).toEqual({ inFlight: 0, waiting: 0, paused: false });
  });

  it('a failing hash frees its slot and rejects only its own caller', async () => {
    const s = new HashScheduler(1);
    const c = controllable();
    const first = s.run(c.task(1));
    const second = s.run(c.task(2));
    await tick();
    c.fail.get(1)!(new Error('boom'));
    await expect(first).rejects.toThrow('boom');
    await tick();
    expect(c.started).toEqual([1, 2]);
    c.finish.get(2)!(2);
    expect(await second).toBe(2);
  });

  it('pause() holds new hashes back while running ones finish; resume starts the held ones', async () => {
    const s = new HashScheduler(4);
    const c = controllable();
    const running = s.run(c.task(1));
    await tick();
    const resume = s.pause();
    const held = [2, 3].map((id) => s.run(c.task(id)));
    await tick();
    expect(c.started).toEqual([1]);
    c.finish.get(1)!(1);
    await running;
    await tick();
    expect(c.started).toEqual([1]); // a freed slot does not end the pause
    expect(s.stats()).toEqual({ inFlight: 0, waiting: 2, paused: true });
    resume();
    resume(); // idempotent
    await tick();
    expect(c.started).toEqual([1, 2, 3]);
    c.finish.get(2)!(2);
    c.finish.get(3)!(3);
    expect(await Promise.all(held)).toEqual([2, 3]);
  });

  it('overlapping pauses: hashing resumes after the last one', async () => {
    const s = new HashScheduler(4);
    const c = controllable();
    const a = s.pause();
    const b = s.pause();
    void s.run(c.task(1));
    a();
    await tick();
    expect(c.started).toEqual([]);
    b();
    await tick();
    expect(c.started).toEqual([1]);
  });

  it('a pause that is never resumed ends by itself after maxPauseMs', async () => {
    vi.useFakeTimers();
    try {
      const s = new HashScheduler(4, 50);
      const c = controllable();
      s.pause();
      void s.run(c.task(1));
      await vi.advanceTimersByTimeAsync(49);
      expect(c.started).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(c.started).toEqual([1]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new HashScheduler(0)).toThrow(/maxInFlight/);
    expect(() => new HashScheduler(1.5)).toThrow(/maxInFlight/);
  });
});
