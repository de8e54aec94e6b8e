import { describe, expect, it } from 'vitest';
import { withChainConfirmations } from '../../src/ops/api/queries.js';

// Issue 10: /api/blocks showed the confirmations stored by the last payout run: 0 for every new block until then.
describe('block confirmations from the chain', () => {
  const row = (height: number, status: string, confirmations = 0, chain?: string) => ({ height, status, confirmations, chain }) as never;
  it('counts the blocks on top of an accepted block from the current template height (tip + 1)', () => {
    const rows = withChainConfirmations([row(100, 'accepted'), row(95, 'accepted'), row(90, 'confirmed', 101)], 101);
    expect(rows.map((r: { confirmations: number }) => r.confirmations)).toEqual([1, 6, 101]);
  });

  it('gives rejected and orphaned blocks none, leaves blocks not yet accepted and aux-chain blocks as stored', () => {
    const rows = withChainConfirmations([row(99, 'orphaned', 3), row(98, 'rejected'), row(100, 'submitted'), row(5000, 'accepted', 2, 'dogecoin')], 101);
    expect(rows.map((r: { confirmations: number }) => r.confirmations)).toEqual([0, 0, 0, 2]);
  });

  it('keeps the stored counts before the first template', () => {
    expect(withChainConfirmations([row(100, 'accepted', 4)], undefined)).toEqual([row(100, 'accepted', 4)]);
  });
});
