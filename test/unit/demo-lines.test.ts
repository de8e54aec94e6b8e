import { afterEach, describe, expect, it } from 'vitest';
import { blockProgressLine, describeDemoDatabase } from '../../src/demo.js';

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
});
