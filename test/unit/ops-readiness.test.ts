import { describe, expect, it } from 'vitest';
import { databaseCheck, litecoindCheck, runReadinessChecks, templateFreshCheck } from '../../src/ops/api/readiness.js';

const rpcAnswering = (info: unknown) => ({ call: async <T>() => info as T });

describe('readiness checks', () => {
  it('fails a check that hangs past the timeout and one that throws, keeping the others', async () => {
    const result = await runReadinessChecks(
      [
        { name: 'slow', check: () => new Promise(() => {}) },
        { name: 'throws', check: async () => { throw new Error('boom'); } },
        { name: 'fine', check: async () => ({ ok: true }) },
      ],
      50,
    );
    expect(result.ready).toBe(false);
    expect(result.checks.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['slow', false, 'timed out after 50 ms'],
      ['throws', false, 'boom'],
      ['fine', true, undefined],
    ]);
  });

  it('is ready with no checks at all', async () => {
    expect((await runReadinessChecks([])).ready).toBe(true);
  });

  it.each([
    [{ chain: 'regtest', blocks: 432, headers: 432, initialblockdownload: false }, true, 'regtest height 432'],
    [{ chain: 'main', blocks: 100, headers: 2_700_000, initialblockdownload: true }, false, 'initial block download (blocks 100, headers 2700000)'],
    [{ chain: 'main', blocks: 2_699_990, headers: 2_700_000, initialblockdownload: false }, false, 'syncing: blocks 2699990 < headers 2700000'],
    [{ chain: 'main', blocks: 2_699_999, headers: 2_700_000, initialblockdownload: false }, true, 'main height 2699999'],
  ])('litecoind %j -> ok %s', async (info, ok, detail) => {
    expect(await litecoindCheck(rpcAnswering(info)).check()).toEqual({ ok, detail });
  });

  it('reports an unreachable litecoind through the runner', async () => {
    const down = { call: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:19443'); } };
    const result = await runReadinessChecks([litecoindCheck(down)]);
    expect(result.checks[0]).toMatchObject({ name: 'litecoind', ok: false, detail: 'connect ECONNREFUSED 127.0.0.1:19443' });
  });

  it('judges template freshness by age', async () => {
    let at: number | undefined;
    const check = templateFreshCheck(() => at, 120);
    expect(await check.check()).toEqual({ ok: false, detail: 'no block template yet' });
    at = Date.now() - 10_000;
    expect((await check.check()).ok).toBe(true);
    at = Date.now() - 300_000;
    const stale = await check.check();
    expect(stale.ok).toBe(false);
    expect(stale.detail).toMatch(/^template is 30\d\.\d s old \(limit 120 s\)$/);
  });

  it.each([
    [{ in_recovery: false, read_only: 'off' }, { ok: true }],
    [{ in_recovery: true, read_only: 'on' }, { ok: false, detail: 'database is in recovery (read-only standby)' }],
    [{ in_recovery: false, read_only: 'on' }, { ok: false, detail: 'database session is read-only' }],
  ])('database %j -> %j', async (row, expected) => {
    expect(await databaseCheck({ query: async () => ({ rows: [row] }) }).check()).toEqual(expected);
  });
});
