// Issue 10: each pool restart used to leave one litecoind RPC thread parked in a getblocktemplate long poll until
// the next block (litecoind does not notice the client went away). With litecoind's default -rpcthreads=4, four
// restarts within one block interval wedged its RPC for every client. New blocks are now found by polling
// getbestblockhash; long polling is off unless configured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRpc, startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { startTestPool } from '../support/pool.js';

let node: RegtestNode;

beforeAll(async () => {
  node = await startRegtest({ extraArgs: ['-rpcthreads=4'] });
});

afterAll(async () => {
  await node?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pool restarts against a node with 4 RPC threads', () => {
  it('ten restarts within one block interval leave the node answering at once', async () => {
    const address = await node.newAddress('bech32');
    const tip = await node.rpc<string>('getbestblockhash');
    for (let i = 0; i < 10; i++) {
      // The pool's default node settings (no override of node.longpoll), as `ltcpool serve` would run.
      const pool = await startTestPool(node, address);
      await sleep(300); // past its first getbestblockhash poll: whatever it keeps open at the node is open now
      await pool.stop();
    }
    expect(await node.rpc<string>('getbestblockhash')).toBe(tip); // no block in between
    const quick = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/', 2_000);
    const started = Date.now();
    const answers = await Promise.all([quick<number>('getblockcount'), quick('getblocktemplate', [{ rules: ['mweb', 'segwit'] }]), quick<string>('getbestblockhash')]);
    expect(answers[0]).toBeGreaterThanOrEqual(101);
    expect(Date.now() - started).toBeLessThan(1_000);
  }, 90_000);
});
