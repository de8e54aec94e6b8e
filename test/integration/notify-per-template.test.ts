/** Against a real litecoind regtest: a found block gives miners exactly one job on the new block. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { parseNotify } from '../../src/work/job.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { startTestPool, waitFor, type TestPool } from '../support/pool.js';

let node: RegtestNode;
let pool: TestPool;
const minerAddress = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg';

beforeAll(async () => {
  node = await startRegtest();
  pool = await startTestPool(node, await node.newAddress('bech32'));
}, 180_000);

afterAll(async () => {
  await pool?.stop();
  await node?.stop();
});

describe('one mining.notify per new template', () => {
  it('after a found block: the submitblock refresh and the tip poll (and the long poll when on) give one job, not one each', async () => {
    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${minerAddress}.rig`, hashrate: 20 });
    try {
      expect((await miner.start()).result).toBe(true);
      miner.startMining();
      const found = await waitFor('an accepted block', () => pool.blocks.outcomes.find((o) => o.accepted), 60_000);
      await miner.stopMining();
      // the refresh after submitblock and the next tip polls (every 250 ms) all land in here, and a periodic
      // refresh (refreshSeconds 2) too
      await new Promise((r) => setTimeout(r, 2600));
      const onNewBlock = miner.notifications
        .filter((n) => n.method === 'mining.notify')
        .map((n) => parseNotify(n.params))
        .filter((work) => Buffer.from(work.prevHashInternal).reverse().toString('hex') === found.hash);
      expect(onNewBlock.map((work) => work.cleanJobs)).toEqual([true]);
    } finally {
      await miner.close();
    }
  });
});
