import { describe, expect, it } from 'vitest';
import { formatStatus, type StatusReport } from '../../src/ops/status.js';

// Issue 10: `ltcpool status` showed the confirmations the last payout run stored (0 for every new block).
describe('ltcpool status: the last block line', () => {
  const time = new Date('2026-12-03T20:00:00Z');
  const report = (lastBlock: StatusReport['lastBlock']): StatusReport => ({
    time, database: { ok: true }, instances: [], miners: 0, workers: 0, hashrate: 0, lastBlock, blocks: { accepted: 1 },
    payouts: null, notifications: null, wallet: { spendable: 0n }, endpoints: [],
  });
  const block = { height: 432, hash: 'ab'.repeat(32), status: 'accepted', foundAt: new Date(time.getTime() - 30_000), effort: 0.5 };
  const line = (lastBlock: StatusReport['lastBlock']) => formatStatus(report(lastBlock), { network: 'regtest', instanceId: 0 }).split('\n').find((l) => l.startsWith('last block:'));

  it("shows the node's count, and a block the node has off its best chain", () => {
    expect(line({ ...block, confirmations: 7, confirmationsFrom: 'chain' })).toBe('last block:   432 accepted, 30 s ago, 7 confirmations, effort 50.0 %  (all: 1 accepted)');
    expect(line({ ...block, confirmations: -1, confirmationsFrom: 'chain' })).toMatch(/432 accepted, 30 s ago, not in the best chain, /);
  });

  it('says when the count is the stored one, and why', () => {
    expect(line({ ...block, confirmations: 0, confirmationsFrom: 'stored', storedBecause: 'node: connect ECONNREFUSED 127.0.0.1:19443' }))
      .toMatch(/432 accepted, 30 s ago, 0 confirmations as of the last payout run \(node: connect ECONNREFUSED 127\.0\.0\.1:19443\), effort/);
  });
});
