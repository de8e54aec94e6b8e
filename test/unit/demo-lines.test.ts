import { afterEach, describe, expect, it } from 'vitest';
import { blockProgressLine, demoFinishedLine, describeDemoDatabase, describeDemoMergedMining } from '../../src/demo.js';

// Issue 10: the demo's block counter read "13/12" (a block found before the miners stopped), and the demo did not
// say which PostgreSQL it used.
describe('demo output', () => {
  const block = { height: 450, hash: 'ab'.repeat(32) };
  it('counts up to the blocks wanted and calls the rest extra', () => {
    expect(blockProgressLine(12, 12, block)).toBe(`block 12/12 accepted by litecoind: height 450 ${block.hash}`);
    expect(blockProgressLine(13, 12, block)).toBe(`extra block (13, found before the miners stopped) accepted by litecoind: height 450 ${block.hash}`);
    expect(blockProgressLine(13, 12, block)).not.toMatch(/13\/12/);
  });

  const saved = process.env.TEST_DATABASE_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.TEST_DATABASE_URL;
    else process.env.TEST_DATABASE_URL = saved;
  });

  it('says which PostgreSQL it used, without the password', () => {
    delete process.env.TEST_DATABASE_URL;
    expect(describeDemoDatabase({ url: 'postgres://postgres@127.0.0.1:5432/ltcpool_test_1', canControlServer: false }))
      .toBe('postgres://postgres@127.0.0.1:5432/ltcpool_test_1 (a fresh database on the local server, dropped afterwards)');
    expect(describeDemoDatabase({ url: 'postgres://postgres@127.0.0.1:40001/ltcpool_test_2', canControlServer: true })).toMatch(/private server started in a temp dir/);
    process.env.TEST_DATABASE_URL = 'postgres://u:secret@db.example/x';
    expect(describeDemoDatabase({ url: 'postgres://u:secret@db.example/x', canControlServer: false })).toBe('postgres://u:***@db.example/x (from TEST_DATABASE_URL)');
  });

  it('says whether it merge-mines Dogecoin, and why not', () => {
    expect(describeDemoMergedMining({ path: '/opt/doge/dogecoind' })).toBe('merged mining: ON, Dogecoin regtest with /opt/doge/dogecoind (both coins are mined and paid)');
    expect(describeDemoMergedMining({ missing: 'no dogecoind: set DOGECOIND' })).toBe('merged mining: OFF, Litecoin only (no dogecoind: set DOGECOIND)');
  });

  it('ends with what each chain paid; CI finds "payments totalling" with one chain or two', () => {
    const ltc = { unit: 'LTC', blocks: 5, payments: [{ amount: 2_500_000_000n, txid: 'aa' }, { amount: 3_750_000_000n, txid: 'aa' }] };
    expect(demoFinishedLine([ltc])).toBe('demo finished: 5 LTC blocks, 2 payments totalling 62.50000000 LTC in aa');
    const doge = { unit: 'DOGE', blocks: 7, payments: [{ amount: 150_000_000_000_000n, txid: 'bb' }] };
    expect(demoFinishedLine([ltc, doge])).toBe('demo finished: 5 LTC blocks, 2 payments totalling 62.50000000 LTC in aa; 7 DOGE blocks, 1 payments totalling 1500000.00000000 DOGE in bb');
  });
});
